"""The chat REPL loop with scripted input lines and scripted providers: slash commands, errors that keep
the session alive, Ctrl-C during a reply, and `llmcli chat` without a terminal (CliRunner)."""

from __future__ import annotations

from typing import Iterator, Sequence

import pytest

from llmcli.errors import AuthError, RateLimited, StreamBroken, TerminateRequested
from llmcli.services import providers as provider_registry
from llmcli.types import ChatOptions, Chunk, Message, Usage


class Scripted:
    """Replies `<provider>: <question>`; some questions misbehave on purpose."""

    def __init__(self, name: str, log: list) -> None:
        self.name = name
        self.log = log

    def list_models(self):
        return []

    def stream_chat(self, model: str, messages: Sequence[Message], options: ChatOptions) -> Iterator[Chunk]:
        self.log.append((self.name, model, [(m.role, m.content) for m in messages]))
        question = messages[-1].content
        if question == "rate limit me":
            raise RateLimited("429 Too Many Requests", hint="wait a minute or raise your quota")
        if question == "bad key":
            raise AuthError("401 Unauthorized: the key was rejected", hint="llmcli keys set alpha")
        yield Chunk(f"{self.name}: ")
        if question == "press ctrl-c":
            yield Chunk("partial ")
            raise KeyboardInterrupt
        if question == "sigterm":
            yield Chunk("partial ")
            raise TerminateRequested
        if question == "break":
            yield Chunk("half")
            raise StreamBroken("connection reset after 1 chunk")
        finish = "length" if question == "long" else "stop"
        yield Chunk(question, finish_reason=finish, usage=Usage(10, 5, 15))

    def close(self) -> None:
        pass


class Reader:
    """Stands in for the prompt: hands out lines; an exception class in the script is raised instead."""

    def __init__(self, *script) -> None:
        self.script = list(script)
        self.prompts: list[str] = []
        self.interrupted_empty_line = False

    def read(self, message) -> str:
        self.prompts.append("".join(text for _, text in message))
        if not self.script:
            raise EOFError
        item = self.script.pop(0)
        if isinstance(item, type) and issubclass(item, BaseException):
            self.interrupted_empty_line = True
            raise item()
        return item


@pytest.fixture
def sent(monkeypatch) -> list:
    log: list = []
    monkeypatch.setattr(provider_registry, "open_provider", lambda spec: Scripted(spec.name, log))
    return log


@pytest.fixture
def settings(offline_providers):
    from llmcli.config import load_settings

    offline_providers("alpha", "beta", extra={"beta": "context_window = 300\n"})
    return load_settings()


@pytest.fixture
def repl_for(settings, sent):
    from llmcli.commands.repl_loop import ChatRepl
    from llmcli.services.session import ChatSession

    made = []

    def make(*script):
        session = ChatSession(settings)
        made.append(session)
        return ChatRepl(session, Reader(*script))

    yield make
    for session in made:
        session.close()


def error_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("error: ")]


def test_errors_print_one_line_and_the_session_goes_on(repl_for, sent, capsys) -> None:
    repl = repl_for("rate limit me", "bad key", "break", "still here?")
    repl.run()
    out, err = capsys.readouterr()
    assert error_lines(err) == ["error: 429 Too Many Requests",
                                "error: 401 Unauthorized: the key was rejected",
                                "error: connection reset after 1 chunk"]
    assert "hint: wait a minute or raise your quota" in err and "Traceback" not in err
    assert "alpha: half\n" in out  # what streamed before the break stays on screen
    assert out.endswith("alpha: still here?\n")
    # the broken reply's text is kept as context; the failed ones are left out with their questions
    assert sent[-1][2] == [("user", "break"), ("assistant", "alpha: half"), ("user", "still here?")]


def test_ctrl_c_during_a_reply_keeps_the_partial_and_returns_to_the_prompt(repl_for, sent, capsys) -> None:
    repl = repl_for("press ctrl-c", "and then?")
    repl.run()
    out, err = capsys.readouterr()
    assert "[interrupted: the partial reply is kept]" in err
    assert out == "alpha: partial \nalpha: and then?\n"
    assert sent[-1][2][-2:] == [("assistant", "alpha: partial "), ("user", "and then?")]
    reply = repl.session.history[1]
    assert (reply.finish_reason, reply.complete) == ("interrupted", False)
    assert len(repl.reader.prompts) == 3  # asked again after the interrupt, then EOF


