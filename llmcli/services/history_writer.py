"""A separate process that saves one `ask` to history, so the storage stack loads on another core.

Why a process and not a thread: importing sqlmodel/SQLAlchemy is ~0.3 s of pure-Python work under
the GIL. In a thread it only overlaps the request while the main thread is blocked on the network;
with a fast server it simply adds up (measured: main 0.28 s + storage 0.3 s of CPU), and while the
request is being prepared it slows the main thread down. A child interpreter does the import in
parallel, from the moment `llmcli ask` starts (app.main → commands.prestart → `prestart()`), while
the parent parses flags, reads the config and streams the reply.

The parent sends JSON lines `{"record": {...MessageRecord...}, "title": ...}` on the child's stdin
and closes it when the turn has ended; the child opens the store on the first record (a run that
saves nothing never creates the database), saves each one, and answers with one line
`{"saved": N, "error": null | "message (hint)"}`. The parent waits for that answer before it exits,
so the history is written when `ask` returns, exactly as with a thread. The child runs in its own
session (a Ctrl-C in the terminal reaches the parent, which then sends the partial reply) and ignores
SIGINT. It is given no secrets: it needs none.

Stdlib only at the top: app.main imports this before typer.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
from dataclasses import asdict
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from llmcli.types import MessageRecord

_SECRET_SUFFIXES = ("_API_KEY", "_TOKEN", "_CREDENTIALS", "_PASSWORD", "_SECRET", "_KEY")
# The child imports from exactly the parent's sys.path (not the current directory's llmcli/).
_PATH_ENV = "_LLMCLI_WRITER_SYS_PATH"
# It leaves with os._exit once it has answered: everything is saved and flushed by then, and an
# interpreter shutdown with SQLAlchemy and pydantic loaded costs ~0.1 s the parent would wait for.
_CHILD = (f"import os, sys; sys.path[:] = os.environ.pop({_PATH_ENV!r}).split(os.pathsep); "
          "from llmcli.services.history_writer import serve; os._exit(serve())")

_prestarted: HistoryWriter | None = None


class HistoryWriter:
    """The parent's end of one writer process."""

    def __init__(self, proc: subprocess.Popen) -> None:
        self._proc = proc
        # Lines go through a feeder thread: a piped 2 MiB prompt must not block the request until
        # the child has finished importing and starts reading (a pipe holds 64 KiB).
        self._queue: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        self._feeder: threading.Thread | None = None
        self._lost = False

    @classmethod
    def spawn(cls) -> HistoryWriter:
        env = {k: v for k, v in os.environ.items() if not k.upper().endswith(_SECRET_SUFFIXES)}
        env[_PATH_ENV] = os.pathsep.join(sys.path)
        proc = subprocess.Popen(
            [sys.executable, "-c", _CHILD],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=None if os.environ.get("LLMCLI_DEBUG") else subprocess.DEVNULL,
            env=env, start_new_session=True, close_fds=True,
        )
        return cls(proc)

    def save_message(self, record: MessageRecord, *, title: str | None = None) -> None:
        """Queue one message; Store.save_message's signature, so Recorder actions work unchanged."""
        line = json.dumps({"record": asdict(record), "title": title}, ensure_ascii=False) + "\n"
        if self._feeder is None:
            self._feeder = threading.Thread(target=self._feed, name="history-writer-feed", daemon=True)
            self._feeder.start()
        self._queue.put(line.encode("utf-8"))

    def _feed(self) -> None:
        stdin = self._proc.stdin
        assert stdin is not None
        while (line := self._queue.get()) is not None:
            if self._lost:
                continue
            try:
                stdin.write(line)
                stdin.flush()
            except OSError:  # the writer is gone; finish() says why
                self._lost = True

    def finish(self) -> str | None:
        """Close the queue and wait until everything is saved; None, or why it was not."""
        proc = self._proc
        assert proc.stdin is not None and proc.stdout is not None
        if self._feeder is not None:
            self._queue.put(None)
            self._feeder.join()
        try:
            proc.stdin.close()
        except OSError:
            pass
        try:
            answer = proc.stdout.readline()
        finally:
            proc.stdout.close()
            proc.wait()
        try:
            report = json.loads(answer)
        except ValueError:
            return f"the history writer stopped (exit status {proc.returncode})"
        if report.get("error"):
            return str(report["error"])
        return "the history writer stopped" if self._lost else None

    def discard(self) -> None:
        """Not needed after all: let it exit on its own (it has written nothing)."""
        for pipe in (self._proc.stdin, self._proc.stdout):
            try:
                if pipe is not None:
                    pipe.close()
            except OSError:
                pass


def prestart() -> None:
    """Start a writer now, for `take()` to hand to the turn later. Never fails: without one the
    turn saves from a thread, as before."""
    global _prestarted
    if _prestarted is None:
        try:
            _prestarted = HistoryWriter.spawn()
        except Exception:  # noqa: BLE001 - no interpreter to start (embedded, frozen): use a thread
            _prestarted = None


def take() -> HistoryWriter | None:
    """The prestarted writer, once (None if there is none)."""
    global _prestarted
    writer, _prestarted = _prestarted, None
    return writer


def discard_prestarted() -> None:
    writer = take()
    if writer is not None:
        writer.discard()


# --- the child ---------------------------------------------------------------------------------


def serve() -> int:
    """The writer process: import storage at once, save what arrives on stdin, report on stdout."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    error: str | None = None
    saved = 0
    store = None
    try:
        from llmcli.errors import LlmcliError
        from llmcli.storage import open_store
        from llmcli.types import MessageRecord
    except Exception as exc:  # noqa: BLE001 - reported to the parent, which warns
        return _answer(0, f"{type(exc).__name__}: {exc}")
    for line in sys.stdin.buffer:
        if error is not None:
            continue  # drain: the parent is told once
        try:
            item = json.loads(line)
            if store is None:
                store = open_store()
            store.save_message(MessageRecord(**item["record"]), title=item.get("title"))
            saved += 1
        except LlmcliError as exc:
            error = exc.message + (f" ({exc.hint})" if exc.hint else "")
        except Exception as exc:  # noqa: BLE001 - history must never cost the answer
            error = f"{type(exc).__name__}: {exc}"
    if store is not None:
        store.close()
    return _answer(saved, error)


def _answer(saved: int, error: str | None) -> int:
    try:
        sys.stdout.write(json.dumps({"saved": saved, "error": error}) + "\n")
        sys.stdout.flush()
    except OSError:  # the parent is gone
        pass
    return 0
