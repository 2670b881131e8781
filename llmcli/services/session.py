"""A conversation held in memory across many turns: what `llmcli chat` talks to.

Every turn still goes through ChatService (context assembly, trimming, streaming, saving); the session
keeps the conversation so far, the current provider, model, system prompt and generation settings,
and changes them on request. Switching provider or model keeps the conversation: each saved reply
records who produced it. Never prints; notes for the user are returned as strings.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

from llmcli.errors import LlmcliError, UsageError
from llmcli.services import providers as provider_registry
from llmcli.services.chat import ChatService, Turn, TurnRequest, context_messages, new_id, saved_conversation
from llmcli.services.context import context_window, estimate_tokens, reply_reserve
from llmcli.services.models import check_model
from llmcli.services.warm_up import StoreOpener, import_adapter_in_background
from llmcli.types import MessageRecord, ModelInfo

if TYPE_CHECKING:
    from llmcli.config import Settings
    from llmcli.storage import Store

# name -> (converter, check, what the user is told when the check fails)
GENERATION_SETTINGS: dict[str, tuple[Callable[[str], Any], Callable[[Any], bool], str]] = {
    "temperature": (float, lambda v: 0 <= v <= 2, "a number from 0 to 2"),
    "top_p": (float, lambda v: 0 < v <= 1, "a number above 0, at most 1"),
    "max_tokens": (int, lambda v: v > 0, "a whole number above 0"),
}
RESET_WORDS = ("default", "none", "off", "-")


@dataclass(frozen=True)
class UsageTotals:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    replies: int = 0
    replies_without_usage: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


class ChatSession:
    def __init__(self, settings: Settings, *, provider: str | None = None, model: str | None = None,
                 system: str | None = None, temperature: float | None = None, top_p: float | None = None,
                 max_tokens: int | None = None, extra: dict[str, Any] | None = None, log: bool = True,
                 open_store: bool = True) -> None:
        self.settings = settings
        self.service = ChatService(settings, keep_providers=True)  # one connection for the whole REPL
        self.provider = provider or provider_registry.default_provider_name(settings)
        config = provider_registry.find_provider_config(settings, self.provider)
        self.model = provider_registry.resolve_model(settings, self.provider, config, model)
        check_model(self.provider, self.model, config.base_url)  # a typo fails now, not at the first turn
        self.system = system  # None: the conversation's own system prompt (or the configured default)
        self._system_pending = system is not None  # saved with the next turn
        self.options: dict[str, Any] = {"temperature": temperature, "top_p": top_p, "max_tokens": max_tokens}
        self.extra = dict(extra or {})
        self.log = log and settings.history
        self.conversation_id = new_id()
        self.history: list[MessageRecord] = []
        self._store = StoreOpener() if open_store else None
        self._models: dict[str, list[ModelInfo]] = {}

    # --- the conversation -------------------------------------------------------------------------

    def resume(self, id_or_prefix: str | None = None) -> bool:
        """Continue a saved conversation (the most recent one if no id). False if there is none."""
        store = self.store()
        if store is None:
            raise UsageError("cannot continue a conversation: the history database is not available")
        found = saved_conversation(store, id_or_prefix)
        if not found:
            return False
        self.conversation_id, self.history = found
        return True

    def new_conversation(self) -> None:
        self.conversation_id = new_id()
        self.history = []
        self._system_pending = self.system is not None

    def start_turn(self, prompt: str) -> Turn:
        """Send `prompt` with the conversation so far. Call `finish_turn` once the chunks have ended."""
        return self._start(prompt, self.history)

    def _start(self, prompt: str, history: list[MessageRecord]) -> Turn:
        request = TurnRequest(
            prompt=prompt, provider=self.provider, model=self.model,
            system=self.system if self._system_pending else None,
            temperature=self.options["temperature"], top_p=self.options["top_p"],
            max_tokens=self.options["max_tokens"], extra=dict(self.extra),
            conversation=self.conversation_id, history=history, log=self.log,
        )
        return self.service.start_turn(request, store=self._ready_store())

    def finish_turn(self, turn: Turn) -> None:
        """Keep what the turn saved (also a partial or failed reply) as part of the conversation."""
        records = turn.records()
        if any(r.role == "system" for r in records):
            self._system_pending = False
        self.history.extend(records)

    def retry(self) -> Turn:
        """Ask the last question again; the earlier answer leaves the conversation (it stays in history)."""
        last = next((i for i in range(len(self.history) - 1, -1, -1) if self.history[i].role == "user"), None)
        if last is None:
            raise UsageError("nothing to retry yet", hint="ask something first")
        earlier = self.history[:last]
        turn = self._start(self.history[last].text, earlier)
        self.history = earlier
        return turn

    def exchanges(self) -> list[tuple[MessageRecord, list[MessageRecord]]]:
        """The conversation as (question, replies) pairs, oldest first (system prompts left out)."""
        pairs: list[tuple[MessageRecord, list[MessageRecord]]] = []
        for record in self.history:
            if record.role == "user":
                pairs.append((record, []))
            elif record.role == "assistant" and pairs:
                pairs[-1][1].append(record)
        return pairs

    def current_system(self) -> str | None:
        if self._system_pending or self.system is not None:
            return self.system or None
        found = next((m.text for m in reversed(self.history) if m.role == "system"), None)
        if found is None and not self.history:
            return self.settings.defaults.system
        return found or None

    def usage(self) -> UsageTotals:
        """Tokens of this conversation's replies as the servers reported them (resumed turns included)."""
        prompt = completion = replies = missing = 0
        for record in self.history:
            if record.role != "assistant":
                continue
            replies += 1
            if record.prompt_tokens is None and record.completion_tokens is None:
                missing += 1
            prompt += record.prompt_tokens or 0
            completion += record.completion_tokens or 0
        return UsageTotals(prompt, completion, replies, missing)

    def markdown(self) -> str:
        """The conversation as Markdown (the same format as `history export --format markdown`)."""
        from llmcli.storage.store import title_from
        from llmcli.storage.transfer import to_markdown
        from llmcli.types import ConversationRecord

        if not self.history:
            raise UsageError("nothing to save yet", hint="ask something first")
        first_user = next((r.text for r in self.history if r.role == "user"), "")
        started = self.history[0].created_at
        record = ConversationRecord(self.conversation_id, title_from(first_user), started, started)
        return to_markdown(record, self.history)

    # --- settings ---------------------------------------------------------------------------------

    def set_provider(self, name: str) -> list[str]:
        """Switch provider (its configured model comes along); notes for the user. UsageError if unknown,
        CredentialsError if it has no key."""
        config = provider_registry.find_provider_config(self.settings, name)
        model = provider_registry.resolve_model(self.settings, name, config, None)
        provider_registry.provider_spec(self.settings, name, config)  # no key: say so now, not at the next turn
        self.provider, self.model = name, model
        return self._context_notes()

    def set_model(self, name: str) -> list[str]:
        """Switch model; UsageError (with "did you mean") when the cached model list does not know it —
        the same check `ask -m` makes, so the session stays on a model that works."""
        model = self.settings.aliases.get(name, name)
        config = provider_registry.find_provider_config(self.settings, self.provider)
        check_model(self.provider, model, config.base_url)
        self.model = model
        return self._context_notes()

    def set_system(self, text: str | None) -> None:
        """A new system prompt for the following turns ("" or None removes it)."""
        self.system = text or ""
        self._system_pending = True

    def set_option(self, name: str, raw: str) -> Any:
        key = name.strip().lower().replace("-", "_")
        if key not in GENERATION_SETTINGS:
            import difflib

            close = difflib.get_close_matches(key, list(GENERATION_SETTINGS), n=1)
            raise UsageError(f"unknown setting {name!r}" + (f"; did you mean {close[0]!r}?" if close else ""),
                             hint="settings: " + ", ".join(GENERATION_SETTINGS))
        if raw.strip().lower() in RESET_WORDS:
            self.options[key] = None
            return None
        convert, check, expected = GENERATION_SETTINGS[key]
        try:
            value = convert(raw.strip())
        except ValueError:
            value = None
        if value is None or not check(value):
            raise UsageError(f"{key} must be {expected}", hint=f"/set {key} default  restores the default")
        self.options[key] = value
        return value

    def effective_options(self) -> dict[str, Any]:
        defaults = self.settings.defaults
        return {key: value if value is not None else getattr(defaults, key, None)
                for key, value in self.options.items()}

    # --- names for completion (never a network call) ----------------------------------------------

    def provider_names(self) -> list[str]:
        return provider_registry.known_provider_names(self.settings)

    def cached_models(self, provider: str) -> list[ModelInfo]:
        """Models of `provider` from the model cache; [] while the database is still opening."""
        if provider not in self._models:
            store = self._ready_store()
            if store is None:
                return []
            try:
                found = store.cached_models(provider)
            except LlmcliError:
                found = None
            self._models[provider] = found[0] if found else []
        return self._models[provider]

    def model_names(self, provider: str | None = None) -> list[str]:
        names = [m.id for m in self.cached_models(provider or self.provider)]
        return sorted(set(names) | set(self.settings.aliases))

    # --- the store --------------------------------------------------------------------------------

    def store(self) -> Store | None:
        """The history database (waiting for it to open); None if it cannot be opened."""
        if self._store is None:
            self._store = StoreOpener()
        try:
            return self._store.get()
        except LlmcliError:
            return None

    def _ready_store(self) -> Store | None:
        if self._store is None or not self._store.ready():
            return None  # the turn's recorder opens its own meanwhile
        return self.store()

    def warm_up(self) -> None:
        """While the user types: open the history database and import the provider's adapter (httpx),
        so the first answer does not wait for either."""
        if self._store is None:
            self._store = StoreOpener()
        config = provider_registry.find_provider_config(self.settings, self.provider)
        import_adapter_in_background(config.kind or "")

    def close(self) -> None:
        self.service.close()
        if self._store is not None and self._store.ready():
            store = self.store()
            if store is not None:
                store.close()

    def _context_notes(self) -> list[str]:
        config = provider_registry.find_provider_config(self.settings, self.provider)
        window = context_window(config.kind or "", self.model, config.model_extra or {},
                                self.cached_models(self.provider))
        used = sum(estimate_tokens(m.content) for m in context_messages(self.history, self.system))
        room = window.tokens - reply_reserve(window.tokens, self.effective_options()["max_tokens"])
        if self.history and used > room:
            note = (f"this conversation (about {used:,} tokens) is larger than the {window.tokens:,}-token "
                    f"context of {self.model}: the oldest turns will be left out")
            return [note]
        return []

