"""The shared HTTP layer: retries, deadlines, status → typed errors, client settings, guarded streams."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import httpx
import pytest
import respx

from llmcli.errors import (
    AuthError,
    ConfigError,
    ProviderUnavailable,
    RateLimited,
    RequestRejected,
    StreamBroken,
)
from llmcli.providers.base import ProviderSpec
from llmcli.providers.http import (
    Deadline,
    RetryPolicy,
    build_client,
    error_for_status,
    expect_content_type,
    guarded_stream,
    read_lines,
    send,
)
from tests.fakes.tls import session_ca

URL = "https://api.example.test/v1/chat/completions"


class FakeClock:
    """Monotonic time that only moves when the code under test sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def policy_for(clock: FakeClock, **kw) -> RetryPolicy:
    return RetryPolicy(sleep=clock.sleep, rng=lambda: 1.0, **kw)  # rng 1.0: the largest jittered delay


def do_send(clock: FakeClock, *, deadline: float = 600.0, stream: bool = False, **kw):
    with httpx.Client() as client:
        request = client.build_request("POST", URL, json={"q": 1})
        return send(client, request, provider="acme", stream=stream, policy=policy_for(clock, **kw),
                    deadline=Deadline(deadline, clock=clock))


# --- send: retries ----------------------------------------------------------------------------


@respx.mock
def test_429_with_retry_after_then_200_makes_two_calls(clock):
    route = respx.post(URL).mock(side_effect=[
        httpx.Response(429, headers={"Retry-After": "2"}, json={"error": {"message": "slow down"}}),
        httpx.Response(200, json={"ok": True}),
    ])
    response = do_send(clock)
    assert response.json() == {"ok": True}
    assert route.call_count == 2
    assert clock.sleeps == [2.0]


@respx.mock
def test_500_four_times_gives_up_after_three_retries_with_growing_backoff(clock):
    route = respx.post(URL).mock(return_value=httpx.Response(500, text="oops"))
    with pytest.raises(ProviderUnavailable) as caught:
        do_send(clock)
    assert route.call_count == 4
    assert clock.sleeps == [0.5, 1.0, 2.0]
    assert caught.value.status_code == 500
    assert caught.value.message == "acme: HTTP 500 from api.example.test: oops"


def test_backoff_is_jittered_and_capped():
    policy = RetryPolicy(rng=lambda: 0.5)
    assert [policy.backoff(n) for n in range(6)] == [0.25, 0.5, 1.0, 2.0, 4.0, 4.0]
    assert RetryPolicy(rng=lambda: 0.0).backoff(3) == 0.0


@pytest.mark.parametrize("status", [400, 401, 402, 403, 404, 413, 422])
@respx.mock
def test_client_errors_are_never_retried(clock, status):
    route = respx.post(URL).mock(return_value=httpx.Response(status, json={"error": {"message": "no"}}))
    with pytest.raises((RequestRejected, AuthError)):
        do_send(clock)
    assert route.call_count == 1
    assert clock.sleeps == []


@respx.mock
def test_retry_after_is_capped(clock):
    respx.post(URL).mock(side_effect=[
        httpx.Response(429, headers={"Retry-After": "3600"}),
        httpx.Response(503, headers={"retry-after-ms": "1500"}),
        httpx.Response(200),
    ])
    do_send(clock, max_retry_after=60.0, deadline=10_000)
    assert clock.sleeps == [60.0, 1.5]


@respx.mock
def test_retry_after_as_http_date(clock):
    when = format_datetime(datetime.now(timezone.utc) + timedelta(seconds=30), usegmt=True)
    respx.post(URL).mock(side_effect=[httpx.Response(429, headers={"Retry-After": when}), httpx.Response(200)])
    do_send(clock)
    assert len(clock.sleeps) == 1 and 25 <= clock.sleeps[0] <= 30


@respx.mock
def test_never_sleeps_past_the_deadline(clock):
    route = respx.post(URL).mock(return_value=httpx.Response(429, headers={"Retry-After": "30"}))
    with pytest.raises(RateLimited) as caught:
        do_send(clock, deadline=10.0)
    assert route.call_count == 1 and clock.sleeps == []
    assert caught.value.retry_after == 30.0


@respx.mock
def test_backoff_stops_when_the_deadline_is_near(clock):
    route = respx.post(URL).mock(return_value=httpx.Response(503))
    with pytest.raises(ProviderUnavailable):
        do_send(clock, deadline=2.0)  # 0.5 + 1.0 fit; 2.0 more would not
    assert clock.sleeps == [0.5, 1.0]
    assert route.call_count == 3


