"""`llmcli ask -p yandexgpt` end to end: the installed console script against the fake Yandex server
(native NDJSON stream with cumulative text, IAM exchange) over TLS issued by the test CA."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.e2e.helpers import db_rows, one_error_line, run, write_config
from tests.fakes.tls import session_ca
from tests.fakes.yandex_server import COMPLETION, IAM, yandex_server

pytestmark = pytest.mark.e2e

FOLDER = "b1gfakefolder"
API_KEY = "AQVNfake-api-key"
OAUTH = "y0_fake-oauth-token"
REPLY = "Москва — столица России, крупнейший город страны. " * 6 + "Конец."


@pytest.fixture
def server():
    with yandex_server(tls=session_ca(), reply=REPLY, chunks=20) as srv:
        yield srv


def yandex_config(server, *, folder: str | None = FOLDER, default: bool = True) -> str:
    lines = ['default_provider = "yandexgpt"'] if default else []
    lines += [
        "[providers.yandexgpt]",
        f'base_url = "{server.url}"',
        f'iam_url = "{server.url}{IAM}"',
        f'ca_bundle = "{session_ca().ca_pem_path}"',
        'model = "yandexgpt-lite"',
    ]
    if folder:
        lines.append(f'folder_id = "{folder}"')
    return "\n".join(lines) + "\n"


@pytest.fixture
def env(e2e_env, llmcli_home: Path, server):
    write_config(llmcli_home, yandex_config(server))
    return dict(e2e_env, YC_API_KEY=API_KEY)


def completions(server):
    return [r for r in server.requests if r.path == COMPLETION]


def ok(proc):
    assert proc.returncode == 0, proc.stderr
    return proc


def usage_ints(raw: dict[str, str]) -> dict[str, int]:
    return {"prompt_tokens": int(raw["inputTextTokens"]), "completion_tokens": int(raw["completionTokens"]),
            "total_tokens": int(raw["totalTokens"])}


def test_a_twenty_line_cumulative_stream_prints_the_final_text_byte_for_byte(llmcli_exe, env, server):
    proc = ok(run(llmcli_exe, ["ask", "Расскажи о Москве"], env))
    assert proc.stdout == REPLY + "\n"
    (request,) = completions(server)
    assert request.json["modelUri"] == f"gpt://{FOLDER}/yandexgpt-lite/latest"
    assert request.json["messages"][-1] == {"role": "user", "text": "Расскажи о Москве"}
    assert request.json["completionOptions"]["stream"] is True
    assert request.headers["Authorization"] == f"Api-Key {API_KEY}"
    assert "x-folder-id" not in request.headers and request.headers["x-client-request-id"]


def test_json_usage_is_the_last_lines_and_history_keeps_the_trace_id(llmcli_exe, env, server, llmcli_home):
    obj = json.loads(ok(run(llmcli_exe, ["ask", "--json", "-m", "yandexgpt/rc", "Привет"], env)).stdout)
    assert obj["text"] == REPLY and obj["finish_reason"] == "stop" and obj["provider"] == "yandexgpt"
    assert obj["usage"] == usage_ints(server.state.sent_usage)
    assert completions(server)[0].json["modelUri"] == f"gpt://{FOLDER}/yandexgpt/rc"
    (saved,) = db_rows(llmcli_home, "SELECT * FROM messages WHERE id = ?", [obj["message_id"]])
    assert saved["request_id"].startswith("trace-") and saved["completion_tokens"] == obj["usage"]["completion_tokens"]


def test_no_stream_reads_one_answer(llmcli_exe, env, server):
    proc = ok(run(llmcli_exe, ["ask", "--no-stream", "Привет"], env))
    assert proc.stdout == REPLY + "\n"
    assert completions(server)[0].json["completionOptions"]["stream"] is False


def test_a_user_iam_token_goes_as_bearer_with_the_folder(llmcli_exe, e2e_env, llmcli_home, server):
    write_config(llmcli_home, yandex_config(server))
    ok(run(llmcli_exe, ["ask", "Привет"], dict(e2e_env, YC_IAM_TOKEN="t1.fake-user-iam-token")))
    headers = completions(server)[0].headers
    assert headers["Authorization"] == "Bearer t1.fake-user-iam-token"
    assert headers["x-folder-id"] == FOLDER


def test_an_oauth_token_is_exchanged_once_for_two_runs(llmcli_exe, e2e_env, llmcli_home, server):
    write_config(llmcli_home, yandex_config(server))
    env = dict(e2e_env, YC_OAUTH_TOKEN=OAUTH)  # PYTHON_KEYRING_BACKEND=null: the file token cache
    ok(run(llmcli_exe, ["ask", "раз"], env))
    ok(run(llmcli_exe, ["ask", "два"], env))
    assert server.state.iam_exchanges == 1
    first, second = (r.headers["Authorization"] for r in completions(server))
    assert first == second == "Bearer t1.fake-exchanged-1"
    stored = b"".join(p.read_bytes() for p in llmcli_home.rglob("*") if p.is_file())
    assert OAUTH.encode() not in stored  # only the IAM token is cached, under a hashed name


def test_a_revoked_iam_token_is_renewed_once_and_the_request_retried(llmcli_exe, e2e_env, llmcli_home, server):
    write_config(llmcli_home, yandex_config(server))
    env = dict(e2e_env, YC_OAUTH_TOKEN=OAUTH)
    ok(run(llmcli_exe, ["ask", "раз"], env))
    server.state.issued.clear()  # the cached token still looks valid to llmcli; the server says 401
    assert ok(run(llmcli_exe, ["ask", "два"], env)).stdout == REPLY + "\n"
    assert server.state.iam_exchanges == 2
    _, rejected, retried = (r.headers["Authorization"] for r in completions(server))
    assert rejected == "Bearer t1.fake-exchanged-1" and retried == "Bearer t1.fake-exchanged-2"


def test_a_rewrite_of_earlier_text_is_not_printed_twice_and_history_has_the_final_text(
        llmcli_exe, env, server, llmcli_home):
    server.state.draft = REPLY.replace("Москва", "Масква", 1)
    server.state.rewrite_at = 10
    proc = ok(run(llmcli_exe, ["ask", "Привет"], env))
    assert len(proc.stdout) == len(REPLY) + 1  # nothing printed twice
    assert proc.stdout.startswith("Масква") and proc.stdout.endswith("Конец.\n")
    (saved,) = db_rows(llmcli_home, "SELECT text FROM messages WHERE role = 'assistant'")
    assert saved["text"] == REPLY


def test_content_filter_prints_the_refusal_and_says_why(llmcli_exe, env, server, llmcli_home):
    server.state.chunks, server.state.ending = 1, "content_filter"
    proc = ok(run(llmcli_exe, ["ask", "что-то запретное"], env))
    assert proc.stdout == server.state.refusal + "\n"
    assert "content filter" in proc.stderr
    (saved,) = db_rows(llmcli_home, "SELECT text, finish_reason FROM messages WHERE role = 'assistant'")
    assert (saved["text"], saved["finish_reason"]) == (server.state.refusal, "content_filter")


def test_an_error_line_mid_stream_keeps_the_partial_reply(llmcli_exe, env, server, llmcli_home):
    server.state.error_after = 5
    proc = run(llmcli_exe, ["ask", "Привет"], env)
    assert proc.returncode == 7, proc.stderr
    assert proc.stdout and REPLY.startswith(proc.stdout.rstrip("\n"))
    one_error_line(proc.stderr)
    (saved,) = db_rows(llmcli_home, "SELECT text, complete FROM messages WHERE role = 'assistant'")
    assert saved["complete"] == 0 and REPLY.startswith(saved["text"]) and saved["text"]
    assert len(completions(server)) == 1  # never replayed after output began


def test_the_concurrency_cap_is_retried_and_then_explained(llmcli_exe, env, server):
    server.state.max_concurrent, server.state.retry_after = 0, "0"
    proc = run(llmcli_exe, ["ask", "Привет"], env)
    assert proc.returncode == 5, proc.stderr
    assert "SessionsCount" in one_error_line(proc.stderr)
    assert "concurrent" in proc.stderr  # the hint
    assert len(completions(server)) > 1 and proc.stdout == ""


def test_parallel_runs_over_the_cap_all_finish(llmcli_exe, env, server):
    server.state.max_concurrent, server.state.retry_after = 1, "0.1"
    server.state.chunks, server.state.chunk_interval = 4, 0.05
    with ThreadPoolExecutor(3) as pool:
        procs = list(pool.map(lambda i: run(llmcli_exe, ["ask", f"вопрос {i}"], env), range(3)))
    assert [p.returncode for p in procs] == [0, 0, 0], [p.stderr for p in procs]
    assert all(p.stdout == REPLY + "\n" for p in procs)
    assert server.state.peak_active == 1


def test_a_missing_folder_id_says_how_to_set_it(llmcli_exe, env, server, llmcli_home):
    write_config(llmcli_home, yandex_config(server, folder=None))
    proc = run(llmcli_exe, ["ask", "Привет"], env)
    assert proc.returncode == 2
    assert "folder id" in one_error_line(proc.stderr)
    assert "YC_FOLDER_ID" in proc.stderr and completions(server) == []


def test_a_wrong_api_key_exits_3_without_echoing_it(llmcli_exe, env, server):
    proc = run(llmcli_exe, ["ask", "Привет"], dict(env, YC_API_KEY="AQVN-wrong-SENTINEL"))
    assert proc.returncode == 3, proc.stderr
    one_error_line(proc.stderr)
    assert "SENTINEL" not in proc.stderr + proc.stdout


def test_a_gigachat_turn_continued_on_yandexgpt_sends_the_whole_conversation(
        llmcli_exe, e2e_env, llmcli_home, server):
    from tests.fakes.gigachat_server import API_PREFIX, OAUTH_PATH, TEST_AUTHORIZATION_KEY, gigachat_server

    with gigachat_server(tls=session_ca()) as giga:
        write_config(llmcli_home, yandex_config(server, default=False) + "\n".join([
            'default_provider = "gigachat"', "[providers.gigachat]",
            f'base_url = "{giga.url}{API_PREFIX}"', f'auth_url = "{giga.url}{OAUTH_PATH}"',
            f'ca_bundle = "{session_ca().ca_pem_path}"', 'model = "GigaChat-2"']) + "\n")
        env = dict(e2e_env, YC_API_KEY=API_KEY, GIGACHAT_CREDENTIALS=TEST_AUTHORIZATION_KEY)
        first = ok(run(llmcli_exe, ["ask", "-p", "gigachat", "Как зовут кота?"], env)).stdout.rstrip("\n")
        ok(run(llmcli_exe, ["ask", "-c", "-p", "yandexgpt", "А сколько ему лет?"], env))
    (request,) = completions(server)
    assert request.json["messages"][-3:] == [
        {"role": "user", "text": "Как зовут кота?"},
        {"role": "assistant", "text": first},
        {"role": "user", "text": "А сколько ему лет?"},
    ]
    rows = db_rows(llmcli_home, "SELECT role, provider, conversation_id FROM messages ORDER BY seq")
    assert [r["provider"] for r in rows if r["role"] == "assistant"] == ["gigachat", "yandexgpt"]
    assert len({r["conversation_id"] for r in rows}) == 1