def test_sigterm_during_a_reply_saves_it_and_leaves(repl_for, sent) -> None:
    repl = repl_for("sigterm", "never sent")
    with pytest.raises(TerminateRequested):
        repl.run()
    assert len(sent) == 1
    store = repl.session.store()
    saved = store.messages(repl.session.conversation_id)
    assert [(m.role, m.text, m.finish_reason) for m in saved] == [
        ("user", "sigterm", None), ("assistant", "alpha: partial ", "interrupted")]


def test_ctrl_c_at_an_empty_prompt_explains_how_to_leave(repl_for, capsys) -> None:
    repl = repl_for(KeyboardInterrupt, "hi")
    repl.run()
    out, err = capsys.readouterr()
    assert "(Ctrl-D or /exit leaves)" in err
    assert out == "alpha: hi\n"


def test_exit_stops_reading(repl_for, sent) -> None:
    repl = repl_for("one", "/exit", "never sent")
    repl.run()
    assert [entry[2][-1] for entry in sent] == [("user", "one")]
    assert repl.reader.script == ["never sent"]


def test_unknown_command_is_not_sent(repl_for, sent, capsys) -> None:
    repl = repl_for("/histroy", "/exit")
    repl.run()
    _, err = capsys.readouterr()
    assert error_lines(err) == ["error: unknown command /histroy; did you mean /history?"]
    assert sent == []


def test_provider_switch_shows_in_the_prompt_and_keeps_the_context(repl_for, sent, capsys) -> None:
    repl = repl_for("one", "/provider beta", "two", "/provider nope", "/model b-2", "three")
    repl.run()
    _, err = capsys.readouterr()
    assert repl.reader.prompts[0] == "alpha/a-1> " and repl.reader.prompts[2] == "beta/b-1> "
    assert repl.reader.prompts[-1] == "beta/b-2> "
    assert "now using beta/b-1" in err
    assert "error: unknown provider 'nope'" in err
    assert [(name, model) for name, model, _ in sent] == [("alpha", "a-1"), ("beta", "b-1"), ("beta", "b-2")]
    assert sent[1][2] == [("user", "one"), ("assistant", "alpha: one"), ("user", "two")]


def test_left_out_turns_are_announced_before_the_answer(repl_for, sent, capsys) -> None:
    repl = repl_for("x" * 600, "/provider beta", "short")
    repl.run()
    _, err = capsys.readouterr()
    assert "warning: left out the oldest turn to fit the 300-token context of b-1" in err
    assert sent[-1][2] == [("user", "short")]


def test_history_usage_retry_save_and_new(repl_for, sent, capsys, tmp_path) -> None:
    target = tmp_path / "chat.md"
    repl = repl_for("first question", "second", "/retry", "/history", "/usage", f"/save {target}", "/new",
                    "/history")
    repl.run()
    out, err = capsys.readouterr()
    assert len(sent) == 3
    assert sent[2][2] == [("user", "first question"), ("assistant", "alpha: first question"),
                          ("user", "second")]
    assert "  1. you: first question\n     alpha/a-1: alpha: first question\n" in out
    assert "  2. you: second\n     alpha/a-1: alpha: second\n" in out
    assert "  3." not in out  # the retried answer replaced the earlier one
    assert "20 prompt + 10 completion = 30 tokens over 2 replies" in out
    assert target.read_text(encoding="utf-8").startswith("# first question\n")
    assert f"saved 4 messages to {target}" in err
    assert out.rstrip().endswith("no turns yet")


def test_settings_and_system_prompt(repl_for, sent, capsys) -> None:
    repl = repl_for("/set temperature 0.4", "/set max_tokens lots", "/set", "/system Answer in French.",
                    "/system", "hello", "/multi", "/multi")
    repl.run()
    out, err = capsys.readouterr()
    assert "temperature = 0.4" in out and "max_tokens = (server default)" in out
    assert "error: max_tokens must be a whole number above 0" in err
    assert "system prompt: Answer in French." in out
    assert sent[0][2][0] == ("system", "Answer in French.")
    assert "multi-line mode" in err and "single-line mode" in err
    assert repl.multiline is False


