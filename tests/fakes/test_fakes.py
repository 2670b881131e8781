"""The fakes themselves: if these break, every end-to-end test lies."""

from __future__ import annotations

import json
import socket
import ssl
import urllib.request

import httpx
import pytest

from tests.fakes.base import FakeHandler, FakeServer, Fault, RecordedRequest, sse_comment, sse_event
from tests.fakes.tls import session_ca, wrong_ca


class CountingHandler(FakeHandler):
    """Streams `state` SSE events numbered 0..n-1, then [DONE]."""

    def handle_request(self, request: RecordedRequest) -> None:
        self.start_stream()
        self.write_frame(sse_comment())
        for i in range(self.state):
            self.write_frame(sse_event({"n": i}))
        self.write_frame(sse_event("[DONE]"))
        self.end_stream()


def stream_lines(url: str, **client_kw) -> list[str]:
    with httpx.Client(timeout=5, **client_kw) as client:
        with client.stream("POST", url + "/x", json={"q": "привет"}) as response:
            return list(response.iter_lines())


def test_streams_chunked_and_logs_the_request():
    with FakeServer(CountingHandler, state=3) as srv:
        lines = stream_lines(srv.url)
        request = srv.requests[0]
    assert [line for line in lines if line.startswith("data:")] == [
        'data: {"n": 0}', 'data: {"n": 1}', 'data: {"n": 2}', "data: [DONE]"
    ]
    assert request.method == "POST" and request.path == "/x"
    assert request.json == {"q": "привет"}
    assert request.headers["CONTENT-TYPE"] == "application/json"
    assert "content-type" in request.headers


def test_tls_with_the_test_ca_and_rejected_with_a_wrong_ca():
    with FakeServer(CountingHandler, tls=session_ca(), state=1) as srv:
        assert srv.url.startswith("https://127.0.0.1:")
        assert "data: [DONE]" in stream_lines(srv.url, verify=session_ca().client_ssl_context())
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            stream_lines(srv.url, verify=wrong_ca().client_ssl_context())
        # the server survives a failed handshake
        assert "data: [DONE]" in stream_lines(srv.url, verify=session_ca().client_ssl_context())


def test_faults_are_consumed_one_per_request_in_order():
    with FakeServer(CountingHandler, state=1) as srv:
        srv.inject(Fault.rate_limited(retry_after="2"), Fault.html(503, "Service Unavailable"))
        with httpx.Client(timeout=5) as client:
            first = client.post(srv.url + "/x")
            second = client.post(srv.url + "/x")
            third = client.post(srv.url + "/x")
    assert (first.status_code, first.headers["retry-after"]) == (429, "2")
    assert second.status_code == 503 and "<title>Service Unavailable</title>" in second.text
    assert third.status_code == 200 and "[DONE]" in third.text
    assert len(srv.requests) == 3


def test_fault_path_filter_skips_other_paths():
    with FakeServer(CountingHandler, state=1) as srv:
        srv.inject(Fault.json(500, {"error": {"message": "boom"}}, path="/chat"))
        with httpx.Client(timeout=5) as client:
            assert client.post(srv.url + "/oauth").status_code == 200
            assert client.post(srv.url + "/v1/chat/completions").status_code == 500


def test_reset_before_first_byte():
    with FakeServer(CountingHandler, state=1) as srv:
        srv.inject(Fault.reset())
        with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
            stream_lines(srv.url)


def test_reset_after_n_chunks_delivers_those_chunks_first():
    seen: list[str] = []
    with FakeServer(CountingHandler, state=10) as srv:
        srv.inject(Fault.reset_after(3))  # the comment frame, then events 0 and 1
        with httpx.Client(timeout=5) as client, pytest.raises((httpx.ReadError, httpx.RemoteProtocolError)):
            with client.stream("POST", srv.url + "/x") as response:
                for line in response.iter_lines():
                    seen.append(line)
    assert [line for line in seen if line.startswith("data:")] == ['data: {"n": 0}', 'data: {"n": 1}']


def test_stall_mid_stream_trips_the_read_timeout():
    with FakeServer(CountingHandler, state=5) as srv:
        srv.inject(Fault.stall(2.0, after=2))
        with httpx.Client(timeout=httpx.Timeout(5, read=0.5)) as client, pytest.raises(httpx.ReadTimeout):
            with client.stream("POST", srv.url + "/x") as response:
                for _ in response.iter_lines():
                    pass


