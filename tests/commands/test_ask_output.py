"""`ask` writing a streamed reply: a signal that lands while a piece is being written (not while
waiting for the server) is still saved with the partial reply as what it was — SIGTERM, SIGHUP or
Ctrl-C — while a closed stdout stays "output closed". Real Turn and history DB, fake writer."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import pytest

from llmcli import console
from llmcli.commands import ask_output
from llmcli.errors import TerminateRequested
from llmcli.services.chat import Turn, TurnResult
from llmcli.services.fallback import FallbackTurn
from llmcli.services.recorder import Recorder
from llmcli.types import ChatOptions, Chunk, Message, MessageRecord

PIECES = ["one ", "two ", "three ", "four ", "five"]


class FivePieces:
    name = "scripted"

    def list_models(self):
        return []

    def stream_chat(self, model: str, messages: Sequence[Message], options: ChatOptions) -> Iterator[Chunk]:
        yield from (Chunk(text) for text in PIECES[:-1])
        yield Chunk(PIECES[-1], finish_reason="stop")

    def close(self) -> None:
        pass


class FailingWriter:
    """Raises `error` (if any) while writing the third piece, as a signal handler (or EPIPE) would."""

    def __init__(self, error: BaseException | None) -> None:
        self.error = error
        self.written: list[str] = []
        self.closed = False

    def feed(self, text: str) -> None:
        if self.error is not None and len(self.written) == 2:
            raise self.error
        self.written.append(text)

    def close(self) -> None:
        self.closed = True


def make_turn(store) -> Turn:
    user = MessageRecord("u1", "c1", "user", "count", "2026-11-26T10:00:00+00:00")
    return Turn(FivePieces(), "m1", [Message("user", "count")], ChatOptions(), TurnResult("c1", "a1", "scripted", "m1"),
                Recorder(store=store), user, None)


def install_writer(monkeypatch, error: BaseException | None) -> FailingWriter:
    writer = FailingWriter(error)
    monkeypatch.setattr(console, "reply_writer", lambda *a, **k: writer)
    return writer


CASES = [
    (TerminateRequested(15), "Terminated: SIGTERM"),
    (TerminateRequested(1), "Terminated: SIGHUP"),
    (KeyboardInterrupt(), "Interrupted: Ctrl-C"),
    (BrokenPipeError(), "Interrupted: output closed"),  # stdout closed: the boundary exits 141
]


@pytest.mark.parametrize("error, stored_error", CASES)
def test_a_stop_while_writing_a_piece_is_saved_as_what_it_was(monkeypatch, store, error, stored_error) -> None:
    writer = install_writer(monkeypatch, error)
    with pytest.raises(type(error)):
        ask_output.render_reply(make_turn(store).chunks(), buffered=False)
    assert writer.written == ["one ", "two "] and writer.closed
    reply = store.messages("c1")[-1]
    # the third piece had arrived (the turn holds it) but was not written when the stop came
    assert (reply.text, reply.complete, reply.finish_reason, reply.error) == (
        "one two three ", False, "interrupted", stored_error)


@pytest.mark.parametrize("error, stored_error", CASES[:2])
def test_the_same_through_a_fallback_turn(monkeypatch, store, error, stored_error) -> None:
    class OneService:
        def start_turn(self, request, *, store=None) -> Turn:
            return turn

    turn = make_turn(store)
    install_writer(monkeypatch, error)
    with pytest.raises(type(error)):
        ask_output.render_reply(FallbackTurn(OneService(), chain=[object()]).chunks(), buffered=False)
    reply = store.messages("c1")[-1]
    assert (reply.text, reply.finish_reason, reply.error) == ("one two three ", "interrupted", stored_error)


def test_a_reply_written_to_the_end_is_saved_complete(monkeypatch, store) -> None:
    writer = install_writer(monkeypatch, None)
    ask_output.render_reply(make_turn(store).chunks(), buffered=False)
    assert writer.written == PIECES and writer.closed
    reply = store.messages("c1")[-1]
    assert (reply.text, reply.complete, reply.error) == ("".join(PIECES), True, None)
