"""A fake Yandex Cloud AI Studio server (native REST API + IAM + /v1/models) on top of FakeServer.

    with yandex_server(tls=session_ca(), chunks=20) as srv:
        base_url, iam_url = srv.url, srv.url + "/iam/v1/tokens"

Routes: `POST /foundationModels/v1/completion` (NDJSON lines with CUMULATIVE text when
completionOptions.stream is true, one `{"result": …}` object otherwise), `POST /iam/v1/tokens`
(OAuth token or service-account JWT → IAM token), `GET /v1/models` (needs `OpenAI-Project`).
Errors use the grpc-gateway body `{"error": {"grpcCode", "httpCode", "message", "httpStatus"}}`.
A test changes the YandexState between requests; `srv.requests` is the request log.

As a process (prints its root URL, serves until killed):

    python -m tests.fakes.yandex_server --port 0 [--tls] [--chunks N] [--chunk-interval S]
"""

from __future__ import annotations

import argparse
import base64
import itertools
import json
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from tests.fakes.base import FakeHandler, FakeServer, RecordedRequest, ndjson_line

COMPLETION = "/foundationModels/v1/completion"
IAM = "/iam/v1/tokens"
SESSIONS_QUOTA = "ai.textGenerationCompletionSessionsCount.count gauge quota limit exceed: allowed {n} requests"
STATUS_TEXT = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
               429: "Too Many Requests", 500: "Internal Server Error"}
GRPC_CODES = {400: 3, 401: 16, 403: 7, 404: 5, 429: 8, 500: 13}
ENDINGS = {"final": "ALTERNATIVE_STATUS_FINAL", "truncated": "ALTERNATIVE_STATUS_TRUNCATED_FINAL",
           "content_filter": "ALTERNATIVE_STATUS_CONTENT_FILTER"}

_trace_ids = itertools.count(1)


@dataclass
class YandexState:
    """What the fake accepts and answers. Mutable: a test may change it between requests."""

    folder_id: str = "b1gfakefolder"
    api_keys: set[str] = field(default_factory=lambda: {"AQVNfake-api-key"})
    iam_tokens: set[str] = field(default_factory=lambda: {"t1.fake-user-iam-token"})  # static ones
    oauth_tokens: set[str] = field(default_factory=lambda: {"y0_fake-oauth-token"})
    sa_public_key: Any = None  # a cryptography RSA public key: JWTs must be signed with its private key
    iam_ttl: float = 12 * 3600  # lifetime of exchanged IAM tokens (expiresAt)
    iam_exchanges: int = 0  # how many tokens /iam/v1/tokens issued
    issued: dict[str, float] = field(default_factory=dict)  # exchanged IAM token -> expiry (epoch)
    models: list[str] = field(default_factory=lambda: [
        "gpt://{folder}/yandexgpt/latest", "gpt://{folder}/yandexgpt/rc", "gpt://{folder}/yandexgpt-lite/latest",
        "gpt://{folder}/llama/latest", "emb://{folder}/text-search-doc/latest",
    ])
    reply: str | None = None  # None: "echo: <last user text>"
    chunks: int = 5  # cumulative lines in a stream
    chunk_interval: float = 0.0
    ending: str = "final"  # final | truncated | content_filter
    refusal: str = "Я не могу обсуждать эту тему."
    draft: str | None = None  # when set, lines before `rewrite_at` are prefixes of this text instead
    rewrite_at: int = 0
    error_after: int | None = None  # send an in-band {"error": …} line after this many result lines
    input_tokens: int = 26
    max_concurrent: int = 10  # concurrent generations allowed; 429 (sessions gauge) beyond
    retry_after: str | None = None  # a Retry-After header on that 429 (the real server sends none)
    active: int = 0
    peak_active: int = 0
    deny_role: bool = False  # 403 PERMISSION_DENIED for every completion
    sent_usage: dict[str, Any] | None = None  # the usage object of the last line sent
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)


def error_body(status: int, message: str) -> dict[str, Any]:
    return {"error": {"grpcCode": GRPC_CODES.get(status, 2), "httpCode": status, "message": message,
                      "httpStatus": STATUS_TEXT.get(status, "Error"), "details": []}}


