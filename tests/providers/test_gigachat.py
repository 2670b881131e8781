"""The GigaChat adapter against mocked HTTP (respx): tokens, chat, errors. TLS against a real socket."""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from dataclasses import replace
from typing import Any

import httpx
import pytest
import respx

from llmcli.errors import (
    AuthError,
    ConfigError,
    CredentialsError,
    ProviderUnavailable,
    RateLimited,
    RequestRejected,
    StreamBroken,
    UsageError,
)
from llmcli.providers.base import MemoryTokenStore, ProviderSpec
from llmcli.providers.gigachat import GIGACHAT_RETRY_POLICY, GigaChatProvider
from llmcli.providers.http import RetryPolicy
from llmcli.types import ChatOptions, Message, Secret

BASE = "https://gigachat.test/api/v1"
AUTH = "https://ngw.test:9443/api/v2/oauth"
KEY = base64.b64encode(b"client-id:client-secret").decode()
NOW = 1_800_000_000.0
HI = [Message("user", "Привет")]


class Clock:
    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def make_spec(*, store: Any = None, verify: bool = True, **secrets: str) -> ProviderSpec:
    secrets = secrets or {"credentials": KEY}
    return ProviderSpec(
        name="gigachat", kind="gigachat", base_url=BASE, model="GigaChat-2",
        secrets={k: Secret(v) for k, v in secrets.items()}, verify=verify,
        options={"scope": "GIGACHAT_API_PERS", "auth_url": AUTH},
        token_store=store if store is not None else MemoryTokenStore(),
    )


def make_provider(spec: ProviderSpec | None = None, clock: Clock | None = None,
                  sleep=lambda _s: None, **policy: Any) -> GigaChatProvider:
    """GigaChat's own retry policy, with the sleep (and, if given, the jitter) injected."""
    return GigaChatProvider(spec or make_spec(), policy=replace(GIGACHAT_RETRY_POLICY, sleep=sleep, **policy),
                            clock=clock or Clock())


def token_reply(token: str = "tok-1", lifetime: float = 1800.0, *, now: float = NOW) -> httpx.Response:
    return httpx.Response(200, json={"access_token": token, "expires_at": int((now + lifetime) * 1000)})


def sse(*pieces: str, finish: str = "stop", usage: dict | None = None, model: str = "GigaChat-2:2.0.28.2",
        request_id: str = "srv-req-1") -> httpx.Response:
    usage = usage or {"prompt_tokens": 17, "completion_tokens": 42, "total_tokens": 59,
                      "precached_prompt_tokens": 2}
    events = []
    for i, piece in enumerate(pieces):
        delta = {"content": piece, "role": "assistant"} if i == 0 else {"content": piece}
        events.append({"choices": [{"delta": delta, "index": 0}], "model": model, "object": "chat.completion"})
    events.append({"choices": [{"delta": {"content": ""}, "index": 0, "finish_reason": finish}],
                   "model": model, "object": "chat.completion", "usage": usage})
    body = "".join(f"data: {json.dumps(e, ensure_ascii=False)}\n\n" for e in events) + "data: [DONE]\n\n"
    return httpx.Response(200, headers={"Content-Type": "text/event-stream", "X-Request-Id": request_id},
                          content=body.encode("utf-8"))


def api_error(status: int, message: str, **headers: str) -> httpx.Response:
    return httpx.Response(status, json={"status": status, "message": message}, headers=headers)


def collect(provider: GigaChatProvider, messages=HI, **options: Any) -> list:
    return list(provider.stream_chat("GigaChat-2", messages, ChatOptions(**options)))


@pytest.fixture
def mock():
    with respx.mock(assert_all_called=False) as router:
        yield router


@pytest.fixture
def oauth(mock):
    return mock.post(AUTH).mock(side_effect=lambda request: token_reply(f"tok-{uuid.uuid4().hex[:6]}"))


@pytest.fixture
def chat(mock):
    return mock.post(BASE + "/chat/completions")


def bearer(call) -> str:
    return call.request.headers["Authorization"]


