"""`llmcli models`: the models a provider offers, from a TTL cache (refreshed on demand or when stale)."""

from __future__ import annotations

from typing import Optional

import typer

from llmcli import console
from llmcli.completion import complete_provider

app = typer.Typer(help="List the models of a provider (cached; --refresh asks the provider).",
                  no_args_is_help=True, epilog="\b\nExample:\n  llmcli models list -p gigachat\n")

LIST_EPILOG = """\b
Examples:
  llmcli models list
  llmcli models list -p yandexgpt --refresh
  llmcli models list -p gigachat --json | jq -r '.[].id'
"""


@app.command("list", epilog=LIST_EPILOG)
def models_list(
    provider: Optional[str] = typer.Option(None, "-p", "--provider", envvar="LLMCLI_PROVIDER",
                                           show_envvar=False, autocompletion=complete_provider,
                                           help="Provider name (default: the default provider)."),
    refresh: bool = typer.Option(False, "--refresh", help="Ask the provider now instead of using the cache."),
    json_output: bool = typer.Option(False, "--json", help="Print a JSON array."),
) -> None:
    """Models of one provider. The list is cached for `models_cache_ttl_hours` (24 h by default);
    when the provider cannot be reached, the cached list is shown with a notice."""
    from llmcli.config import load_settings
    from llmcli.services.models import ModelService, age_seconds, aliases_by_target, describe_age

    settings = load_settings()
    service = ModelService(settings)
    try:
        catalogue = service.list_models(provider, refresh=refresh)
    finally:
        service.close()
    for notice in catalogue.notices:
        console.warn(notice)
    if json_output:
        console.print_json(catalogue.to_json(settings.aliases))
        return
    aliases = aliases_by_target(settings.aliases)
    console.print_table(["model", "type", "context", "aliases"],
                        [[m.id, m.type, m.context_window or "", ", ".join(aliases.get(m.id, []))]
                         for m in catalogue.models])
    if catalogue.fetched_at:
        where = "from the provider" if catalogue.source == "provider" else \
            f"cached {describe_age(age_seconds(catalogue.fetched_at))} ago"
        console.info(f"{len(catalogue.models)} models of {catalogue.provider}, {where}")
