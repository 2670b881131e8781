"""Compare: one prompt to several providers at once — concurrent, in order, one saved conversation
each (linked), errors per provider, and the exit code rule. Scripted providers, real history DB."""

from __future__ import annotations

import threading
from typing import Iterator, Sequence

import pytest

from llmcli.errors import AuthError, ProviderUnavailable, RateLimited, UsageError
from llmcli.services import providers as provider_registry
from llmcli.services.chat import ChatService, TurnRequest
from llmcli.services.compare import CompareOutcome, Comparison, exit_code
from llmcli.services.targets import Target, parse_targets, request_for
from llmcli.storage import open_store
from llmcli.types import ChatOptions, Chunk, Message, Usage


class Scripted:
    """`<name>: <question>`; optionally meets the other providers at a barrier first, or fails."""

    def __init__(self, name: str, *, barrier: threading.Barrier | None, failures: dict, log: list) -> None:
        self.name, self.barrier, self.failures, self.log = name, barrier, failures, log

    def list_models(self):
        return []

    def stream_chat(self, model: str, messages: Sequence[Message], options: ChatOptions) -> Iterator[Chunk]:
        self.log.append((self.name, model, [(m.role, m.content) for m in messages]))
        if self.barrier is not None:
            self.barrier.wait()  # raises BrokenBarrierError unless every provider is in flight at once
        if self.name in self.failures:
            raise self.failures[self.name]
        yield Chunk(f"{self.name}: ")
        yield Chunk(messages[-1].content, finish_reason="stop", usage=Usage(3, 2, 5), model=f"{model}-v1")

    def close(self) -> None:
        pass


@pytest.fixture
def settings(offline_providers):
    from llmcli.config import load_settings

    offline_providers("alpha", "beta", "gamma", "nokey", keyed=("alpha", "beta", "gamma"))
    return load_settings()


@pytest.fixture
def script(monkeypatch):
    state = {"barrier": None, "failures": {}, "log": []}

    def open_provider(spec):
        return Scripted(spec.name, barrier=state["barrier"], failures=state["failures"], log=state["log"])

    monkeypatch.setattr(provider_registry, "open_provider", open_provider)
    return state


def compare(settings, spec: str, prompt: str = "hello", **fields) -> list[CompareOutcome]:
    base = TurnRequest(prompt=prompt, **fields)
    comparison = Comparison(ChatService(settings), [request_for(base, t) for t in parse_targets(spec)]).start()
    outcomes = list(comparison.outcomes())
    assert comparison.link_conversations() is None
    return outcomes


def test_all_providers_are_asked_at_once_and_answer_in_the_order_given(settings, script) -> None:
    script["barrier"] = threading.Barrier(3, timeout=10)  # only passable when all three are in flight
    outcomes = compare(settings, "gamma,alpha,beta:b-large")
    assert [(o.provider, o.result.text) for o in outcomes] == [
        ("gamma", "gamma: hello"), ("alpha", "alpha: hello"), ("beta", "beta: hello")]
    assert [o.answered for o in outcomes] == [True] * 3 and exit_code(outcomes) == 0
    assert sorted(model for _, model, _ in script["log"]) == ["a-1", "b-large", "g-1"]


def test_each_answer_is_its_own_saved_conversation_linked_to_the_first(settings, script) -> None:
    outcomes = compare(settings, "alpha,beta", prompt="Compare me")
    ids = [o.result.conversation_id for o in outcomes]
    assert len(set(ids)) == 2 and all(o.result.saved for o in outcomes)
    with open_store() as store:
        first, second = (store.conversation(i) for i in ids)
        assert first.parent_id is None and second.parent_id == ids[0]
        assert first.title == second.title == "Compare me"
        replies = [store.messages(i)[-1] for i in ids]
    assert [(r.provider, r.text, r.model) for r in replies] == [
        ("alpha", "alpha: Compare me", "a-1-v1"), ("beta", "beta: Compare me", "b-1-v1")]


def test_a_failing_provider_is_an_error_line_not_the_end(settings, script) -> None:
    script["failures"]["alpha"] = RateLimited("429 Too Many Requests", hint="wait a minute")
    outcomes = compare(settings, "alpha,beta")
    failed, answered = outcomes
    assert failed.error is script["failures"]["alpha"] and not failed.answered
    assert answered.answered and exit_code(outcomes) == 0
    line = failed.to_json()
    assert line["error"] == {"type": "RateLimited", "message": "429 Too Many Requests", "hint": "wait a minute",
                             "exit_code": 5}
    assert line["text"] == "" and line["provider"] == "alpha" and line["conversation_id"]


