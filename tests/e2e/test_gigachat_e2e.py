"""`llmcli ask -p gigachat` end to end: the installed console script against the fake GigaChat
(real OAuth, real SSE framing) over TLS issued by the test CA, with the token cached across processes."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.e2e.helpers import one_error_line, run, write_config
from tests.fakes.gigachat_server import (
    API_PREFIX,
    OAUTH_PATH,
    TEST_AUTHORIZATION_KEY,
    gigachat_server,
    too_many_requests,
)
from tests.fakes.tls import session_ca

pytestmark = pytest.mark.e2e


@pytest.fixture
def server():
    with gigachat_server(tls=session_ca()) as srv:
        yield srv


def gigachat_config(server, *, ca_bundle: bool = True) -> str:
    lines = [
        'default_provider = "gigachat"',
        "[providers.gigachat]",
        f'base_url = "{server.url}{API_PREFIX}"',
        f'auth_url = "{server.url}{OAUTH_PATH}"',
        'scope = "GIGACHAT_API_PERS"',
        'model = "GigaChat-2"',
    ]
    if ca_bundle:
        lines.append(f'ca_bundle = "{session_ca().ca_pem_path}"')
    return "\n".join(lines) + "\n"


@pytest.fixture
def env(e2e_env, llmcli_home: Path, server):
    write_config(llmcli_home, gigachat_config(server))
    return dict(e2e_env, GIGACHAT_CREDENTIALS=TEST_AUTHORIZATION_KEY)


def chat_requests(server):
    return [r for r in server.requests if r.path == API_PREFIX + "/chat/completions"]


def ok(proc):
    assert proc.returncode == 0, proc.stderr
    return proc


def test_streamed_reply_with_cyrillic_in_and_out(llmcli_exe, env, server):
    proc = ok(run(llmcli_exe, ["ask", "Привет, GigaChat!"], env))
    assert proc.stdout == "Эхо: Привет, GigaChat!\n" and proc.stderr == ""
    (request,) = chat_requests(server)
    assert "Привет, GigaChat!".encode() in request.body  # raw UTF-8, not \u-escaped
    assert request.json["stream"] is True and request.json["model"] == "GigaChat-2"
    assert request.headers["X-Session-ID"]  # the conversation id, for GigaChat's prompt cache
    assert request.headers["Authorization"].startswith("Bearer tok-")


def test_no_stream_asks_for_one_json_answer(llmcli_exe, env, server):
    proc = ok(run(llmcli_exe, ["ask", "--no-stream", "Сколько будет 2+2?"], env))
    assert proc.stdout == "Эхо: Сколько будет 2+2?\n"
    assert chat_requests(server)[0].json["stream"] is False


def test_json_reports_the_servers_usage_and_model(llmcli_exe, env, server):
    server.state.usage = {"prompt_tokens": 23, "completion_tokens": 7, "total_tokens": 30,
                          "precached_prompt_tokens": 4}
    obj = json.loads(ok(run(llmcli_exe, ["ask", "--json", "Кто ты?"], env)).stdout)
    assert obj["text"] == "Эхо: Кто ты?" and obj["provider"] == "gigachat"
    assert obj["usage"] == {"prompt_tokens": 23, "completion_tokens": 7, "total_tokens": 30}
    assert obj["finish_reason"] == "stop"
    assert chat_requests(server)[0].headers["X-Session-ID"] == obj["conversation_id"]


def test_token_is_cached_across_processes(llmcli_exe, env, server):
    ok(run(llmcli_exe, ["ask", "раз"], env))
    ok(run(llmcli_exe, ["ask", "два"], env))
    assert server.state.oauth_calls == 1
    assert len(chat_requests(server)) == 2


def test_an_expired_cached_token_is_renewed_before_the_call(llmcli_exe, env, server):
    server.state.token_lifetime = 3.0
    ok(run(llmcli_exe, ["ask", "раз"], env))
    oauth_before, chats_before = server.state.oauth_calls, len(chat_requests(server))
    first_tokens = {r.headers["Authorization"] for r in chat_requests(server)}
    time.sleep(3.2)  # the cached token has expired on both sides
    ok(run(llmcli_exe, ["ask", "два"], env))
    assert server.state.oauth_calls == oauth_before + 1
    (renewed,) = chat_requests(server)[chats_before:]  # renewed up front: no 401 and retry
    assert renewed.headers["Authorization"] not in first_tokens


def test_token_rejected_by_the_server_is_renewed_once_and_the_call_retried(llmcli_exe, env, server):
    ok(run(llmcli_exe, ["ask", "раз"], env))
    server.state.expire_tokens()  # the cached token still looks valid to llmcli; the server says 401
    proc = ok(run(llmcli_exe, ["ask", "два"], env))
    assert proc.stdout == "Эхо: два\n"
    assert server.state.oauth_calls == 2
    assert len(chat_requests(server)) == 3  # 1 + (401, retry)
    first, rejected, retried = (r.headers["Authorization"] for r in chat_requests(server))
    assert first == rejected != retried


def test_wrong_authorization_key_exit_3_with_a_hint(llmcli_exe, env, server):
    wrong = "d3JvbmctaWQ6d3Jvbmctc2VjcmV0"
    proc = run(llmcli_exe, ["ask", "Привет"], dict(env, GIGACHAT_CREDENTIALS=wrong))
    assert proc.returncode == 3, proc.stderr
    assert "authorization key" in one_error_line(proc.stderr)
    assert "hint: " in proc.stderr and "GIGACHAT_CREDENTIALS" in proc.stderr
    assert wrong not in proc.stderr + proc.stdout
    assert chat_requests(server) == []


def test_without_the_ca_bundle_exit_6_says_which_certificate_to_install(llmcli_exe, env, server, llmcli_home):
    write_config(llmcli_home, gigachat_config(server, ca_bundle=False))
    proc = run(llmcli_exe, ["ask", "Привет"], env)
    assert proc.returncode == 6, proc.stderr
    one_error_line(proc.stderr)
    assert "https://www.gosuslugi.ru/crt" in proc.stderr
    assert "llmcli config set providers.gigachat.ca_bundle" in proc.stderr
    assert server.state.oauth_calls == 0  # the handshake failed before any request


def test_unknown_model_exit_4_points_at_the_model_list(llmcli_exe, env, server):
    proc = run(llmcli_exe, ["ask", "-m", "GigaChat-9", "Привет"], env)
    assert proc.returncode == 4, proc.stderr
    assert "No such model" in one_error_line(proc.stderr)
    assert "llmcli models list -p gigachat" in proc.stderr


def test_rate_limit_is_retried_before_the_reply_starts(llmcli_exe, env, server):
    server.inject(too_many_requests(retry_after="0"))
    proc = ok(run(llmcli_exe, ["ask", "Привет"], env))
    assert proc.stdout == "Эхо: Привет\n"
    assert len(chat_requests(server)) == 2


def test_repetition_penalty_option_reaches_gigachat(llmcli_exe, env, server):
    ok(run(llmcli_exe, ["ask", "-o", "repetition_penalty=1.1", "Привет"], env))
    assert chat_requests(server)[0].json["repetition_penalty"] == 1.1
    proc = run(llmcli_exe, ["ask", "-o", "repetition_penalty=ноль", "Привет"], env)
    assert proc.returncode == 2 and "repetition_penalty" in one_error_line(proc.stderr)


def test_verify_false_works_but_warns_on_stderr(llmcli_exe, env, server, llmcli_home):
    write_config(llmcli_home, gigachat_config(server, ca_bundle=False) + "verify = false\n")
    proc = ok(run(llmcli_exe, ["ask", "Привет"], env))
    assert proc.stdout == "Эхо: Привет\n"
    assert "verification is OFF" in proc.stderr