def cut_points(length: int, chunks: int) -> list[int]:
    """`chunks` growing prefix lengths ending at `length` (every one non-empty when possible)."""
    chunks = max(1, min(chunks, max(length, 1)))
    return [max(1, round(length * (i + 1) / chunks)) if length else 0 for i in range(chunks)]


def cumulative_texts(reply: str, chunks: int, draft: str | None = None, rewrite_at: int = 0) -> list[str]:
    """The text of each stream line; with a draft, lines before rewrite_at show the draft instead."""
    return [(draft if draft is not None and i < rewrite_at else reply)[:n]
            for i, n in enumerate(cut_points(len(reply), chunks))]


def _b64decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


class YandexHandler(FakeHandler):
    state: YandexState
    malformed_payload = b'{"result": {"alternatives": [{"message": {"text": "unterminated\n'

    def handle_request(self, request: RecordedRequest) -> None:
        self.trace_id = f"trace-{next(_trace_ids)}"
        if request.path == IAM and request.method == "POST":
            self._iam(request)
        elif request.path == COMPLETION and request.method == "POST":
            if self._authorized(request):
                self._completion(request)
        elif request.path == "/v1/models" and request.method == "GET":
            if self._authorized(request):
                self._models(request)
        else:
            self._error(404, f"Not found: {request.method} {request.path}")

    def _error(self, status: int, message: str) -> None:
        self.send_json(status, error_body(status, message), {"x-server-trace-id": self.trace_id})

    # --- auth

    def _iam(self, request: RecordedRequest) -> None:
        body = request.json if isinstance(request.json, dict) else {}
        if "yandexPassportOauthToken" in body:
            valid = body["yandexPassportOauthToken"] in self.state.oauth_tokens
        else:
            valid = self._valid_jwt(str(body.get("jwt", "")))
        if not valid:  # the IAM host's own (minimal) error shape
            self.send_json(401, {"code": 16, "message": "The token is invalid", "details": []})
            return
        with self.state.lock:
            self.state.iam_exchanges += 1
            token = f"t1.fake-exchanged-{self.state.iam_exchanges}"
            expires = time.time() + self.state.iam_ttl
            self.state.issued[token] = expires
        stamp = datetime.fromtimestamp(expires, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f") + "123Z"
        self.send_json(200, {"iamToken": token, "expiresAt": stamp})

    def _valid_jwt(self, jwt: str) -> bool:
        parts = jwt.split(".")
        if len(parts) != 3 or self.state.sa_public_key is None:
            return False
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        try:
            header = json.loads(_b64decode(parts[0]))
            self.state.sa_public_key.verify(
                _b64decode(parts[2]), f"{parts[0]}.{parts[1]}".encode(),
                padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32), hashes.SHA256())
        except (InvalidSignature, ValueError):
            return False
        return header.get("alg") == "PS256"

    def _authorized(self, request: RecordedRequest) -> bool:
        kind, _, value = (request.headers.get("authorization") or "").partition(" ")
        state = self.state
        if kind == "Api-Key" and value in state.api_keys:
            return True
        if kind == "Bearer" and (value in state.iam_tokens or state.issued.get(value, 0) > time.time()):
            return True
        self._error(401, "The token is invalid")
        return False

    # --- models

    def _models(self, request: RecordedRequest) -> None:
        folder = request.headers.get("openai-project")
        if not folder:
            self._error(400, "OpenAI-Project header is required")
            return
        data = [{"id": m.format(folder=folder), "object": "model", "created": 0, "owned_by": "Yandex"}
                for m in self.state.models]
        self.send_json(200, {"object": "list", "data": data}, {"x-server-trace-id": self.trace_id})

    # --- completion

    def _completion(self, request: RecordedRequest) -> None:
        body = request.json if isinstance(request.json, dict) else {}
        uri = str(body.get("modelUri", ""))
        if not uri.startswith("gpt://") or not isinstance(body.get("messages"), list):
            self._error(400, "modelUri and messages are required")
            return
        folder = uri[len("gpt://"):].split("/", 1)[0]
        if folder != self.state.folder_id:
            self._error(400, f"Specified folder ID '{folder}' does not match with service account "
                             f"folder ID '{self.state.folder_id}'")
            return
        if self.state.deny_role:
            self._error(403, f"Permission to [resource-manager.folder {folder}] denied")
            return
        with self.state.lock:
            if self.state.active >= self.state.max_concurrent:
                busy = True
            else:
                busy = False
                self.state.active += 1
                self.state.peak_active = max(self.state.peak_active, self.state.active)
        if busy:
            headers = {"x-server-trace-id": self.trace_id}
            if self.state.retry_after is not None:
                headers["Retry-After"] = self.state.retry_after
            self.send_json(429, error_body(429, SESSIONS_QUOTA.format(n=self.state.max_concurrent)), headers)
            return
        try:
            self._generate(body)
        finally:
            with self.state.lock:
                self.state.active -= 1

    def _generate(self, body: dict[str, Any]) -> None:
        state = self.state
        reply = state.reply
        if reply is None:
            users = [m.get("text", "") for m in body["messages"] if m.get("role") == "user"]
            reply = f"echo: {users[-1] if users else ''}"
        texts = cumulative_texts(reply, state.chunks, state.draft, state.rewrite_at)
        if not (body.get("completionOptions") or {}).get("stream"):
            if state.chunk_interval:
                self.fake.wait(state.chunk_interval * len(texts))
            final_text = state.refusal if state.ending == "content_filter" else reply
            self.send_json(200, self._result(final_text, ENDINGS[state.ending], len(texts)),
                           {"x-server-trace-id": self.trace_id})
            return
        self.start_stream("application/json", headers={"x-server-trace-id": self.trace_id})
        for i, text in enumerate(texts):
            if state.error_after is not None and i == state.error_after:
                self.write_frame(ndjson_line(error_body(500, "Internal error while generating")))
                self.end_stream()
                return
            if i and state.chunk_interval:
                self.fake.wait(state.chunk_interval)
            last = i == len(texts) - 1
            if last and state.ending == "content_filter":
                line = self._result(state.refusal, ENDINGS["content_filter"], i + 1)
            else:
                status = ENDINGS[state.ending] if last else "ALTERNATIVE_STATUS_PARTIAL"
                line = self._result(text, status, i + 1)
            self.write_frame(ndjson_line(line))
        self.end_stream()

    def _result(self, text: str, status: str, step: int) -> dict[str, Any]:
        completion = 3 * step + len(text) // 4  # grows with every line, like the real counts
        self.state.sent_usage = {"inputTextTokens": str(self.state.input_tokens),
                                 "completionTokens": str(completion),
                                 "totalTokens": str(self.state.input_tokens + completion)}
        return {"result": {
            "alternatives": [{"message": {"role": "assistant", "text": text}, "status": status}],
            "usage": {"inputTextTokens": str(self.state.input_tokens), "completionTokens": str(completion),
                      "totalTokens": str(self.state.input_tokens + completion),
                      "completionTokensDetails": {"reasoningTokens": "0"}},
            "modelVersion": "23.10.2024",
        }}


def yandex_server(*, tls: Any = None, **state: Any) -> FakeServer:
    """A FakeServer speaking Yandex's native API; `state` fields as in YandexState."""
    return FakeServer(YandexHandler, tls=tls, state=YandexState(**state))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--tls", action="store_true", help="serve HTTPS with a throwaway test CA")
    parser.add_argument("--reply", default=None)
    parser.add_argument("--chunks", type=int, default=20)
    parser.add_argument("--chunk-interval", type=float, default=0.0)
    args = parser.parse_args(argv)
    tls = None
    if args.tls:
        from tests.fakes.tls import session_ca

        tls = session_ca()
        print(f"# ca_bundle: {tls.ca_pem_path}", file=sys.stderr)
    state = YandexState(reply=args.reply, chunks=args.chunks, chunk_interval=args.chunk_interval)
    print(f"# folder_id: {state.folder_id}; api key: {next(iter(state.api_keys))}", file=sys.stderr)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    with FakeServer(YandexHandler, tls=tls, port=args.port, state=state) as server:
        print(server.url, flush=True)
        try:
            while not done.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
