"""Stream parsers over plain line lists: what a server sends → the payloads an adapter sees."""

from __future__ import annotations

import pytest

from llmcli.errors import AuthError, ProviderUnavailable, RateLimited, RequestRejected, StreamBroken
from llmcli.providers.streams import iter_ndjson, iter_sse_json


def sse(lines):
    return list(iter_sse_json(lines, provider="p"))


def test_sse_events_in_order_until_done():
    lines = ['data: {"n": 1}', "", 'data: {"n": 2}', "", "data: [DONE]", "", 'data: {"n": 3}', ""]
    assert sse(lines) == [{"n": 1}, {"n": 2}]


def test_sse_skips_comments_and_event_id_retry_fields():
    lines = [": OPENROUTER PROCESSING", "", "event: message", "id: 7", "retry: 1000", 'data: {"n": 1}', "",
             "id: 8", "", "data: [DONE]", ""]
    assert sse(lines) == [{"n": 1}]


def test_sse_data_without_space_and_multi_line_data():
    lines = ['data:{"a":', 'data: 1}', "", "data:[DONE]", ""]
    assert sse(lines) == [{"a": 1}]


def test_sse_crlf_in_raw_bytes_and_missing_final_blank_line():
    raw = [b'data: {"n": 1}\r\n\r\ndata: {"t": "\xd0\xbf\xd1\x80\xd0\xb8"}\r\n\r\n', b'data: {"n": 2}']
    assert sse(raw) == [{"n": 1}, {"t": "при"}, {"n": 2}]


def test_sse_usage_only_chunk_and_empty_choices_pass_through():
    lines = ['data: {"choices": [], "usage": {"total_tokens": 5}}', "", "data: [DONE]", ""]
    assert sse(lines) == [{"choices": [], "usage": {"total_tokens": 5}}]


def test_sse_malformed_json_is_stream_broken_with_a_short_snippet():
    bad = 'data: {"choices": [{"delta": {"content": "' + "x" * 200
    with pytest.raises(StreamBroken) as caught:
        sse(['data: {"n": 1}', "", bad, ""])
    assert caught.value.message.startswith("p: malformed event from server: {\"choices\"")
    assert len(caught.value.message) < 140


def test_sse_ok_events_come_out_before_the_malformed_one():
    seen = []
    with pytest.raises(StreamBroken):
        for payload in iter_sse_json(['data: {"n": 1}', "", "data: nope", ""], provider="p"):
            seen.append(payload)
    assert seen == [{"n": 1}]


@pytest.mark.parametrize(
    ("payload", "cls", "status"),
    [
        ('{"error": {"message": "Rate limit exceeded", "code": 429}}', RateLimited, 429),
        ('{"error": {"message": "Insufficient credits", "code": 402}}', RequestRejected, 402),
        ('{"error": {"message": "bad key", "code": "401"}}', AuthError, 401),
        ('{"object": "error", "message": "Engine died", "type": "InternalServerError", "code": 500}',
         ProviderUnavailable, 500),
        ('{"error": {"message": "upstream exploded"}}', StreamBroken, None),
        ('{"error": {"message": "invalid key", "code": "invalid_api_key"}}', StreamBroken, None),
    ],
)
def test_sse_in_band_errors_become_typed_errors(payload, cls, status):
    with pytest.raises(cls) as caught:
        sse([f"data: {payload}", ""])
    assert type(caught.value) is cls
    assert caught.value.status_code == status
    assert "the server reported an error" in caught.value.message


def test_sse_openrouter_error_chunk_with_choices_is_still_an_error():
    payload = ('{"object": "chat.completion.chunk", "error": {"code": 502, "message": "Provider disconnected"},'
               ' "choices": [{"index": 0, "delta": {"content": ""}, "finish_reason": "error"}]}')
    with pytest.raises(ProviderUnavailable, match="Provider disconnected"):
        sse([f"data: {payload}", ""])


def test_sse_named_error_event():
    with pytest.raises(RateLimited, match="slow down"):
        sse(["event: error", 'data: {"message": "slow down", "status": 429}', ""])


def test_ndjson_lines_skip_blanks_and_decode_bytes():
    lines = [b'{"result": {"n": 1}}', "", '  {"result": {"n": 2}}\r', '{"a": 1}\n{"b": 2}\n']
    assert list(iter_ndjson(lines, provider="y")) == [
        {"result": {"n": 1}}, {"result": {"n": 2}}, {"a": 1}, {"b": 2}
    ]


def test_ndjson_error_lines_yandex_and_ollama_shapes():
    yandex = '{"error": {"grpcCode": 8, "httpCode": 429, "message": "quota exceeded", "httpStatus": "Too Many"}}'
    with pytest.raises(RateLimited, match="quota exceeded"):
        list(iter_ndjson(['{"result": {}}', yandex], provider="y"))
    with pytest.raises(StreamBroken, match="model crashed"):
        list(iter_ndjson(['{"error": "model crashed"}'], provider="y"))


def test_ndjson_malformed_and_non_object_lines():
    with pytest.raises(StreamBroken, match="malformed event from server: {\"result\""):
        list(iter_ndjson(['{"result": {"alternatives": ['], provider="y"))
    with pytest.raises(StreamBroken, match="malformed"):
        list(iter_ndjson(["[1, 2]"], provider="y"))
