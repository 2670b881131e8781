"""`llmcli providers`: list, check, add, remove and set up providers."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, List, Optional

import typer

from llmcli import console
from llmcli.completion import complete_provider

if TYPE_CHECKING:
    from llmcli.services.provider_setup import SetupField
    from llmcli.services.status import ProviderHealth

app = typer.Typer(help="List, check, add and set up providers (GigaChat, YandexGPT, OpenAI-compatible).",
                  no_args_is_help=True,
                  epilog="\b\nExamples:\n  llmcli providers list\n  llmcli providers status\n")

STATUS_EPILOG = """\b
Examples:
  llmcli providers status
  llmcli providers status gigachat yandexgpt --json

\b
Exit status: 0 when every checked provider answered; 3 when every failure
is about credentials (missing or rejected); 6 otherwise.
"""

ADD_EPILOG = """\b
Examples:
  llmcli providers add openrouter --kind openai --base-url https://openrouter.ai/api/v1 -m deepseek/deepseek-chat
  llmcli providers add my-vllm -k openai --base-url http://gpu-box:8000/v1 --no-key
  llmcli providers add giga-corp -k gigachat -o scope=GIGACHAT_API_CORP
"""


@app.command("list", epilog="\b\nExamples:\n  llmcli providers list\n  llmcli providers list --json\n")
def providers_list(json_output: bool = typer.Option(False, "--json", help="Print a JSON array.")) -> None:
    """Every configured provider (built-in, config.toml, added) and where its key comes from."""
    from llmcli.config import load_settings
    from llmcli.services.providers import default_provider_name, describe_providers

    settings = load_settings()
    entries = describe_providers(settings)
    if json_output:
        console.print_json([e.to_json() for e in entries])
        return
    default = default_provider_name(settings)
    console.print_table(
        ["provider", "kind", "base url", "model", "key", "defined in"],
        [[e.name + (" *" if e.name == default else ""), e.kind, e.base_url, e.model, e.credentials, e.origin]
         for e in entries],
    )
    console.info("* the default provider")


@app.command("status", epilog=STATUS_EPILOG)
def providers_status(
    names: Optional[List[str]] = typer.Argument(None, help="Providers to check (default: the default one and "
                                                "every one with a key or needing none).",
                                                autocompletion=complete_provider),
    json_output: bool = typer.Option(False, "--json", help="Print a JSON array."),
    timeout: float = typer.Option(5.0, "--timeout", min=0.1, help="Seconds to wait for each provider."),
) -> None:
    """Check providers side by side: key present, accepted, reachable, latency, number of models."""
    from llmcli.config import load_settings
    from llmcli.services.providers import find_provider_config
    from llmcli.services.status import check_providers, default_targets

    settings = load_settings()
    skipped: list[tuple[str, str]] = []
    if names:
        targets = list(dict.fromkeys(names))
        for name in targets:
            find_provider_config(settings, name)  # a typo is a usage error (2), not a down provider
    else:
        targets, skipped = default_targets(settings)
    report = check_providers(settings, targets, timeout=timeout)
    for warning in report.warnings:
        console.warn(warning)
    if skipped:
        console.info("skipped (no key): " + ", ".join(name for name, _ in skipped))
    if json_output:
        console.print_json([r.to_json() for r in report.results])
    else:
        console.print_table(["provider", "kind", "status", "key", "latency", "models", "cache age", "detail"],
                            [_status_row(r) for r in report.results])
    if report.exit_code:
        raise typer.Exit(report.exit_code)


def _status_row(r: ProviderHealth) -> list:
    from llmcli.services.models import describe_age

    status = "ok" if r.ok else ("auth failed" if r.auth_ok is False else
                                "unreachable" if r.reachable is False else "error")
    detail = r.error or ""
    if r.last_error:
        detail = (detail + "; " if detail else "") + f"last error {r.last_error_at[:19]}Z: {r.last_error}"
    return [r.name, r.kind, status, r.credentials,
            f"{r.latency_ms} ms" if r.latency_ms is not None else "",
            r.models if r.models is not None else "",
            describe_age(r.cache_age_s) if r.cache_age_s is not None else "", detail]


@app.command("add", epilog=ADD_EPILOG)
def providers_add(
    name: str = typer.Argument(..., help="A new name, e.g. my-vllm."),
    kind: str = typer.Option(..., "--kind", "-k",
                             help="openai (any OpenAI-compatible API), gigachat, yandexgpt, local."),
    base_url: Optional[str] = typer.Option(None, "--base-url", help="API root, e.g. http://localhost:8000/v1."),
    model: Optional[str] = typer.Option(None, "--model", "-m", help="Default model."),
    option: Optional[List[str]] = typer.Option(None, "-o", "--option", metavar="KEY=VALUE",
                                               help="Another setting: -o folder_id=b1g…, -o timeout=30."),
    no_key: bool = typer.Option(False, "--no-key", help="The endpoint needs no API key (vLLM, LM Studio)."),
) -> None:
    """Add a provider (kept in the history database). Store its key with `llmcli keys set NAME`."""
    from llmcli.commands.options import parse_options
    from llmcli.config import load_settings
    from llmcli.services.providers import add_provider

    is_new = add_provider(load_settings(), name, kind, base_url=base_url, model=model,
                          options=parse_options(option or []), needs_key=not no_key)
    console.info(f"{'added' if is_new else 'updated'} provider {name} ({kind})")
    if not no_key and kind != "local":
        console.info(f"next: `llmcli keys set {name}` (or `llmcli providers setup {name}`), "
                     f"then `llmcli providers status {name}`")


@app.command("remove", epilog="\b\nExample:\n  llmcli providers remove my-vllm\n")
def providers_remove(name: str = typer.Argument(..., help="A provider added with `providers add`.",
                                                autocompletion=complete_provider)) -> None:
    """Remove a provider added with `providers add` (its stored key stays: `llmcli keys remove NAME`)."""
    from llmcli.config import load_settings
    from llmcli.services.providers import remove_provider

    remove_provider(load_settings(), name)
    console.info(f"removed provider {name}")


@app.command("setup", epilog="\b\nExamples:\n  llmcli providers setup gigachat\n  llmcli providers setup my-vllm --kind openai\n")
def providers_setup(
    name: str = typer.Argument(..., help="A provider to set up (existing, or a new name).",
                               autocompletion=complete_provider),
    kind: Optional[str] = typer.Option(None, "--kind", "-k", help="Kind of a new provider (else asked)."),
    insecure_storage: bool = typer.Option(False, "--insecure-storage",
                                          help="Keep the key in a plain-text 0600 file (no keyring)."),
    timeout: float = typer.Option(10.0, "--timeout", min=0.1, help="Seconds to wait for the test request."),
) -> None:
    """Ask for what the provider needs, store it (key in the OS keyring), and test it."""
    from llmcli.config import load_settings
    from llmcli.defaults import KINDS
    from llmcli.errors import CredentialsError
    from llmcli.services import credentials
    from llmcli.services.provider_setup import apply_setup, setup_plan
    from llmcli.services.providers import fetch_models
    from llmcli.services.status import check_one

    settings = load_settings()
    plan = setup_plan(settings, name, kind)
    if plan.origin == "new" and kind is None:
        kind = typer.prompt(f"{name} is a new provider. Kind ({', '.join(KINDS)})", default="openai")
        plan = setup_plan(settings, name, kind)
    if any(f.secret for f in plan.fields) and not insecure_storage:
        usable, why = credentials.keyring_status()  # before asking for the key, not after
        if not usable:
            raise CredentialsError(f"cannot store a key for {name}: {why}",
                                   hint=f"run `llmcli providers setup {name} --insecure-storage`, "
                                   "or export the key in the environment instead")
    answers = {}
    for field in plan.fields:
        answers[field.key] = _ask(field)
    for line in apply_setup(settings, plan, answers, insecure_storage=insecure_storage):
        console.info(line)
    health = check_one(load_settings(), name, timeout, fetch_models)
    if health.ok:
        console.info(f"{name} works: {health.models} models, {health.latency_ms} ms")
        return
    console.error(f"{name} does not work yet: {health.error}",
                  "fix the value and run `llmcli providers setup` again")
    raise typer.Exit(health.exit_code or 1)


def _ask(field: SetupField) -> str:
    while True:
        value = typer.prompt(field.prompt, default=field.default, show_default=bool(field.default),
                             hide_input=field.secret, prompt_suffix=": ")
        value = (value or "").strip()
        if value or not field.required:
            return value
        console.warn("a value is needed")
        if not sys.stdin.isatty():
            from llmcli.errors import UsageError

            raise UsageError(f"no value for {field.key}")
