"""A conversation turn: assemble the context, then hand it to a Turn (services/turn.py) to stream and save.

The context is the system prompt and the newest turns that fit the model's context window; older
turns are left out (services/context.py) and the user is told through `result.notices`.

Returns data and iterators; never prints. The user message is saved while the request is in flight
(storage is imported in a background thread), the reply when the stream ends — complete, or partial
and marked (`interrupted` on Ctrl-C/SIGTERM/SIGHUP/closed stdout, `error` when the stream broke).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from llmcli.errors import LlmcliError
from llmcli.services import providers as provider_registry
from llmcli.services.context import FittedContext, context_window, fit_context, reply_reserve
from llmcli.services.models import check_model
from llmcli.services.recorder import Recorder, open_store_now
from llmcli.services.turn import Turn, TurnResult, close_quietly, new_id, now_iso
from llmcli.types import ChatOptions, Message, MessageRecord

if TYPE_CHECKING:
    from llmcli.config import ProviderConfig, Settings
    from llmcli.providers.base import Provider, ProviderSpec
    from llmcli.storage import Store

# Turn, TurnResult, new_id and now_iso live in services/turn.py; callers import them from here too.
__all__ = ["ChatService", "Turn", "TurnRequest", "TurnResult", "context_messages", "new_id", "now_iso",
           "saved_conversation"]


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
            close_quietly(provider)

    def _provider_for(self, spec: ProviderSpec) -> tuple[Provider, bool]:
        """An adapter for `spec`, and whether the turn owns it (closes it when done)."""
        if self._kept is None:
            return provider_registry.open_provider(spec), True
        key = replace(spec, token_store=None)  # a fresh token store object per lookup is no change
        kept = self._kept.get(spec.name)
        if kept is not None and kept[0] == key:
            return kept[1], False
        if kept is not None:
            close_quietly(kept[1])
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
        spec = provider_registry.provider_spec(settings, name, config)

        history: list[MessageRecord] = []
        conversation_id = new_id()
        if request.history is not None:
            history = list(request.history)
            conversation_id = request.conversation or conversation_id
        elif request.continue_last or request.conversation:
            store = store or open_store_now()
            found = saved_conversation(store, request.conversation)
            if found:
                conversation_id, history = found

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


def saved_conversation(store: Store, id_or_prefix: str | None) -> tuple[str, list[MessageRecord]] | None:
    """The conversation `id_or_prefix` names (the most recent one if None) and its messages."""
    found = store.resolve_conversation(id_or_prefix) if id_or_prefix else store.last_conversation_id()
    return (found, store.messages(found)) if found else None


def _first(*values: Any) -> Any:
    return next((v for v in values if v is not None), None)
