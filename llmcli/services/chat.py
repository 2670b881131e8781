"""A conversation turn: assemble the context, stream the reply, save both sides.

The context is the system prompt and the newest turns that fit the model's context window; older
turns are left out (services/context.py) and the user is told through `result.notices`.

Returns data and iterators; never prints. The user message is saved while the request is in flight
(storage is imported in a background thread), the reply when the stream ends — complete, or partial
and marked (`interrupted` on Ctrl-C/SIGTERM/SIGHUP/closed stdout, `error` when the stream broke).
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Iterator

from llmcli.errors import LlmcliError, TerminateRequested
from llmcli.services import providers as provider_registry
from llmcli.services.context import FittedContext, context_window, fit_context, reply_reserve
from llmcli.services.models import check_model
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
    from llmcli.config import ProviderConfig, Settings
    from llmcli.providers.base import Provider, ProviderSpec
    from llmcli.storage import Store


REQUEST_HEAD_START = 0.05  # seconds the history thread lets the request go first


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat()


def new_id() -> str:
    return uuid.uuid4().hex


@dataclass
class TurnRequest:
    prompt: str
    provider: str | None = None
    model: str | None = None
    system: str | None = None
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    stream: bool = True
    conversation: str | None = None  # id or unique prefix
    continue_last: bool = False
    log: bool = True
    # The conversation so far, when the caller keeps it (the chat REPL): no store lookup is made, and
    # `conversation` must then be its full id.
    history: list[MessageRecord] | None = None


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


def context_messages(history: list[MessageRecord], system: str | None) -> list[Message]:
    """The messages sent for a turn: the newest system prompt first, then the turns so far."""
    if system is None:
        system = next((m.text for m in reversed(history) if m.role == "system"), None)
    messages = [Message("system", system)] if system else []
    for record in history:
        if record.role == "system":
            continue
        if record.role == "assistant" and not record.text:
            # a reply that failed with no text: drop it and the question it failed on, so a retry
            # (or a fallback provider) does not send the same question twice in a row
            if messages and messages[-1].role == "user":
                messages.pop()
            continue
        messages.append(Message(record.role, record.text, record.provider, record.model))
    return messages


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

    def chunks(self) -> Iterator[Chunk]:
        # The storage import waits until the request is out (~20 ms here) or the first chunk is in.
        self._recorder.run_in_background(self._save_prompt, head_start=REQUEST_HEAD_START)
        started = time.monotonic()
        parts: list[str] = []
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
        except TerminateRequested as exc:
            error = f"Terminated: {exc.signal_name}"
            raise
        except KeyboardInterrupt:
            error = "Interrupted: Ctrl-C"
            raise
        except GeneratorExit:
            error = "Interrupted: output closed"
            raise
        except LlmcliError as exc:
            error = f"{type(exc).__name__}: {exc.message}"
            raise
        except Exception as exc:
            error = f"UnexpectedError: {type(exc).__name__}"
            raise
        finally:
            self.result.latency_ms = int((time.monotonic() - started) * 1000)
            self.result.text = final_text if final_text is not None else "".join(parts)
            if not self.result.complete:
                interrupted = error is not None and error.startswith(("Interrupted", "Terminated"))
                self.result.finish_reason = FINISH_INTERRUPTED if interrupted else FINISH_ERROR
            self._close_provider()
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
            _close(self.provider)

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
        found = [r for r in (self._system_record, self._user_record, self._reply) if r is not None]
        return found


class ChatService:
    def __init__(self, settings: Settings, *, keep_providers: bool = False) -> None:
        self.settings = settings
        # keep_providers (the REPL): each provider's adapter, and with it its open HTTP connection,
        # serves turn after turn; a new one per turn paid a TCP + TLS handshake every time.
        self._kept: dict[str, tuple[ProviderSpec, Provider]] | None = {} if keep_providers else None

    def close(self) -> None:
        """Close the adapters kept for later turns."""
        kept, self._kept = self._kept, ({} if self._kept is not None else None)
        for _, provider in (kept or {}).values():
            _close(provider)

    def _provider_for(self, spec: ProviderSpec) -> tuple[Provider, bool]:
        """An adapter for `spec`, and whether the turn owns it (closes it when done)."""
        if self._kept is None:
            return provider_registry.open_provider(spec), True
        key = replace(spec, token_store=None)  # a fresh token store object per lookup is no change
        kept = self._kept.get(spec.name)
        if kept is not None and kept[0] == key:
            return kept[1], False
        if kept is not None:
            _close(kept[1])
        provider = provider_registry.open_provider(spec)
        self._kept[spec.name] = (key, provider)
        return provider, False

    def start_turn(self, request: TurnRequest, *, store: Store | None = None) -> Turn:
        """Resolve provider, model and context; nothing is sent until `chunks()` is iterated."""
        settings = self.settings
        name = request.provider or provider_registry.default_provider_name(settings)
        config = provider_registry.find_provider_config(settings, name)
        model = provider_registry.resolve_model(settings, name, config, request.model)
        check_model(name, model, config.base_url)  # against the cached model list: no network
        spec = provider_registry.provider_spec(settings, name)

        history: list[MessageRecord] = []
        conversation_id = new_id()
        if request.history is not None:
            history = list(request.history)
            conversation_id = request.conversation or conversation_id
        elif request.continue_last or request.conversation:
            store = store or _open_history(request)
            found = (store.resolve_conversation(request.conversation) if request.conversation
                     else store.last_conversation_id())
            if found:
                conversation_id = found
                history = store.messages(found)

        defaults = settings.defaults
        system = request.system if request.system is not None else (None if history else defaults.system)
        messages = context_messages(history, system) + [Message("user", request.prompt)]
        max_tokens = _first(request.max_tokens, defaults.max_tokens)
        fitted = _fit_context(messages, name, config, model, max_tokens, store)
        options = ChatOptions(
            temperature=_first(request.temperature, defaults.temperature),
            top_p=_first(request.top_p, defaults.top_p),
            max_tokens=max_tokens,
            stream=request.stream,
            session_id=conversation_id,
            extra=dict(request.extra),
        )
        stamp = now_iso()
        system_record = None
        if request.system is not None or (system and not history):
            system_record = MessageRecord(new_id(), conversation_id, "system", system or "", stamp)
        user_record = MessageRecord(new_id(), conversation_id, "user", request.prompt, stamp)
        result = TurnResult(conversation_id, new_id(), name, model)
        notice = fitted.notice(model)
        if notice:
            result.notices.append(notice)
        recorder = Recorder(enabled=request.log and settings.history, store=store)
        provider, owned = self._provider_for(replace(spec, model=model))
        return Turn(provider, model, fitted.messages, options, result, recorder, user_record, system_record,
                    context=fitted, owns_provider=owned)


def _close(provider: Provider) -> None:
    close = getattr(provider, "close", None)
    if close is not None:
        try:
            close()
        except Exception:  # noqa: BLE001 - closing must not hide the real outcome
            pass


def _fit_context(messages: list[Message], name: str, config: ProviderConfig, model: str,
                 max_tokens: int | None, store: Store | None) -> FittedContext:
    """Leave out the oldest turns that would overflow the model's context window (services/context.py).

    The model cache is read only when the store is already open (a conversation is being continued):
    a fresh one-shot `ask` has nothing to leave out and must not pay for opening the database.
    """
    cached = None
    if store is not None and len(messages) > 2:
        try:
            found = store.cached_models(name)
        except LlmcliError:
            found = None
        cached = found[0] if found else None
    window = context_window(config.kind or "", model, config.model_extra or {}, cached)
    fitted = fit_context(messages, window.tokens, reply_reserve(window.tokens, max_tokens))
    if fitted.overflow and window.source == "default":
        fitted = replace(fitted, overflow=False)  # a guessed window is no reason to warn about a big prompt
    return fitted


def _open_history(request: TurnRequest) -> Store:
    from llmcli.services.recorder import open_store_now

    return open_store_now()


def _first(*values: Any) -> Any:
    return next((v for v in values if v is not None), None)
