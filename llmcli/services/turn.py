"""One request/reply: stream it from the provider, note what came back, save the reply when it ends.

`Turn.chunks()` yields the provider's chunks; once it stops — complete, or cut short by Ctrl-C,
SIGTERM/SIGHUP, a closed stdout or a broken stream — `Turn.result` is filled in and the reply is saved
(partial replies marked `interrupted` or `error`, with the reason). ChatService (services/chat.py)
builds turns; this module never prints.
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Iterator

from llmcli.errors import LlmcliError, TerminateRequested
from llmcli.services.recorder import Recorder
from llmcli.types import (
    FINISH_ERROR,
    FINISH_INTERRUPTED,
    ChatOptions,
    Chunk,
    Message,
    MessageRecord,
    Usage,
)

if TYPE_CHECKING:
    from llmcli.providers.base import Provider
    from llmcli.services.context import FittedContext
    from llmcli.storage import Store


REQUEST_HEAD_START = 0.05  # seconds the history thread lets the request go first


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat()


def new_id() -> str:
    return uuid.uuid4().hex


@dataclass
class TurnResult:
    conversation_id: str
    message_id: str
    provider: str
    model: str
    text: str = ""
    finish_reason: str | None = None
    usage: Usage | None = None
    latency_ms: int | None = None
    server_model: str | None = None
    request_id: str | None = None
    complete: bool = False
    saved: bool = False
    notices: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        usage = self.usage or Usage()
        return {
            "conversation_id": self.conversation_id,
            "message_id": self.message_id,
            "provider": self.provider,
            "model": self.server_model or self.model,
            "text": self.text,
            "finish_reason": self.finish_reason,
            "usage": usage.to_dict(),
            "latency_ms": self.latency_ms,
        }


class Turn:
    """One request/reply. Iterate `chunks()`; `result` is complete once the iterator ends."""

    def __init__(self, provider: Provider, model: str, messages: list[Message], options: ChatOptions,
                 result: TurnResult, recorder: Recorder, user_record: MessageRecord,
                 system_record: MessageRecord | None, *, context: FittedContext | None = None,
                 owns_provider: bool = True) -> None:
        self.provider = provider
        self._owns_provider = owns_provider  # False: the ChatService keeps it for the next turn
        self.model = model
        self.messages = messages
        self.context = context  # what was left out to fit the context window, if anything
        self.options = options
        self.result = result
        self._recorder = recorder
        self._user_record = user_record
        self._system_record = system_record
        self._reply: MessageRecord | None = None  # set when the stream has ended
        self._parts: list[str] = []  # the text so far, also for abandon() from another thread
        self._started = time.monotonic()
        self._ended = False  # the reply was saved (or is being saved): by chunks() or by abandon()
        self._end_lock = threading.Lock()

    def chunks(self) -> Iterator[Chunk]:
        # The storage import waits until the request is out (~20 ms here) or the first chunk is in.
        self._recorder.run_in_background(self._save_prompt, head_start=REQUEST_HEAD_START)
        self._started = time.monotonic()
        parts = self._parts
        final_text: str | None = None
        error: str | None = None
        try:
            for chunk in self.provider.stream_chat(self.model, self.messages, self.options):
                self._recorder.go()
                if chunk.text:
                    parts.append(chunk.text)
                self._absorb(chunk)
                if chunk.final_text is not None:
                    final_text = chunk.final_text
                yield chunk
            self.result.complete = True
        except (KeyboardInterrupt, GeneratorExit) as exc:  # also TerminateRequested (SIGTERM/SIGHUP)
            error = interruption_reason(exc)
            raise
        except LlmcliError as exc:
            error = f"{type(exc).__name__}: {exc.message}"
            raise
        except Exception as exc:
            error = f"UnexpectedError: {type(exc).__name__}"
            raise
        finally:
            self._close_provider()
            with self._end_lock:
                abandoned, self._ended = self._ended, True
            if not abandoned:
                self._end(final_text if final_text is not None else "".join(parts), error)

    def abandon(self, reason: str) -> None:
        """Save what has arrived so far, marked interrupted, from another thread: for a turn whose own
        thread cannot be reached (stuck in a silent network read when `ask -p a,b` is interrupted, and
        about to be dropped at exit). Does nothing once the turn has ended by itself."""
        with self._end_lock:
            if self._ended:
                return
            self._ended = True
        self._end("".join(self._parts), reason)

    def _end(self, text: str, error: str | None) -> None:
        self.result.latency_ms = int((time.monotonic() - self._started) * 1000)
        self.result.text = text
        if not self.result.complete:
            interrupted = error is not None and error.startswith(("Interrupted", "Terminated"))
            self.result.finish_reason = FINISH_INTERRUPTED if interrupted else FINISH_ERROR
        self._reply = self._reply_record(error)
        self.result.saved = self._recorder.finish(self._save_reply)
        self.result.warnings.extend(self._recorder.warnings)

    def _absorb(self, chunk: Chunk) -> None:
        if chunk.finish_reason:
            self.result.finish_reason = chunk.finish_reason
        if chunk.usage is not None:
            self.result.usage = chunk.usage
        if chunk.model:
            self.result.server_model = chunk.model
        if chunk.request_id:
            self.result.request_id = chunk.request_id
        if chunk.notice:
            self.result.notices.append(chunk.notice)

    def _close_provider(self) -> None:
        if self._owns_provider:
            close_quietly(self.provider)

    def _save_prompt(self, store: Store) -> None:
        if self._system_record is not None:
            store.save_message(self._system_record, title=self._user_record.text)
        store.save_message(self._user_record)

    def _save_reply(self, store: Store) -> None:
        if self._reply is not None:
            store.save_message(self._reply)

    def _reply_record(self, error: str | None) -> MessageRecord:
        r = self.result
        usage = r.usage
        return MessageRecord(
            id=r.message_id, conversation_id=r.conversation_id, role="assistant", text=r.text,
            created_at=now_iso(), provider=r.provider, model=r.server_model or r.model,
            finish_reason=r.finish_reason, complete=r.complete,
            prompt_tokens=usage.prompt_tokens if usage else None,
            completion_tokens=usage.completion_tokens if usage else None,
            cached_tokens=usage.cached_tokens if usage else None,
            latency_ms=r.latency_ms, error=error, request_id=r.request_id,
        )

    def records(self) -> list[MessageRecord]:
        """This turn as history records (system prompt if set, question, and the reply once the stream
        has ended), so a caller that keeps the conversation in memory (the REPL) holds what was saved."""
        return [r for r in (self._system_record, self._user_record, self._reply) if r is not None]


def interruption_reason(exc: BaseException) -> str:
    """How an interrupted reply is marked in history: "Terminated: SIGTERM", "Interrupted: Ctrl-C", …"""
    if isinstance(exc, TerminateRequested):
        return f"Terminated: {exc.signal_name}"
    if isinstance(exc, GeneratorExit):
        return "Interrupted: output closed"
    return "Interrupted: Ctrl-C"


def close_quietly(provider: Provider) -> None:
    close = getattr(provider, "close", None)
    if close is not None:
        try:
            close()
        except Exception:  # noqa: BLE001 - closing must not hide the real outcome
            pass


def stop_with(chunks: object, error: BaseException) -> None:
    """Tell a chunk generator why its reader stopped: Ctrl-C, SIGTERM or SIGHUP raised while the caller
    was writing a piece of the reply (outside the generator). Thrown in, it is saved with the partial
    reply ("Terminated: SIGTERM"); a plain close() would record "Interrupted: output closed". The same
    error comes back out of throw() and is dropped here: the caller re-raises its own."""
    throw = getattr(chunks, "throw", None)
    if throw is None:
        return
    try:
        throw(error)
    except BaseException:  # noqa: BLE001 - the same error (or StopIteration if the stream had ended)
        pass
