"""Generate the command-line reference from the Typer app, so it cannot drift from the code.

    python scripts/gen_cli_docs.py            # (re)write docs/cli.md and the man page docs/llmcli.1
    python scripts/gen_cli_docs.py --check    # exit 1 and name the stale files, write nothing
    python scripts/gen_cli_docs.py --man      # (re)write only the man page; view it with `man docs/llmcli.1`

Everything comes from `llmcli.app.build_app()` — each command's usage line, help text, epilog
(examples), arguments and options exactly as `--help` shows them (defaults, ranges, env vars) —
and the exit codes from the classes in `llmcli.errors`. tests/test_docs.py keeps both files current.
"""

from __future__ import annotations

import inspect
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(ROOT))

MARKDOWN_FILE = "cli.md"
MAN_FILE = "llmcli.1"
INDENTED = re.compile(r"^\s{2,}\S")


@dataclass
class CommandDoc:
    """One command or group, as its `--help` shows it."""

    path: str  # "llmcli history list"
    usage: str  # "llmcli history list [OPTIONS]"
    help: str
    epilog: str
    arguments: list[tuple[str, str]] = field(default_factory=list)  # (declaration, description)
    options: list[tuple[str, str]] = field(default_factory=list)
    children: list[CommandDoc] = field(default_factory=list)

    @property
    def summary(self) -> str:
        first = self.help.split("\n\n", 1)[0]
        return " ".join(first.split())

    def walk(self):  # type: ignore[no-untyped-def]
        yield self
        for child in self.children:
            yield from child.walk()


# --- collecting ---------------------------------------------------------------------------------------


def root_command() -> Any:
    """The click-level command typer builds from `llmcli.app.build_app()`."""
    import typer.main

    from llmcli.app import build_app

    return typer.main.get_command(build_app())


def collect(command: Any | None = None) -> CommandDoc:
    import typer._click as click

    command = command if command is not None else root_command()
    ctx = click.Context(command, info_name="llmcli", **command.context_settings)
    return _describe(command, ctx)


def _describe(command: Any, ctx: Any) -> CommandDoc:
    import typer._click as click

    pieces = command.collect_usage_pieces(ctx)
    doc = CommandDoc(
        path=ctx.command_path,
        usage=" ".join([ctx.command_path, *pieces]),
        help=inspect.cleandoc(command.help or ""),
        epilog=inspect.cleandoc(command.epilog or ""),
    )
    for param in command.get_params(ctx):
        record = param.get_help_record(ctx)
        if record is None:  # hidden
            continue
        target = doc.options if param.param_type_name == "option" else doc.arguments
        target.append((record[0], record[1] or ""))
    for name in getattr(command, "list_commands", lambda _ctx: [])(ctx):
        sub = command.get_command(ctx, name)
        if sub is None or sub.hidden:
            continue
        sub_ctx = click.Context(sub, info_name=name, parent=ctx, **sub.context_settings)
        doc.children.append(_describe(sub, sub_ctx))
    return doc


def exit_codes() -> list[tuple[str, str]]:
    """(code, meaning) from llmcli.errors, plus the codes the boundary in app.py gives itself."""
    from llmcli import errors
    from llmcli.app import EXIT_SIGPIPE

    rows: dict[str, list[str]] = {"0": ["Success."], "1": [("An unexpected error: a bug in llmcli "
                                                           "(run with --debug for the traceback).")]}
    for cls in (errors.UsageError, errors.ConfigError, errors.CredentialsError, errors.RequestRejected,
                errors.RateLimited, errors.ProviderUnavailable, errors.StreamBroken, errors.StorageError):
        rows.setdefault(str(cls.exit_code), []).append(_first_line(cls.__doc__))
    rows["130 / 143 / 129"] = [_first_line(errors.Interrupted.__doc__)]
    rows[str(EXIT_SIGPIPE)] = ["stdout was closed early (for example `| head`)."]
    return [(code, " ".join(texts)) for code, texts in rows.items()]


