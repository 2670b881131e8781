"""The OpenAI-compatible adapter: wire format with respx, failure modes against the real-socket fake."""

from __future__ import annotations

import json

import httpx
import pytest
import respx

from llmcli.errors import AuthError, ConfigError, ProviderUnavailable, RequestRejected, StreamBroken
from llmcli.providers import create_provider
from llmcli.providers.base import ProviderSpec
from llmcli.providers.http import RetryPolicy
from llmcli.providers.openai_compat import OpenAICompatProvider
from llmcli.types import ChatOptions, Chunk, Message, Secret, Usage
from tests.fakes.base import Fault
from tests.fakes.openai_server import openai_server
from tests.fakes.tls import session_ca, wrong_ca

BASE = "https://llm.example.test/v1"
KEY = "sk-test-SENTINEL-1234567890"
HELLO = [Message("system", "Be brief."), Message("user", "Привет, мир")]
NO_SLEEP = RetryPolicy(sleep=lambda seconds: None)


def provider(base_url: str = BASE, *, key: str | None = KEY, **kw) -> OpenAICompatProvider:
    secrets = {"api_key": Secret(key)} if key else {}
    spec = ProviderSpec(name="acme", kind="openai", base_url=base_url, secrets=secrets, **kw)
    return OpenAICompatProvider(spec, policy=NO_SLEEP)


def sse_body(*events, done: bool = True) -> bytes:
    lines = [f"data: {json.dumps(e, ensure_ascii=False)}\n\n" for e in events]
    if done:
        lines.append("data: [DONE]\n\n")
    return "".join(lines).encode("utf-8")


def delta(text=None, finish=None, **extra):
    d = {} if text is None else {"content": text}
    return {"object": "chat.completion.chunk", "model": "gpt-x-2025", "usage": None,
            "choices": [{"index": 0, "delta": d, "finish_reason": finish}], **extra}


USAGE = {"prompt_tokens": 9, "completion_tokens": 3, "total_tokens": 12, "prompt_tokens_details": {"cached_tokens": 4}}
GOOD_STREAM = sse_body(delta(""), delta("При"), delta("вет"), delta(finish="stop"),
                       {"object": "chat.completion.chunk", "model": "gpt-x-2025", "choices": [], "usage": USAGE})


def sse_response(body: bytes = GOOD_STREAM, **headers) -> httpx.Response:
    return httpx.Response(200, content=body, headers={"content-type": "text/event-stream", **headers})


def collect(p, model="gpt-x", messages=HELLO, **options) -> list[Chunk]:
    return list(p.stream_chat(model, messages, ChatOptions(**options)))


# --- request shape ------------------------------------------------------------------------------


@respx.mock
def test_stream_request_body_and_headers():
    route = respx.post(f"{BASE}/chat/completions").mock(return_value=sse_response())
    collect(provider(), temperature=0.2, top_p=0.9, max_tokens=50, extra={"seed": 7, "stream": False})
    request = route.calls.last.request
    body = json.loads(request.content)
    assert body == {
        "model": "gpt-x",
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Привет, мир"}],
        "stream": True, "stream_options": {"include_usage": True},
        "temperature": 0.2, "top_p": 0.9, "max_tokens": 50, "seed": 7,
    }
    assert "Привет".encode() in request.content  # raw UTF-8, not \u-escaped
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert request.headers["accept"] == "text/event-stream"
    assert request.headers["content-type"] == "application/json"


@respx.mock
def test_no_authorization_header_without_a_key():
    route = respx.post(f"{BASE}/chat/completions").mock(return_value=sse_response())
    collect(provider(key=None))
    assert "authorization" not in route.calls.last.request.headers


def test_registry_builds_this_adapter():
    spec = ProviderSpec(name="ollama", kind="openai", base_url="http://localhost:11434/v1")
    assert isinstance(create_provider(spec), OpenAICompatProvider)


def test_a_model_is_required():
    with pytest.raises(ConfigError, match="no model"):
        collect(provider(), model="")


# --- stream → chunks ----------------------------------------------------------------------------


