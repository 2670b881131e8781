"""Any OpenAI-compatible endpoint: OpenAI, OpenRouter, DeepSeek, vLLM, LM Studio, Ollama /v1, Yandex /v1.

`GET {base_url}/models` and `POST {base_url}/chat/completions` (SSE deltas, or one JSON object when
`options.stream` is False). Usage is asked for with `stream_options.include_usage`; servers that
reject that field get the request again without it, and this adapter remembers not to send it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import httpx

from llmcli.errors import ConfigError, ProviderError, ProviderUnavailable, RequestRejected, StreamBroken
from llmcli.providers.base import ProviderSpec
from llmcli.providers.http import (
    Deadline,
    RetryPolicy,
    build_client,
    expect_content_type,
    guarded_stream,
    read_lines,
    send,
)
from llmcli.providers.http_errors import body_message, media_type, request_id_of, where
from llmcli.providers.streams import in_band_error, iter_sse_json
from llmcli.types import ChatOptions, Chunk, Message, ModelInfo, Usage

log = logging.getLogger("llmcli")

CORE_FIELDS = ("model", "messages", "stream", "stream_options")
OTHER_MODEL_MARKERS = ("whisper", "tts", "dall-e", "moderation", "rerank")


class OpenAICompatProvider:
    kind = "openai"

    def __init__(self, spec: ProviderSpec, *, client: httpx.Client | None = None,
                 policy: RetryPolicy | None = None) -> None:
        self.name = spec.name
        self._spec = spec
        self._base_url = spec.base_url.rstrip("/")
        self._client = client
        self._owns_client = client is None
        self._policy = policy or RetryPolicy()
        self._send_stream_options = True  # until the server says it does not know the field

    # --- Provider interface

    def list_models(self) -> list[ModelInfo]:
        deadline = Deadline(self._spec.deadline)
        request = self._http().build_request("GET", f"{self._base_url}/models", headers=self._headers())
        response = self._send(request, stream=False, deadline=deadline)
        try:
            expect_content_type(response, "application/json", provider=self.name)
            data = response.json()
        except ValueError:
            raise self._unreadable(response) from None
        finally:
            response.close()
        items = data if isinstance(data, list) else (data.get("data") or data.get("models") or [])
        return [self._model_info(item) for item in items if isinstance(item, dict) and item.get("id")]

    def stream_chat(self, model: str, messages: Sequence[Message], options: ChatOptions) -> Iterator[Chunk]:
        model = model or self._spec.model or ""
        if not model:
            raise ConfigError(f"no model given for provider {self.name}",
                              hint=f"pass -m MODEL or set providers.{self.name}.model in the config")
        deadline = Deadline(self._spec.deadline)
        if options.stream:
            yield from guarded_stream(lambda: self._stream_once(model, messages, options, deadline),
                                      provider=self.name, policy=self._policy, deadline=deadline)
        else:
            yield from self._complete(model, messages, options, deadline)

    def close(self) -> None:
        if self._owns_client and self._client is not None:
            self._client.close()
            self._client = None

    # --- chat

    def _body(self, model: str, messages: Sequence[Message], options: ChatOptions, *, stream: bool) -> dict:
        body: dict[str, Any] = {
            "model": model,
            "messages": [{"role": m.role, "content": m.content} for m in messages],
            "stream": stream,
        }
        if stream and self._send_stream_options:
            body["stream_options"] = {"include_usage": True}
        for key in ("temperature", "top_p", "max_tokens"):
            value = getattr(options, key)
            if value is not None:
                body[key] = value
        body.update({k: v for k, v in options.extra.items() if k not in CORE_FIELDS})
        return body

    def _chat_request(self, body: dict, *, stream: bool) -> httpx.Request:
        content = json.dumps(body, ensure_ascii=False).encode("utf-8")  # raw UTF-8, never \u-escaped
        headers = self._headers(accept="text/event-stream" if stream else "application/json")
        headers["Content-Type"] = "application/json"
        return self._http().build_request("POST", f"{self._base_url}/chat/completions", content=content,
                                          headers=headers)

    def _open_stream(self, model: str, messages: Sequence[Message], options: ChatOptions,
                     deadline: Deadline) -> httpx.Response:
        body = self._body(model, messages, options, stream=True)
        try:
            return self._send(self._chat_request(body, stream=True), stream=True, deadline=deadline)
        except RequestRejected as error:
            if "stream_options" not in body or "stream_options" not in error.message.lower():
                raise
        self._send_stream_options = False  # remembered for this provider's later requests
        body.pop("stream_options")
        return self._send(self._chat_request(body, stream=True), stream=True, deadline=deadline)

    def _stream_once(self, model: str, messages: Sequence[Message], options: ChatOptions,
                     deadline: Deadline) -> Iterator[Chunk]:
        response = self._open_stream(model, messages, options, deadline)
        try:
            request_id = request_id_of(response)
            if media_type(response) == "application/json":
                # a server that ignored "stream": a whole completion is an answer, anything else an error
                yield from _completion_chunks(self._json_completion(response), request_id, self.name)
                return
            expect_content_type(response, "text/event-stream", provider=self.name)
            events = iter_sse_json(read_lines(response, deadline=deadline, provider=self.name),
                                   provider=self.name)
            yield from _chunks_from_events(events, request_id, self.name)
        except ProviderError as error:
            error.request_id = error.request_id or request_id  # for support tickets
            raise
        finally:
            response.close()  # also when the consumer stops early (GeneratorExit, Ctrl-C)

    def _complete(self, model: str, messages: Sequence[Message], options: ChatOptions,
                  deadline: Deadline) -> Iterator[Chunk]:
        body = self._body(model, messages, options, stream=False)
        response = self._send(self._chat_request(body, stream=False), stream=False, deadline=deadline)
        try:
            request_id = request_id_of(response)
            expect_content_type(response, "application/json", provider=self.name)
            data = self._json_completion(response)
        finally:
            response.close()
        yield from _completion_chunks(data, request_id, self.name)

    def _json_completion(self, response: httpx.Response) -> dict:
        try:
            data = json.loads(response.read())
        except ValueError:
            raise self._unreadable(response) from None
        if not isinstance(data, dict):
            raise self._unreadable(response)
        error = in_band_error(data, provider=self.name)
        if error is not None:
            raise _before_output(error)
        if not isinstance(data.get("choices"), list) or not data["choices"]:
            raise self._unreadable(response)
        return data

    # --- transport

    def _http(self) -> httpx.Client:
        if self._client is None:
            self._client = build_client(self._spec)
        return self._client

    def _headers(self, accept: str = "application/json") -> dict[str, str]:
        headers = {"Accept": accept}
        headers.update({str(k): str(v) for k, v in dict(self._spec.options.get("headers") or {}).items()})
        key = self._spec.secret("api_key")
        if key:  # local servers (Ollama, LM Studio) need none
            headers["Authorization"] = f"Bearer {key}"
        project = self._spec.options.get("project") or self._spec.options.get("folder_id")
        if project:  # OpenAI projects; Yandex /v1 takes the folder id here
            headers["OpenAI-Project"] = str(project)
        return headers

    def _send(self, request: httpx.Request, *, stream: bool, deadline: Deadline) -> httpx.Response:
        try:
            response = send(self._http(), request, provider=self.name, stream=stream, policy=self._policy,
                            deadline=deadline, error_parser=self._error_message)
        except ProviderError as error:
            if error.status_code == 404 and "model" in error.message.lower():
                error.hint = f"see the models this provider offers: llmcli models list -p {self.name}"
            raise
        # never the query string or headers: they may carry a key
        log.debug("%s: %s %s%s → %d %s, x-request-id %s", self.name, request.method, where(request.url),
                  request.url.path, response.status_code, media_type(response) or "-", request_id_of(response))
        return response

    def _error_message(self, response: httpx.Response) -> str | None:
        """The server's error message, with our own key blanked out should a server echo it."""
        message = body_message(response)
        key = self._spec.secret("api_key")
        if message and key and len(key) >= 4:
            message = message.replace(key, "***")
        return message

    def _unreadable(self, response: httpx.Response) -> ProviderUnavailable:
        return ProviderUnavailable(f"{self.name}: the server's answer is not a valid chat completion",
                                   provider=self.name, request_id=request_id_of(response),
                                   hint="check that base_url points at an OpenAI-compatible API (…/v1)")

    def _model_info(self, item: dict) -> ModelInfo:
        model_id = str(item["id"])
        lowered = model_id.lower()
        kind = "embedder" if "embed" in lowered else "other" if any(
            marker in lowered for marker in OTHER_MODEL_MARKERS) else "chat"
        window = item.get("context_length") or item.get("max_model_len") or item.get("context_window")
        return ModelInfo(id=model_id, provider=self.name, type=kind,
                         context_window=window if isinstance(window, int) else None,
                         owned_by=item.get("owned_by"))


