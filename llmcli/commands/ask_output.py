"""How `ask` shows its results: the streamed reply, an extracted code block, compare runs, and the
stderr notes (usage, warnings, which provider answered). stdout carries results only."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from llmcli import console


def render_reply(chunks: Any, *, buffered: bool) -> None:
    writer = console.reply_writer()
    try:
        if buffered:
            writer.feed("".join(chunk.text for chunk in chunks))
        else:
            for chunk in chunks:
                writer.feed(chunk.text)
    except KeyboardInterrupt as exc:  # also TerminateRequested (SIGTERM/SIGHUP)
        _stop_with(chunks, exc)  # raised while writing: the turn still records why it stopped
        raise
    finally:
        try:
            writer.close()
        except BrokenPipeError:
            pass
        finally:
            _close(chunks)  # a generator abandoned mid-way (stdout closed) saves its partial reply now


def consume(chunks: Any) -> None:
    """Run a turn to its end without printing (for --json and -x, which need the whole reply)."""
    try:
        for _ in chunks:
            pass
    except KeyboardInterrupt as exc:
        _stop_with(chunks, exc)
        raise
    finally:
        _close(chunks)


def _stop_with(chunks: Any, error: BaseException) -> None:
    from llmcli.services.turn import stop_with

    stop_with(chunks, error)


def _close(chunks: Any) -> None:
    close = getattr(chunks, "close", None)
    if close is not None:
        close()


def render_code(text: str, *, last: bool) -> None:
    """-x/--xl: the first (last) fenced code block and one newline; a warning when there is none."""
    from llmcli.services.extract import pick_block

    block = pick_block(text, last=last)
    if block is None:
        console.warn("the reply has no fenced code block; nothing printed (the full reply is in history: "
                     "`llmcli history show` or `llmcli ask -c …`)")
        return
    if not block.closed:
        console.warn("the code block is cut off: the reply ended inside it")
    console.write(block.code + "\n")


def with_code(obj: dict[str, Any], extract: str | None) -> dict[str, Any]:
    """A --json object, plus the reply's first/last code block as "code" when -x/--xl asked for it."""
    if extract is not None:
        obj["code"] = code_field(obj["text"], last=extract == "last")
    return obj


def code_field(text: str, *, last: bool) -> str | None:
    from llmcli.services.extract import pick_block

    block = pick_block(text, last=last)
    return block.code if block is not None else None


def report(result: Any, *, show_usage: bool, answered_by: str | None = None) -> None:
    for notice in result.notices:
        console.warn(notice)
    for warning in result.warnings:
        console.warn(warning)
    if answered_by:
        model = result.server_model or result.model
        console.info(f"answered by {answered_by} ({model})")
    if show_usage:
        console.info(usage_line(result))


def usage_line(result: Any) -> str:
    u = result.usage
    tokens = (f"{u.prompt_tokens} prompt + {u.completion_tokens} completion = {u.total_tokens} tokens"
              if u else "usage not reported by the server")
    return f"usage: {tokens}; {result.latency_ms} ms; {result.provider}/{result.server_model or result.model}"


def fallback_notice(failed: str, error: Any, next_provider: str) -> None:
    """Said the moment a provider fails before output and the next one is asked."""
    console.warn(f"{failed} failed: {_without_name(failed, error.message)}; asking {next_provider}")


# --- compare ---------------------------------------------------------------------------------------


def render_comparison(outcomes: Iterable[Any], *, as_json: bool, show_usage: bool,
                      extract: str | None) -> list[Any]:
    """One JSON line per provider (piped or --json), else a header and the answer per provider.

    `extract` is None, "first" or "last" (-x/--xl). Returns the outcomes shown."""
    shown = []
    for outcome in outcomes:
        shown.append(outcome)
        if as_json:
            _json_line(with_code(outcome.to_json(), extract))  # one compact line per provider, on a TTY too
        else:
            _show_section(outcome, extract)
        _report_outcome(outcome, show_usage=show_usage)
    return shown


def _show_section(outcome: Any, extract: str | None) -> None:
    result = outcome.result
    model = (result.server_model or result.model) if result else outcome.model
    took = f" · {result.latency_ms / 1000:.1f} s" if result and result.latency_ms is not None else ""
    console.out(f"── {outcome.provider}" + (f" · {model}" if model else "") + took + " ──")
    if result is not None and result.text:
        if extract is not None:
            render_code(result.text, last=extract == "last")
        else:
            writer = console.reply_writer()
            writer.feed(result.text)
            writer.close()
    console.out()


def _report_outcome(outcome: Any, *, show_usage: bool) -> None:
    if outcome.error is not None:
        console.error(f"{outcome.provider}: {_without_name(outcome.provider, outcome.error.message)}",
                      outcome.error.hint)
    result = outcome.result
    if result is None:
        return
    for message in (*result.notices, *result.warnings):
        console.warn(f"{outcome.provider}: {message}")
    if show_usage and outcome.error is None:
        console.info(usage_line(result))


def _without_name(provider: str, message: str) -> str:
    """The message without a leading `PROVIDER: ` (adapters often start with it; we name it already)."""
    return message.removeprefix(f"{provider}: ")


def _json_line(obj: dict[str, Any]) -> None:
    import json

    console.out(json.dumps(obj, ensure_ascii=False, default=str))