# --- tokens


def test_oauth_request_is_what_gigachat_expects(oauth, chat):
    chat.mock(return_value=sse("Привет!"))
    collect(make_provider())
    request = oauth.calls.last.request
    assert request.headers["Authorization"] == f"Basic {KEY}"
    assert request.headers["Accept"] == "application/json"
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert request.content == b"scope=GIGACHAT_API_PERS"
    assert uuid.UUID(request.headers["RqUID"]).version == 4
    assert bearer(chat.calls.last).startswith("Bearer tok-")


def test_every_oauth_call_gets_a_fresh_rquid(oauth, chat):
    chat.mock(side_effect=[api_error(401, "Token has expired"), sse("ok")])
    collect(make_provider())
    rquids = [call.request.headers["RqUID"] for call in oauth.calls]
    assert len(rquids) == 2 and rquids[0] != rquids[1]
    assert all(uuid.UUID(r).version == 4 for r in rquids)


def test_token_is_reused_by_later_calls_and_later_processes(oauth, chat):
    chat.mock(side_effect=lambda request: sse("ok"))
    store = MemoryTokenStore()
    first = make_provider(make_spec(store=store))
    collect(first)
    collect(first)
    collect(make_provider(make_spec(store=store)))  # a new invocation sharing the token cache
    assert oauth.call_count == 1
    assert len({bearer(call) for call in chat.calls}) == 1


def test_a_different_key_never_reuses_a_cached_token(mock, chat):
    chat.mock(side_effect=lambda request: sse("ok"))
    oauth = mock.post(AUTH).mock(side_effect=[token_reply("tok-a"), token_reply("tok-b")])
    store = MemoryTokenStore()
    collect(make_provider(make_spec(store=store)))
    other_key = base64.b64encode(b"other-id:other-secret").decode()
    collect(make_provider(make_spec(store=store, credentials=other_key)))
    assert oauth.call_count == 2
    assert [bearer(c) for c in chat.calls] == ["Bearer tok-a", "Bearer tok-b"]


def test_cached_token_never_appears_in_the_store_key(oauth, chat):
    chat.mock(return_value=sse("ok"))
    store = MemoryTokenStore()
    collect(make_provider(make_spec(store=store)))
    (key,) = store._tokens
    assert key.startswith("gigachat:GIGACHAT_API_PERS:") and KEY not in key


def test_token_is_renewed_60_seconds_before_it_expires(mock, chat):
    chat.mock(side_effect=lambda request: sse("ok"))
    oauth = mock.post(AUTH).mock(side_effect=[token_reply("tok-1", 120), token_reply("tok-2", 1800, now=NOW + 61)])
    clock = Clock()
    provider = make_provider(clock=clock)
    collect(provider)
    clock.now = NOW + 59  # 61 s left: still usable
    collect(provider)
    assert oauth.call_count == 1
    clock.now = NOW + 61  # 59 s left: inside the margin, renew first
    collect(provider)
    assert oauth.call_count == 2
    assert [bearer(c) for c in chat.calls] == ["Bearer tok-1", "Bearer tok-1", "Bearer tok-2"]


def test_expiry_in_seconds_and_the_tok_exp_shape_are_accepted(mock, chat):
    chat.mock(side_effect=lambda request: sse("ok"))
    oauth = mock.post(AUTH).mock(return_value=httpx.Response(200, json={"tok": "tok-s", "exp": int(NOW + 600)}))
    provider = make_provider()
    collect(provider)
    collect(provider)  # seconds read as milliseconds would look expired in 1970
    assert oauth.call_count == 1
    assert bearer(chat.calls.last) == "Bearer tok-s"