@respx.mock
def test_deltas_then_a_closing_chunk_with_usage_model_and_request_id():
    respx.post(f"{BASE}/chat/completions").mock(return_value=sse_response(**{"x-request-id": "req-42"}))
    chunks = collect(provider())
    assert [c.text for c in chunks] == ["При", "вет", ""]
    assert chunks[-1].finish_reason == "stop"
    assert chunks[-1].usage == Usage(prompt_tokens=9, completion_tokens=3, total_tokens=12, cached_tokens=4)
    assert chunks[-1].model == "gpt-x-2025" and chunks[-1].request_id == "req-42"


@respx.mock
def test_stream_options_rejected_is_retried_without_it_and_remembered():
    rejection = httpx.Response(400, json={"error": {"message": "Unrecognized request argument supplied: "
                                                               "stream_options"}})
    no_usage = sse_body(delta("ok"), delta(finish="length"))
    route = respx.post(f"{BASE}/chat/completions").mock(side_effect=[rejection, sse_response(no_usage),
                                                                     sse_response(no_usage)])
    p = provider()
    first = collect(p)
    collect(p)
    bodies = [json.loads(call.request.content) for call in route.calls]
    assert ["stream_options" in b for b in bodies] == [True, False, False]
    assert first[-1].finish_reason == "length" and first[-1].usage is None


@respx.mock
def test_other_400s_are_not_retried():
    route = respx.post(f"{BASE}/chat/completions").mock(
        return_value=httpx.Response(400, json={"error": {"message": "messages: too long"}}))
    with pytest.raises(RequestRejected, match="acme: HTTP 400 from llm.example.test: messages: too long"):
        collect(provider())
    assert route.call_count == 1


@respx.mock
def test_in_band_error_mid_stream_is_stream_broken_after_the_text():
    body = sse_body(delta("Hal"), {"error": {"message": "Provider returned error", "code": 502}}, done=False)
    respx.post(f"{BASE}/chat/completions").mock(return_value=sse_response(body, **{"x-request-id": "req-7"}))
    seen = []
    with pytest.raises(StreamBroken, match="Provider returned error") as caught:
        for chunk in provider().stream_chat("m", HELLO, ChatOptions()):
            seen.append(chunk.text)
    assert seen == ["Hal"]
    assert caught.value.request_id == "req-7" and caught.value.status_code == 502


@respx.mock
def test_in_band_502_before_any_text_is_retried_and_the_reply_arrives_once():
    failing = sse_body({"error": {"message": "Provider returned error", "code": 502}}, done=False)
    route = respx.post(f"{BASE}/chat/completions").mock(side_effect=[sse_response(failing), sse_response()])
    chunks = collect(provider())
    assert "".join(c.text for c in chunks) == "Привет"
    assert route.call_count == 2


@respx.mock
def test_stream_that_ends_without_finish_reason_is_broken():
    respx.post(f"{BASE}/chat/completions").mock(return_value=sse_response(sse_body(delta("Hal"), done=False)))
    with pytest.raises(StreamBroken, match="ended before the reply was finished"):
        collect(provider())


@respx.mock
def test_200_with_html_is_an_error_not_an_empty_answer():
    page = "<html><head><title>Corporate proxy login</title></head><body>...</body></html>"
    respx.post(f"{BASE}/chat/completions").mock(return_value=httpx.Response(200, html=page))
    with pytest.raises(ProviderUnavailable, match="got an HTML page: Corporate proxy login"):
        collect(provider())


@respx.mock
def test_200_with_a_json_error_body_gives_its_message():
    body = {"object": "error", "message": "The model `x` does not exist.", "code": 404}
    respx.post(f"{BASE}/chat/completions").mock(return_value=httpx.Response(200, json=body))
    with pytest.raises(RequestRejected, match="does not exist"):
        collect(provider())


@respx.mock
def test_server_that_ignores_stream_true_still_gives_the_answer():
    completion = {"model": "llama", "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi"},
                                                 "finish_reason": "stop"}], "usage": USAGE}
    respx.post(f"{BASE}/chat/completions").mock(return_value=httpx.Response(200, json=completion))
    chunks = collect(provider())
    assert [c.text for c in chunks] == ["Hi", ""] and chunks[-1].usage.total_tokens == 12