@respx.mock
def test_connect_errors_and_timeouts_are_retried(clock):
    route = respx.post(URL).mock(side_effect=[
        httpx.ConnectError("[Errno 111] Connection refused"),
        httpx.ReadTimeout("timed out"),
        httpx.RemoteProtocolError("Server disconnected without sending a response."),
        httpx.Response(200),
    ])
    assert do_send(clock).status_code == 200
    assert route.call_count == 4


@respx.mock
def test_refused_connection_after_retries_says_cannot_connect_with_a_hint(clock):
    respx.post(URL).mock(side_effect=httpx.ConnectError("[Errno 111] Connection refused"))
    with pytest.raises(ProviderUnavailable) as caught:
        do_send(clock)
    assert caught.value.message.startswith("acme: cannot connect to api.example.test")
    assert "base_url" in caught.value.hint and "proxy" in caught.value.hint
    assert len(clock.sleeps) == 3


@respx.mock
def test_x_should_retry_false_wins(clock):
    route = respx.post(URL).mock(return_value=httpx.Response(503, headers={"x-should-retry": "false"}))
    with pytest.raises(ProviderUnavailable):
        do_send(clock)
    assert route.call_count == 1


@respx.mock
def test_streamed_error_body_is_read_for_the_message(clock):
    respx.post(URL).mock(return_value=httpx.Response(
        404, json={"error": {"message": "The model `nope` does not exist"}}, headers={"x-request-id": "req-9"}))
    with pytest.raises(RequestRejected) as caught:
        do_send(clock, stream=True)
    assert caught.value.message == "acme: HTTP 404 from api.example.test: The model `nope` does not exist"
    assert caught.value.request_id == "req-9"


# --- error_for_status -------------------------------------------------------------------------


def response(status, **kw) -> httpx.Response:
    return httpx.Response(status, request=httpx.Request("POST", "http://127.0.0.1:8080/v1/x?key=SECRET"), **kw)


@pytest.mark.parametrize(
    ("status", "cls", "code"),
    [(401, AuthError, 3), (403, AuthError, 3), (429, RateLimited, 5), (408, ProviderUnavailable, 6),
     (500, ProviderUnavailable, 6), (503, ProviderUnavailable, 6), (400, RequestRejected, 4),
     (402, RequestRejected, 4), (404, RequestRejected, 4), (413, RequestRejected, 4), (422, RequestRejected, 4)],
)
def test_status_classes_and_exit_codes(status, cls, code):
    error = error_for_status(response(status), provider="openai", message=None)
    assert type(error) is cls and error.exit_code == code and error.status_code == status


def test_html_body_is_reduced_to_its_title_and_never_dumped():
    page = "<html><head><title>502 Bad Gateway</title></head><body>" + "<p>nginx</p>" * 500 + "</body></html>"
    error = error_for_status(response(502, html=page), provider="openai", message=None)
    assert error.message == "openai: HTTP 502 from 127.0.0.1:8080: 502 Bad Gateway"


def test_json_bodies_give_their_message_in_one_line():
    vllm = {"object": "error", "message": "max_tokens is too large:\n 9999", "type": "BadRequestError", "code": 400}
    error = error_for_status(response(400, json=vllm), provider="vllm", message=None)
    assert error.message == "vllm: HTTP 400 from 127.0.0.1:8080: max_tokens is too large: 9999"
    fastapi = {"detail": [{"loc": ["body", "stream_options"], "msg": "Extra inputs are not permitted"}]}
    error = error_for_status(response(422, json=fastapi), provider="x", message=None)
    assert error.message.endswith("body.stream_options: Extra inputs are not permitted")


def test_adapter_message_wins_and_empty_body_falls_back_to_the_reason():
    assert error_for_status(response(500), provider="p", message=None).message.endswith(": Internal Server Error")
    assert error_for_status(response(500, text="x"), provider="p", message="own words").message.endswith(": own words")


def test_messages_name_host_only_never_path_query_or_headers():
    error = error_for_status(response(401, headers={"x-request-id": "abc"}), provider="p", message=None)
    assert "SECRET" not in error.message and "/v1/x" not in error.message
    assert error.request_id == "abc" and "keys set p" in error.hint


def test_429_keeps_retry_after_on_the_error():
    error = error_for_status(response(429, headers={"Retry-After": "12"}), provider="p", message=None)
    assert error.retry_after == 12.0