def test_trickle_sends_one_byte_per_chunk():
    with FakeServer(CountingHandler, state=1) as srv:
        srv.inject(Fault.trickle(0.001))
        with httpx.Client(timeout=5) as client, client.stream("POST", srv.url + "/x") as response:
            pieces = list(response.iter_raw())
    assert b"".join(pieces).endswith(b"data: [DONE]\n\n")
    assert len(pieces) > 20 and max(len(p) for p in pieces) <= 2


def test_malformed_payload_ends_the_stream():
    with FakeServer(CountingHandler, state=5) as srv:
        srv.inject(Fault.malformed(after=2, payload=b"data: {oops\n\n"))
        text = "\n".join(stream_lines(srv.url))
    assert 'data: {"n": 0}' in text and "data: {oops" in text and "[DONE]" not in text


def test_control_endpoint_injects_faults_for_subprocess_use():
    with FakeServer(CountingHandler, state=1) as srv:
        fault = Fault.json(502, {"error": {"message": "bad gateway"}})
        data = json.dumps(fault.to_dict()).encode()
        urllib.request.urlopen(urllib.request.Request(srv.url + "/_fake/faults", data=data, method="POST"))
        with httpx.Client(timeout=5) as client:
            assert client.post(srv.url + "/x").status_code == 502
            logged = client.get(srv.url + "/_fake/requests").json()
    assert [r["path"] for r in logged] == ["/x"]  # control calls are not logged


def test_stop_ends_a_stalled_stream_promptly():
    srv = FakeServer(CountingHandler, state=3).start()
    srv.inject(Fault.stall(25.0, after=1))
    sock = socket.create_connection((srv.host, srv.port), timeout=5)
    sock.sendall(b"POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
    sock.recv(1024)
    srv.stop()  # must not wait out the 25 s stall
    sock.close()
    assert srv.pending_faults == []


def test_test_ca_pem_is_a_file_clients_can_load():
    context = ssl.create_default_context()
    context.load_verify_locations(session_ca().ca_pem_path)
    assert session_ca().ca_pem_path != wrong_ca().ca_pem_path


# --- the OpenAI-compatible fake


def test_openai_fake_streams_deltas_usage_and_done():
    from tests.fakes.openai_server import openai_server

    with openai_server(api_key="sk-fake") as srv, httpx.Client(timeout=5) as client:
        body = {"model": "m1", "stream": True, "stream_options": {"include_usage": True},
                "messages": [{"role": "user", "content": "привет"}]}
        denied = client.post(srv.url + "/v1/chat/completions", json=body)
        response = client.post(srv.url + "/v1/chat/completions", json=body,
                               headers={"Authorization": "Bearer sk-fake"})
    assert denied.status_code == 401 and denied.json()["error"]["code"] == "invalid_api_key"
    assert response.headers["content-type"].startswith("text/event-stream")
    lines = response.text.splitlines()
    assert ": keep-alive" in lines and lines[-2:] == ["data: [DONE]", ""]
    events = [json.loads(line[6:]) for line in lines if line.startswith("data: {")]
    assert "".join(e["choices"][0]["delta"].get("content", "") for e in events if e["choices"]) == "echo: привет"
    assert events[-1]["choices"] == [] and events[-1]["usage"]["total_tokens"] == 18
    assert events[-2]["choices"][0]["finish_reason"] == "stop"


def test_openai_fake_vllm_error_shape_and_stream_options_rejection():
    from tests.fakes.openai_server import openai_server

    with openai_server(error_shape="vllm", reject_stream_options=True) as srv, httpx.Client(timeout=5) as c:
        response = c.post(srv.url + "/v1/chat/completions",
                          json={"model": "m", "stream": True, "stream_options": {"include_usage": True},
                                "messages": [{"role": "user", "content": "x"}]})
        models = c.get(srv.url + "/v1/models").json()
    assert response.status_code == 400
    assert response.json()["object"] == "error" and "stream_options" in response.json()["message"]
    assert [m["id"] for m in models["data"]] == ["gpt-fake", "gpt-fake-mini"]


def test_openai_fake_runs_as_a_process():
    import subprocess
    import sys

    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.openai_server", "--port", "0", "--chunks", "3"],
        stdout=subprocess.PIPE, text=True, cwd=str(__import__("pathlib").Path(__file__).parents[2]),
    )
    try:
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        reply = httpx.post(url + "/v1/chat/completions", timeout=5,
                           json={"model": "m", "messages": [{"role": "user", "content": "abc"}]}).json()
        assert reply["choices"][0]["message"]["content"] == "echo: abc"
    finally:
        proc.terminate()
        assert proc.wait(timeout=5) == 0
