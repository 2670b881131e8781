"""The `hint:` of every provider failure the user can act on: what to do, with the real setting and
the real command (`llmcli config set providers.NAME.KEY VALUE`), and only counts that are known."""

from __future__ import annotations

import httpx
import pytest
import respx

from llmcli.errors import ProviderUnavailable, StreamBroken
from llmcli.providers.base import ProviderSpec
from llmcli.providers.http import Deadline, RetryPolicy, error_for_status, guarded_stream, read_lines, send
from llmcli.providers.openai_compat import OpenAICompatProvider
from llmcli.providers.streams import iter_sse_json
from llmcli.types import ChatOptions, Message

URL = "https://api.example.test/v1/chat/completions"
TIMEOUTS = httpx.Timeout(connect=3.0, read=7.0, write=30.0, pool=10.0)
PARTIAL_KEPT = "the partial reply was kept; ask again to get a complete one"


class FakeClock:
    """Monotonic time that moves only when the code under test sleeps (or a fault says so)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def policy(clock: FakeClock) -> RetryPolicy:
    return RetryPolicy(sleep=clock.sleep, rng=lambda: 1.0)


def do_send(clock: FakeClock, deadline: Deadline | None = None, **kw) -> httpx.Response:
    with httpx.Client(timeout=TIMEOUTS) as client:
        request = client.build_request("POST", URL, json={"q": 1})
        return send(client, request, provider="acme", stream=False, policy=policy(clock),
                    deadline=deadline or Deadline(600, clock=clock), **kw)


def failing(clock: FakeClock, deadline: Deadline | None = None) -> ProviderUnavailable:
    with pytest.raises(ProviderUnavailable) as caught:
        do_send(clock, deadline)
    return caught.value


def request_with_timeouts() -> httpx.Request:
    return httpx.Request("POST", URL, extensions={"timeout": TIMEOUTS.as_dict()})


def guarded(clock: FakeClock, start, deadline: Deadline | None = None) -> tuple[list, BaseException]:
    """Run guarded_stream over `start`; the chunks shown and the error it ended with."""
    shown: list = []
    with pytest.raises((ProviderUnavailable, StreamBroken)) as caught:
        for chunk in guarded_stream(start, provider="acme", policy=policy(clock),
                                    deadline=deadline or Deadline(600, clock=clock)):
            shown.append(chunk)  # noqa: PERF402 - a loop keeps what was shown before the error
    return shown, caught.value


# --- 5xx / 408 after the retries ------------------------------------------------------------------


@respx.mock
def test_5xx_after_the_retries_says_how_many_and_suggests_a_fallback(clock):
    route = respx.post(URL).mock(return_value=httpx.Response(503, text="Service Unavailable"))
    error = failing(clock)
    assert route.call_count == 4
    assert error.message == "acme: HTTP 503 from api.example.test: Service Unavailable"  # unchanged
    assert error.hint == ("the server is failing or overloaded (llmcli retried 3 times); try again later, "
                          "or let another provider answer: --fallback <other>")


@respx.mock
def test_5xx_that_was_not_retried_claims_no_retries(clock):
    route = respx.post(URL).mock(return_value=httpx.Response(500, headers={"x-should-retry": "false"}))
    error = failing(clock)
    assert route.call_count == 1
    assert "retried" not in error.hint and error.hint.startswith("the server is failing or overloaded; ")


@respx.mock
def test_a_single_retry_is_counted_in_the_singular(clock):
    respx.post(URL).mock(return_value=httpx.Response(502))
    error = failing(clock, Deadline(1.0, clock=clock))  # 0.5 s of backoff fits once, 1.0 s more does not
    assert "(llmcli retried 1 time)" in error.hint


def test_408_and_5xx_outside_send_get_the_hint_without_a_count():
    for status in (408, 500, 504):
        response = httpx.Response(status, request=httpx.Request("POST", URL))
        hint = error_for_status(response, provider="acme", message=None).hint
        assert hint.startswith("the server is failing or overloaded; ") and "--fallback" in hint


def test_501_points_at_the_endpoint_not_at_the_load():
    response = httpx.Response(501, request=httpx.Request("POST", URL))
    assert "base_url and kind" in error_for_status(response, provider="acme", message=None).hint


@respx.mock
def test_retries_of_the_stream_and_of_the_request_are_counted_together(clock):
    """A dropped stream (guarded_stream starts again) and then 503s (send retries them): 1 + 3."""
    respx.post(URL).mock(return_value=httpx.Response(503))
    deadline = Deadline(600, clock=clock)
    calls = []

    def start():
        calls.append(1)
        if len(calls) == 1:
            raise httpx.ReadError("Connection reset by peer", request=request_with_timeouts())
        do_send(clock, deadline)
        yield "never"

    shown, error = guarded(clock, start, deadline)
    assert shown == [] and len(calls) == 2
    assert "(llmcli retried 4 times)" in error.hint


# --- timeouts ---------------------------------------------------------------------------------------


@respx.mock
def test_read_timeout_names_the_timeout_setting_with_the_real_command(clock):
    respx.post(URL).mock(side_effect=httpx.ReadTimeout)
    error = failing(clock)
    assert error.message == "acme: no data from api.example.test within 7 s"
    assert error.hint == ("if the server is just slow, allow more time: "
                          "`llmcli config set providers.acme.timeout 14`")


@respx.mock
def test_read_timeout_cut_short_by_the_deadline_names_the_deadline(clock):
    def stalls(request):
        clock.now += 5.0  # the read timeout was lowered to the 5 s left of the deadline
        raise httpx.ReadTimeout("timed out", request=request)

    respx.post(URL).mock(side_effect=stalls)
    error = failing(clock, Deadline(5.0, clock=clock))
    assert error.message == "acme: no data from api.example.test within 5 s"
    assert "`llmcli config set providers.acme.deadline 10`" in error.hint and ".timeout" not in error.hint


@respx.mock
def test_connect_timeout_names_connect_timeout_and_base_url(clock):
    respx.post(URL).mock(side_effect=httpx.ConnectTimeout)
    error = failing(clock)
    assert error.message == "acme: no connection to api.example.test within 3 s"
    assert "base_url" in error.hint
    assert error.hint.endswith("allow more time: `llmcli config set providers.acme.connect_timeout 6`")


@respx.mock
def test_write_timeout_suggests_sending_less(clock):
    respx.post(URL).mock(side_effect=httpx.WriteTimeout)
    assert "send less text" in failing(clock).hint


def test_read_timeout_mid_stream_keeps_one_hint_with_both_remedies(clock):
    def start():
        yield from ["1", "2"]
        raise httpx.ReadTimeout("timed out", request=request_with_timeouts())

    shown, error = guarded(clock, start)
    assert shown == ["1", "2"] and isinstance(error, StreamBroken) and error.exit_code == 7
    assert error.hint.startswith(PARTIAL_KEPT)
    assert "`llmcli config set providers.acme.timeout 14`" in error.hint and "\n" not in error.hint


def test_deadline_before_output_names_the_deadline_setting(clock):
    def trickle():
        for byte in b"data: slow\n\n":
            clock.now += 1
            yield bytes([byte])

    response = httpx.Response(200, content=trickle(), request=httpx.Request("POST", URL))
    with pytest.raises(ProviderUnavailable) as caught:
        list(read_lines(response, deadline=Deadline(5, clock=clock), provider="acme"))
    assert caught.value.message == "acme: no complete answer from api.example.test within 5 s"
    assert caught.value.hint.endswith("allow more time: `llmcli config set providers.acme.deadline 10`")


def test_deadline_mid_stream_keeps_the_partial_hint_and_names_the_deadline(clock):
    def slow():
        for text in ["a", "b", "c"]:
            clock.now += 4
            yield text

    shown, error = guarded(clock, slow, Deadline(10, clock=clock))
    assert shown == ["a", "b", "c"] and "within 10 s" in error.message
    assert error.hint.startswith(PARTIAL_KEPT) and "`llmcli config set providers.acme.deadline 20`" in error.hint


def test_deadline_running_out_inside_read_lines_mid_stream_names_the_deadline(clock):
    def trickle():
        yield b'data: {"a": 1}\n\n'
        for byte in b'data: {"b": 2}\n\n':
            clock.now += 1
            yield bytes([byte])

    def start():
        response = httpx.Response(200, content=trickle(), request=httpx.Request("POST", URL))
        yield from iter_sse_json(read_lines(response, deadline=deadline, provider="acme"), provider="acme")

    deadline = Deadline(3, clock=clock)
    shown, error = guarded(clock, start, deadline)
    assert shown == [{"a": 1}] and isinstance(error, StreamBroken)
    assert "cut off after 1 chunk: no complete answer from api.example.test within 3 s" in error.message
    assert error.hint.startswith(PARTIAL_KEPT) and "`llmcli config set providers.acme.deadline 6`" in error.hint


# --- dropped connections ---------------------------------------------------------------------------


@respx.mock
def test_dropped_connection_after_the_retries_suggests_later_or_a_fallback(clock):
    route = respx.post(URL).mock(side_effect=httpx.RemoteProtocolError("Server disconnected"))
    error = failing(clock)
    assert route.call_count == 4 and "closed unexpectedly" in error.message
    assert "try again later" in error.hint and "--fallback <other>" in error.hint


def test_reset_mid_stream_has_only_the_partial_reply_hint(clock):
    def start():
        yield from ["1", "2", "3"]
        raise httpx.ReadError("Connection reset by peer", request=request_with_timeouts())

    shown, error = guarded(clock, start)
    assert shown == ["1", "2", "3"] and isinstance(error, StreamBroken)
    assert error.hint == PARTIAL_KEPT


# --- malformed events --------------------------------------------------------------------------------


def events(*lines: str):
    def start():
        yield from iter_sse_json(iter(lines), provider="acme")
    return start


def test_malformed_event_before_output_points_at_base_url_and_kind(clock):
    shown, error = guarded(clock, events("data: <html>not json</html>", ""))
    assert shown == [] and type(error) is ProviderUnavailable and error.exit_code == 6
    assert error.message == "acme: malformed event from server: <html>not json</html>"
    assert "base_url and kind" in error.hint and "protocol" in error.hint


def test_malformed_event_after_good_ones_says_the_partial_reply_was_kept(clock):
    shown, error = guarded(clock, events('data: {"n": 1}', "", "data: {oops", ""))
    assert shown == [{"n": 1}] and isinstance(error, StreamBroken) and error.exit_code == 7
    assert error.hint == PARTIAL_KEPT


@respx.mock
def test_adapter_passes_the_hints_through():
    """Through the OpenAI-compatible adapter: the user gets the same hints."""
    spec = ProviderSpec(name="my-vllm", kind="openai", base_url="https://api.example.test/v1")
    adapter = OpenAICompatProvider(spec, policy=RetryPolicy(sleep=lambda seconds: None))
    route = respx.post(URL)
    route.mock(return_value=httpx.Response(200, content=b"data: {not json\n\n",
                                           headers={"content-type": "text/event-stream"}))
    with pytest.raises(ProviderUnavailable) as caught:
        list(adapter.stream_chat("m", [Message("user", "hi")], ChatOptions()))
    assert "base_url and kind" in caught.value.hint
    route.mock(return_value=httpx.Response(502, json={"error": {"message": "upstream down"}}))
    with pytest.raises(ProviderUnavailable) as caught:
        list(adapter.stream_chat("m", [Message("user", "hi")], ChatOptions()))
    assert caught.value.message == "my-vllm: HTTP 502 from api.example.test: upstream down"
    assert "(llmcli retried 3 times)" in caught.value.hint and "--fallback" in caught.value.hint