def test_missing_key_is_that_providers_error(settings, script) -> None:
    outcomes = compare(settings, "nokey,alpha")
    assert outcomes[0].error is not None and outcomes[0].error.exit_code == 3 and outcomes[0].result is None
    assert outcomes[0].to_json()["model"] is None and outcomes[1].answered
    assert [name for name, _, _ in script["log"]] == ["alpha"]


def test_when_all_fail_the_worst_exit_code_wins(settings, script) -> None:
    script["failures"].update(alpha=ProviderUnavailable("down"), beta=AuthError("401"))
    outcomes = compare(settings, "alpha,beta")
    assert exit_code(outcomes) == 6


def test_json_line_has_the_documented_fields(settings, script) -> None:
    (line, _) = [o.to_json() for o in compare(settings, "alpha,beta")]
    assert set(line) >= {"provider", "model", "text", "usage", "latency_ms", "error", "conversation_id"}
    assert line["model"] == "a-1-v1" and line["usage"] == {"prompt_tokens": 3, "completion_tokens": 2,
                                                           "total_tokens": 5}
    assert line["error"] is None and isinstance(line["latency_ms"], int)


def test_bad_input_stops_everything_before_any_request(settings, script) -> None:
    service = ChatService(settings)
    with pytest.raises(UsageError, match="unknown provider 'nope'"):
        Comparison(service, [TurnRequest("q", provider="alpha"), TurnRequest("q", provider="nope")]).start()
    with pytest.raises(UsageError, match="-c/--conversation"):
        Comparison(service, [TurnRequest("q", provider="alpha", continue_last=True),
                             TurnRequest("q", provider="beta", continue_last=True)])
    with pytest.raises(UsageError, match="at least two"):
        Comparison(service, [TurnRequest("q", provider="alpha")])
    assert script["log"] == []


def test_cancel_stops_the_workers_and_keeps_partial_replies(settings, monkeypatch) -> None:
    started = threading.Barrier(3, timeout=10)

    class Endless:
        name = "endless"

        def list_models(self):
            return []

        def stream_chat(self, model, messages, options):
            yield Chunk("word ")
            started.wait()
            while True:
                yield Chunk("word ")

        def close(self):
            pass

    monkeypatch.setattr(provider_registry, "open_provider", lambda spec: Endless())
    comparison = Comparison(ChatService(settings), [TurnRequest("q", provider="alpha"),
                                                    TurnRequest("q", provider="beta")]).start()
    started.wait()
    comparison.cancel()
    outcomes = list(comparison.outcomes())
    assert all(o.result is not None and not o.result.complete for o in outcomes)
    assert all(o.result.finish_reason == "interrupted" and o.result.text.startswith("word") for o in outcomes)
    with open_store() as store:
        reply = store.messages(outcomes[0].result.conversation_id)[-1]
    assert reply.complete is False and reply.finish_reason == "interrupted"


def test_cancel_saves_the_partial_reply_of_a_worker_stuck_in_a_silent_read(settings, monkeypatch) -> None:
    """A provider that went silent mid-reply cannot see the cancel; its partial reply is saved anyway."""
    monkeypatch.setattr("llmcli.services.compare.CANCEL_GRACE_SECONDS", 0.2)
    in_flight = threading.Barrier(3, timeout=10)
    never = threading.Event()

    class GoesSilent:
        def list_models(self):
            return []

        def stream_chat(self, model, messages, options):
            yield Chunk("first words ")
            in_flight.wait()
            never.wait()  # a network read that never returns
            yield Chunk("never shown")

        def close(self):
            pass

    monkeypatch.setattr(provider_registry, "open_provider", lambda spec: GoesSilent())
    comparison = Comparison(ChatService(settings), [TurnRequest("q", provider="alpha"),
                                                    TurnRequest("q", provider="beta")]).start()
    in_flight.wait()
    try:
        comparison.cancel(KeyboardInterrupt())
        results = [w.turn.result for w in comparison._workers]
        assert all(r.saved and r.text == "first words " and r.finish_reason == "interrupted" for r in results)
        with open_store() as store:
            for r in results:
                reply = store.messages(r.conversation_id)[-1]
                assert (reply.role, reply.text, reply.complete, reply.error) == (
                    "assistant", "first words ", False, "Interrupted: Ctrl-C")
    finally:
        never.set()  # let the stuck threads end: their own save is skipped, the reply was saved once
        for worker in comparison._workers:
            worker.done.wait(5)
    with open_store() as store:
        assert [m.role for m in store.messages(results[0].conversation_id)] == ["user", "assistant"]


def test_targets_parse_models_and_refuse_repeats() -> None:
    assert parse_targets("a, b:m:free ,a:x") == [Target("a"), Target("b", "m:free"), Target("a", "x")]
    for bad in ("a,,b", "a:", ",", "a,a"):
        with pytest.raises(UsageError):
            parse_targets(bad)