@respx.mock
def test_response_is_closed_when_the_consumer_stops_early():
    closed = []

    class Body(httpx.SyncByteStream):
        def __iter__(self):
            yield GOOD_STREAM

        def close(self):
            closed.append(True)

    respx.post(f"{BASE}/chat/completions").mock(
        return_value=httpx.Response(200, stream=Body(), headers={"content-type": "text/event-stream"}))
    stream = provider().stream_chat("m", HELLO, ChatOptions())
    assert next(stream).text == "При"
    stream.close()
    assert closed == [True]


@respx.mock
def test_the_key_never_appears_in_errors_even_when_the_server_echoes_it():
    respx.post(f"{BASE}/chat/completions").mock(return_value=httpx.Response(
        401, json={"error": {"message": f"Incorrect API key provided: {KEY}", "code": "invalid_api_key"}}))
    with pytest.raises(AuthError) as caught:
        collect(provider())
    assert KEY not in str(caught.value) and KEY not in (caught.value.hint or "")
    assert "Incorrect API key provided: ***" in caught.value.message


# --- non-stream and models ----------------------------------------------------------------------


@respx.mock
def test_non_stream_mode_yields_one_text_chunk_and_a_final_one():
    completion = {"model": "gpt-x-2025", "choices": [{"index": 0, "message": {"role": "assistant",
                  "content": "Привет"}, "finish_reason": "stop"}], "usage": USAGE}
    route = respx.post(f"{BASE}/chat/completions").mock(return_value=httpx.Response(200, json=completion))
    chunks = collect(provider(), stream=False)
    body = json.loads(route.calls.last.request.content)
    assert body["stream"] is False and "stream_options" not in body
    assert [c.text for c in chunks] == ["Привет", ""]
    assert chunks[-1].finish_reason == "stop" and chunks[-1].usage.prompt_tokens == 9


@respx.mock
def test_list_models():
    respx.get(f"{BASE}/models").mock(return_value=httpx.Response(200, json={"object": "list", "data": [
        {"id": "gpt-4o", "object": "model", "owned_by": "openai"},
        {"id": "text-embedding-3-small", "object": "model", "owned_by": "openai"},
        {"id": "meta/llama-3", "object": "model", "context_length": 131072},
        {"object": "model"},
    ]}))
    models = provider().list_models()
    assert [(m.id, m.type, m.context_window, m.provider) for m in models] == [
        ("gpt-4o", "chat", None, "acme"), ("text-embedding-3-small", "embedder", None, "acme"),
        ("meta/llama-3", "chat", 131072, "acme"),
    ]


# --- real sockets against the fake server --------------------------------------------------------


def real(srv, *, key: str | None = None, **kw) -> OpenAICompatProvider:
    kw.setdefault("timeout", 2.0)
    kw.setdefault("connect_timeout", 2.0)
    return provider(srv.url + "/v1", key=key, **kw)


def chat_requests(srv) -> list:
    return [r for r in srv.requests if r.path.endswith("/chat/completions")]


def test_real_stream_over_tls_with_the_test_ca_bundle():
    with openai_server(tls=session_ca(), api_key=KEY) as srv:
        chunks = collect(real(srv, key=KEY, ca_bundle=session_ca().ca_pem_path))
        logged = chat_requests(srv)[0]
    assert "".join(c.text for c in chunks) == "echo: Привет, мир"
    assert chunks[-1].usage.total_tokens == 18 and chunks[-1].request_id.startswith("req-")
    assert "Привет".encode() in logged.body


def test_real_tls_with_the_wrong_ca_is_unavailable_with_a_ca_bundle_hint():
    with openai_server(tls=session_ca()) as srv:
        with pytest.raises(ProviderUnavailable) as caught:
            collect(real(srv, ca_bundle=wrong_ca().ca_pem_path))
        assert chat_requests(srv) == []
    assert "TLS certificate of 127.0.0.1" in caught.value.message and "not trusted" in caught.value.message
    assert "ca_bundle" in caught.value.hint


