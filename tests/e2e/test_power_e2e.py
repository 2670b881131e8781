"""Roles, attached files, code extraction, compare and fallback, end to end: the installed `llmcli`
against the fake servers (OpenAI-compatible over HTTP; GigaChat and YandexGPT over TLS)."""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
from pathlib import Path

import pytest

from tests.e2e.helpers import db_rows, one_error_line, openai_provider_config, run, write_config
from tests.fakes.gigachat_server import API_PREFIX, OAUTH_PATH, TEST_AUTHORIZATION_KEY, gigachat_server
from tests.fakes.openai_server import openai_server
from tests.fakes.tls import session_ca
from tests.fakes.yandex_server import COMPLETION, IAM, yandex_server

pytestmark = pytest.mark.e2e

KEY = "sk-power-e2e-0123456789"
FOLDER = "b1gfakefolder"
CODE_REPLY = ("Run this:\n\n```bash\nfind . -name '*.log' -mtime +7 -delete\n```\n\n"
              "Or in Python:\n\n```python\nimport pathlib\nprint(sorted(pathlib.Path('.').glob('*.log')))\n```\n")


def ok(proc):
    assert proc.returncode == 0, proc.stderr
    return proc


def chat_requests(server, path: str = "/chat/completions"):
    return [r for r in server.requests if r.path.endswith(path)]


# --- one OpenAI-compatible server: roles, files, -x ------------------------------------------------


@pytest.fixture
def server():
    with openai_server(api_key=KEY) as srv:
        yield srv


@pytest.fixture
def env(e2e_env, llmcli_home: Path, server):
    write_config(llmcli_home, openai_provider_config("fake", server.url + "/v1"))
    return dict(e2e_env, LLMCLI_FAKE_API_KEY=KEY)


def a_real_git_diff(tmp_path: Path) -> str:
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    repo = tmp_path / "repo"
    repo.mkdir()

    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.com",
                               *args], check=True, capture_output=True, text=True).stdout

    git("init", "-q")
    (repo / "greet.py").write_text("def greet():\n    return 'hi'\n", encoding="utf-8")
    git("add", "greet.py")
    git("commit", "-q", "-m", "initial")
    (repo / "greet.py").write_text("def greet(name):\n    return f'hi {name}'\n", encoding="utf-8")
    return git("diff")


def test_git_diff_piped_to_the_commit_role(llmcli_exe, env, server, tmp_path):
    diff = a_real_git_diff(tmp_path)
    server.state.reply = "Greet by name\n\nTake the name to greet as an argument."
    proc = ok(run(llmcli_exe, ["ask", "-r", "commit"], env, stdin=diff))
    assert proc.stdout == "Greet by name\n\nTake the name to greet as an argument.\n"
    (request,) = chat_requests(server)
    system, user = request.json["messages"]
    assert system["role"] == "system" and "commit message" in system["content"] and "72" in system["content"]
    assert user == {"role": "user", "content": diff}
    assert "+def greet(name):" in user["content"]


def test_config_role_with_input_placeholder_and_flags_that_override_it(llmcli_exe, env, server, llmcli_home):
    write_config(llmcli_home, openai_provider_config("fake", server.url + "/v1") + (
        '[roles.tr]\nsystem = "Translate into French:\\n{input}\\nKeep it formal."\ntemperature = 0.1\n'
        "max_tokens = 99\n"))
    ok(run(llmcli_exe, ["ask", "-r", "tr"], env, stdin="good morning"))
    ok(run(llmcli_exe, ["ask", "-r", "tr", "-t", "0.9", "and shorter"], env, stdin="good night"))
    first, second = (r.json for r in chat_requests(server))
    assert first["messages"] == [{"role": "user", "content": "Translate into French:\ngood morning\nKeep it formal."}]
    assert (first["temperature"], first["max_tokens"]) == (0.1, 99)
    assert second["messages"] == [
        {"role": "system", "content": "Translate into French:\ngood night\nKeep it formal."},
        {"role": "user", "content": "and shorter"}]
    assert (second["temperature"], second["max_tokens"]) == (0.9, 99)


def test_files_are_fenced_and_labelled_in_order(llmcli_exe, env, server, tmp_path):
    (tmp_path / "app.py").write_text("print('hi')\n", encoding="utf-8")
    proc = ok(run(llmcli_exe, ["ask", "-f", str(tmp_path / "app.py"), "-f", "-", "explain"], env,
                  stdin="Traceback: boom"))
    assert proc.stdout == "echo: " + chat_requests(server)[0].json["messages"][-1]["content"] + "\n"
    content = chat_requests(server)[0].json["messages"][-1]["content"]
    assert content == (f"explain\n\nFile: {tmp_path / 'app.py'}\n```python\nprint('hi')\n```"
                       "\n\nFile: stdin\n```\nTraceback: boom\n```")


