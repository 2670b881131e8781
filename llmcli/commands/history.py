"""`llmcli history`: list, show, search, export, import, delete and statistics of saved conversations."""

from __future__ import annotations

import sys
from typing import Iterable, List, Optional

import typer

from llmcli import console
from llmcli.completion import complete_provider
from llmcli.errors import UsageError

app = typer.Typer(help="Saved conversations: list, show, search, export/import, delete, stats.",
                  no_args_is_help=True,
                  epilog="\b\nExamples:\n  llmcli history list\n  llmcli history search \"нагрузочное\"\n")

EXPORT_EPILOG = """\b
Examples:
  llmcli history export > all.jsonl
  llmcli history export --format markdown 3f2a -o chat.md
"""

DELETE_EPILOG = """\b
Examples:
  llmcli history delete 3f2a
  llmcli history delete --older-than 30d --yes
"""

ID_HELP = "Conversation id or a unique prefix of it."


def _service():
    from llmcli.services.history import HistoryService

    return HistoryService()


@app.command("list", epilog="\b\nExamples:\n  llmcli history list -n 5\n  llmcli history list -p gigachat --json\n")
def history_list(
    limit: int = typer.Option(20, "-n", "--limit", min=1, help="How many (newest first)."),
    provider: Optional[str] = typer.Option(None, "-p", "--provider", autocompletion=complete_provider,
                                           help="Only conversations that used this provider."),
    json_output: bool = typer.Option(False, "--json", help="Print a JSON array."),
) -> None:
    """The most recently updated conversations."""
    with _service() as history:
        rows = history.list_conversations(limit, provider)
    if json_output:
        console.print_json(rows)
        return
    console.print_table(["id", "updated", "msgs", "providers", "last model", "title"],
                        [[r["id"][:12], _when(r["updated_at"]), r["messages"], ",".join(r["providers"]),
                          r["last_model"], r["title"]] for r in rows])


@app.command("show", epilog="\b\nExamples:\n  llmcli history show 3f2a\n  llmcli history show 3f2a --markdown > chat.md\n")
def history_show(
    conversation: str = typer.Argument(..., metavar="ID", help=ID_HELP),
    json_output: bool = typer.Option(False, "--json", help="Print one JSON object."),
    markdown: bool = typer.Option(False, "--markdown", help="Print it as a Markdown document."),
) -> None:
    """One conversation, every message with its provider, model and usage."""
    with _service() as history:
        if markdown:
            console.out(history.markdown(conversation).rstrip("\n"))
            return
        data = history.show(conversation)
    if json_output:
        console.print_json(data)
        return
    console.out(f"{data['title']}\n{data['id']} · started {_when(data['created_at'])}")
    for m in data["messages"]:
        console.out("")
        console.out(f"── {_heading(m)}")
        console.out(m["text"])


def _heading(m: dict) -> str:
    parts = [m["role"], _when(m["created_at"])]
    if m["provider"]:
        parts.append(f"{m['provider']}/{m['model']}")
    if m["latency_ms"] is not None:
        parts.append(f"{m['latency_ms']} ms")
    if m["usage"]:
        parts.append(f"{m['usage']['prompt_tokens']}+{m['usage']['completion_tokens']} tokens")
    if not m["complete"]:
        parts.append(f"INCOMPLETE ({m['finish_reason']}{': ' + m['error'] if m['error'] else ''})")
    return " · ".join(parts)


@app.command("search", epilog="\b\nExample:\n  llmcli history search нагрузочное тестирование -n 5\n")
def history_search(
    query: List[str] = typer.Argument(..., help="Words to find (every word must occur; Cyrillic works)."),
    limit: int = typer.Option(20, "-n", "--limit", min=1, help="How many hits, best first."),
    json_output: bool = typer.Option(False, "--json", help="Print a JSON array."),
) -> None:
    """Full-text search over every saved message, best matches first."""
    with _service() as history:
        hits = history.search(" ".join(query), limit)
    if json_output:
        console.print_json(hits)
        return
    console.print_table(["id", "when", "role", "title", "match"],
                        [[h["conversation_id"][:12], _when(h["created_at"]), h["role"], h["title"],
                          " ".join(h["snippet"].split())] for h in hits])


@app.command("export", epilog=EXPORT_EPILOG)
def history_export(
    conversations: Optional[List[str]] = typer.Argument(None, metavar="[ID]...",
                                                        help="Conversations (default: all)."),
    fmt: str = typer.Option("jsonl", "--format", "-f", help="jsonl (for `history import`) or markdown."),
    output: Optional[str] = typer.Option(None, "-o", "--output", metavar="FILE",
                                         help="Write here instead of stdout."),
) -> None:
    """Export conversations as JSON Lines (one conversation per line) or Markdown."""
    separator = "\n\n---\n\n" if fmt == "markdown" else "\n"
    with _service() as history:
        pieces = history.export(conversations or [], fmt)
        if output is None:
            for count, piece in enumerate(pieces):
                console.write((separator if count and fmt == "markdown" else "") + piece.rstrip("\n") + "\n")
            return
        count = _write_file(output, pieces, separator)
    console.info(f"exported {plural(count, 'conversation')} to {output}")