def test_real_auth_required():
    with openai_server(api_key=KEY) as srv, pytest.raises(AuthError) as caught:
        collect(real(srv, key="sk-wrong"))
    assert caught.value.exit_code == 3 and caught.value.status_code == 401


def test_real_reset_before_the_first_byte_is_retried():
    with openai_server() as srv:
        srv.inject(Fault.reset(path="/chat"))
        chunks = collect(real(srv))
        assert len(chat_requests(srv)) == 2
    assert chunks[-1].finish_reason == "stop"


def test_real_reset_after_n_chunks_keeps_the_shown_text_and_does_not_replay():
    with openai_server(reply="one two three four five six") as srv:
        srv.inject(Fault.reset_after(4, path="/chat"))  # role chunk, keep-alive, "one ", "two "
        seen = []
        with pytest.raises(StreamBroken) as caught:
            for chunk in real(srv).stream_chat("m", HELLO, ChatOptions()):
                seen.append(chunk.text)
        assert len(chat_requests(srv)) == 1
    assert seen == ["one ", "two "]
    assert "cut off after 2 chunks" in caught.value.message


def test_real_trickle_is_cut_at_the_deadline():
    with openai_server(reply="alpha beta gamma") as srv:
        # "alpha " arrives normally; the next event would take ~7 s, byte by byte
        srv.inject(Fault.trickle(0.05, after=3, max_seconds=20, path="/chat"))
        seen = []
        with pytest.raises(StreamBroken, match="within 1 s"):
            for chunk in real(srv, deadline=1.0).stream_chat("m", HELLO, ChatOptions()):
                seen.append(chunk.text)
    assert seen == ["alpha "]


def test_real_stall_mid_stream_is_stream_broken():
    with openai_server(reply="alpha beta gamma") as srv:
        srv.inject(Fault.stall(10.0, after=3, path="/chat"))  # the server's stop() ends the stall
        with pytest.raises(StreamBroken, match="no data from 127.0.0.1"):
            collect(real(srv, timeout=0.5))


def test_real_200_with_html_where_a_stream_was_due():
    with openai_server() as srv:
        srv.inject(Fault.html(200, "Captive portal", path="/chat"))
        with pytest.raises(ProviderUnavailable, match="got an HTML page: Captive portal"):
            collect(real(srv))


def test_real_5xx_html_then_success_is_retried_quietly():
    with openai_server() as srv:
        srv.inject(Fault.html(503, "Service Unavailable", path="/chat"), Fault.rate_limited(retry_after="0",
                                                                                           path="/chat"))
        chunks = collect(real(srv))
        assert len(chat_requests(srv)) == 3
    assert chunks[-1].finish_reason == "stop"


def test_real_mid_stream_error_event_vllm_shape():
    error = {"object": "error", "message": "CUDA out of memory", "type": "InternalServerError", "code": 500}
    with openai_server(stream_error=error, stream_error_after=1, reply="a b c") as srv:
        with pytest.raises(StreamBroken, match="CUDA out of memory"):
            collect(real(srv))


def test_real_stream_options_rejection_and_models():
    with openai_server(reject_stream_options=True, error_shape="vllm") as srv:
        p = real(srv)
        chunks = collect(p)
        assert [m.id for m in p.list_models()] == ["gpt-fake", "gpt-fake-mini"]
        bodies = [r.json for r in chat_requests(srv)]
    assert ["stream_options" in b for b in bodies] == [True, False]
    assert chunks[-1].finish_reason == "stop" and chunks[-1].usage is None


def test_real_non_stream_mode():
    with openai_server(reply="целиком") as srv:
        chunks = collect(real(srv), stream=False)
    assert [c.text for c in chunks] == ["целиком", ""] and chunks[-1].usage.completion_tokens == 7


def test_real_connection_refused():
    with openai_server() as srv:
        url = srv.url
    with pytest.raises(ProviderUnavailable, match=r"cannot connect to 127\.0\.0\.1:\d+"):
        provider(url + "/v1", connect_timeout=1.0).list_models()