def test_finish_reason_length_is_explained(repl_for, capsys) -> None:
    repl_for("long").run()
    _, err = capsys.readouterr()
    assert "cut short by the max_tokens limit" in err


# --- the command without a terminal


@pytest.fixture
def no_terminal(monkeypatch):
    from llmcli.commands.repl_input import Terminal

    monkeypatch.setattr(Terminal, "open", classmethod(lambda cls: None))


def test_piped_seed_without_a_terminal_is_answered_then_the_chat_ends(settings, sent, no_terminal) -> None:
    from typer.testing import CliRunner

    from llmcli.app import get_app

    result = CliRunner().invoke(get_app(), ["chat"], input="summarize this\n")
    assert result.exit_code == 0, result.output
    assert result.stdout == "alpha: summarize this\n"
    assert sent[0][2] == [("user", "summarize this\n")]


def test_failed_seed_without_a_terminal_exits_with_its_code(settings, sent, no_terminal) -> None:
    from typer.testing import CliRunner

    from llmcli.app import get_app

    result = CliRunner().invoke(get_app(), ["chat"], input="rate limit me")
    assert result.exit_code == 5
    assert error_lines(result.stderr) == ["error: 429 Too Many Requests"]


def test_no_seed_and_no_terminal_is_a_usage_error(settings, sent, no_terminal) -> None:
    from typer.testing import CliRunner

    from llmcli.app import get_app

    result = CliRunner().invoke(get_app(), ["chat"], input="")
    assert result.exit_code == 2
    assert "error: llmcli chat needs a terminal" in result.stderr and "llmcli ask" in result.stderr
    assert sent == []


def test_unknown_provider_flag_is_a_usage_error(settings, sent, no_terminal) -> None:
    from typer.testing import CliRunner

    from llmcli.app import get_app

    result = CliRunner().invoke(get_app(), ["chat", "-p", "alpah"], input="hi")
    assert result.exit_code == 2
    assert "unknown provider 'alpah'" in result.stderr


def test_ctrl_c_while_a_chunk_is_drawn_waits_for_the_drawing_to_finish(repl_for, sent, capsys) -> None:
    import os
    import signal

    from llmcli import console

    drawn: list[str] = []

    class SlowTerminalWriter(console.PlainWriter):
        def feed(self, text: str) -> None:
            if not drawn:
                os.kill(os.getpid(), signal.SIGINT)  # the user presses Ctrl-C mid-redraw
            drawn.append(text)  # ... and the redraw still completes
            super().feed(text)

    repl = repl_for("hello", "after")
    repl.writer_factory = SlowTerminalWriter
    repl.run()
    _, err = capsys.readouterr()
    assert drawn == ["alpha: ", "alpha: ", "after"]  # the first reply stopped right after its first piece
    assert "[interrupted: the partial reply is kept]" in err
    stopped = repl.session.history[1]
    assert (stopped.text, stopped.finish_reason) == ("alpha: ", "interrupted")
    assert stopped.error == "Interrupted: Ctrl-C"
    assert sent[-1][2] == [("user", "hello"), ("assistant", "alpha: "), ("user", "after")]


def test_a_bug_during_a_turn_is_one_error_line_and_the_session_goes_on(repl_for, sent, capsys,
                                                                        monkeypatch) -> None:
    calls = {"n": 0}
    real = Scripted.stream_chat

    def flaky(self, model, messages, options):
        calls["n"] += 1
        if calls["n"] == 1:
            raise ZeroDivisionError("division by zero")
        yield from real(self, model, messages, options)

    monkeypatch.setattr(Scripted, "stream_chat", flaky)
    repl = repl_for("first", "second")
    repl.run()
    out, err = capsys.readouterr()
    assert error_lines(err) == ["error: unexpected error: ZeroDivisionError: division by zero"]
    assert "Traceback" not in err and "[interrupted" not in err
    assert out == "alpha: second\n"
