"""Fallback: the next provider is asked only when the first fails before any output, in the same
conversation, and the caller learns who answered. Scripted providers, real history DB."""

from __future__ import annotations

from typing import Iterator, Sequence

import pytest

from llmcli.errors import (
    AuthError,
    ProviderUnavailable,
    RateLimited,
    RequestRejected,
    StreamBroken,
    UsageError,
)
from llmcli.services import providers as provider_registry
from llmcli.services.chat import ChatService, TurnRequest
from llmcli.services.fallback import fallback_chain, start_with_fallback
from llmcli.services.roles import Role
from llmcli.services.targets import Target
from llmcli.storage import open_store
from llmcli.types import ChatOptions, Chunk, Message, Usage


class Scripted:
    def __init__(self, name: str, plan: dict, log: list) -> None:
        self.name, self.plan, self.log = name, plan, log

    def list_models(self):
        return []

    def stream_chat(self, model: str, messages: Sequence[Message], options: ChatOptions) -> Iterator[Chunk]:
        self.log.append((self.name, model, [(m.role, m.content) for m in messages]))
        step = self.plan.get(self.name)
        if isinstance(step, BaseException):
            yield Chunk("")  # a role-only first chunk is not output
            raise step
        if isinstance(step, tuple):  # (text shown, then this error)
            yield Chunk(step[0])
            raise step[1]
        yield Chunk(f"{self.name} says ")
        yield Chunk("hi", finish_reason="stop", usage=Usage(1, 1, 2))

    def close(self) -> None:
        pass


@pytest.fixture
def settings(offline_providers):
    from llmcli.config import load_settings

    offline_providers("alpha", "beta", "gamma", "nokey", keyed=("alpha", "beta", "gamma"),
                      head='[defaults]\nsystem = "be brief"\n')
    return load_settings()


@pytest.fixture
def plan(monkeypatch):
    state = {"plan": {}, "log": []}
    monkeypatch.setattr(provider_registry, "open_provider",
                        lambda spec: Scripted(spec.name, state["plan"], state["log"]))
    return state


def start(settings, fallbacks: str, switches: list | None = None, **fields):
    request = TurnRequest(prompt=fields.pop("prompt", "question"), **fields)
    chain = fallback_chain(request, [Target(*p.split(":")) for p in fallbacks.split(",")], settings=settings)
    return start_with_fallback(ChatService(settings), chain,
                               on_switch=lambda *args: switches.append(args) if switches is not None else None)


@pytest.mark.parametrize("error", [ProviderUnavailable("cannot connect"), RateLimited("429"), AuthError("401")])
def test_early_failure_moves_on_and_says_who_answered(settings, plan, error) -> None:
    plan["plan"]["alpha"] = error
    switches: list = []
    turn = start(settings, "beta", switches)
    assert "".join(c.text for c in turn.chunks()) == "beta says hi"
    assert turn.answered_by == "beta" and turn.result.provider == "beta" and turn.result.complete
    assert switches == [("alpha", error, "beta")]
    assert [(f.provider, f.error) for f in turn.failed] == [("alpha", error)]


def test_missing_key_moves_on_without_a_request(settings, plan) -> None:
    turn = start(settings, "beta", provider="nokey")
    assert "".join(c.text for c in turn.chunks()) == "beta says hi"
    assert turn.failed[0].provider == "nokey" and turn.failed[0].error.exit_code == 3
    assert [name for name, _, _ in plan["log"]] == ["beta"]


def test_no_fallback_when_the_first_answers(settings, plan) -> None:
    turn = start(settings, "beta")
    assert "".join(c.text for c in turn.chunks()) == "alpha says hi"
    assert turn.answered_by is None and turn.failed == []
    assert [name for name, _, _ in plan["log"]] == ["alpha"]


def test_never_after_output_began(settings, plan) -> None:
    plan["plan"]["alpha"] = ("partial ", StreamBroken("reset"))
    turn = start(settings, "beta")
    shown = []
    with pytest.raises(StreamBroken):
        for chunk in turn.chunks():
            shown.append(chunk.text)
    assert "".join(shown) == "partial " and [name for name, _, _ in plan["log"]] == ["alpha"]


def test_a_rejected_request_is_not_retried_elsewhere(settings, plan) -> None:
    plan["plan"]["alpha"] = RequestRejected("context too long")
    with pytest.raises(RequestRejected):
        list(start(settings, "beta").chunks())
    assert [name for name, _, _ in plan["log"]] == ["alpha"]


def test_when_every_provider_fails_the_last_error_is_raised(settings, plan) -> None:
    plan["plan"].update(alpha=ProviderUnavailable("down"), beta=RateLimited("429"), gamma=AuthError("401"))
    switches: list = []
    turn = start(settings, "beta,gamma", switches)
    with pytest.raises(AuthError):
        list(turn.chunks())
    assert [(s[0], s[2]) for s in switches] == [("alpha", "beta"), ("beta", "gamma")]
    assert [f.provider for f in turn.failed] == ["alpha", "beta", "gamma"]


def test_attempts_share_one_conversation_and_the_question_is_sent_once(settings, plan) -> None:
    plan["plan"]["alpha"] = ProviderUnavailable("down")
    turn = start(settings, "beta", prompt="what now?")
    list(turn.chunks())
    sent_to_beta = plan["log"][-1][2]
    assert sent_to_beta == [("system", "be brief"), ("user", "what now?")]
    with open_store() as store:
        rows = store.messages(turn.result.conversation_id)
    replies = [(r.provider, r.text, r.complete) for r in rows if r.role == "assistant"]
    assert replies == [("alpha", "", False), ("beta", "beta says hi", True)]
    assert rows[-1].error is None and [r for r in rows if r.provider == "alpha"][0].error.startswith(
        "ProviderUnavailable")


def test_continuing_a_conversation_sends_its_history_once_to_each(settings, plan) -> None:
    list(start(settings, "beta", prompt="first").chunks())  # alpha answers: a conversation to continue
    plan["plan"]["alpha"] = RateLimited("429")
    turn = start(settings, "beta", prompt="second", continue_last=True)
    list(turn.chunks())
    history = [("system", "be brief"), ("user", "first"), ("assistant", "alpha says hi"), ("user", "second")]
    assert [messages for name, _, messages in plan["log"][1:]] == [history, history]
    with open_store() as store:
        assert store.last_conversation_id() == turn.result.conversation_id
        assert len(store.list_conversations()) == 1


def test_chain_checks_names_and_picks_models(settings) -> None:
    request = TurnRequest("q", provider="alpha", model="a-big")
    chain = fallback_chain(request, [Target("alpha"), Target("beta"), Target("gamma", "g-2")], settings=settings)
    assert [(r.provider, r.model) for r in chain] == [("alpha", "a-big"), ("beta", None), ("gamma", "g-2")]
    role = Role("r", provider="beta", model="b-role")
    chain = fallback_chain(TurnRequest("q"), [Target("beta"), Target("gamma")], settings=settings, role=role)
    assert [(r.provider, r.model) for r in chain] == [(None, None), ("beta", "b-role"), ("gamma", None)]
    with pytest.raises(UsageError, match="unknown provider 'betta'"):
        fallback_chain(request, [Target("betta")], settings=settings)
