"""`llmcli ask` end to end: the installed console script against a fake OpenAI-compatible server
on a real socket, history in the real SQLite file."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.e2e.helpers import ANSI_ESCAPE, db_rows, one_error_line, openai_provider_config, run, write_config
from tests.fakes.base import Fault
from tests.fakes.openai_server import openai_server

pytestmark = pytest.mark.e2e

KEY = "sk-e2e-SENTINEL-4b1d9c0e7f"


@pytest.fixture
def server():
    with openai_server(api_key=KEY, reply="The summary.") as srv:
        yield srv


@pytest.fixture
def env(e2e_env, llmcli_home: Path, server):
    write_config(llmcli_home, openai_provider_config("fake", server.url + "/v1"))
    return dict(e2e_env, LLMCLI_FAKE_API_KEY=KEY)


def chat_requests(server):
    return [r for r in server.requests if r.path.endswith("/chat/completions")]


def test_piped_stdin_is_appended_and_reply_is_plain(llmcli_exe, env, server, llmcli_home):
    proc = run(llmcli_exe, ["ask", "summarize"], env, stdin=b"data")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "The summary.\n"
    assert ANSI_ESCAPE not in proc.stdout and proc.stderr == ""
    (request,) = chat_requests(server)
    assert request.json["messages"][-1] == {"role": "user", "content": "summarize\n\ndata"}
    assert request.json["stream"] is True


def test_stdin_alone_is_the_prompt(llmcli_exe, env, server):
    proc = run(llmcli_exe, ["ask"], env, stdin="Привет, мир")
    assert proc.returncode == 0, proc.stderr
    assert chat_requests(server)[0].json["messages"][-1]["content"] == "Привет, мир"
    assert "Привет, мир".encode() in chat_requests(server)[0].body  # raw UTF-8, not \u-escaped


def test_json_prints_one_object_with_server_usage(llmcli_exe, env, server, llmcli_home):
    server.state.usage = {"prompt_tokens": 21, "completion_tokens": 5, "total_tokens": 26}
    proc = run(llmcli_exe, ["ask", "--json", "hi"], env)
    assert proc.returncode == 0, proc.stderr
    obj = json.loads(proc.stdout)
    assert set(obj) >= {"conversation_id", "message_id", "provider", "model", "text", "finish_reason",
                        "usage", "latency_ms"}
    assert obj["text"] == "The summary." and obj["provider"] == "fake" and obj["finish_reason"] == "stop"
    assert obj["usage"] == {"prompt_tokens": 21, "completion_tokens": 5, "total_tokens": 26}
    (saved,) = db_rows(llmcli_home, "SELECT * FROM messages WHERE id = ?", [obj["message_id"]])
    assert saved["conversation_id"] == obj["conversation_id"]
    assert (saved["prompt_tokens"], saved["completion_tokens"]) == (21, 5)


def test_conversation_is_saved_and_continued(llmcli_exe, env, server, llmcli_home):
    assert run(llmcli_exe, ["ask", "first question"], env).returncode == 0
    server.state.reply = "Second answer."
    proc = run(llmcli_exe, ["ask", "-c", "follow-up"], env)
    assert proc.returncode == 0, proc.stderr
    sent = chat_requests(server)[-1].json["messages"]
    assert [(m["role"], m["content"]) for m in sent] == [
        ("user", "first question"), ("assistant", "The summary."), ("user", "follow-up")]
    rows = db_rows(llmcli_home, "SELECT role, text, provider, complete FROM messages ORDER BY created_at")
    assert [(r["role"], r["text"]) for r in rows] == [
        ("user", "first question"), ("assistant", "The summary."),
        ("user", "follow-up"), ("assistant", "Second answer.")]
    assert {r["provider"] for r in rows if r["role"] == "assistant"} == {"fake"}
    assert len(db_rows(llmcli_home, "SELECT id FROM conversations")) == 1


def test_no_log_saves_nothing(llmcli_exe, env, llmcli_home):
    assert run(llmcli_exe, ["ask", "--no-log", "secret plans"], env).returncode == 0
    db = llmcli_home / "history.db"
    assert not db.exists() or db_rows(llmcli_home, "SELECT id FROM messages") == []


def test_usage_goes_to_stderr(llmcli_exe, env):
    proc = run(llmcli_exe, ["ask", "-u", "hi"], env)
    assert proc.stdout == "The summary.\n"
    assert "usage: 11 prompt + 7 completion = 18 tokens" in proc.stderr


# --- bad input: exit 2, one clear line, no request


@pytest.mark.parametrize("stdin, args, expected", [
    (b"", ["ask"], "empty prompt"),
    (b"   \n", ["ask", "  "], "empty prompt"),
    (b"caf\xe9 au lait", ["ask", "x"], "stdin is not valid UTF-8 (byte 0xe9 at offset 3)"),
    (b"", ["ask", "-p", "nope", "hi"], "unknown provider 'nope'"),
    (b"", ["ask", "-o", "oops", "hi"], "bad option 'oops'"),
])
def test_bad_input_exit_2_without_a_request(llmcli_exe, env, server, stdin, args, expected):
    proc = run(llmcli_exe, args, env, stdin=stdin)
    assert proc.returncode == 2, proc.stderr
    assert expected in one_error_line(proc.stderr)
    assert chat_requests(server) == []


def test_oversized_stdin_is_refused(llmcli_exe, env, server, llmcli_home):
    write_config(llmcli_home, "max_input_bytes = 1000\n" + openai_provider_config("fake", server.url + "/v1"))
    proc = run(llmcli_exe, ["ask", "x"], env, stdin=b"a" * 5000)
    assert proc.returncode == 2
    assert "input is larger than 1000 bytes" in one_error_line(proc.stderr)
    assert chat_requests(server) == []


def test_invalid_temperature_is_a_usage_error(llmcli_exe, env, server):
    proc = run(llmcli_exe, ["ask", "-t", "7", "hi"], env)
    assert proc.returncode == 2
    assert chat_requests(server) == []


# --- provider failures map to the documented exit codes


def test_missing_key_exit_3_names_the_fix(llmcli_exe, env, server):
    env = {k: v for k, v in env.items() if k != "LLMCLI_FAKE_API_KEY"}
    proc = run(llmcli_exe, ["ask", "hi"], env)
    assert proc.returncode == 3
    line = one_error_line(proc.stderr)
    assert "fake" in line
    assert "LLMCLI_FAKE_API_KEY" in proc.stderr and "llmcli keys set fake" in proc.stderr
    assert chat_requests(server) == []


def test_rejected_key_exit_3(llmcli_exe, env, server):
    proc = run(llmcli_exe, ["ask", "hi"], dict(env, LLMCLI_FAKE_API_KEY="sk-wrong-key-123456"))
    assert proc.returncode == 3
    one_error_line(proc.stderr)


def test_unknown_model_exit_4(llmcli_exe, env, server):
    server.inject(Fault.json(404, {"error": {"message": "The model `nope` does not exist", "code": "model_not_found"}}))
    proc = run(llmcli_exe, ["ask", "-m", "nope", "hi"], env)
    assert proc.returncode == 4
    assert "does not exist" in one_error_line(proc.stderr)


def test_rate_limit_after_retries_exit_5(llmcli_exe, env, server):
    for _ in range(4):
        server.inject(Fault.rate_limited(retry_after="0"))
    proc = run(llmcli_exe, ["ask", "hi"], env)
    assert proc.returncode == 5, proc.stderr
    one_error_line(proc.stderr)
    assert len(chat_requests(server)) == 4  # the first try and 3 retries


def test_rate_limit_absorbed_by_a_retry(llmcli_exe, env, server):
    server.inject(Fault.rate_limited(retry_after="0"))
    proc = run(llmcli_exe, ["ask", "hi"], env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "The summary.\n"


def test_server_error_html_exit_6_without_dumping_html(llmcli_exe, env, server):
    for _ in range(4):
        server.inject(Fault.html(502, "Bad Gateway", headers={"Retry-After": "0"}))
    proc = run(llmcli_exe, ["ask", "hi"], env)
    assert proc.returncode == 6
    line = one_error_line(proc.stderr)
    assert "502" in line and "<html" not in proc.stderr


def test_connection_refused_exit_6(llmcli_exe, env, llmcli_home):
    write_config(llmcli_home, openai_provider_config("fake", "http://127.0.0.1:9/v1"))
    proc = run(llmcli_exe, ["ask", "hi"], env)
    assert proc.returncode == 6
    assert "cannot connect" in one_error_line(proc.stderr)


def test_stream_broken_after_output_exit_7_partial_saved(llmcli_exe, env, server, llmcli_home):
    server.state.reply = "one two three four five six seven eight"
    server.inject(Fault.reset_after(4))  # role chunk, keep-alive, "one ", "two "
    proc = run(llmcli_exe, ["ask", "count"], env)
    assert proc.returncode == 7, proc.stderr
    assert proc.stdout.startswith("one two") and "eight" not in proc.stdout
    one_error_line(proc.stderr)
    assert len(chat_requests(server)) == 1  # never retried after output began
    (reply,) = db_rows(llmcli_home, "SELECT * FROM messages WHERE role = 'assistant'")
    assert reply["complete"] == 0 and reply["finish_reason"] == "error"
    assert reply["text"] == proc.stdout.rstrip("\n")


# --- signals and pipes


def _start_slow(llmcli_exe, env, server):
    server.state.reply = " ".join(f"w{i}" for i in range(200))
    server.state.chunk_interval = 0.05
    proc = subprocess.Popen([llmcli_exe, "ask", "long story"], env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    first = proc.stdout.read(6)  # wait for the first words to arrive
    assert first.startswith(b"w0 w1")
    return proc, first


@pytest.mark.parametrize("sig, code, reason", [(signal.SIGINT, 130, "interrupted"),
                                                (signal.SIGTERM, 143, "interrupted")])
def test_signal_mid_stream_keeps_partial_reply(llmcli_exe, env, server, llmcli_home, sig, code, reason):
    proc, first = _start_slow(llmcli_exe, env, server)
    time.sleep(0.3)
    proc.send_signal(sig)
    # read through the same buffered file objects: communicate() would skip what read(6) buffered
    rest, stderr = proc.stdout.read(), proc.stderr.read()
    proc.wait(timeout=30)
    assert proc.returncode == code, stderr
    assert b"Traceback" not in stderr
    printed = (first + rest).decode().strip()
    (reply,) = db_rows(llmcli_home, "SELECT * FROM messages WHERE role = 'assistant'")
    assert reply["complete"] == 0 and reply["finish_reason"] == reason
    assert reply["text"].startswith("w0 w1") and printed.startswith(reply["text"].strip())
    assert "w199" not in reply["text"]


def test_closed_stdout_ends_quietly(llmcli_exe, env, server, llmcli_home):
    proc, _ = _start_slow(llmcli_exe, env, server)
    proc.stdout.close()  # like `| head -c 6`
    stderr = proc.stderr.read()
    proc.wait(timeout=30)
    assert proc.returncode == 141
    assert stderr == b""
    (reply,) = db_rows(llmcli_home, "SELECT * FROM messages WHERE role = 'assistant'")
    assert reply["complete"] == 0 and reply["finish_reason"] == "interrupted"


# --- many processes at once


def test_16_parallel_asks_on_a_fresh_home(llmcli_exe, env, server, llmcli_home):
    def one(i: int):
        return run(llmcli_exe, ["ask", f"question {i}"], env, timeout=120)

    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(one, range(16)))
    assert [r.returncode for r in results] == [0] * 16, [r.stderr for r in results if r.returncode]
    assert not any("locked" in r.stderr or "warning" in r.stderr for r in results)
    assert len(db_rows(llmcli_home, "SELECT id FROM conversations")) == 16
    assert len(db_rows(llmcli_home, "SELECT id FROM messages")) == 32
    prompts = {r["text"] for r in db_rows(llmcli_home, "SELECT text FROM messages WHERE role = 'user'")}
    assert prompts == {f"question {i}" for i in range(16)}


# --- secrets


def test_keys_never_reach_output_or_files(llmcli_exe, env, server, llmcli_home):
    outputs = []
    for args in (["--debug", "ask", "hi"], ["--debug", "ask", "--json", "hi"], ["ask", "-u", "hi"]):
        proc = run(llmcli_exe, args, env)
        assert proc.returncode == 0, proc.stderr
        outputs += [proc.stdout, proc.stderr]
    server.inject(Fault.json(401, {"error": {"message": "Incorrect API key provided"}}))
    proc = run(llmcli_exe, ["--debug", "ask", "hi"], env)
    assert proc.returncode == 3
    outputs += [proc.stdout, proc.stderr]
    assert "debug:" in "".join(outputs)  # --debug really logged something
    assert not any(KEY in text for text in outputs)
    for path in llmcli_home.rglob("*"):
        if path.is_file():
            assert KEY.encode() not in path.read_bytes(), path
    assert os.stat(llmcli_home / "history.db").st_mode & 0o077 == 0
