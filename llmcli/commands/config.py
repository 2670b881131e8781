"""`llmcli config`: show the effective settings, print the file's path, set one key."""

from __future__ import annotations

import typer

from llmcli import console

app = typer.Typer(
    help="Show or change settings (config.toml < LLMCLI_* environment < flags).",
    no_args_is_help=True,
    epilog="\b\nExamples:\n  llmcli config show\n  llmcli config set default_provider gigachat\n",
)

SET_EPILOG = """\b
Examples:
  llmcli config set default_provider yandexgpt
  llmcli config set defaults.temperature 0.3
  llmcli config set providers.gigachat.ca_bundle ~/russian_trusted_root_ca.pem
  llmcli config set aliases.fast yandexgpt-lite   # then: llmcli ask -m fast …
"""


@app.command("show", epilog="\b\nExamples:\n  llmcli config show\n  llmcli config show --json\n")
def config_show(json_output: bool = typer.Option(False, "--json", help="Print one JSON object.")) -> None:
    """Print the effective settings (every provider merged with its built-in defaults; no secrets)."""
    from llmcli.config import config_dump, load_settings
    from llmcli.paths import get_paths

    data = config_dump(load_settings())
    if json_output:
        console.print_json(data)
        return
    import tomlkit

    path = get_paths().config_file
    origin = str(path) if path.exists() else f"{path} (not created yet)"
    console.out(f"# effective settings: built-in defaults < {origin} < LLMCLI_* environment")
    tables = {k: v for k, v in data.items() if v != {}}  # an empty [aliases] header says nothing
    console.out(tomlkit.dumps(tables).rstrip("\n"))


@app.command("path", epilog="\b\nExample:\n  ${EDITOR:-vi} \"$(llmcli config path)\"\n")
def config_path() -> None:
    """Print the path of config.toml (LLMCLI_CONFIG or LLMCLI_HOME move it)."""
    from llmcli.paths import get_paths

    console.out(str(get_paths().config_file))


@app.command("set", epilog=SET_EPILOG)
def config_set(
    key: str = typer.Argument(..., help="Dotted key: default_provider, defaults.temperature, providers.NAME.model, aliases.NAME, ..."),
    value: str = typer.Argument(..., help="A TOML value (0.7, true, 1024, [\"a\", \"b\"]) or plain text."),
) -> None:
    """Set one key in config.toml (checked before it is written; comments are kept). Not for secrets."""
    from llmcli import config

    path = config.config_set(key, value)
    console.info(f"set {key} in {path}")