# --- expect_content_type ----------------------------------------------------------------------


def test_right_content_type_passes():
    expect_content_type(response(200, headers={"content-type": "text/event-stream; charset=utf-8"}),
                        "text/event-stream", provider="p")


def test_200_with_html_is_provider_unavailable_with_the_title():
    page = "<html><title>Sign in to the Wi-Fi</title></html>"
    with pytest.raises(ProviderUnavailable) as caught:
        expect_content_type(response(200, html=page), "text/event-stream", provider="p")
    assert caught.value.message == ("p: expected text/event-stream from 127.0.0.1:8080, got an HTML page: "
                                    "Sign in to the Wi-Fi")


def test_200_with_a_json_error_body_raises_its_message_and_class():
    body = {"error": {"message": "You exceeded your current quota", "code": 429}}
    with pytest.raises(RateLimited, match="You exceeded your current quota"):
        expect_content_type(response(200, json=body), "text/event-stream", provider="p")
    with pytest.raises(ProviderUnavailable, match="model is loading"):
        expect_content_type(response(200, json={"error": "model is loading"}), "text/event-stream", provider="p")


# --- build_client -----------------------------------------------------------------------------


def spec(**kw) -> ProviderSpec:
    return ProviderSpec(name="acme", kind="openai", base_url="https://api.example.test/v1", **kw)


def test_client_timeouts_user_agent_and_proxies_from_env():
    with build_client(spec(timeout=42, connect_timeout=3)) as client:
        assert client.timeout.read == 42 and client.timeout.connect == 3
        assert client.timeout.write and client.timeout.pool
        assert client.headers["user-agent"].startswith("llmcli/")
        assert client.trust_env is True


def test_verify_false_warns_every_time(caplog):
    with caplog.at_level(logging.WARNING, logger="llmcli"):
        build_client(spec(verify=False)).close()
        build_client(spec(verify=False)).close()
    warnings = [r for r in caplog.records if "verification is OFF" in r.getMessage()]
    assert len(warnings) == 2 and warnings[0].name == "llmcli"


def test_missing_or_bad_ca_bundle_is_a_config_error_naming_the_path(tmp_path):
    missing = tmp_path / "nope.pem"
    with pytest.raises(ConfigError, match=str(missing)):
        build_client(spec(ca_bundle=str(missing)))
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate")
    with pytest.raises(ConfigError, match=str(garbage)):
        build_client(spec(ca_bundle=str(garbage)))


def test_ca_bundle_is_added_to_the_default_trust_store():
    build_client(spec(ca_bundle=session_ca().ca_pem_path)).close()  # loads; the real-socket test connects


# --- guarded_stream ---------------------------------------------------------------------------


class Script:
    """A start() whose attempts yield some chunks and then fail as scripted."""

    def __init__(self, *attempts) -> None:
        self.attempts = list(attempts)
        self.calls = 0
        self.closed = 0

    def __call__(self):
        chunks, failure = self.attempts[self.calls]
        self.calls += 1
        try:
            yield from chunks
            if failure is not None:
                raise failure
        finally:
            self.closed += 1


def run_guarded(script, clock, *, deadline=600.0, sink=None):
    out = sink if sink is not None else []
    for chunk in guarded_stream(script, provider="acme", policy=policy_for(clock),
                                deadline=Deadline(deadline, clock=clock)):
        out.append(chunk)
    return out


def read_error(message="reset"):
    return httpx.ReadError(message, request=httpx.Request("POST", URL))


def test_failure_before_the_first_chunk_is_retried(clock):
    script = Script(([], read_error()), (["a", "b"], None))
    assert run_guarded(script, clock) == ["a", "b"]
    assert script.calls == 2 and script.closed == 2 and clock.sleeps == [0.5]


def test_failure_after_five_chunks_is_stream_broken_and_never_replayed(clock):
    script = Script((["1", "2", "3", "4", "5"], read_error("Connection reset by peer")), (["again"], None))
    seen: list[str] = []
    with pytest.raises(StreamBroken) as caught:
        run_guarded(script, clock, sink=seen)
    assert seen == ["1", "2", "3", "4", "5"]
    assert script.calls == 1 and clock.sleeps == []
    assert caught.value.exit_code == 7
    assert "cut off after 5 chunks" in caught.value.message and "api.example.test" in caught.value.message


def test_typed_error_after_output_becomes_stream_broken(clock):
    script = Script((["a"], RateLimited("acme: the server reported an error: slow", status_code=429)))
    with pytest.raises(StreamBroken) as caught:
        run_guarded(script, clock)
    assert caught.value.status_code == 429 and "slow" in caught.value.message


