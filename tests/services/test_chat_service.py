"""The turn service with a scripted provider: what is sent, what is saved, what partial replies become."""

from __future__ import annotations

from typing import Iterator, Sequence

import pytest

from llmcli.errors import RateLimited, StreamBroken, TerminateRequested
from llmcli.services.chat import Turn, TurnResult, context_messages
from llmcli.services.recorder import Recorder
from llmcli.types import ChatOptions, Chunk, Message, MessageRecord, Usage


class ScriptedProvider:
    name = "scripted"

    def __init__(self, chunks: list[Chunk], fail_with: BaseException | None = None) -> None:
        self.chunks = chunks
        self.fail_with = fail_with
        self.sent: list[Sequence[Message]] = []
        self.closed = False

    def list_models(self):
        return []

    def stream_chat(self, model: str, messages: Sequence[Message], options: ChatOptions) -> Iterator[Chunk]:
        self.sent.append(list(messages))
        yield from self.chunks
        if self.fail_with is not None:
            raise self.fail_with

    def close(self) -> None:
        self.closed = True


def make_turn(provider, store, conversation_id="c1") -> Turn:
    user = MessageRecord("u1", conversation_id, "user", "hello", "2026-11-26T10:00:00+00:00")
    result = TurnResult(conversation_id, "a1", "scripted", "m1")
    return Turn(provider, "m1", [Message("user", "hello")], ChatOptions(), result,
                Recorder(store=store), user, None)


def test_complete_reply_is_saved_with_usage(store) -> None:
    usage = Usage(prompt_tokens=3, completion_tokens=2, total_tokens=5)
    provider = ScriptedProvider([Chunk("Hel"), Chunk("lo"), Chunk("", finish_reason="stop", usage=usage,
                                                                   model="m1:v2")])
    turn = make_turn(provider, store)
    assert "".join(c.text for c in turn.chunks()) == "Hello"
    assert turn.result.complete and turn.result.saved and provider.closed
    user, reply = store.messages("c1")
    assert (user.role, user.text) == ("user", "hello")
    assert (reply.text, reply.finish_reason, reply.complete, reply.model) == ("Hello", "stop", True, "m1:v2")
    assert (reply.prompt_tokens, reply.completion_tokens) == (3, 2)


def test_broken_stream_keeps_partial_marked_error(store) -> None:
    provider = ScriptedProvider([Chunk("part")], fail_with=StreamBroken("reset"))
    turn = make_turn(provider, store)
    with pytest.raises(StreamBroken):
        list(turn.chunks())
    reply = store.messages("c1")[-1]
    assert (reply.text, reply.complete, reply.finish_reason) == ("part", False, "error")
    assert reply.error == "StreamBroken: reset"


def test_failure_before_output_is_recorded_for_stats(store) -> None:
    turn = make_turn(ScriptedProvider([], fail_with=RateLimited("429")), store)
    with pytest.raises(RateLimited):
        list(turn.chunks())
    reply = store.messages("c1")[-1]
    assert (reply.text, reply.complete, reply.error) == ("", False, "RateLimited: 429")


def test_ctrl_c_keeps_partial_marked_interrupted(store) -> None:
    turn = make_turn(ScriptedProvider([Chunk("so far")], fail_with=KeyboardInterrupt()), store)
    with pytest.raises(KeyboardInterrupt):
        list(turn.chunks())
    reply = store.messages("c1")[-1]
    assert (reply.text, reply.finish_reason) == ("so far", "interrupted")


@pytest.mark.parametrize("signum, stored_error", [(15, "Terminated: SIGTERM"), (1, "Terminated: SIGHUP")])
def test_sigterm_and_sighup_keep_partial_and_name_the_signal(store, signum, stored_error) -> None:
    turn = make_turn(ScriptedProvider([Chunk("so far")], fail_with=TerminateRequested(signum)), store)
    with pytest.raises(TerminateRequested):
        list(turn.chunks())
    reply = store.messages("c1")[-1]
    assert (reply.text, reply.finish_reason, reply.complete, reply.error) == (
        "so far", "interrupted", False, stored_error)


def test_abandoned_stream_is_saved_when_closed(store) -> None:
    turn = make_turn(ScriptedProvider([Chunk("a"), Chunk("b"), Chunk("c")]), store)
    chunks = turn.chunks()
    next(chunks)
    chunks.close()  # stdout closed: the consumer gives up
    reply = store.messages("c1")[-1]
    assert (reply.text, reply.finish_reason, reply.complete) == ("a", "interrupted", False)


def test_final_text_wins_over_deltas(store) -> None:
    turn = make_turn(ScriptedProvider([Chunk("Helo"), Chunk("", finish_reason="stop", final_text="Hello")]), store)
    list(turn.chunks())
    assert store.messages("c1")[-1].text == "Hello"


def test_history_failure_is_a_warning_not_an_error(tmp_path) -> None:
    bad = tmp_path / "not-a-db"
    bad.write_bytes(b"this is not sqlite" * 100)
    recorder = Recorder(url=f"sqlite:///{bad}")
    user = MessageRecord("u1", "c1", "user", "hello", "2026-11-26T10:00:00+00:00")
    turn = Turn(ScriptedProvider([Chunk("ok", finish_reason="stop")]), "m1", [], ChatOptions(),
                TurnResult("c1", "a1", "scripted", "m1"), recorder, user, None)
    assert "".join(c.text for c in turn.chunks()) == "ok"
    assert not turn.result.saved
    assert len(turn.result.warnings) == 1 and turn.result.warnings[0].startswith("history not saved:")


def test_context_keeps_newest_system_prompt_and_skips_failed_replies() -> None:
    history = [
        MessageRecord("1", "c", "system", "be brief", "t1"),
        MessageRecord("2", "c", "user", "q1", "t2"),
        MessageRecord("3", "c", "assistant", "", "t3", finish_reason="error"),
        MessageRecord("4", "c", "user", "q2", "t4"),
        MessageRecord("5", "c", "assistant", "a2", "t5", provider="gigachat", model="GigaChat-2"),
    ]
    assert [(m.role, m.content) for m in context_messages(history, None)] == [
        ("system", "be brief"), ("user", "q2"), ("assistant", "a2")]  # q1 failed with no reply
    assert context_messages(history, "new system")[0] == Message("system", "new system")
