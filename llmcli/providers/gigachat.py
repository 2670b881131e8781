"""GigaChat (Sber): chat completions v1 over SSE, the model list, and GigaChat's quirks.

Quirks handled here (see docs/providers/gigachat.md): OAuth tokens (gigachat_auth.py) with one
refresh + one retry on a 401; only one system message, and only first (several are merged);
Cyrillic sent as raw UTF-8; the last SSE event carries finish_reason and usage; finish_reason
`blacklist` is GigaChat's content filter; the Russian Trusted Root CA is not in certifi.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence

import httpx

from llmcli.errors import AuthError, ProviderError, ProviderUnavailable
from llmcli.providers.base import ProviderSpec
from llmcli.providers.gigachat_auth import GigaChatAuth
from llmcli.providers.gigachat_wire import (
    MODEL_TYPES,
    api_error_message,
    chat_body,
    chunks_from_completion,
    chunks_from_events,
    explain,
)
from llmcli.providers.http import (
    Deadline,
    RetryPolicy,
    build_client,
    expect_content_type,
    guarded_stream,
    read_lines,
    send,
)
from llmcli.providers.streams import iter_sse_json
from llmcli.types import ChatOptions, Chunk, Message, ModelInfo

log = logging.getLogger("llmcli")

DEFAULT_MODEL = "GigaChat-2"
# GigaChat's 429 is a per-key cap on concurrent requests (protocols.md §1.9): wait it out like
# YandexGPT's, [1, 2), [2, 4), [4, 8) s, unless the server sends Retry-After.
GIGACHAT_RETRY_POLICY = RetryPolicy(cap_base_delay=2.0, cap_max_delay=16.0)


class GigaChatProvider:
    kind = "gigachat"

    def __init__(
        self,
        spec: ProviderSpec,
        *,
        client: httpx.Client | None = None,
        policy: RetryPolicy | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.name = spec.name
        self._spec = spec
        self._base_url = spec.base_url.rstrip("/")
        self._owns_client = client is None
        self._client = client if client is not None else build_client(spec)
        self._policy = policy or GIGACHAT_RETRY_POLICY
        self._auth = GigaChatAuth(spec, client=self._client, send=self._send_for_token, clock=clock)

    # --- Provider interface

    def list_models(self) -> list[ModelInfo]:
        deadline = Deadline(self._spec.deadline)
        response = self._send_authorized(
            lambda token: self._client.build_request(
                "GET", f"{self._base_url}/models", headers=self._headers(token, None, accept="application/json")
            ),
            stream=False, deadline=deadline,
        )
        try:
            items = response.json()["data"]
        except (ValueError, KeyError, TypeError):
            raise ProviderUnavailable("GigaChat's model list is not in the expected shape",
                                      provider=self.name) from None
        return [
            ModelInfo(id=str(item["id"]), provider=self.name,
                      type=MODEL_TYPES.get(str(item.get("type") or "chat"), "other"),
                      owned_by=item.get("owned_by"))
            for item in items
            if isinstance(item, dict) and item.get("id")
        ]

    def stream_chat(self, model: str, messages: Sequence[Message], options: ChatOptions) -> Iterator[Chunk]:
        body = chat_body(model or self._spec.model or DEFAULT_MODEL, messages, options)
        content = json.dumps(body, ensure_ascii=False).encode("utf-8")  # raw UTF-8: fewer tokens billed
        deadline = Deadline(self._spec.deadline)
        request_id = str(uuid.uuid4())
        if options.stream:
            chunks: Iterable[Chunk] = guarded_stream(
                lambda: self._stream_once(content, request_id, options.session_id, deadline),
                provider=self.name, policy=self._policy, deadline=deadline,
            )
        else:
            chunks = self._complete(content, request_id, options.session_id, deadline)
        yield from chunks

    def close(self) -> None:
        if self._owns_client:
            self._client.close()

    # --- chat internals

    def _chat_request(self, token: str, content: bytes, request_id: str, session_id: str | None,
                      *, stream: bool) -> httpx.Request:
        headers = self._headers(token, session_id, accept="text/event-stream" if stream else "application/json")
        headers["Content-Type"] = "application/json"
        headers["X-Request-ID"] = request_id
        if stream:
            headers["Cache-Control"] = "no-store"
        return self._client.build_request("POST", f"{self._base_url}/chat/completions",
                                          content=content, headers=headers)

    def _stream_once(self, content: bytes, request_id: str, session_id: str | None,
                     deadline: Deadline) -> Iterator[Chunk]:
        response = self._send_authorized(
            lambda token: self._chat_request(token, content, request_id, session_id, stream=True),
            stream=True, deadline=deadline,
        )
        try:
            server_request_id = self._note_request_id(response)
            expect_content_type(response, "text/event-stream", provider=self.name)
            lines = read_lines(response, deadline=deadline, provider=self.name)
            events = iter_sse_json(lines, provider=self.name)
            yield from chunks_from_events(events, server_request_id, self.name)
        finally:
            response.close()

    def _complete(self, content: bytes, request_id: str, session_id: str | None,
                  deadline: Deadline) -> list[Chunk]:
        response = self._send_authorized(
            lambda token: self._chat_request(token, content, request_id, session_id, stream=False),
            stream=False, deadline=deadline,
        )
        try:
            server_request_id = self._note_request_id(response)
            expect_content_type(response, "application/json", provider=self.name)
            try:
                data = response.json()
            except ValueError:
                raise ProviderUnavailable("GigaChat's answer is not valid JSON", provider=self.name,
                                          request_id=server_request_id) from None
            return chunks_from_completion(data, server_request_id, self.name)
        finally:
            response.close()

    def _note_request_id(self, response: httpx.Response) -> str | None:
        server_request_id = response.headers.get("x-request-id")
        log.debug("gigachat: %s %s → %s, x-request-id %s", response.request.method, response.request.url,
                  response.status_code, server_request_id)
        return server_request_id

    # --- transport

    def _headers(self, token: str, session_id: str | None, *, accept: str) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {token}", "Accept": accept}
        if session_id:
            headers["X-Session-ID"] = session_id  # a stable id per conversation raises prompt-cache hits
        return headers

    def _send(self, request: httpx.Request, *, stream: bool, deadline: Deadline,
              error_parser: Callable[[httpx.Response], str | None] = api_error_message) -> httpx.Response:
        try:
            return send(self._client, request, provider=self.name, stream=stream, policy=self._policy,
                        deadline=deadline, error_parser=error_parser)
        except ProviderError as error:
            raise explain(error)

    def _send_for_token(self, request: httpx.Request, error_parser: Callable[[httpx.Response], str | None],
                        deadline: Deadline | None) -> httpx.Response:
        return self._send(request, stream=False, deadline=deadline or Deadline(self._spec.deadline),
                          error_parser=error_parser)

    def _send_authorized(self, build: Callable[[str], httpx.Request], *, stream: bool,
                         deadline: Deadline) -> httpx.Response:
        """Send with a Bearer token; on a 401, renew the token and retry exactly once."""
        token = self._auth.token(deadline)
        try:
            return self._send(build(token), stream=stream, deadline=deadline)
        except AuthError as error:
            if error.status_code != 401:
                raise
            if not self._auth.can_refresh:
                raise self._auth.rejected(error, after_refresh=False) from error
            log.debug("gigachat: the API answered 401 (%s); renewing the token and retrying once", error.message)
        token = self._auth.refresh(token, deadline)
        try:
            return self._send(build(token), stream=stream, deadline=deadline)
        except AuthError as error:
            if error.status_code != 401:
                raise
            raise self._auth.rejected(error, after_refresh=True) from error

