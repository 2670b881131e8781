"""A fake OpenAI-compatible server (OpenAI, OpenRouter, vLLM, Ollama /v1) on top of FakeServer.

    with openai_server(api_key="sk-test", reply="Привет!") as srv:
        base_url = srv.url + "/v1"

Routes (with or without the /v1 prefix): `GET /v1/models`, `POST /v1/chat/completions` (SSE when
`stream` is true, one JSON object otherwise). The default reply is derived from the last user
message ("echo: <text>"), so a test can see that the prompt arrived.

As a process, for benchmarks and end-to-end runs (prints its root URL, serves until killed):

    python -m tests.fakes.openai_server --port 0 [--tls] [--delay-first-byte S] [--chunks N] [--chunk-interval S]
"""

from __future__ import annotations

import argparse
import itertools
import re
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from tests.fakes.base import FakeHandler, FakeServer, RecordedRequest, sse_comment, sse_event

_request_ids = itertools.count(1)


@dataclass
class OpenAIState:
    """What the fake answers. Mutable: a test may change it between requests."""

    reply: str | None = None  # None: "echo: <last user message>"
    models: list[str] = field(default_factory=lambda: ["gpt-fake", "gpt-fake-mini"])
    model_name: str | None = None  # the model the server reports; None echoes the requested one
    usage: dict[str, int] = field(
        default_factory=lambda: {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}
    )
    finish_reason: str = "stop"
    api_key: str | None = None  # when set, "Authorization: Bearer <api_key>" is required
    error_shape: str = "openai"  # "openai": {"error": {...}}; "vllm": {"object": "error", ...}
    reject_stream_options: bool = False  # 400 for bodies carrying stream_options (old vLLM, proxies)
    usage_without_asking: bool = False  # send the usage chunk even without include_usage (Yandex /v1)
    chunks: int | None = None  # split the reply into this many deltas; None: one delta per word
    chunk_interval: float = 0.0  # seconds between deltas
    delay_first_byte: float = 0.0  # seconds before the response starts
    stream_error: dict[str, Any] | None = None  # an in-band error event sent mid-stream ...
    stream_error_after: int = 1  # ... after this many content deltas


def error_body(message: str, *, status: int, shape: str = "openai", code: Any = None) -> dict[str, Any]:
    """An error object in one of the two shapes OpenAI-compatible servers use."""
    kind = "invalid_request_error" if status < 500 else "server_error"
    if shape == "vllm":
        return {"object": "error", "message": message, "type": kind, "param": None, "code": code or status}
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