def test_a_binary_file_is_refused_before_any_request(llmcli_exe, env, server, tmp_path):
    (tmp_path / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    proc = run(llmcli_exe, ["ask", "-f", str(tmp_path / "logo.png"), "describe"], env)
    assert proc.returncode == 2
    assert "logo.png: it looks binary" in one_error_line(proc.stderr)
    assert chat_requests(server) == []


def test_x_prints_exactly_the_first_code_block_and_the_full_reply_is_saved(llmcli_exe, env, server, llmcli_home):
    server.state.reply = CODE_REPLY
    proc = ok(run(llmcli_exe, ["ask", "-x", "delete old logs"], env))
    assert proc.stdout == "find . -name '*.log' -mtime +7 -delete\n" and proc.stderr == ""
    last = ok(run(llmcli_exe, ["ask", "--xl", "delete old logs"], env))
    assert last.stdout == "import pathlib\nprint(sorted(pathlib.Path('.').glob('*.log')))\n"
    saved = db_rows(llmcli_home, "SELECT text FROM messages WHERE role = 'assistant'")
    assert [row["text"] for row in saved] == [CODE_REPLY, CODE_REPLY]


def test_x_without_a_code_block_prints_nothing_and_warns(llmcli_exe, env, server):
    server.state.reply = "Just use ls."
    proc = ok(run(llmcli_exe, ["ask", "-x", "list files"], env))
    assert proc.stdout == ""
    assert proc.stderr.startswith("warning: the reply has no fenced code block")


def test_x_with_json_adds_the_code(llmcli_exe, env, server):
    server.state.reply = CODE_REPLY
    obj = json.loads(ok(run(llmcli_exe, ["ask", "-x", "--json", "q"], env)).stdout)
    assert obj["text"] == CODE_REPLY and obj["code"] == "find . -name '*.log' -mtime +7 -delete"


# --- GigaChat and YandexGPT: compare and fallback --------------------------------------------------


@pytest.fixture
def giga():
    with gigachat_server(tls=session_ca()) as srv:
        yield srv


@pytest.fixture
def yandex():
    with yandex_server(tls=session_ca(), reply="Ответ Яндекса.") as srv:
        yield srv


def gigachat_config(base: str, *, extra: str = "") -> str:
    return (f'[providers.gigachat]\nbase_url = "{base}{API_PREFIX}"\nauth_url = "{base}{OAUTH_PATH}"\n'
            f'ca_bundle = "{session_ca().ca_pem_path}"\nmodel = "GigaChat-2"\n{extra}')


def yandex_config(yandex) -> str:
    return (f'[providers.yandexgpt]\nbase_url = "{yandex.url}"\niam_url = "{yandex.url}{IAM}"\n'
            f'ca_bundle = "{session_ca().ca_pem_path}"\nmodel = "yandexgpt-lite"\nfolder_id = "{FOLDER}"\n')


@pytest.fixture
def duo_env(e2e_env, llmcli_home, giga, yandex):
    write_config(llmcli_home, 'default_provider = "gigachat"\n' + gigachat_config(giga.url) + yandex_config(yandex))
    return dict(e2e_env, GIGACHAT_CREDENTIALS=TEST_AUTHORIZATION_KEY, YC_API_KEY="AQVNfake-api-key")


def meet_in_flight(servers_and_paths, timeout: float = 10) -> list[str]:
    """Hold each server's chat request until every other one has arrived too. Returns a log: "met" per
    request that passed the barrier, "alone" per request that waited in vain (they came one by one)."""
    barrier = threading.Barrier(len(servers_and_paths), timeout=timeout)
    log: list[str] = []
    for srv, path in servers_and_paths:
        def record(request, _original=srv._record, _path=path):
            _original(request)
            if request.path == _path:
                try:
                    barrier.wait()
                    log.append("met")
                except threading.BrokenBarrierError:
                    log.append("alone")
        srv._record = record
    return log


def test_compare_json_asks_both_at_once_and_saves_two_linked_conversations(llmcli_exe, duo_env, giga, yandex,
                                                                          llmcli_home):
    meetings = meet_in_flight([(giga, API_PREFIX + "/chat/completions"), (yandex, COMPLETION)])
    proc = ok(run(llmcli_exe, ["ask", "-p", "gigachat,yandexgpt", "--json", "Привет"], duo_env))
    assert meetings == ["met", "met"], "the providers were not asked concurrently"
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [(x["provider"], x["text"], x["error"]) for x in lines] == [
        ("gigachat", "Эхо: Привет", None), ("yandexgpt", "Ответ Яндекса.", None)]
    for line in lines:
        assert set(line) >= {"provider", "model", "text", "usage", "latency_ms", "error", "conversation_id"}
        assert line["usage"]["total_tokens"] > 0 and line["latency_ms"] >= 0
    parent, child = (line["conversation_id"] for line in lines)
    rows = {r["id"]: r["parent_id"] for r in db_rows(llmcli_home, "SELECT id, parent_id FROM conversations")}
    assert rows == {parent: None, child: parent}
    providers = db_rows(llmcli_home, "SELECT conversation_id, provider FROM messages WHERE role = 'assistant'")
    assert {(r["conversation_id"], r["provider"]) for r in providers} == {(parent, "gigachat"), (child, "yandexgpt")}


def test_compare_piped_is_json_lines_and_one_failure_is_reported_not_fatal(llmcli_exe, duo_env, yandex):
    yandex.state.deny_role = True  # 403 on every completion
    proc = run(llmcli_exe, ["ask", "-p", "gigachat,yandexgpt", "Привет"], duo_env)
    assert proc.returncode == 0, proc.stderr
    giga_line, yandex_line = (json.loads(line) for line in proc.stdout.splitlines())
    assert giga_line["text"] == "Эхо: Привет" and giga_line["error"] is None
    assert yandex_line["error"]["exit_code"] == 3 and yandex_line["text"] == ""
    assert "error: yandexgpt: " in proc.stderr


def test_compare_where_all_fail_exits_with_the_worst_code(llmcli_exe, e2e_env, llmcli_home, yandex):
    write_config(llmcli_home, gigachat_config("https://127.0.0.1:9", extra="deadline = 1\n") + yandex_config(yandex))
    yandex.state.deny_role = True
    env = dict(e2e_env, GIGACHAT_CREDENTIALS=TEST_AUTHORIZATION_KEY, YC_API_KEY="AQVNfake-api-key")
    proc = run(llmcli_exe, ["ask", "-p", "gigachat,yandexgpt", "--json", "Привет"], env)
    assert proc.returncode == 6, proc.stderr  # unavailable (6) is worse than rejected key (3)
    assert [json.loads(line)["error"]["exit_code"] for line in proc.stdout.splitlines()] == [6, 3]


def test_fallback_when_gigachat_is_down_yandex_answers_and_says_so(llmcli_exe, e2e_env, llmcli_home, yandex):
    write_config(llmcli_home, gigachat_config("https://127.0.0.1:9", extra="deadline = 1\n") + yandex_config(yandex))
    env = dict(e2e_env, GIGACHAT_CREDENTIALS=TEST_AUTHORIZATION_KEY, YC_API_KEY="AQVNfake-api-key")
    proc = ok(run(llmcli_exe, ["ask", "-p", "gigachat", "--fallback", "yandexgpt", "Привет"], env))
    assert proc.stdout == "Ответ Яндекса.\n"
    assert "warning: gigachat failed: " in proc.stderr and "asking yandexgpt" in proc.stderr
    assert "answered by yandexgpt (yandexgpt-lite" in proc.stderr
    assert "error:" not in proc.stderr
    (conversation,) = db_rows(llmcli_home, "SELECT id FROM conversations")
    replies = db_rows(llmcli_home, "SELECT provider, complete FROM messages WHERE role = 'assistant' "
                                   "ORDER BY created_at")
    assert [(r["provider"], r["complete"]) for r in replies] == [("gigachat", 0), ("yandexgpt", 1)]


def test_configured_fallback_applies_and_no_fallback_turns_it_off(llmcli_exe, e2e_env, llmcli_home, yandex):
    write_config(llmcli_home, 'default_provider = "gigachat"\nfallback = ["yandexgpt"]\n'
                 + gigachat_config("https://127.0.0.1:9", extra="deadline = 1\n") + yandex_config(yandex))
    env = dict(e2e_env, GIGACHAT_CREDENTIALS=TEST_AUTHORIZATION_KEY, YC_API_KEY="AQVNfake-api-key")
    obj = json.loads(ok(run(llmcli_exe, ["ask", "--json", "Привет"], env)).stdout)
    assert obj["provider"] == "yandexgpt" and obj["text"] == "Ответ Яндекса."
    proc = run(llmcli_exe, ["ask", "--no-fallback", "Привет"], env)
    assert proc.returncode == 6 and "gigachat" in one_error_line(proc.stderr)
    assert len(chat_requests(yandex, COMPLETION)) == 1


def test_no_fallback_after_output_began(llmcli_exe, env, server, llmcli_home):
    from tests.fakes.base import Fault

    with openai_server(api_key=KEY, reply="second opinion") as other:
        write_config(llmcli_home, openai_provider_config("fake", server.url + "/v1")
                     + openai_provider_config("other", other.url + "/v1", default=False))
        server.state.reply = "one two three four five six seven eight"
        server.inject(Fault.reset_after(4))  # role chunk, keep-alive, "one ", "two "
        proc = run(llmcli_exe, ["ask", "--fallback", "other", "count"], dict(env, LLMCLI_OTHER_API_KEY=KEY))
        assert proc.returncode == 7, proc.stderr
        assert proc.stdout.startswith("one two") and "second opinion" not in proc.stdout
        assert chat_requests(other) == [] and "asking other" not in proc.stderr