# --- wire → chunks (pure) ----------------------------------------------------------------------


def _before_output(error: ProviderError) -> ProviderError:
    return ProviderUnavailable(error.message, provider=error.provider, status_code=error.status_code) \
        if isinstance(error, StreamBroken) else error


def _usage(data: Any) -> Usage | None:
    if not isinstance(data, dict):
        return None
    prompt = int(data.get("prompt_tokens") or 0)
    completion = int(data.get("completion_tokens") or 0)
    details = data.get("prompt_tokens_details") or {}
    cached = int(details.get("cached_tokens") or 0) if isinstance(details, dict) else 0
    total = int(data.get("total_tokens") or prompt + completion)
    return Usage(prompt_tokens=prompt, completion_tokens=completion, total_tokens=total, cached_tokens=cached)


def _chunks_from_events(events: Iterable[dict], request_id: str | None, provider: str) -> Iterator[Chunk]:
    """Deltas as they come; then one closing chunk with finish_reason, usage and the server's model."""
    finish_reason = model = None
    usage = None
    for event in events:
        model = event.get("model") or model
        usage = _usage(event.get("usage")) or usage
        for choice in event.get("choices") or []:
            if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                continue
            text = (choice.get("delta") or {}).get("content")
            if text:
                yield Chunk(text=text)
            finish_reason = choice.get("finish_reason") or finish_reason
    if finish_reason is None:
        raise StreamBroken(f"{provider}: the stream ended before the reply was finished", provider=provider,
                           request_id=request_id)
    yield Chunk(finish_reason=finish_reason, usage=usage, model=model, request_id=request_id)


def _completion_chunks(data: dict, request_id: str | None, provider: str) -> Iterator[Chunk]:
    choice = data["choices"][0] if isinstance(data["choices"][0], dict) else {}
    text = (choice.get("message") or {}).get("content") or ""
    if text:
        yield Chunk(text=text)
    yield Chunk(finish_reason=choice.get("finish_reason") or "stop", usage=_usage(data.get("usage")),
                model=data.get("model"), request_id=request_id)
