"""`llmcli doctor`: check config, history database, file modes, keyring and credentials; report."""

from __future__ import annotations

import typer

from llmcli import console

EPILOG = """\b
Examples:

  llmcli doctor

  llmcli doctor --json | jq '.[] | select(.status != "ok")'
"""

COMMAND_SETTINGS = {
    "help": "Check the configuration, the history database (integrity), file modes and credentials.",
    "epilog": EPILOG,
}

LABELS = {"ok": "ok", "info": "info", "warn": "WARN", "fail": "FAIL"}


def command(
    json_output: bool = typer.Option(False, "--json", help="Print a JSON array of the checks."),
) -> None:
    """No network and no writes. Exits 0 unless a check fails: then with that failure's code
    (2 configuration, 8 history database) and its message as the error line."""
    from llmcli.services.doctor import first_failure, run_checks

    checks = run_checks()
    if json_output:
        console.print_json([check.to_json() for check in checks])
    else:
        for check in checks:
            console.out(f"{LABELS[check.status]:<4} {check.name}: {check.detail}")
            if check.hint and check.status == "warn":  # a failure's hint comes with its error line
                console.out(f"     hint: {check.hint}")
    failure = first_failure(checks)
    if failure is not None and failure.error is not None:
        raise failure.error
