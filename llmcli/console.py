"""All output goes through here: stdout carries results only; status, warnings and errors go to stderr.

On a TTY replies are rendered as Markdown (rich, imported lazily); when piped they are written plain,
unstyled and flushed per chunk. Nothing here imports rich until it is needed.
"""

from __future__ import annotations

import json
import os
import sys
from typing import TYPE_CHECKING, Any, Sequence

if TYPE_CHECKING:
    from llmcli.errors import TerminateRequested


def stdout_is_tty() -> bool:
    try:
        return sys.stdout.isatty()
    except (AttributeError, ValueError):
        return False


def stderr_is_tty() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


def color_allowed() -> bool:
    return stdout_is_tty() and "NO_COLOR" not in os.environ and os.environ.get("TERM") != "dumb"


def out(text: str = "") -> None:
    """One line of result on stdout."""
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def write(text: str) -> None:
    """A piece of a streamed result on stdout, flushed at once."""
    sys.stdout.write(text)
    sys.stdout.flush()


def print_json(obj: Any) -> None:
    out(json.dumps(obj, ensure_ascii=False, indent=2 if stdout_is_tty() else None, default=str))


def print_table(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """A rich table on a TTY; tab-separated lines (header first) when piped."""
    if not stdout_is_tty():
        out("\t".join(columns))
        for row in rows:
            out("\t".join("" if cell is None else str(cell) for cell in row))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(*columns, box=None, header_style="bold", pad_edge=False)
    for row in rows:
        table.add_row(*("" if cell is None else str(cell) for cell in row))
    Console(highlight=False).print(table)


def _err(prefix: str, message: str) -> None:
    try:
        sys.stderr.write(f"{prefix}{message}\n")
        sys.stderr.flush()
    except (OSError, ValueError):  # a closed pipe, or a terminal that hung up (EIO)
        pass


def terminated_by(signum: int) -> TerminateRequested:
    """What our SIGTERM / SIGHUP handlers raise. On SIGHUP the terminal is gone (ssh dropped, tab
    closed) and every write to it fails with EIO, so stdout and stderr stop writing to it first:
    the rest of the run (the reply's last piece, `error: terminated`, the final flush) cannot fail
    over saving the partial reply."""
    import signal

    from llmcli.errors import TerminateRequested

    if signum == getattr(signal, "SIGHUP", None):
        to_devnull((sys.stdout, sys.stderr), terminals_only=True)
    return TerminateRequested(signum)


def to_devnull(streams: Sequence[Any], *, terminals_only: bool = False) -> None:
    """Point these streams' descriptors at /dev/null, so later writes and the final flush cannot fail:
    after a closed pipe (stdout), or a hung-up terminal (then only streams that are a terminal — a
    character device, since a tty that hung up no longer passes isatty(); pipes and files keep theirs)."""
    import stat

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
    except OSError:
        return
    try:
        for stream in streams:
            try:
                fd = stream.fileno()
                if not terminals_only or stat.S_ISCHR(os.fstat(fd).st_mode):
                    os.dup2(devnull, fd)
            except (AttributeError, OSError, ValueError):
                pass
    finally:
        os.close(devnull)


def error(message: str, hint: str | None = None) -> None:
    _err("error: ", message)
    if hint:
        _err("hint: ", hint)


def debug_enabled() -> bool:
    """--debug (which sets LLMCLI_DEBUG) or LLMCLI_DEBUG itself: anything but 0/false/no is on."""
    return os.environ.get("LLMCLI_DEBUG", "").lower() not in ("", "0", "false", "no")


def traceback_if_debug() -> None:
    """With --debug, the traceback of the exception being handled goes to stderr."""
    if debug_enabled():
        import traceback

        traceback.print_exc(file=sys.stderr)  # never with locals: they may hold keys


BUG_HINT = "this is a bug in llmcli; run with --debug for the traceback and report it"


def bug(exc: BaseException) -> str:
    """Report an exception llmcli did not expect (traceback with --debug); returns the error line."""
    traceback_if_debug()
    message = f"unexpected error: {type(exc).__name__}: {exc}"
    error(message, BUG_HINT)
    return message


def warn(message: str) -> None:
    _err("warning: ", message)


def info(message: str) -> None:
    _err("", message)


class PlainWriter:
    """Writes deltas as they come; the reply ends with exactly one newline."""

    def __init__(self) -> None:
        self._last = ""

    def feed(self, text: str) -> None:
        if text:
            write(text)
            self._last = text[-1]

    def close(self) -> None:
        if self._last and self._last != "\n":
            write("\n")
        self._last = "\n"


def reply_writer(markdown: bool | None = None) -> PlainWriter:
    """The writer for a streamed reply: Markdown on a TTY, plain otherwise."""
    if markdown is None:
        markdown = color_allowed()
    if markdown:
        from llmcli.render import MarkdownStream

        return MarkdownStream()
    return PlainWriter()
