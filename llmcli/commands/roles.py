"""`llmcli roles`: list, show, add and remove roles (saved system prompts and settings for `ask -r`)."""

from __future__ import annotations

import sys
from typing import Optional

import typer

from llmcli import console
from llmcli.errors import UsageError

app = typer.Typer(
    help="Roles: saved system prompts and settings for `ask -r NAME` (built-in ones and [roles.NAME] in config).",
    no_args_is_help=True,
    epilog="\b\nExamples:\n  llmcli roles list\n  git diff --staged | llmcli ask -r commit\n"
           "  llmcli roles add reviewer -s \"List bugs only.\" -p gigachat -t 0.2\n",
)

ADD_EPILOG = """\b
Examples:
  llmcli roles add reviewer -s "Review the diff. List bugs only." -p gigachat -m GigaChat-2-Max -t 0.2
  llmcli roles add explain -s - < explain-prompt.txt
  llmcli roles add commit -p gigachat     # the built-in commit prompt, sent to GigaChat
"""


@app.command("list", epilog="\b\nExamples:\n  llmcli roles list\n  llmcli roles list --json\n")
def roles_list(json_output: bool = typer.Option(False, "--json", help="Print a JSON array.")) -> None:
    """Every role with where it comes from (built-in or config)."""
    from llmcli.config import load_settings
    from llmcli.services.roles import list_roles

    roles = list_roles(load_settings())
    if json_output:
        console.print_json([role.to_json() for role in roles])
        return
    console.print_table(
        ["name", "source", "provider/model", "description"],
        [[r.name, _source(r), _target(r), r.description or _first_line(r.system)] for r in roles],
    )


@app.command("show", epilog="\b\nExamples:\n  llmcli roles show commit\n  llmcli roles show reviewer --json\n")
def roles_show(
    name: str = typer.Argument(..., help="Role name."),
    json_output: bool = typer.Option(False, "--json", help="Print a JSON object."),
) -> None:
    """A role's settings and its full system prompt."""
    from llmcli.config import load_settings
    from llmcli.services.roles import get_role

    role = get_role(load_settings(), name)
    if json_output:
        console.print_json(role.to_json())
        return
    console.out(f"name: {role.name}")
    console.out(f"source: {_source(role)}")
    for field in ("description", "provider", "model", "temperature", "max_tokens"):
        value = getattr(role, field)
        if value is not None:
            console.out(f"{field}: {value}")
    if role.takes_input:
        console.out("input: placed at {input} in the system prompt")
    console.out("system:")
    console.out(role.system or "(none: the configured default system prompt applies)")


@app.command("add", epilog=ADD_EPILOG)
def roles_add(
    name: str = typer.Argument(..., help="Role name (letters, digits, '-', '_')."),
    system: Optional[str] = typer.Option(None, "-s", "--system", help="System prompt; `-` reads it from stdin. May contain {input} to place piped input."),
    provider: Optional[str] = typer.Option(None, "-p", "--provider", help="Provider this role uses unless -p is given."),
    model: Optional[str] = typer.Option(None, "-m", "--model", help="Model this role uses (with its provider)."),
    temperature: Optional[float] = typer.Option(None, "-t", "--temperature", min=0.0, max=2.0, help="Sampling temperature."),
    max_tokens: Optional[int] = typer.Option(None, "--max-tokens", min=1, help="Longest reply, in tokens."),
    description: Optional[str] = typer.Option(None, "-d", "--description", help="One line shown by `roles list`."),
    force: bool = typer.Option(False, "--force", help="Replace a role of this name already in the config file."),
) -> None:
    """Save a role as [roles.NAME] in config.toml (a built-in name overrides the built-in role)."""
    from llmcli.config import load_settings
    from llmcli.services.roles import add_role

    if system == "-":
        system = _read_stdin_prompt()
    path = add_role(load_settings(), name, replace_existing=force, system=system, provider=provider,
                    model=model, temperature=temperature, max_tokens=max_tokens, description=description)
    console.info(f"saved role {name} in {path}")


@app.command("remove", epilog="\b\nExample:\n  llmcli roles remove reviewer\n")
def roles_remove(name: str = typer.Argument(..., help="Role name.")) -> None:
    """Delete [roles.NAME] from config.toml (built-in roles cannot be removed, only overridden)."""
    from llmcli.config import load_settings
    from llmcli.services.roles import remove_role

    path, builtin_remains = remove_role(load_settings(), name)
    console.info(f"removed role {name} from {path}" + ("; the built-in role of that name applies again"
                                                       if builtin_remains else ""))


def _read_stdin_prompt() -> str:
    if sys.stdin is None or sys.stdin.isatty():
        raise UsageError("-s - reads the system prompt from stdin, but nothing is piped in",
                         hint="llmcli roles add NAME -s - < prompt.txt")
    text = sys.stdin.read().strip()
    if not text:
        raise UsageError("empty system prompt on stdin")
    return text


def _source(role) -> str:  # type: ignore[no-untyped-def]
    return "config (overrides built-in)" if role.overrides_builtin else role.source


def _target(role) -> str:  # type: ignore[no-untyped-def]
    if role.provider and role.model:
        return f"{role.provider}/{role.model}"
    return role.provider or (f"(any)/{role.model}" if role.model else "")


def _first_line(text: str | None) -> str:
    line = (text or "").strip().splitlines()[0] if (text or "").strip() else ""
    return line if len(line) <= 60 else line[:59] + "…"
