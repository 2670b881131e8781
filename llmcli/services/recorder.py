"""Saving a turn to history without slowing it down or losing it.

The storage stack (sqlmodel, ~0.4 s to import) is loaded in a background thread while the request is
in flight; the user message is saved from there, the reply after the stream ends. A storage failure
never costs the user their answer: it becomes a warning (exit 0), as DESIGN.md §3 says.

Why not a separate writer process, which could import on another core: measured on two cores
(bench/README.md), a spawned or forked writer cost 0.15-0.2 s more CPU and ~30 MiB more memory and
was no faster; the thread's import overlaps the wait for the server's first byte, where real
servers spend their time.
"""

from __future__ import annotations

import signal
import threading
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Callable

from llmcli.errors import LlmcliError, handled_signals, terminating_signals

if TYPE_CHECKING:
    from llmcli.storage import Store


def open_store_now(url: str | None = None) -> Store:
    from llmcli.storage import open_store

    return open_store(url)


def signals_deferred() -> AbstractContextManager[None]:
    """Ignore Ctrl-C / SIGTERM / SIGHUP while a save runs, so a second Ctrl-C (or the SIGHUP of a
    terminal closed just then) cannot lose the partial reply."""
    return handled_signals(signal.SIG_IGN, (signal.SIGINT, *terminating_signals()))


class Recorder:
    """Owns the store for one command run; every failure becomes a warning, never an exception."""

    def __init__(self, enabled: bool = True, store: Store | None = None, url: str | None = None) -> None:
        self.enabled = enabled
        self.warnings: list[str] = []
        self._store = store
        self._url = url
        self._thread: threading.Thread | None = None
        self._failed = False
        self._go = threading.Event()

    def run_in_background(self, action: Callable[[Store], None], *, head_start: float = 0.0) -> None:
        """Open the store (if needed) and run `action` in a thread; `finish` waits for it.

        The thread first waits up to `head_start` seconds, or until `go()`: importing the storage
        stack holds the GIL for ~0.3 s, and while the request is still being built and sent (and the
        first chunk printed) every hand-over of the GIL costs the main thread up to 5 ms."""
        if not self.enabled:
            return
        self._thread = threading.Thread(target=self._after_head_start, args=(action, head_start), daemon=True)
        self._thread.start()

    def go(self) -> None:
        """Let the background work start now (the request is out, or the first chunk is in)."""
        if not self._go.is_set():  # called for every chunk: Event.set takes a lock, is_set does not
            self._go.set()

    def _after_head_start(self, action: Callable[[Store], None], head_start: float) -> None:
        if head_start > 0:
            self._go.wait(head_start)
        self._guarded(action)

    def finish(self, action: Callable[[Store], None]) -> bool:
        """Wait for the background work, then run `action` with signals deferred. True if saved."""
        if not self.enabled:
            return False
        self.go()
        with signals_deferred():
            if self._thread is not None:
                self._thread.join()
                self._thread = None
            if self._failed:
                return False
            return self._guarded(action)

    def _guarded(self, action: Callable[[Store], None]) -> bool:
        try:
            if self._store is None:
                self._store = open_store_now(self._url)
            action(self._store)
            return True
        except LlmcliError as exc:
            self._fail(exc.message + (f" ({exc.hint})" if exc.hint else ""))
        except Exception as exc:  # noqa: BLE001 - history must never cost the answer
            self._fail(f"{type(exc).__name__}: {exc}")
        return False

    def _fail(self, reason: str) -> None:
        if not self._failed:
            self.warnings.append(f"history not saved: {reason}")
        self._failed = True
