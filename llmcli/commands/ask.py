"""`llmcli ask`: one prompt, one streamed reply. Pipe-friendly: stdout carries the reply only."""

from __future__ import annotations

import sys
from typing import List, Optional

import typer

from llmcli import console
from llmcli.commands.options import parse_options
from llmcli.completion import complete_model, complete_provider
from llmcli.errors import UsageError

EPILOG = """\b
Examples:

  llmcli ask "What is the capital of France?"

  git diff | llmcli ask "write a commit message"

  llmcli ask -p gigachat -m GigaChat-2-Max --json "Привет"

  llmcli ask -c "and in one sentence?"
"""

COMMAND_SETTINGS = {"help": "Ask one question; the reply streams to stdout.", "epilog": EPILOG}


def command(
    prompt: Optional[List[str]] = typer.Argument(None, help="The prompt; piped stdin is appended after a blank line."),
    provider: Optional[str] = typer.Option(None, "-p", "--provider", help="Provider name (see `llmcli providers list`).", envvar="LLMCLI_PROVIDER", show_envvar=False, autocompletion=complete_provider),
    model: Optional[str] = typer.Option(None, "-m", "--model", help="Model id or alias.", autocompletion=complete_model),
    system: Optional[str] = typer.Option(None, "-s", "--system", help="System prompt."),
    temperature: Optional[float] = typer.Option(None, "-t", "--temperature", min=0.0, max=2.0, help="Sampling temperature."),
    top_p: Optional[float] = typer.Option(None, "--top-p", min=0.0, max=1.0, help="Nucleus sampling."),
    max_tokens: Optional[int] = typer.Option(None, "--max-tokens", min=1, help="Longest reply, in tokens."),
    option: Optional[List[str]] = typer.Option(None, "-o", "--option", metavar="KEY=VALUE", help="Provider-specific option, e.g. -o repetition_penalty=1.1 (GigaChat), -o reasoning=on (YandexGPT)."),
    no_stream: bool = typer.Option(False, "--no-stream", help="Wait for the whole reply, then print it."),
    json_output: bool = typer.Option(False, "--json", help="Print one JSON object with the reply, usage and ids."),
    continue_last: bool = typer.Option(False, "-c", "--continue", help="Continue the most recent conversation."),
    conversation: Optional[str] = typer.Option(None, "--conversation", metavar="ID", help="Continue this conversation (id or unique prefix)."),
    no_log: bool = typer.Option(False, "--no-log", help="Do not save this exchange to history."),
    usage: bool = typer.Option(False, "-u", "--usage", help="Print token usage and latency to stderr."),
) -> None:
    from llmcli.config import load_settings
    from llmcli.services.chat import ChatService, TurnRequest

    settings = load_settings()
    text = build_prompt(prompt or [], read_stdin(settings.max_input_bytes))
    request = TurnRequest(
        prompt=text, provider=provider, model=model, system=system, temperature=temperature,
        top_p=top_p, max_tokens=max_tokens, extra=parse_options(option or []), stream=not no_stream,
        conversation=conversation, continue_last=continue_last, log=not no_log,
    )
    turn = ChatService(settings).start_turn(request)
    if json_output:
        for _ in turn.chunks():
            pass
        console.print_json(turn.result.to_json())
    else:
        render_reply(turn.chunks(), buffered=no_stream)
    report(turn.result, show_usage=usage)


def build_prompt(words: list[str], piped: str | None) -> str:
    """PROMPT words, then piped stdin after a blank line (DESIGN.md §7)."""
    parts = [" ".join(words)] if words else []
    if piped:
        parts.append(piped)
    text = "\n\n".join(parts)
    if not text.strip():
        raise UsageError("empty prompt: pass text as an argument or on stdin",
                         hint='llmcli ask "your question"   or   echo text | llmcli ask')
    return text


def read_stdin(limit: int) -> str | None:
    """Piped stdin as UTF-8, refused early (bounded memory) when larger than `limit` bytes."""
    stream = sys.stdin
    if stream is None or stream.closed or stream.isatty():
        return None
    raw = stream.buffer.read(limit + 1) if hasattr(stream, "buffer") else stream.read(limit + 1).encode()
    if len(raw) > limit:
        raise UsageError(
            f"input is larger than {_size(limit)}",
            hint="split it, or raise the cap with `llmcli config set max_input_bytes N`",
        )
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UsageError(
            f"stdin is not valid UTF-8 (byte 0x{raw[exc.start]:02x} at offset {exc.start})",
            hint="convert it first, e.g. `iconv -f cp1251 -t utf-8 file | llmcli ask …`",
        ) from None


def render_reply(chunks, *, buffered: bool) -> None:
    writer = console.reply_writer()
    try:
        if buffered:
            writer.feed("".join(chunk.text for chunk in chunks))
        else:
            for chunk in chunks:
                writer.feed(chunk.text)
    finally:
        try:
            writer.close()
        except BrokenPipeError:
            pass
        close = getattr(chunks, "close", None)
        if close is not None:
            close()  # a generator abandoned mid-way saves its partial reply now


def report(result, *, show_usage: bool) -> None:
    for notice in result.notices:
        console.warn(notice)
    for warning in result.warnings:
        console.warn(warning)
    if show_usage:
        u = result.usage
        tokens = (f"{u.prompt_tokens} prompt + {u.completion_tokens} completion = {u.total_tokens} tokens"
                  if u else "usage not reported by the server")
        console.info(f"usage: {tokens}; {result.latency_ms} ms; {result.provider}/{result.server_model or result.model}")


def _size(n: int) -> str:
    return f"{n / 1048576:g} MiB" if n >= 1048576 else f"{n} bytes"
