"""The base of every fake provider server: a real HTTP/1.1 server on 127.0.0.1, optional TLS,
a request log and a queue of faults.

    with FakeServer(MyHandler, tls=session_ca()) as srv:
        srv.inject(Fault.rate_limited(retry_after="1"))
        ... talk to srv.url ...
        assert srv.requests[-1].json["model"] == "m"

A protocol handler subclasses `FakeHandler` and implements `handle_request(request)` with the
helpers `send_json`, `send_body`, `start_stream` / `write_frame` / `end_stream`. Faults that
replace the whole response (status, body, reset before the first byte) are applied before
`handle_request` runs; faults inside a stream (reset/stall/malformed after N frames, trickle) are
applied by `write_frame`. Every loop and wait is bounded, and waits end early when the server stops.

A subprocess (benchmarks, end-to-end tests) can be driven through control endpoints:
`POST /_fake/faults` with a Fault as JSON, `DELETE /_fake/faults`, `GET /_fake/requests`.
"""

from __future__ import annotations

import json
import socket
import ssl
import struct
import threading
import time
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.fakes.wire import (  # re-exported: fakes and tests import everything from here
    Fault,
    Headers,
    RecordedRequest,
    chunked_frame,
    html_page,
    ndjson_line,
    sse_comment,
    sse_event,
)

__all__ = [
    "FakeHandler", "FakeServer", "Fault", "Headers", "RecordedRequest", "StreamAborted", "chunked_frame",
    "html_page", "ndjson_line", "sse_comment", "sse_event",
]

CONTROL_PREFIX = "/_fake/"
MAX_WAIT_SECONDS = 30.0  # no stall or trickle may hold a test longer than this
MAX_BODY_BYTES = 64 * 1024 * 1024


class StreamAborted(Exception):
    """Raised inside a handler when a fault ended the connection; the base swallows it."""


# ---------------------------------------------------------------------------------------------
# Handler


