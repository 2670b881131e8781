"""`llmcli chat` in a real pseudo-terminal: the installed console script, prompt_toolkit and rich on a
pty, fake OpenAI-compatible servers on real sockets, history in the real SQLite file."""

from __future__ import annotations

import signal
import stat
import sys
from pathlib import Path

import pytest

from tests.e2e.chat_transcript import LONG_REPLY, record
from tests.e2e.helpers import db_rows, openai_provider_config, write_config
from tests.e2e.pty_session import UP_ARROW, PtySession
from tests.fakes.openai_server import openai_server

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(sys.platform == "win32", reason="needs a pty")]

KEY = "sk-e2e-chat-4b1d9c0e7f"
PROMPT = "fake/gpt-fake>"


@pytest.fixture
def server():
    with openai_server(api_key=KEY) as srv:
        yield srv


@pytest.fixture
def env(e2e_env, llmcli_home: Path, server):
    write_config(llmcli_home, openai_provider_config("fake", server.url + "/v1"))
    return dict(e2e_env, LLMCLI_FAKE_API_KEY=KEY)


@pytest.fixture
def start(llmcli_exe, env):
    sessions: list[PtySession] = []

    def spawn(*args: str, env_: dict[str, str] | None = None) -> PtySession:
        session = PtySession(llmcli_exe, ["chat", *args], env_ or env)
        sessions.append(session)
        return session

    yield spawn
    for session in sessions:
        session.close()


def chat_requests(server):
    return [r for r in server.requests if r.path.endswith("/chat/completions")]


def test_question_streams_an_answer_ctrl_c_clears_the_line_ctrl_d_exits_0(start, server) -> None:
    chat = start()
    chat.expect(PROMPT)
    chat.line("hello there")
    chat.expect("echo: hello there")
    chat.expect(PROMPT)
    chat.send("half-typed thought")
    chat.ctrl("c")
    chat.expect(PROMPT)
    chat.line("fresh")
    chat.expect("echo: fresh")
    chat.expect(PROMPT)
    chat.ctrl("d")
    assert chat.wait_exit() == 0
    assert [r.json["messages"][-1]["content"] for r in chat_requests(server)] == ["hello there", "fresh"]
    assert chat_requests(server)[0].json["messages"] == [{"role": "user", "content": "hello there"}]
    assert "Traceback" not in chat.text


def test_the_recorded_session_switches_provider_with_context_and_survives_ctrl_c(llmcli_exe, e2e_env,
                                                                                llmcli_home) -> None:
    """The session of docs/transcripts/chat.txt."""
    rec = record(llmcli_exe, e2e_env, llmcli_home)
    assert rec.exit_status == 0
    assert [(m["role"], m["content"]) for m in rec.third_turn_request] == [
        ("user", "What is the capital of France?"), ("assistant", "**Paris** is the capital of France."),
        ("user", "And of Italy?"), ("assistant", "**Rome**, since 1871."),
        ("user", "Which two cities did we just talk about?")]
    assert (rec.requests_a, rec.requests_b) == (2, 3)
    replies = [(provider, model, finish, complete) for role, provider, model, finish, complete, _ in rec.saved
               if role == "assistant"]
    assert replies == [("fake-a", "gpt-fake", "stop", 1), ("fake-a", "gpt-fake", "stop", 1),
                       ("fake-b", "llama-fake", "stop", 1), ("fake-b", "llama-fake", "interrupted", 0),
                       ("fake-b", "llama-fake", "stop", 1)]
    partial = rec.saved[7][5]
    assert partial.startswith("Word1 Word2") and len(partial) < len(LONG_REPLY)
    # the turn after Ctrl-C carries the partial reply as context
    assert rec.fourth_turn_request[-3:] == [
        {"role": "user", "content": "Now tell me a very long story."},
        {"role": "assistant", "content": partial},
        {"role": "user", "content": "Sorry, one sentence is enough."}]
    screen = rec.screen
    assert "Paris is the capital of France." in screen  # Markdown rendered: no ** on screen
    assert "[interrupted: the partial reply is kept]" in screen
    assert screen.count("Word1 ") == 1  # the interrupted live region left no stale copy
    assert screen.rstrip().endswith("fake-b/llama-fake>")