def _write_file(path: str, pieces: Iterable[str], separator: str) -> int:
    count = 0
    try:
        with open(path, "w", encoding="utf-8", newline="\n") as handle:
            for piece in pieces:
                handle.write((separator if count and separator != "\n" else "") + piece.rstrip("\n") + "\n")
                count += 1
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None
    return count


@app.command("import", epilog="\b\nExample:\n  llmcli history import all.jsonl\n")
def history_import(
    file: str = typer.Argument(..., metavar="FILE", help="A .jsonl file from `history export`; - for stdin."),
) -> None:
    """Import conversations exported with `history export` (ids kept; importing twice adds nothing)."""
    with _service() as history:
        if file == "-":
            added = history.import_lines(sys.stdin)
        else:
            try:
                with open(file, encoding="utf-8") as handle:
                    added = history.import_lines(handle)
            except (OSError, UnicodeDecodeError) as exc:
                raise UsageError(f"cannot read {file}: {getattr(exc, 'strerror', None) or exc}") from None
    conversations, messages = added
    console.out(f"imported {plural(conversations, 'conversation')}, {plural(messages, 'message')}"
                + ("" if conversations or messages else " (everything was already there)"))


@app.command("delete", epilog=DELETE_EPILOG)
def history_delete(
    conversations: Optional[List[str]] = typer.Argument(None, metavar="[ID]...", help=ID_HELP),
    older_than: Optional[str] = typer.Option(
        None, "--older-than", metavar="AGE",
        help="Delete conversations last updated before this: 30d, 12h, 2w, or a date."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
) -> None:
    """Delete conversations by id, or every conversation older than an age. Asks first on a terminal."""
    if bool(conversations) == bool(older_than):
        raise UsageError("give conversation ids or --older-than AGE (one of the two)",
                         hint="llmcli history delete 3f2a9c  or  llmcli history delete --older-than 30d")
    from llmcli.services.history import cutoff_iso

    with _service() as history:
        if older_than:
            cutoff = cutoff_iso(older_than)
            _confirm(yes, f"delete every conversation last updated before {cutoff[:19]}Z?")
            deleted = history.delete_before(cutoff)
        else:
            ids = history.resolve_all(conversations or [])
            _confirm(yes, f"delete {plural(len(ids), 'conversation')} "
                          f"({', '.join(i[:12] for i in ids[:5])}{', …' if len(ids) > 5 else ''})?")
            deleted = history.delete(ids)
    console.out(f"deleted {plural(deleted, 'conversation')}")


def _confirm(yes: bool, question: str) -> None:
    if yes or not interactive():
        return
    if not typer.confirm(question, default=False):
        raise typer.Exit(1)


def interactive() -> bool:
    """Ask only when a person can answer: stdin is a terminal (scripts pass --yes or pipe)."""
    return sys.stdin is not None and sys.stdin.isatty()


@app.command("stats", epilog="\b\nExamples:\n  llmcli history stats\n  llmcli history stats --since 7d --json\n")
def history_stats(
    since: Optional[str] = typer.Option(None, "--since", metavar="AGE",
                                        help="Only the last 7d, 24h, … (or since a date)."),
    json_output: bool = typer.Option(False, "--json", help="Print a JSON array."),
) -> None:
    """Requests, errors, tokens and latency per provider and model."""
    with _service() as history:
        rows = history.stats(since)
    if json_output:
        console.print_json(rows)
        return
    console.print_table(
        ["provider", "model", "requests", "errors", "tokens in", "tokens out", "p50 ms", "p95 ms"],
        [[r["provider"], r["model"], r["requests"], _errors(r), r["prompt_tokens"], r["completion_tokens"],
          r["latency_p50_ms"], r["latency_p95_ms"]] for r in rows])


def _errors(row: dict) -> str:
    kinds = row.get("errors_by_kind") or {}
    detail = ", ".join(f"{kind} {n}" for kind, n in sorted(kinds.items()))
    return f"{row['errors']} ({detail})" if detail else str(row["errors"])


def plural(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _when(iso: Optional[str]) -> str:
    """ISO 8601 UTC, shortened to the minute for tables (JSON keeps the full value)."""
    return f"{iso[:16].replace('T', ' ')}Z" if iso else ""