def _first_line(doc: str | None) -> str:
    text = " ".join(inspect.cleandoc(doc or "").split("\n\n", 1)[0].split())
    return text if text.endswith(".") else text + "."


# --- help text → blocks ---------------------------------------------------------------------------------


def blocks(text: str) -> list[tuple[str, str]]:
    """Split click-style help into ("text", paragraph) and ("code", lines) blocks.

    Indented lines are examples (kept verbatim, dedented, one code block per run); other lines are
    prose that click would re-wrap, so they are joined. A `\\b` line only stops re-wrapping.
    """
    result: list[tuple[str, str]] = []
    prose: list[str] = []
    code: list[str] = []

    def flush_prose() -> None:
        if prose:
            result.append(("text", " ".join(line.strip() for line in prose)))
            prose.clear()

    def flush_code() -> None:
        if code:
            result.append(("code", "\n".join(inspect.cleandoc("\n".join(code)).splitlines())))
            code.clear()

    for line in text.replace("\x08", "").splitlines():
        if not line.strip():
            flush_prose()  # a blank line between two examples stays inside their code block
            continue
        if INDENTED.match(line):
            flush_prose()
            code.append(line.rstrip())
        else:
            flush_code()
            prose.append(line)
    flush_prose()
    flush_code()
    return result


# --- Markdown --------------------------------------------------------------------------------------------


def render_markdown(doc: CommandDoc, codes: list[tuple[str, str]]) -> str:
    out = [
        "# Command-line reference",
        "",
        "<!-- Generated by scripts/gen_cli_docs.py from llmcli.app.build_app(); do not edit by hand. -->",
        "",
        ("Every command and option of `llmcli`, as its `--help` shows them. Regenerate with "
        "`python scripts/gen_cli_docs.py`; `tests/test_docs.py` fails when this file is stale."),
        "",
    ]
    for item in doc.walk():
        depth = item.path.count(" ")
        out.append(f"- [`{item.path}`](#{_anchor(item.path)})" if depth == 0 else
                   "  " * (depth - 1) + f"- [`{item.path}`](#{_anchor(item.path)}) — {item.summary}")
    out.append("- [Exit codes](#exit-codes)")
    out.append("")
    for item in doc.walk():
        out.extend(_markdown_command(item))
    out += ["## Exit codes", "", "| code | meaning |", "|---|---|"]
    out += [f"| {code} | {_cell(meaning)} |" for code, meaning in codes]
    return "\n".join(out).rstrip("\n") + "\n"


def _markdown_command(item: CommandDoc) -> list[str]:
    out = [f"## {item.path}", "", "```text", item.usage, "```", ""]
    out += _markdown_blocks(item.help)
    for title, rows in (("argument", item.arguments), ("option", item.options)):
        if rows:
            out += [f"| {title} | description |", "|---|---|"]
            out += [f"| `{decl}` | {_cell(text)} |" for decl, text in rows]
            out.append("")
    if item.children:
        out += ["| command | description |", "|---|---|"]
        out += [f"| [`{c.path.rsplit(' ', 1)[1]}`](#{_anchor(c.path)}) | {_cell(c.summary)} |"
                for c in item.children]
        out.append("")
    out += _markdown_blocks(item.epilog)
    return out


def _markdown_blocks(text: str) -> list[str]:
    out: list[str] = []
    for kind, body in blocks(text):
        out += (["```sh", body, "```", ""] if kind == "code" else [_inline(body), ""])
    return out


def _anchor(path: str) -> str:  # GitHub's heading ids: lower case, spaces → "-"
    return path.lower().replace(" ", "-")


def _inline(text: str) -> str:
    """Prose for Markdown: `<` outside code spans would start an HTML tag (`<list[str]>`)."""
    parts = re.split(r"(`[^`]*`)", text)
    return "".join(p if p.startswith("`") else p.replace("<", "&lt;") for p in parts)


