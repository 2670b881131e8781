"""`llmcli keys`: store, list and remove API keys. A key is never an argument (shell history, `ps`)."""

from __future__ import annotations

import sys

import typer

from llmcli import console
from llmcli.defaults import KIND_SECRETS
from llmcli.errors import CredentialsError, UsageError

app = typer.Typer(
    help="Manage API keys (kept in the OS keyring; environment variables win over stored keys).",
    no_args_is_help=True,
    epilog="\b\nExamples:\n  llmcli keys set gigachat\n  llmcli keys list\n",
)

SET_EPILOG = """\b
Examples:
  llmcli keys set gigachat                        # asks for the key, no echo
  printf %s "$KEY" | llmcli keys set openrouter   # from a script
  llmcli keys set yandexgpt --insecure-storage    # no OS keyring (SSH, container)
"""


@app.command("set", epilog=SET_EPILOG)
def keys_set(
    provider: str = typer.Argument(..., help="Provider name, e.g. gigachat."),
    insecure_storage: bool = typer.Option(
        False, "--insecure-storage", help="Keep the key in a plain-text 0600 file (machines without a keyring)."
    ),
) -> None:
    """Store a key: typed without echo on a terminal, or one line from stdin (printf %s "$KEY" | …)."""
    from llmcli.config import load_settings
    from llmcli.services import credentials
    from llmcli.services.providers import find_provider_config

    config = find_provider_config(load_settings(), provider)  # built-in, config.toml or `providers add`
    if not KIND_SECRETS.get(config.kind or ""):
        raise UsageError(f"{provider} ({config.kind}) takes no API key")
    if not insecure_storage:
        usable, why = credentials.keyring_status()  # before asking for the key, not after
        if not usable:
            variable = credentials.suggested_env_variable(provider, config.kind or "")
            raise CredentialsError(
                f"cannot store the key for {provider}: {why}",
                hint=f"run `llmcli keys set {provider} --insecure-storage` to keep it in a 0600 file, "
                f"or export {variable}=… instead",
            )
    value = _read_secret(provider)
    where = credentials.store_secret(provider, value, insecure=insecure_storage)
    if insecure_storage:
        console.warn(f"the key for {provider} is stored in plain text at {where} (readable by you only)")
    else:
        console.info(f"stored the key for {provider} in the OS keyring")


def _read_secret(provider: str) -> str:
    if sys.stdin.isatty():
        value = typer.prompt(f"API key for {provider}", hide_input=True, prompt_suffix=": ")
    else:
        value = sys.stdin.readline()
    value = value.strip()  # a pasted trailing newline or space would only cause a puzzling 401
    if not value:
        raise UsageError("empty key: nothing stored", hint=f'printf %s "$KEY" | llmcli keys set {provider}')
    return value


@app.command("list", epilog="\b\nExample:\n  llmcli keys list --json\n")
def keys_list(json_output: bool = typer.Option(False, "--json", help="Print a JSON array.")) -> None:
    """Show where each provider's key comes from (env, keyring, file or none) — never the key."""
    from llmcli.config import load_settings
    from llmcli.services import credentials
    from llmcli.services.providers import all_provider_configs

    configs = all_provider_configs(load_settings())  # built-in, config.toml and `providers add`
    rows = []
    problems: set[str] = set()
    for name, config in sorted(configs.items()):
        kind = config.kind or ""
        if not config.needs_key:
            rows.append({"name": name, "kind": kind, "credentials": "not needed", "detail": ""})
            continue
        resolved = credentials.resolve_secrets(name, kind)
        problems.update(resolved.problems)
        rows.append({"name": name, "kind": kind, "credentials": resolved.source, "detail": resolved.detail})
    for problem in sorted(problems):
        console.info(f"note: keyring not used: {problem}")
    if json_output:
        console.print_json(rows)
        return
    console.print_table(
        ["PROVIDER", "KIND", "KEY FROM", "DETAIL"],
        [[r["name"], r["kind"], r["credentials"], r["detail"]] for r in rows],
    )


@app.command("remove", epilog="\b\nExample:\n  llmcli keys remove openrouter\n")
def keys_remove(provider: str = typer.Argument(..., help="Provider name.")) -> None:
    """Delete the stored key of a provider (keyring and plain-text file)."""
    from llmcli.config import load_settings, provider_config
    from llmcli.services import credentials

    settings = load_settings()
    removed = credentials.remove_secret(provider)
    if removed:
        console.info(f"removed the key for {provider} from " + " and ".join(removed))
    else:
        console.warn(f"no stored key for {provider}")
    config = provider_config(settings, provider)
    if config is not None and credentials.resolve_secrets(provider, config.kind or "").source == "env":
        console.info(f"note: the environment still provides a key for {provider}")