class FakeHandler(BaseHTTPRequestHandler):
    """Subclass and implement handle_request(). `self.state` is the FakeServer's `state` object."""

    protocol_version = "HTTP/1.1"
    server_version = "llmcli-fake/1"
    timeout = 10  # an idle keep-alive connection frees its thread after this
    # what Fault.malformed() sends when it carries no payload; protocol handlers override it
    malformed_payload = b'data: {"choices": [{"delta": {"content": "unterminated\n\n'

    fake: FakeServer
    fault: Fault | None
    _frames_written: int
    _trickle_until: float = 0.0

    @property
    def state(self) -> Any:
        return self.fake.state

    # --- plumbing

    def setup(self) -> None:
        self.fake = self.server.fake  # type: ignore[attr-defined]
        super().setup()  # sets the socket timeout, so the handshake below is bounded too
        if isinstance(self.connection, ssl.SSLSocket):
            self.connection.do_handshake()  # in this thread, so a bad client cannot block accept()

    def log_message(self, format: str, *args: Any) -> None:
        pass  # tests read srv.requests instead of stderr noise

    def do_GET(self) -> None:
        self._dispatch()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_GET

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            parts = []
            for _ in range(100_000):
                size = int(self.rfile.readline().strip().split(b";")[0] or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    break
                parts.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(parts)
        length = min(int(self.headers.get("Content-Length") or 0), MAX_BODY_BYTES)
        return self.rfile.read(length) if length else b""

    def _dispatch(self) -> None:
        path, _, query = self.path.partition("?")
        request = RecordedRequest(self.command, path, query, Headers(self.headers.items()), self._read_body())
        self.fault = None
        self._frames_written = 0
        self._trickle_until = 0.0
        try:
            if path.startswith(CONTROL_PREFIX):
                self._control(request)
                return
            self.fake._record(request)
            self.fault = self.fake._take_fault(path)
            if self.fault is not None and self._apply_fault_before_response():
                return
            self.handle_request(request)
        except StreamAborted:
            self.close_connection = True
        except (TimeoutError, BrokenPipeError, ConnectionResetError, ssl.SSLError):
            self.close_connection = True  # the client went away; nothing to answer

    def _apply_fault_before_response(self) -> bool:
        """Apply a whole-response fault; True when the response has been dealt with."""
        fault = self.fault
        assert fault is not None
        if fault.kind == "respond":
            self.send_body(fault.status, fault.body, fault.content_type or "text/plain", fault.headers)
            return True
        if fault.kind == "reset":
            self.reset_connection()
        if fault.kind == "delay":
            self.fake.wait(fault.seconds)
        return False

    def _control(self, request: RecordedRequest) -> None:
        if request.path == CONTROL_PREFIX + "faults" and request.method == "POST":
            data = request.json
            for item in data if isinstance(data, list) else [data]:
                self.fake.inject(Fault.from_dict(item))
            self.send_json(200, {"pending": len(self.fake.pending_faults)})
        elif request.path == CONTROL_PREFIX + "faults" and request.method == "DELETE":
            self.fake.clear_faults()
            self.send_json(200, {"pending": 0})
        elif request.path == CONTROL_PREFIX + "requests":
            self.send_json(200, [r.to_dict() for r in self.fake.requests])
        else:
            self.send_json(404, {"error": "unknown control endpoint"})

    # --- what protocol handlers implement and use

    def handle_request(self, request: RecordedRequest) -> None:
        self.send_json(404, {"error": {"message": f"no route for {request.method} {request.path}"}})

    def send_body(
        self, status: int, body: bytes, content_type: str, headers: Mapping[str, str] | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def send_json(self, status: int, obj: Any, headers: Mapping[str, str] | None = None) -> None:
        body = json.dumps(obj, ensure_ascii=False).encode("utf-8")
        self.send_body(status, body, "application/json; charset=utf-8", headers)

    def start_stream(
        self, content_type: str = "text/event-stream", *, status: int = 200, headers: Mapping[str, str] | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Cache-Control", "no-cache")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()

    def write_frame(self, data: bytes) -> None:
        """Send one protocol frame (an SSE event, an NDJSON line) as one chunk, applying stream faults."""
        fault = self.fault
        if fault is not None and self._frames_written == fault.after:
            if fault.kind == "reset_after":
                self.reset_connection()
            elif fault.kind == "stall":
                self.fault = None  # stall once
                self.fake.wait(fault.seconds)
            elif fault.kind == "trickle":
                self._trickle_until = self.fake.clock() + min(fault.seconds, MAX_WAIT_SECONDS)
            elif fault.kind == "malformed":
                self._write_chunk(fault.payload if fault.payload is not None else self.malformed_payload)
                self.end_stream()
                raise StreamAborted  # the rest of this response is not sent
        self._frames_written += 1
        if fault is not None and fault.kind == "trickle" and self.fake.clock() < self._trickle_until:
            # from frame `after` on, every byte is its own chunk
            for i in range(len(data)):
                self._write_chunk(data[i : i + 1])
                if self.fake.wait(fault.interval) or self.fake.clock() >= self._trickle_until:
                    self._write_chunk(data[i + 1 :])
                    return
            return
        self._write_chunk(data)

    def end_stream(self) -> None:
        self.wfile.write(chunked_frame(b""))
        self.wfile.flush()

    def _write_chunk(self, data: bytes) -> None:
        if data:
            self.wfile.write(chunked_frame(data))
            self.wfile.flush()

    def reset_connection(self) -> None:
        """Abort the connection with a TCP RST (SO_LINGER 0 + close) and stop this handler."""
        sock = self.connection
        try:
            self.wfile.flush()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            # close the descriptor itself, now: no TLS close_notify, no waiting for rfile to close
            socket.socket(fileno=sock.detach()).close()
        except OSError:
            pass
        raise StreamAborted


# ---------------------------------------------------------------------------------------------
# Server


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    fake: FakeServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # handshake failures and client disconnects are part of the tests, not noise


class FakeServer:
    """A real HTTP(S) server on 127.0.0.1:<free port> in a daemon thread.

    tls: a tests.fakes.tls.TestCA (or a server ssl.SSLContext) for HTTPS, None for plain HTTP.
    state: any object the handler reads as `self.state` (reply text, usage, keys, ...).
    """

    def __init__(
        self, handler_cls: type[FakeHandler], *, tls: Any = None, state: Any = None,
        host: str = "127.0.0.1", port: int = 0,
    ) -> None:
        self.handler_cls = handler_cls
        self.state = state
        self._context: ssl.SSLContext | None = (
            tls if isinstance(tls, ssl.SSLContext) or tls is None else tls.server_ssl_context()
        )
        self._host = host
        self._port = port
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._faults: list[Fault] = []
        self._stopping = threading.Event()
        self._server: _QuietServer | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle

    def start(self) -> FakeServer:
        server = _QuietServer((self._host, self._port), self.handler_cls)
        server.fake = self
        if self._context is not None:
            server.socket = self._context.wrap_socket(
                server.socket, server_side=True, do_handshake_on_connect=False
            )
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-server", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # wakes stalls and trickles
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> FakeServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- addresses

    @property
    def port(self) -> int:
        assert self._server is not None, "server not started"
        return self._server.server_address[1]

    @property
    def host(self) -> str:
        return self._host

    @property
    def url(self) -> str:
        scheme = "https" if self._context is not None else "http"
        return f"{scheme}://{self._host}:{self.port}"

    # --- request log and faults (thread-safe)

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(request)

    def inject(self, *faults: Fault) -> None:
        """Queue faults; each is used by one later request (in order, matching `fault.path`)."""
        with self._lock:
            self._faults.extend(faults)

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    @property
    def pending_faults(self) -> list[Fault]:
        with self._lock:
            return list(self._faults)

    def _take_fault(self, path: str) -> Fault | None:
        with self._lock:
            for i, fault in enumerate(self._faults):
                if fault.path is None or fault.path in path:
                    return self._faults.pop(i)
        return None

    # --- time, bounded and interruptible by stop()

    def wait(self, seconds: float) -> bool:
        """Sleep at most `seconds` (capped); True if the server is stopping."""
        return self._stopping.wait(max(0.0, min(seconds, MAX_WAIT_SECONDS)))

    @staticmethod
    def clock() -> float:
        return time.monotonic()
