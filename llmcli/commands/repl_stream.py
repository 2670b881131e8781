"""Showing one streamed reply in the REPL, so that Ctrl-C stops it cleanly.

Ctrl-C while waiting for the server stops the reply at once; Ctrl-C (or SIGTERM / SIGHUP) arriving
while a piece is being drawn waits until that drawing is done. Either way the turn learns why it
stopped (Turn.chunks() saves the partial reply, marked interrupted) and the exception goes on to the
loop (Ctrl-C: back to the prompt) or the error boundary (SIGTERM: exit 143, SIGHUP: exit 129).
"""

from __future__ import annotations

import signal
from contextlib import AbstractContextManager, contextmanager
from typing import TYPE_CHECKING, Iterator

from llmcli import console
from llmcli.errors import TerminateRequested, handled_signals, terminating_signals
from llmcli.services.turn import stop_with

if TYPE_CHECKING:
    from llmcli.console import PlainWriter
    from llmcli.services.chat import Turn


def stream_reply(turn: Turn, writer: PlainWriter) -> None:
    chunks = turn.chunks()
    gate = InterruptGate()
    with gate.installed():
        try:
            for chunk in chunks:
                with gate.drawing():
                    writer.feed(chunk.text)
        except KeyboardInterrupt as exc:  # also TerminateRequested
            stop_with(chunks, exc)  # raised while drawing: the turn still records why it stopped
            raise
        finally:
            try:
                with gate.drawing():
                    writer.close()
            finally:
                chunks.close()  # a reply abandoned mid-way is saved now, marked interrupted


class InterruptGate:
    """Ctrl-C (or SIGTERM / SIGHUP) arriving while a piece of the reply is being drawn takes effect once the
    drawing is done: an interrupt in the middle of a live-region redraw would leave the terminal and
    rich disagreeing about what is on screen (stale lines). Elsewhere it acts at once."""

    def __init__(self) -> None:
        self._drawing = False
        self._pending: BaseException | None = None

    def _on_signal(self, signum: int, frame: object) -> None:
        error = console.terminated_by(signum) if signum in terminating_signals() else KeyboardInterrupt()
        if not self._drawing:
            raise error
        if self._pending is None or isinstance(error, TerminateRequested):
            self._pending = error

    def installed(self) -> AbstractContextManager[None]:
        return handled_signals(self._on_signal, (signal.SIGINT, *terminating_signals()))

    @contextmanager
    def drawing(self) -> Iterator[None]:
        self._drawing = True
        try:
            yield
        finally:
            self._drawing = False
            pending, self._pending = self._pending, None
            if pending is not None:
                raise pending