def _cell(text: str) -> str:
    return _inline(" ".join(text.split())).replace("|", "\\|")


# --- man page (roff) -------------------------------------------------------------------------------------


def render_man(doc: CommandDoc, codes: list[tuple[str, str]], version: str) -> str:
    out = [
        '.\\" Generated by scripts/gen_cli_docs.py from llmcli.app.build_app(); do not edit by hand.',
        f'.TH LLMCLI 1 "" "llmcli {version}" "User Commands"',
        ".SH NAME",
        "llmcli \\- " + _roff(doc.summary[0].lower() + doc.summary[1:].rstrip(".")),
        ".SH SYNOPSIS",
        ".B llmcli",
        "[\\fIOPTIONS\\fR] \\fICOMMAND\\fR [\\fIARGS\\fR]...",
        ".SH DESCRIPTION",
    ]
    out += _man_blocks(doc.help)
    out += [".SH OPTIONS"] + _man_params(doc.options)
    out.append(".SH COMMANDS")
    for item in list(doc.walk())[1:]:
        out += [f'.SS "{_roff(item.usage)}"'] + _man_blocks(item.help)
        out += _man_params(item.arguments) + _man_params(item.options) + _man_blocks(item.epilog)
    out.append(".SH EXIT STATUS")
    for code, meaning in codes:
        out += [".TP", f"\\fB{_roff(code)}\\fR", _roff(meaning)]
    out += [
        ".SH FILES",
        ("With \\fBLLMCLI_HOME\\fR set, everything is under it. Otherwise config.toml is in "
        "~/.config/llmcli/, the history database in ~/.local/share/llmcli/history.db and caches in "
        "~/.cache/llmcli/ (the platform's user folders). \\fBllmcli config path\\fR prints where "
        "config.toml is."),
        ".SH SEE ALSO",
        "The README, docs/cli.md and docs/faq.md of the llmcli source distribution.",
    ]
    return "\n".join(out) + "\n"


def _man_blocks(text: str) -> list[str]:
    out: list[str] = []
    for kind, body in blocks(text):
        if kind == "code":
            out += [".PP", ".RS 4", ".nf"] + [_roff(line) for line in body.splitlines()] + [".fi", ".RE"]
        else:
            out += [".PP", _roff(body)]
    return out


def _man_params(rows: list[tuple[str, str]]) -> list[str]:
    out: list[str] = []
    for decl, text in rows:
        out += [".TP", f"\\fB{_roff(decl)}\\fR", _roff(" ".join(text.split()))]
    return out


def _roff(text: str) -> str:
    text = text.replace("\\", "\\e").replace("-", "\\-")
    return "\\&" + text if text[:1] in (".", "'") else text


# --- files -------------------------------------------------------------------------------------------------


def render_all() -> dict[str, str]:
    from llmcli import __version__

    doc, codes = collect(), exit_codes()
    return {MARKDOWN_FILE: render_markdown(doc, codes), MAN_FILE: render_man(doc, codes, __version__)}


def stale(folder: Path = ROOT / "docs") -> list[str]:
    """Files in `folder` that differ from what the app generates now."""
    return [name for name, text in render_all().items()
            if not (folder / name).exists() or (folder / name).read_text(encoding="utf-8") != text]


def main(argv: list[str]) -> int:
    folder = ROOT / "docs"
    if "--check" in argv:
        names = stale(folder)
        for name in names:
            print(f"stale: docs/{name} (run: python scripts/gen_cli_docs.py)", file=sys.stderr)
        return 1 if names else 0
    rendered = render_all()
    if "--man" in argv:
        rendered = {MAN_FILE: rendered[MAN_FILE]}
    for name, text in rendered.items():
        (folder / name).write_text(text, encoding="utf-8")
        print(f"wrote docs/{name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