def split_reply(text: str, chunks: int | None) -> list[str]:
    if chunks is None:
        return re.findall(r"\S+\s*|\s+", text) or [text]  # "one ", "two ": whole words per delta
    size = max(1, -(-len(text) // max(chunks, 1)))
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


class OpenAIHandler(FakeHandler):
    state: OpenAIState
    malformed_payload = b'data: {"id": "chatcmpl-x", "choices": [{"delta": {"content": "unterminated\n\n'

    def handle_request(self, request: RecordedRequest) -> None:
        self.request_id = f"req-{next(_request_ids)}"
        if request.path.endswith("/models") and request.method == "GET":
            if self._authorized(request):
                self._models()
        elif request.path.endswith("/chat/completions") and request.method == "POST":
            if self._authorized(request):
                self._chat(request)
        else:
            self._error(404, f"Not found: {request.method} {request.path}")

    # --- helpers

    def _error(self, status: int, message: str, code: Any = None) -> None:
        body = error_body(message, status=status, shape=self.state.error_shape, code=code)
        self.send_json(status, body, {"x-request-id": self.request_id})

    def _authorized(self, request: RecordedRequest) -> bool:
        expected = self.state.api_key
        if expected is None or request.headers.get("authorization") == f"Bearer {expected}":
            return True
        self._error(401, "Incorrect API key provided.", code="invalid_api_key")
        return False

    def _models(self) -> None:
        data = [{"id": m, "object": "model", "created": 1700000000, "owned_by": "fake"} for m in self.state.models]
        self.send_json(200, {"object": "list", "data": data}, {"x-request-id": self.request_id})

    def _reply_for(self, body: dict[str, Any]) -> str:
        if self.state.reply is not None:
            return self.state.reply
        users = [m.get("content", "") for m in body.get("messages", []) if m.get("role") == "user"]
        return f"echo: {users[-1] if users else ''}"

    # --- chat

    def _chat(self, request: RecordedRequest) -> None:
        body = request.json
        if not isinstance(body, dict) or "messages" not in body:
            self._error(400, "'messages' is a required property")
            return
        if self.state.reject_stream_options and "stream_options" in body:
            self._error(400, "Unrecognized request argument supplied: stream_options")
            return
        if self.state.delay_first_byte:
            self.fake.wait(self.state.delay_first_byte)
        model = self.state.model_name or body.get("model") or "gpt-fake"
        text = self._reply_for(body)
        if body.get("stream"):
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            self._stream(model, text, include_usage or self.state.usage_without_asking)
        else:
            self.send_json(200, {
                "id": "chatcmpl-" + self.request_id, "object": "chat.completion", "created": int(time.time()),
                "model": model,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                             "finish_reason": self.state.finish_reason}],
                "usage": dict(self.state.usage),
            }, {"x-request-id": self.request_id})

    def _stream(self, model: str, text: str, include_usage: bool) -> None:
        base = {"id": "chatcmpl-" + self.request_id, "object": "chat.completion.chunk",
                "created": int(time.time()), "model": model}

        def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
            event = dict(base, choices=[{"index": 0, "delta": delta, "finish_reason": finish}])
            if include_usage:
                event["usage"] = None
            return sse_event(event)

        self.start_stream("text/event-stream; charset=utf-8", headers={"x-request-id": self.request_id})
        self.write_frame(chunk({"role": "assistant", "content": ""}))
        self.write_frame(sse_comment("keep-alive"))
        for i, piece in enumerate(split_reply(text, self.state.chunks)):
            if self.state.stream_error is not None and i == self.state.stream_error_after:
                self.write_frame(sse_event(self.state.stream_error))
                self.end_stream()
                return
            if i and self.state.chunk_interval:
                self.fake.wait(self.state.chunk_interval)
            self.write_frame(chunk({"content": piece}))
        self.write_frame(chunk({}, self.state.finish_reason))
        if include_usage:
            self.write_frame(sse_event(dict(base, choices=[], usage=dict(self.state.usage))))
        self.write_frame(sse_event("[DONE]"))
        self.end_stream()


def openai_server(*, tls: Any = None, **state: Any) -> FakeServer:
    """A FakeServer speaking the OpenAI-compatible protocol; `state` fields as in OpenAIState."""
    return FakeServer(OpenAIHandler, tls=tls, state=OpenAIState(**state))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--tls", action="store_true", help="serve HTTPS with a throwaway test CA")
    parser.add_argument("--api-key", default=None, help="require this Bearer key")
    parser.add_argument("--reply", default=None)
    parser.add_argument("--delay-first-byte", type=float, default=0.0)
    parser.add_argument("--chunks", type=int, default=None)
    parser.add_argument("--chunk-interval", type=float, default=0.0)
    args = parser.parse_args(argv)

    tls = None
    if args.tls:
        from tests.fakes.tls import session_ca

        tls = session_ca()
        print(f"# ca_bundle: {tls.ca_pem_path}", file=sys.stderr)
    server = FakeServer(OpenAIHandler, tls=tls, port=args.port, state=OpenAIState(
        api_key=args.api_key, reply=args.reply, delay_first_byte=args.delay_first_byte,
        chunks=args.chunks, chunk_interval=args.chunk_interval,
    ))
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    with server:
        print(server.url, flush=True)
        try:
            while not done.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
