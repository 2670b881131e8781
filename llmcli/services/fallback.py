"""`--fallback P2[,P3]`: when a provider fails *before any output*, ask the next one.

Only failures that say nothing about the question move on: the provider is unreachable or broken
(ProviderUnavailable), over its quota (RateLimited), or the key is missing or rejected
(CredentialsError, AuthError). A rejected request (RequestRejected: bad model, context too long) would
be rejected elsewhere too, and a stream that broke after text was shown (StreamBroken) is never
replayed: the user has already read part of one answer.

All attempts belong to one conversation, so the failed try stays visible in `history show` and in
`history stats`, and `ask -c` continues where the answer was given.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from llmcli.errors import CredentialsError, LlmcliError, ProviderUnavailable, RateLimited
from llmcli.services import providers as provider_registry
from llmcli.services.chat import new_id, saved_conversation
from llmcli.services.targets import Target, parse_targets, request_for
from llmcli.services.turn import stop_with

if TYPE_CHECKING:
    from llmcli.config import Settings
    from llmcli.services.chat import ChatService, Turn, TurnRequest, TurnResult
    from llmcli.services.roles import Role
    from llmcli.storage import Store
    from llmcli.types import Chunk

FALLBACK_ERRORS = (ProviderUnavailable, RateLimited, CredentialsError)

# (provider that failed, its error, provider tried next)
SwitchCallback = Callable[[str, LlmcliError, str], None]


@dataclass(frozen=True)
class FailedAttempt:
    provider: str
    model: str | None
    error: LlmcliError


@dataclass
class FallbackTurn:
    """Looks like a Turn to its caller: iterate `chunks()`, then read `result`."""

    service: ChatService
    chain: list[TurnRequest]
    on_switch: SwitchCallback | None = None
    store: Store | None = None
    failed: list[FailedAttempt] = field(default_factory=list)
    _turn: Turn | None = None
    _earlier_warnings: list[str] = field(default_factory=list)

    @property
    def result(self) -> TurnResult:
        if self._turn is None:
            raise RuntimeError("no attempt has started yet: iterate chunks() first")
        return self._turn.result

    @property
    def answered_by(self) -> str | None:
        """The provider that answered after a fallback; None when the first one did (or none did)."""
        if not self.failed or self._turn is None or not self._turn.result.complete:
            return None
        return self._turn.result.provider

    def chunks(self) -> Iterator[Chunk]:
        for index, request in enumerate(self.chain):
            try:
                turn = self.service.start_turn(request, store=self.store)
            except FALLBACK_ERRORS as exc:  # e.g. no key for this provider
                self._give_up_on(index, request.provider, request.model, exc)
                continue
            self._turn = turn
            began = False
            held: list[Chunk] = []  # chunks without text (role, keep-alive) until the first real text
            source = turn.chunks()
            try:
                for chunk in source:
                    if not began and not chunk.text:
                        held.append(chunk)
                        continue
                    began = True
                    yield from held
                    held = []
                    yield chunk
                yield from held
                self._carry_warnings()
                return
            except KeyboardInterrupt as exc:  # also SIGTERM/SIGHUP, thrown in while the caller wrote a piece
                stop_with(source, exc)  # the attempt records why it stopped, not "output closed"
                raise
            except FALLBACK_ERRORS as exc:
                if began:
                    raise  # output began: never replay the question elsewhere
                self._earlier_warnings.extend(turn.result.warnings)
                self._give_up_on(index, turn.result.provider, turn.result.model, exc)
            finally:
                source.close()  # an abandoned stream is saved now, marked interrupted

    def _give_up_on(self, index: int, provider: str | None, model: str | None, error: LlmcliError) -> None:
        name = provider or "?"
        self.failed.append(FailedAttempt(name, model, error))
        if index + 1 >= len(self.chain):
            raise error
        if self.on_switch is not None:
            self.on_switch(name, error, self.chain[index + 1].provider or "?")

    def _carry_warnings(self) -> None:
        """Warnings of a failed attempt (e.g. "history not saved") reach the user with the answer's."""
        if self._turn is None:
            return
        warnings = self._turn.result.warnings
        for earlier in self._earlier_warnings:
            if earlier not in warnings:
                warnings.append(earlier)


def fallback_chain(request: TurnRequest, fallbacks: Sequence[Target], *, settings: Settings,
                   role: Role | None = None) -> list[TurnRequest]:
    """The request, then one per fallback provider (the primary and repeats left out).

    Every fallback name is checked now, so a typo is a usage error before anything is sent. A fallback
    provider gets its own configured model unless the list names one (`yandexgpt:yandexgpt-pro`) or the
    role pins a model for that provider; -m applies to the first provider only."""
    primary = request.provider or provider_registry.default_provider_name(settings)
    chain = [request]
    seen = {(primary, request.model)}
    for target in fallbacks:
        provider_registry.find_provider_config(settings, target.provider)  # unknown: UsageError
        following = request_for(request, target, role)  # the target's model, not -m
        if (target.provider, following.model) in seen or (target.provider == primary and following.model is None):
            continue
        seen.add((target.provider, following.model))
        chain.append(following)
    return chain


def fallback_targets(settings: Settings, flag: str | None, *, use_config: bool) -> list[Target]:
    """The providers to fall back to: --fallback's list, else config's `fallback` (unless
    --no-fallback turned it off), parsed and checked the same way."""
    if flag is not None:
        return parse_targets(flag, option="--fallback")
    if use_config and settings.fallback:
        return parse_targets(",".join(settings.fallback), option="fallback")
    return []


def start_with_fallback(service: ChatService, chain: list[TurnRequest], *,
                        on_switch: SwitchCallback | None = None) -> FallbackTurn:
    """A FallbackTurn over `chain`; every attempt continues the same conversation.

    With -c/--conversation the history is read once here (a failed attempt's question must not be
    sent to the next provider twice); otherwise all attempts share one new conversation id."""
    first = chain[0]
    store = None
    if first.history is not None:
        conversation, history = first.conversation or new_id(), list(first.history)
    elif first.continue_last or first.conversation:
        from llmcli.services.recorder import open_store_now

        store = open_store_now()
        conversation, history = saved_conversation(store, first.conversation) or (new_id(), [])
    else:
        conversation, history = new_id(), []
    shared = [replace(r, conversation=conversation, history=history, continue_last=False) for r in chain]
    return FallbackTurn(service, shared, on_switch=on_switch, store=store)