def test_concurrent_callers_share_one_token_request(mock, chat):
    def slow_token(request):
        time.sleep(0.05)  # widen the window in which a second thread could also fetch
        return token_reply("tok-shared")

    oauth = mock.post(AUTH).mock(side_effect=slow_token)
    chat.mock(side_effect=lambda request: sse("ok"))
    provider = make_provider()
    threads = [threading.Thread(target=collect, args=(provider,)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert oauth.call_count == 1 and chat.call_count == 4


@pytest.mark.parametrize("stream", [True, False])
def test_401_renews_the_token_and_retries_once(mock, chat, stream):
    oauth = mock.post(AUTH).mock(side_effect=[token_reply("tok-old"), token_reply("tok-new")])
    completion = httpx.Response(200, json={"choices": [{"message": {"role": "assistant", "content": "ok"},
                                                        "finish_reason": "stop"}], "model": "GigaChat-2:1"})
    chat.mock(side_effect=[api_error(401, "Token has expired"), sse("ok") if stream else completion])
    chunks = collect(make_provider(), stream=stream)
    assert "".join(c.text for c in chunks) == "ok"
    assert oauth.call_count == 2
    assert [bearer(c) for c in chat.calls] == ["Bearer tok-old", "Bearer tok-new"]


def test_a_second_401_is_an_auth_error(oauth, chat):
    chat.mock(return_value=api_error(401, "Unauthorized"))
    with pytest.raises(AuthError) as caught:
        collect(make_provider())
    assert caught.value.exit_code == 3 and caught.value.hint
    assert oauth.call_count == 2 and chat.call_count == 2


def test_static_access_token_is_used_as_given_and_cannot_be_renewed(oauth, chat):
    chat.mock(return_value=api_error(401, "Token has expired"))
    with pytest.raises(AuthError) as caught:
        collect(make_provider(make_spec(access_token="static-token")))
    assert bearer(chat.calls.last) == "Bearer static-token"
    assert oauth.call_count == 0 and chat.call_count == 1
    assert "GIGACHAT_CREDENTIALS" in caught.value.hint


def test_user_and_password_get_a_token_from_the_api_host(mock, chat):
    token = mock.post(BASE + "/token").mock(return_value=httpx.Response(200, json={"tok": "tok-u", "exp": NOW + 900}))
    chat.mock(return_value=sse("ok"))
    collect(make_provider(make_spec(user="ivan", password="пароль")))
    expected = base64.b64encode("ivan:пароль".encode()).decode()
    assert token.calls.last.request.headers["Authorization"] == f"Basic {expected}"
    assert bearer(chat.calls.last) == "Bearer tok-u"


def test_client_id_and_secret_pasted_instead_of_the_key_are_encoded(oauth, chat):
    chat.mock(return_value=sse("ok"))
    collect(make_provider(make_spec(credentials=" client-id:client-secret\n")))
    assert oauth.calls.last.request.headers["Authorization"] == f"Basic {KEY}"


def test_no_credentials_at_all_is_a_credentials_error(oauth, chat):
    with pytest.raises(CredentialsError) as caught:
        collect(make_provider(make_spec(unrelated="x")))
    assert caught.value.exit_code == 3 and "GIGACHAT_CREDENTIALS" in caught.value.hint
    assert chat.call_count == 0


# --- OAuth errors


def test_wrong_key_says_where_to_get_the_right_one(mock, chat):
    mock.post(AUTH).mock(return_value=httpx.Response(401, json={"code": 6, "message": "credentials doesn't match db data"}))
    with pytest.raises(AuthError) as caught:
        collect(make_provider())
    error = caught.value
    assert error.exit_code == 3 and "credentials doesn't match" in error.message
    assert "developers.sber.ru" in error.hint and "GIGACHAT_CREDENTIALS" in error.hint
    assert KEY not in str(error) + error.hint
    assert chat.call_count == 0


@pytest.mark.parametrize("status", [400, 401])
def test_key_for_another_scope_says_which_setting_to_change(mock, chat, status):
    body = {"code": 7, "message": "scope from db not fully includes consumed scope"}
    mock.post(AUTH).mock(return_value=httpx.Response(status, json=body))
    with pytest.raises(AuthError) as caught:
        collect(make_provider())
    assert caught.value.exit_code == 3
    assert "providers.gigachat.scope" in caught.value.hint and "GIGACHAT_API_B2B" in caught.value.hint


def test_scope_hint_suggests_the_scopes_not_yet_tried(mock, chat):
    body = {"code": 7, "message": "scope from db not fully includes consumed scope"}
    mock.post(AUTH).mock(return_value=httpx.Response(400, json=body))
    spec = make_spec()
    spec = ProviderSpec(**{**spec.__dict__, "options": {"scope": "GIGACHAT_API_CORP", "auth_url": AUTH}})
    with pytest.raises(AuthError) as caught:
        collect(make_provider(spec))
    assert "GIGACHAT_API_PERS" in caught.value.hint and "scope GIGACHAT_API_CORP" in caught.value.message
    assert "= GIGACHAT_API_CORP" not in caught.value.hint


def test_malformed_scope_is_a_config_error(mock, chat):
    mock.post(AUTH).mock(return_value=httpx.Response(400, json={"code": 1, "message": "scope data format invalid"}))
    with pytest.raises(ConfigError) as caught:
        collect(make_provider())
    assert caught.value.exit_code == 2 and "GIGACHAT_API_CORP" in caught.value.hint


# --- chat requests


def test_request_body_headers_and_raw_utf8(oauth, chat):
    chat.mock(return_value=sse("ok"))
    collect(make_provider(), temperature=0.3, top_p=0.9, max_tokens=100, session_id="conv-42",
            extra={"repetition_penalty": "1.1"})
    request = chat.calls.last.request
    assert "Привет".encode() in request.content and b"\\u04" not in request.content
    body = json.loads(request.content)
    assert body == {"model": "GigaChat-2", "messages": [{"role": "user", "content": "Привет"}],
                    "temperature": 0.3, "top_p": 0.9, "max_tokens": 100, "repetition_penalty": 1.1,
                    "stream": True}
    assert request.headers["X-Session-ID"] == "conv-42"
    assert uuid.UUID(request.headers["X-Request-ID"]).version == 4
    assert request.headers["Accept"] == "text/event-stream"


def test_several_system_messages_become_one_first_message(oauth, chat):
    chat.mock(return_value=sse("ok"))
    messages = [Message("user", "u1"), Message("system", "Be brief."), Message("assistant", "a1"),
                Message("system", "Answer in Russian."), Message("user", "u2")]
    collect(make_provider(), messages=messages)
    sent = json.loads(chat.calls.last.request.content)["messages"]
    assert sent == [{"role": "system", "content": "Be brief.\n\nAnswer in Russian."},
                    {"role": "user", "content": "u1"}, {"role": "assistant", "content": "a1"},
                    {"role": "user", "content": "u2"}]


def test_temperature_zero_is_sent_as_gigachats_deterministic_value(oauth, chat):
    chat.mock(return_value=sse("ok"))
    collect(make_provider(), temperature=0.0)
    assert json.loads(chat.calls.last.request.content)["temperature"] == 0.001


@pytest.mark.parametrize("extra", [{"repetition_penalty": "abc"}, {"repetition_penalty": "0"},
                                   {"repetion_penalty": "1.1"}])
def test_bad_provider_options_are_usage_errors_before_any_request(oauth, chat, extra):
    with pytest.raises(UsageError):
        collect(make_provider(), extra=extra)
    assert oauth.call_count == 0 and chat.call_count == 0


# --- chat responses


def test_stream_deltas_usage_model_and_request_id(oauth, chat):
    chat.mock(return_value=sse("Привет! Чем могу ", "помочь?"))
    chunks = collect(make_provider())
    assert [c.text for c in chunks] == ["Привет! Чем могу ", "помочь?", ""]
    last = chunks[-1]
    assert last.finish_reason == "stop"
    assert (last.usage.prompt_tokens, last.usage.completion_tokens, last.usage.total_tokens) == (17, 42, 59)
    assert last.usage.cached_tokens == 2
    assert last.model == "GigaChat-2:2.0.28.2" and last.request_id == "srv-req-1"
    assert all(c.finish_reason is None for c in chunks[:-1])


def test_blacklist_is_reported_as_the_content_filter(oauth, chat):
    chat.mock(return_value=sse("Не могу ответить.", finish="blacklist"))
    last = collect(make_provider())[-1]
    assert last.finish_reason == "content_filter"
    assert last.notice == "GigaChat's content filter stopped the reply (finish_reason: blacklist)"


def test_non_stream_mode_yields_the_same_chunks(oauth, chat):
    chat.mock(return_value=httpx.Response(200, headers={"X-Request-Id": "srv-2"}, json={
        "choices": [{"message": {"role": "assistant", "content": "Готово."}, "index": 0, "finish_reason": "length"}],
        "created": 1, "model": "GigaChat-2:2.0.28.2", "object": "chat.completion",
        "usage": {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8, "precached_prompt_tokens": 1}}))
    chunks = collect(make_provider(), stream=False)
    assert json.loads(chat.calls.last.request.content)["stream"] is False
    assert [c.text for c in chunks] == ["Готово.", ""]
    assert chunks[-1].finish_reason == "length" and chunks[-1].usage.total_tokens == 8
    assert chunks[-1].usage.cached_tokens == 1 and chunks[-1].request_id == "srv-2"


def test_a_mangled_usage_count_is_zero_and_the_reply_still_arrives(oauth, chat):
    chat.mock(return_value=sse("Готово.", usage={"prompt_tokens": "n/a", "completion_tokens": None,
                                                 "total_tokens": "12", "precached_prompt_tokens": [1]}))
    chunks = collect(make_provider())
    assert "".join(c.text for c in chunks) == "Готово."
    usage = chunks[-1].usage
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens, usage.cached_tokens) == (0, 0, 12, 0)


def test_a_json_error_where_a_stream_was_due_is_an_error_not_an_empty_reply(oauth, chat):
    chat.mock(return_value=httpx.Response(200, json={"status": 500, "message": "Internal error"}))
    with pytest.raises(ProviderUnavailable):
        collect(make_provider())


def test_stream_cut_before_finish_after_output_is_stream_broken(oauth, chat):
    body = 'data: {"choices":[{"delta":{"content":"Нача","role":"assistant"},"index":0}]}\n\n'
    chat.mock(return_value=httpx.Response(200, headers={"Content-Type": "text/event-stream"},
                                          content=body.encode()))
    received = []
    with pytest.raises(StreamBroken):
        for chunk in make_provider().stream_chat("GigaChat-2", HI, ChatOptions()):
            received.append(chunk.text)
    assert received == ["Нача"]


def test_gigachat_error_event_mid_stream_breaks_the_stream_with_its_message(oauth, chat):
    body = ('data: {"choices":[{"delta":{"content":"Нача","role":"assistant"},"index":0}]}\n\n'
            'data: {"status":500,"message":"Internal Server Error"}\n\n')
    chat.mock(return_value=httpx.Response(200, headers={"Content-Type": "text/event-stream"},
                                          content=body.encode()))
    received = []
    with pytest.raises(StreamBroken) as caught:
        for chunk in make_provider().stream_chat("GigaChat-2", HI, ChatOptions()):
            received.append(chunk.text)
    assert received == ["Нача"] and "Internal Server Error" in caught.value.message


def test_gigachat_error_event_before_any_text_keeps_its_status(oauth, chat):
    body = 'data: {"status":429,"message":"Too many requests"}\n\n'
    chat.mock(return_value=httpx.Response(200, headers={"Content-Type": "text/event-stream"},
                                          content=body.encode()))
    with pytest.raises(RateLimited):
        collect(make_provider())


# --- API errors


@pytest.mark.parametrize("status, message, error_cls, exit_code", [
    (400, "Bad request", RequestRejected, 4),
    (402, "Payment Required", RequestRejected, 4),
    (403, "Permission denied", AuthError, 3),
    (413, "Payload too large", RequestRejected, 4),
    (422, "Invalid params: repetition_penalty must be in range (0, +inf)", RequestRejected, 4),
])
def test_client_errors_map_to_exit_codes_and_are_never_retried(oauth, chat, status, message, error_cls, exit_code):
    chat.mock(return_value=api_error(status, message))
    with pytest.raises(error_cls) as caught:
        collect(make_provider())
    assert caught.value.exit_code == exit_code and message in caught.value.message
    assert chat.call_count == 1


def test_unknown_model_points_at_the_model_list(oauth, chat):
    chat.mock(return_value=api_error(404, "No such model"))
    with pytest.raises(RequestRejected) as caught:
        collect(make_provider())
    assert "No such model" in caught.value.message
    assert "llmcli models list -p gigachat" in caught.value.hint


def test_token_package_used_up_has_a_hint(oauth, chat):
    chat.mock(return_value=api_error(402, "Payment Required"))
    with pytest.raises(RequestRejected) as caught:
        collect(make_provider())
    assert "package" in caught.value.hint


def test_429_is_retried_then_reported_as_rate_limited_with_a_hint(oauth, chat):
    chat.mock(return_value=api_error(429, "Too many requests", **{"Retry-After": "1"}))
    with pytest.raises(RateLimited) as caught:
        collect(make_provider())
    assert caught.value.exit_code == 5 and chat.call_count == 4  # the first try + 3 retries
    assert "Too many requests" in caught.value.message
    assert "fewer in parallel" in caught.value.hint


def test_429_without_retry_after_waits_for_the_concurrency_cap_to_free_up(oauth, chat):
    # a near-zero first wait would meet the same full cap: each wait is [1, 2), [2, 4), [4, 8) s
    chat.mock(return_value=api_error(429, "Too many requests"))
    for _ in range(5):  # the jitter is random: several runs, each within the bounds
        waits: list[float] = []
        with pytest.raises(RateLimited):
            collect(make_provider(sleep=waits.append))
        assert len(waits) == 3
        for wait, (low, high) in zip(waits, [(1.0, 2.0), (2.0, 4.0), (4.0, 8.0)]):
            assert low <= wait < high


@pytest.mark.parametrize("jitter, expected", [(0.0, [1.0, 2.0, 4.0]), (0.5, [1.5, 3.0, 6.0])])
def test_429_wait_is_jittered_above_a_floor(oauth, chat, jitter, expected):
    chat.mock(return_value=api_error(429, "Too many requests"))
    waits: list[float] = []
    with pytest.raises(RateLimited):
        collect(make_provider(sleep=waits.append, rng=lambda: jitter))
    assert waits == expected


def test_429_with_retry_after_waits_what_the_server_asks(oauth, chat):
    chat.mock(side_effect=[api_error(429, "Too many requests", **{"Retry-After": "7"}),
                           api_error(429, "Too many requests", **{"Retry-After": "0"}), sse("ok")])
    waits: list[float] = []
    chunks = collect(make_provider(sleep=waits.append))
    assert "".join(c.text for c in chunks) == "ok"
    assert waits == [7.0, 0.0]


def test_5xx_keeps_the_short_generic_backoff(oauth, chat):
    # only the concurrency cap needs long waits; a failing server is reported without them
    chat.mock(return_value=api_error(503, "Service Unavailable"))
    waits: list[float] = []
    with pytest.raises(ProviderUnavailable):
        collect(make_provider(sleep=waits.append, rng=lambda: 0.0))
    assert waits == [0.0, 0.0, 0.0]


def test_5xx_is_retried_before_the_first_chunk(oauth, chat):
    chat.mock(side_effect=[api_error(503, "Service Unavailable"), sse("ok")])
    chunks = collect(make_provider())
    assert "".join(c.text for c in chunks) == "ok" and chat.call_count == 2


def test_persistent_5xx_is_provider_unavailable(oauth, chat):
    chat.mock(return_value=api_error(500, "Internal Server Error"))
    with pytest.raises(ProviderUnavailable) as caught:
        collect(make_provider())
    assert caught.value.exit_code == 6


# --- models


def test_models_carry_their_type(oauth, mock):
    mock.get(BASE + "/models").mock(return_value=httpx.Response(200, json={"object": "list", "data": [
        {"id": "GigaChat-2", "object": "model", "owned_by": "salutedevices", "type": "chat"},
        {"id": "Embeddings", "object": "model", "owned_by": "salutedevices", "type": "embedder"},
        {"id": "GigaFilter", "object": "model", "owned_by": "salutedevices", "type": "filter"}]}))
    models = make_provider().list_models()
    assert [(m.id, m.type) for m in models] == [("GigaChat-2", "chat"), ("Embeddings", "embedder"),
                                               ("GigaFilter", "other")]
    assert {m.provider for m in models} == {"gigachat"}


def test_models_also_renew_a_rejected_token(mock):
    oauth = mock.post(AUTH).mock(side_effect=[token_reply("tok-1"), token_reply("tok-2")])
    mock.get(BASE + "/models").mock(side_effect=[
        api_error(401, "Token has expired"),
        httpx.Response(200, json={"object": "list", "data": [{"id": "GigaChat", "type": "chat"}]})])
    assert [m.id for m in make_provider().list_models()] == ["GigaChat"]
    assert oauth.call_count == 2


# --- against the fake GigaChat on a real TLS socket


def fake_spec(server, *, ca_bundle: bool = True, **secrets: str) -> ProviderSpec:
    from tests.fakes.gigachat_server import API_PREFIX, OAUTH_PATH, TEST_AUTHORIZATION_KEY
    from tests.fakes.tls import session_ca

    return ProviderSpec(
        name="gigachat", kind="gigachat", base_url=server.url + API_PREFIX, model="GigaChat-2",
        secrets={k: Secret(v) for k, v in (secrets or {"credentials": TEST_AUTHORIZATION_KEY}).items()},
        ca_bundle=session_ca().ca_pem_path if ca_bundle else None, timeout=5, connect_timeout=5,
        options={"scope": "GIGACHAT_API_PERS", "auth_url": server.url + OAUTH_PATH},
    )


@pytest.fixture
def fake():
    from tests.fakes.gigachat_server import gigachat_server
    from tests.fakes.tls import session_ca

    with gigachat_server(tls=session_ca()) as server:
        yield server


def test_untrusted_certificate_says_which_ca_to_install(fake):
    provider = GigaChatProvider(fake_spec(fake, ca_bundle=False), policy=RetryPolicy(sleep=lambda _s: None))
    with pytest.raises(ProviderUnavailable) as caught:
        collect(provider)
    assert caught.value.exit_code == 6
    assert "https://www.gosuslugi.ru/crt" in caught.value.hint and "Russian Trusted Root CA" in caught.value.hint
    assert "llmcli config set providers.gigachat.ca_bundle" in caught.value.hint
    assert fake.requests == []  # refused at the handshake: nothing (and no key) was sent


def test_stream_and_models_from_the_fake_over_tls(fake):
    provider = GigaChatProvider(fake_spec(fake))
    try:
        chunks = collect(provider, messages=[Message("system", "a"), Message("system", "b"), *HI])
        models = provider.list_models()
    finally:
        provider.close()
    assert "".join(c.text for c in chunks) == "Эхо: Привет"
    assert chunks[-1].usage.cached_tokens == 2 and chunks[-1].model == "GigaChat-2:2.0.28.2"
    assert ("Embeddings", "embedder") in [(m.id, m.type) for m in models]
    assert fake.state.oauth_calls == 1 and fake.state.api_calls == 2


def test_user_and_password_against_the_fake(fake):
    fake.state.user, fake.state.password = "ivan", "пароль"
    provider = GigaChatProvider(fake_spec(fake, user="ivan", password="пароль"))
    collect(provider)
    collect(provider)  # `exp` in seconds: the token is still good
    assert fake.state.oauth_calls == 1
    wrong = GigaChatProvider(fake_spec(fake, user="ivan", password="не тот"))
    with pytest.raises(AuthError) as caught:
        collect(wrong)
    assert "GIGACHAT_USER" in caught.value.hint and "не тот" not in caught.value.message
