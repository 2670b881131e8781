"""A fake GigaChat (Sber) on top of FakeServer: the real OAuth, the v1 API and its error bodies.

    with gigachat_server(tls=session_ca()) as srv:
        base_url, auth_url = srv.url + API_PREFIX, srv.url + OAUTH_PATH
        ... key: TEST_AUTHORIZATION_KEY ...
        assert srv.state.oauth_calls == 1

Routes (protocols.md §1):
  POST /api/v2/oauth           Basic <authorization key>, RqUID (uuid4), form scope=… → access_token,
                               expires_at (ms); the real {"code", "message"} errors otherwise
  POST /api/v1/token           HTTP Basic user:password → {"tok", "exp" (seconds)}
  GET  /api/v1/models          the real list shape, with types chat/embedder/filter/aicheck
  POST /api/v1/chat/completions  SSE framed as recorded (first delta with role, large deltas, a last
                               event with empty content + finish_reason + usage, `data: [DONE]`), or
                               one JSON object when "stream" is false
An unknown or expired token gets 401 {"status":401,"message":"Token has expired"}; an unknown model
404 "No such model"; a second or misplaced system message 422. 429/5xx come from faults
(`too_many_requests()`, `server_error()`).
"""

from __future__ import annotations

import base64
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from tests.fakes.base import FakeHandler, FakeServer, Fault, RecordedRequest, sse_event

OAUTH_PATH = "/api/v2/oauth"
API_PREFIX = "/api/v1"
TEST_AUTHORIZATION_KEY = base64.b64encode(b"0f1e2d3c-test-client-id:test-client-secret").decode("ascii")
SCOPES = ("GIGACHAT_API_PERS", "GIGACHAT_API_B2B", "GIGACHAT_API_CORP")
MODEL_VERSION = "2.0.28.2"

# the shape of the January 2026 cassette (test_get_models.yaml), shortened
REAL_MODELS: list[dict[str, str]] = [
    {"id": model_id, "object": "model", "owned_by": "salutedevices", "type": model_type}
    for model_id, model_type in [
        ("GigaChat", "chat"), ("GigaChat-2", "chat"), ("GigaChat-2-Max", "chat"),
        ("GigaChat-2-Max-preview", "chat"), ("GigaChat-2-Pro", "chat"), ("GigaChat-Max", "chat"),
        ("GigaChat-Pro", "chat"), ("GigaChat-3-Ultra", "chat"), ("Embeddings", "embedder"),
        ("Embeddings-2", "embedder"), ("EmbeddingsGigaR", "embedder"), ("GigaFilter", "filter"),
        ("GigaCheckClassification", "aicheck"),
    ]
]


@dataclass
class GigaChatState:
    """What the fake accepts and answers. Mutable: a test may change it between requests."""

    authorization_key: str = TEST_AUTHORIZATION_KEY
    scope: str = "GIGACHAT_API_PERS"  # the one scope the key is bound to
    token_lifetime: float = 30 * 60.0  # seconds; the expiry the server reports and enforces
    user: str | None = None  # user/password flow, when both are set
    password: str | None = None
    reply: str | None = None  # None: "Эхо: <last user message>"
    deltas: int = 2  # the reply is cut into this many (large) deltas
    finish_reason: str = "stop"
    usage: dict[str, int] = field(default_factory=lambda: {
        "prompt_tokens": 17, "completion_tokens": 42, "total_tokens": 59, "precached_prompt_tokens": 2})
    models: list[dict[str, str]] = field(default_factory=lambda: [dict(m) for m in REAL_MODELS])
    # counters and issued tokens, guarded by `lock`
    oauth_calls: int = 0
    api_calls: int = 0
    tokens: dict[str, float] = field(default_factory=dict)  # token -> expiry (epoch seconds)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def expire_tokens(self) -> None:
        """Make every issued token stale on the server side (the client still thinks it is valid)."""
        with self.lock:
            self.tokens = {token: 0.0 for token in self.tokens}