def test_input_history_survives_a_restart(start, server, llmcli_home) -> None:
    first = start()
    first.expect(PROMPT)
    first.line("remember this line")
    first.expect("echo: remember this line")
    first.expect(PROMPT)
    first.line("/exit")
    assert first.wait_exit() == 0
    history_file = llmcli_home / "repl_history"
    assert stat.S_IMODE(history_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(history_file.parent.stat().st_mode) == 0o700

    second = start()
    second.expect(PROMPT)
    second.send(UP_ARROW)  # the previous run's last line comes back (/exit itself was the last)
    second.send(UP_ARROW)
    second.send("\r")
    second.expect("echo: remember this line")
    second.expect(PROMPT)
    assert chat_requests(server)[-1].json["messages"][-1]["content"] == "remember this line"
    second.ctrl("d")
    assert second.wait_exit() == 0


def test_a_paste_is_one_message_alt_enter_adds_a_line_and_multi_mode_swaps_the_keys(start, server) -> None:
    chat = start()
    chat.expect(PROMPT)
    chat.paste("first line\nsecond line\n\nlast line")
    chat.send("\r")
    chat.expect("echo: first line")
    chat.expect(PROMPT)
    chat.send("one")
    chat.send("\x1b\r")  # Alt-Enter as a terminal sends it: ESC, CR
    chat.line("two")
    chat.expect("echo: one")
    chat.expect(PROMPT)
    chat.line("/multi")
    chat.expect("[multi]>")
    chat.send("three\rfour")  # Enter adds a line here ...
    chat.send("\x1b\r")  # ... and Alt-Enter sends
    chat.expect("echo: three")
    chat.expect("[multi]>")
    contents = [r.json["messages"][-1]["content"] for r in chat_requests(server)]
    assert contents == ["first line\nsecond line\n\nlast line", "one\ntwo", "three\nfour"]
    chat.ctrl("d")
    assert chat.wait_exit() == 0


def test_sigterm_at_the_prompt_exits_143(start) -> None:
    chat = start()
    chat.expect(PROMPT)
    chat.kill(signal.SIGTERM)
    assert chat.wait_exit() == 143


def test_sigterm_mid_stream_saves_the_partial_reply_and_exits_143(start, server, llmcli_home) -> None:
    chat = start()
    chat.expect(PROMPT)
    server.state.reply, server.state.chunk_interval = LONG_REPLY, 0.02
    chat.line("long")
    chat.expect("Word10 ")
    chat.kill(signal.SIGTERM)
    assert chat.wait_exit() == 143
    (reply,) = db_rows(llmcli_home,
                       "SELECT text, finish_reason, complete FROM messages WHERE role = 'assistant'")
    assert reply["text"].startswith("Word1 Word2") and (reply["finish_reason"], reply["complete"]) == (
        "interrupted", 0)


def _exit_code(chat) -> int | None:
    """The code llmcli exited with itself; None when a signal killed it (wait_exit folds that into
    128 + N, which would hide a SIGHUP that went unhandled)."""
    return chat.child.exitstatus if chat.child.signalstatus is None else None


NEEDS_SIGHUP = pytest.mark.skipif(not hasattr(signal, "SIGHUP"), reason="the platform has no SIGHUP")


@NEEDS_SIGHUP
def test_sighup_at_the_prompt_exits_129(start) -> None:
    chat = start()
    chat.expect(PROMPT)
    chat.kill(signal.SIGHUP)
    chat.wait_exit()
    assert _exit_code(chat) == 129


def _hang_up(chat) -> int | None:
    """Close the terminal as a dropped ssh connection or a closed tab does: the master side goes away,
    the kernel sends SIGHUP, and every later write to the terminal fails (EIO)."""
    chat.child.ptyproc.fileobj.close()
    chat.child.ptyproc.wait()
    return chat.child.ptyproc.exitstatus


@NEEDS_SIGHUP
def test_a_closed_terminal_mid_stream_saves_the_partial_reply_and_exits_129(start, server,
                                                                              llmcli_home) -> None:
    chat = start()
    chat.expect(PROMPT)
    server.state.reply, server.state.chunk_interval = LONG_REPLY, 0.02
    chat.line("long")
    chat.expect("Word10 ")
    assert _hang_up(chat) == 129
    (reply,) = db_rows(llmcli_home,
                       "SELECT text, finish_reason, complete, error FROM messages WHERE role = 'assistant'")
    assert reply["text"].startswith("Word1 Word2") and "Word400" not in reply["text"]
    assert (reply["finish_reason"], reply["complete"], reply["error"]) == ("interrupted", 0, "Terminated: SIGHUP")


def test_errors_keep_the_session_alive(start, server) -> None:
    from tests.fakes.base import Fault

    chat = start()
    chat.expect(PROMPT)
    server.inject(Fault.respond(404, '{"error": {"message": "The model `gpt-fake` does not exist"}}',
                                content_type="application/json"))
    chat.line("hello?")
    chat.expect("error: ")
    chat.expect(PROMPT)
    chat.line("/modl x")
    chat.expect("did you mean /model?")
    chat.line("hello again")
    chat.expect("echo: hello again")
    chat.expect(PROMPT)
    chat.ctrl("d")
    assert chat.wait_exit() == 0
    assert "Traceback" not in chat.text


def test_piped_stdin_seeds_the_chat_which_goes_on_from_the_terminal(llmcli_exe, env, server,
                                                                    tmp_path) -> None:
    notes = tmp_path / "notes.md"
    notes.write_text("my notes", encoding="utf-8")
    chat = PtySession("/bin/sh", ["-c", f'"{llmcli_exe}" chat < "{notes}"'], env)
    try:
        chat.expect("echo: my notes")
        chat.expect(PROMPT)
        chat.line("and more")
        chat.expect("echo: and more")
        chat.expect(PROMPT)
        chat.ctrl("d")
        assert chat.wait_exit() == 0
    finally:
        chat.close()
    sent = [m["content"] for m in chat_requests(server)[-1].json["messages"]]
    assert sent == ["my notes", "echo: my notes", "and more"]


def test_continue_shows_the_last_turns_and_goes_on(start, server) -> None:
    first = start()
    first.expect(PROMPT)
    first.line("the first question")
    first.expect("echo: the first question")
    first.expect(PROMPT)
    first.ctrl("d")
    assert first.wait_exit() == 0

    second = start("-c")
    second.expect("continuing conversation")
    second.expect("you: the first question")
    second.expect(PROMPT)
    second.line("the second question")
    second.expect("echo: the second question")
    second.expect(PROMPT)
    assert [m["content"] for m in chat_requests(server)[-1].json["messages"]] == [
        "the first question", "echo: the first question", "the second question"]
    second.ctrl("d")
    assert second.wait_exit() == 0


def test_no_color_and_plain_output_when_stdout_is_not_a_terminal(llmcli_exe, env, server, tmp_path) -> None:
    out = tmp_path / "out.txt"
    chat = PtySession("/bin/sh", ["-c", f'"{llmcli_exe}" chat > "{out}"'], env)
    try:
        chat.expect(PROMPT)  # the prompt still shows on the terminal
        chat.line("**bold** please")
        chat.ctrl("d")  # typed ahead while the answer is on its way: kept for the next prompt
        assert chat.wait_exit() == 0
    finally:
        chat.close()
    assert out.read_text(encoding="utf-8") == "echo: **bold** please\n"  # raw Markdown, no escapes