def in_band(cls, status: int, text: str = "Provider returned error"):
    return cls(f"acme: the server reported an error: {text} (code {status})", status_code=status, in_band=True)


def test_in_band_5xx_before_output_is_retried_like_the_status(clock):
    """OpenRouter & co. answer 200 and put a 502 in the stream: nothing had retried it yet."""
    script = Script(([], in_band(ProviderUnavailable, 502)), (["a", "b"], None))
    assert run_guarded(script, clock) == ["a", "b"]
    assert script.calls == 2 and script.closed == 2 and clock.sleeps == [0.5]


def test_in_band_5xx_every_time_ends_with_the_retry_count_in_the_hint(clock):
    script = Script(*[([], in_band(ProviderUnavailable, 503))] * 4)
    with pytest.raises(ProviderUnavailable) as caught:
        run_guarded(script, clock)
    assert script.calls == 4 and len(clock.sleeps) == 3
    assert caught.value.exit_code == 6 and "retried 3 times" in caught.value.hint


def test_in_band_4xx_before_output_is_not_retried(clock):
    script = Script(([], in_band(RequestRejected, 402, "Insufficient credits")), (["never"], None))
    with pytest.raises(RequestRejected):
        run_guarded(script, clock)
    assert script.calls == 1 and clock.sleeps == []


def test_an_http_status_error_is_not_retried_again_by_the_stream_guard(clock):
    """send() already retried the 503 it raises; guarded_stream must not multiply the attempts."""
    error = ProviderUnavailable("acme: HTTP 503 from api.example.test: busy", status_code=503)
    script = Script(([], error), (["never"], None))
    with pytest.raises(ProviderUnavailable):
        run_guarded(script, clock)
    assert script.calls == 1 and clock.sleeps == []


def test_bad_payload_before_output_is_provider_unavailable_not_retried(clock):
    script = Script(([], StreamBroken("acme: malformed event from server: {x")))
    with pytest.raises(ProviderUnavailable) as caught:
        run_guarded(script, clock)
    assert type(caught.value) is ProviderUnavailable and script.calls == 1


def test_typed_error_before_output_passes_through_unretried(clock):
    script = Script(([], AuthError("acme: HTTP 401", status_code=401)))
    with pytest.raises(AuthError):
        run_guarded(script, clock)
    assert script.calls == 1


def test_gives_up_after_max_retries_before_output(clock):
    script = Script(*[([], read_error())] * 4)
    with pytest.raises(ProviderUnavailable, match="closed unexpectedly"):
        run_guarded(script, clock)
    assert script.calls == 4


def test_deadline_is_checked_after_every_chunk(clock):
    def slow():
        for text in ["a", "b", "c"]:
            clock.now += 4
            yield text

    seen: list[str] = []
    with pytest.raises(StreamBroken, match="within 10 s"):
        for chunk in guarded_stream(slow, provider="acme", policy=policy_for(clock),
                                    deadline=Deadline(10, clock=clock)):
            seen.append(chunk)
    assert seen == ["a", "b", "c"]  # c arrived at t+12: shown, then the stream is cut


def test_consumer_stopping_early_closes_the_inner_stream(clock):
    script = Script((["a", "b", "c"], None))
    stream = guarded_stream(script, provider="acme", policy=policy_for(clock), deadline=Deadline(60, clock=clock))
    assert next(stream) == "a"
    stream.close()
    assert script.closed == 1


# --- read_lines -------------------------------------------------------------------------------


def streamed(*pieces: bytes) -> httpx.Response:
    return httpx.Response(200, content=iter(pieces), request=httpx.Request("GET", URL))


def test_read_lines_splits_across_reads_and_crlf_halves(clock):
    lines = list(read_lines(streamed(b"data: a", b"bc\r", b"\n\r\nda", b"ta: x\rlast"), deadline=Deadline(9, clock=clock),
                            provider="p"))
    assert lines == ["data: abc", "", "data: x", "last"]


def test_read_lines_stops_at_the_deadline_between_reads(clock):
    def trickle():
        for byte in b"data: slow\n\n":
            clock.now += 1
            yield bytes([byte])

    response = httpx.Response(200, content=trickle(), request=httpx.Request("GET", URL))
    with pytest.raises(ProviderUnavailable, match="no complete answer from api.example.test within 5 s"):
        list(read_lines(response, deadline=Deadline(5, clock=clock), provider="p"))