def too_many_requests(retry_after: str | None = "0", *, path: str = "/chat/completions") -> Fault:
    headers = {"Retry-After": retry_after} if retry_after is not None else {}
    return Fault.json(429, {"status": 429, "message": "Too many requests"}, headers=headers, path=path)


def server_error(status: int = 500, *, path: str = "/chat/completions") -> Fault:
    return Fault.json(status, {"status": status, "message": "Internal Server Error"}, path=path)


def oauth_error(status: int, code: int, message: str) -> Fault:
    return Fault.json(status, {"code": code, "message": message}, path=OAUTH_PATH)


def _is_uuid4(value: str | None) -> bool:
    try:
        return value is not None and uuid.UUID(value).version == 4 and str(uuid.UUID(value)) == value.lower()
    except ValueError:
        return False


def _basic(header: str | None) -> str | None:
    if not header or not header.startswith("Basic "):
        return None
    return header[len("Basic "):]


class GigaChatHandler(FakeHandler):
    state: GigaChatState
    malformed_payload = b'data: {"choices": [{"delta": {"content": "unterminated\n\n'

    def handle_request(self, request: RecordedRequest) -> None:
        self.request_id = str(uuid.uuid4())
        path, method = request.path, request.method
        if path == OAUTH_PATH and method == "POST":
            self._oauth(request)
        elif path == API_PREFIX + "/token" and method == "POST":
            self._password_token(request)
        elif path.startswith(API_PREFIX + "/"):
            with self.state.lock:
                self.state.api_calls += 1
            if not self._authorized(request):
                return
            if path == API_PREFIX + "/models" and method == "GET":
                self._reply_json(200, {"object": "list", "data": self.state.models})
            elif path == API_PREFIX + "/chat/completions" and method == "POST":
                self._chat(request)
            else:
                self._reply_json(404, {"status": 404, "message": "Not found"})
        else:
            self._reply_json(404, {"status": 404, "message": "Not found"})

    def _reply_json(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        self.send_json(status, body, {"X-Request-Id": self.request_id, **(headers or {})})

    # --- tokens

    def _issue(self) -> tuple[str, float]:
        token = "tok-" + uuid.uuid4().hex
        expires_at = time.time() + self.state.token_lifetime
        with self.state.lock:
            self.state.tokens[token] = expires_at
        return token, expires_at

    def _oauth(self, request: RecordedRequest) -> None:
        with self.state.lock:
            self.state.oauth_calls += 1
        if not _is_uuid4(request.headers.get("RqUID")):
            # the service answers 400 for a missing or malformed RqUID; the exact body is undocumented
            self.send_json(400, {"code": 400, "message": "RqUID is not a valid uuid4"})
            return
        key = _basic(request.headers.get("Authorization"))
        if key is None:
            self.send_json(401, {"code": 4, "message": "Can't decode 'Authorization' header"})
            return
        if key != self.state.authorization_key:
            self.send_json(401, {"code": 6, "message": "credentials doesn't match db data"})
            return
        scope = (parse_qs(request.text).get("scope") or [""])[0]
        if not scope:
            self.send_json(400, {"code": 5, "message": "scope is empty"})
        elif scope not in SCOPES:
            self.send_json(400, {"code": 1, "message": "scope data format invalid"})
        elif scope != self.state.scope:
            self.send_json(400, {"code": 7, "message": "scope from db not fully includes consumed scope"})
        else:
            token, expires_at = self._issue()
            self.send_json(200, {"access_token": token, "expires_at": int(expires_at * 1000)})

    def _password_token(self, request: RecordedRequest) -> None:
        with self.state.lock:
            self.state.oauth_calls += 1
        expected = f"{self.state.user}:{self.state.password}".encode()
        given = _basic(request.headers.get("Authorization"))
        if self.state.user is None or given != base64.b64encode(expected).decode("ascii"):
            self._reply_json(401, {"status": 401, "message": "Unauthorized"})
            return
        token, expires_at = self._issue()
        self._reply_json(200, {"tok": token, "exp": int(expires_at)})  # seconds, as the docs example

    def _authorized(self, request: RecordedRequest) -> bool:
        header = request.headers.get("Authorization") or ""
        token = header[len("Bearer "):] if header.startswith("Bearer ") else ""
        with self.state.lock:
            expires_at = self.state.tokens.get(token)
        if expires_at is None or expires_at <= time.time():
            self._reply_json(401, {"status": 401, "message": "Token has expired"})
            return False
        return True

    # --- chat

    def _chat(self, request: RecordedRequest) -> None:
        body = request.json
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
            self._reply_json(400, {"status": 400, "message": "Invalid request body"})
            return
        requested = str(body.get("model") or "GigaChat")
        if requested not in {m["id"] for m in self.state.models if m.get("type") == "chat"}:
            self._reply_json(404, {"status": 404, "message": "No such model"})
            return
        problem = self._invalid_params(body)
        if problem:
            self._reply_json(422, {"status": 422, "message": f"Invalid params: {problem}"})
            return
        model = f"{requested}:{MODEL_VERSION}"
        text = self._reply_for(body["messages"])
        session = request.headers.get("X-Session-ID") or str(uuid.uuid4())
        headers = {"X-Request-Id": self.request_id, "X-Session-Id": session}
        if body.get("stream"):
            self._stream(model, text, headers)
        else:
            self.send_json(200, {
                "choices": [{"message": {"role": "assistant", "content": text}, "index": 0,
                             "finish_reason": self.state.finish_reason}],
                "created": int(time.time()), "model": model, "object": "chat.completion",
                "usage": dict(self.state.usage),
            }, headers)

    @staticmethod
    def _invalid_params(body: dict[str, Any]) -> str | None:
        roles = [m.get("role") for m in body["messages"] if isinstance(m, dict)]
        if "system" in roles[1:]:
            return "system message must be the first message"
        penalty = body.get("repetition_penalty")
        if penalty is not None and (not isinstance(penalty, (int, float)) or penalty <= 0):
            return "repetition_penalty must be in range (0, +inf)"
        temperature = body.get("temperature")
        if temperature is not None and (not isinstance(temperature, (int, float)) or temperature <= 0):
            return "temperature must be in range (0, +inf)"
        return None

    def _reply_for(self, messages: list[Any]) -> str:
        if self.state.reply is not None:
            return self.state.reply
        users = [m.get("content", "") for m in messages if isinstance(m, dict) and m.get("role") == "user"]
        return f"Эхо: {users[-1] if users else ''}"

    def _stream(self, model: str, text: str, headers: dict[str, str]) -> None:
        def event(delta: dict[str, Any], **extra: Any) -> bytes:
            choice = {"delta": delta, "index": 0, **({"finish_reason": extra.pop("finish_reason")}
                                                      if "finish_reason" in extra else {})}
            return sse_event({"choices": [choice], "created": int(time.time()), "model": model,
                              "object": "chat.completion", **extra})

        size = max(1, -(-len(text) // max(self.state.deltas, 1)))
        pieces = [text[i : i + size] for i in range(0, len(text), size)] or [""]
        self.start_stream("text/event-stream", headers=headers)
        for i, piece in enumerate(pieces):
            delta = {"content": piece, "role": "assistant"} if i == 0 else {"content": piece}
            self.write_frame(event(delta))
        self.write_frame(event({"content": ""}, finish_reason=self.state.finish_reason,
                               usage=dict(self.state.usage)))
        self.write_frame(sse_event("[DONE]"))
        self.end_stream()


def gigachat_server(*, tls: Any = None, **state: Any) -> FakeServer:
    """A FakeServer speaking GigaChat's protocol; `state` fields as in GigaChatState."""
    return FakeServer(GigaChatHandler, tls=tls, state=GigaChatState(**state))
