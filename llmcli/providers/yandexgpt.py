"""YandexGPT (Yandex Cloud AI Studio) over the native REST API.

`POST {base_url}/foundationModels/v1/completion` answers a stream as NDJSON lines whose text is
CUMULATIVE; `yandex_wire.CumulativeStream` turns them into deltas. Auth lives in `yandex_auth`.
Models come from the OpenAI-compatible `GET {base_url}/v1/models`, with a built-in catalogue
when that list cannot be had.
"""

from __future__ import annotations

import logging
import random
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import httpx

from llmcli.errors import (
    AuthError,
    CredentialsError,
    ProviderError,
    ProviderUnavailable,
    StreamBroken,
)
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
from llmcli.providers.streams import iter_ndjson
from llmcli.providers.yandex_auth import YandexAuth
from llmcli.providers.yandex_wire import (
    CumulativeStream,
    add_hint,
    catalogue_models,
    completion_body,
    error_message,
    folder_from_uri,
    missing_folder_error,
    model_uri,
    models_from_listing,
)
from llmcli.types import ChatOptions, Chunk, Message, ModelInfo

log = logging.getLogger("llmcli")

COMPLETION_PATH = "/foundationModels/v1/completion"
MODELS_PATH = "/v1/models"



def _equal_jitter() -> float:
    return 0.5 + random.random() / 2


# 429 here is mostly the concurrent-generations gauge (~10 per model), which frees up only as other
# generations end: what absorbs it is the total wait, not the number of tries. Full jitter may retry
# at once into a still-full cap (32 processes against 10 slots lost 1-2 % of runs with 0.7 s
# generations, 94 % with 3 s ones, in simulation); waits of [1, 2), [2, 4), [4, 8) s lost none
# up to 1.5 s generations. At most 3 retries, as for every provider (issue 8).
YANDEX_RETRY_POLICY = RetryPolicy(max_retries=3, base_delay=2.0, max_delay=16.0, rng=_equal_jitter)


class YandexGPTProvider:
    """The `yandexgpt` adapter. Built as YandexGPTProvider(spec); tests may inject a retry policy
    (with a no-op sleep), a clock for token expiry, or an httpx client."""

    def __init__(
        self,
        spec: ProviderSpec,
        *,
        policy: RetryPolicy | None = None,
        clock: Callable[[], float] = time.time,
        client: httpx.Client | None = None,
    ) -> None:
        self.name = spec.name
        self._spec = spec
        self._base_url = spec.base_url.rstrip("/")
        self._folder_id = str(spec.options.get("folder_id") or "").strip() or None
        self._policy = policy or YANDEX_RETRY_POLICY
        self._client = client
        self._auth = YandexAuth(spec, clock=clock)
        self._data_logging = spec.options.get("data_logging")

    # --- Provider interface

    def list_models(self) -> list[ModelInfo]:
        """The folder's gpt:// models by short name; the built-in catalogue when the server's list
        is unavailable (offline, 5xx, 404). Rejected credentials are still reported."""
        self._auth.require()
        folder = self._require_folder(None)
        deadline = Deadline(min(self._spec.deadline, 60.0))
        try:
            response = self._send("GET", MODELS_PATH, None, folder, deadline, stream=False,
                                  extra_headers={"OpenAI-Project": folder})
            try:
                models = models_from_listing(response.json(), self.name)
            except ValueError:
                raise ProviderUnavailable("the model list is not JSON", provider=self.name) from None
            finally:
                response.close()
        except CredentialsError:
            raise
        except ProviderError as exc:
            log.debug("yandexgpt: model list unavailable (%s); using the built-in catalogue", exc.message)
            return catalogue_models(self.name)
        return models or catalogue_models(self.name)

    def stream_chat(self, model: str, messages: Sequence[Message], options: ChatOptions) -> Iterator[Chunk]:
        folder = folder_from_uri(model) or self._folder_id
        body = completion_body(model_uri(model, folder), messages, options)
        self._auth.require()
        deadline = Deadline(self._spec.deadline)
        if not options.stream:
            yield from self._complete(body, folder, deadline)
            return
        yield from guarded_stream(
            lambda: self._stream(body, folder, deadline),
            provider=self.name, policy=self._policy, deadline=deadline,
        )

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    # --- completion

    def _stream(self, body: dict[str, Any], folder: str | None, deadline: Deadline) -> Iterator[Chunk]:
        response = self._send("POST", COMPLETION_PATH, body, folder, deadline, stream=True)
        try:
            expect_content_type(response, "application/json", provider=self.name)
            state = CumulativeStream(request_id=response.headers.get("x-server-trace-id"))
            try:
                # an in-band {"error": …} line raises its typed error here (streams.iter_ndjson);
                # after the first chunk guarded_stream reports it as StreamBroken
                lines = read_lines(response, deadline=deadline, provider=self.name)
                for line in iter_ndjson(lines, provider=self.name):
                    chunk = state.feed(line.get("result") or {})
                    if chunk is not None:
                        yield chunk
            except ProviderError as exc:
                add_hint(exc)
                raise
            if not state.finished:
                message = "the YandexGPT stream ended before the reply was finished"
                cls = StreamBroken if state.shown else ProviderUnavailable
                raise cls(message, provider=self.name, request_id=state.request_id)
            log.debug("yandexgpt: model version %s, %d lines", state.model_version, state.lines)
            yield state.closing_chunk()
        finally:
            response.close()  # also on GeneratorExit (Ctrl-C, consumer stopped early)

    def _complete(self, body: dict[str, Any], folder: str | None, deadline: Deadline) -> Iterator[Chunk]:
        response = self._send("POST", COMPLETION_PATH, body, folder, deadline, stream=False)
        try:
            expect_content_type(response, "application/json", provider=self.name)
            payload = response.json()
        except ValueError:
            raise ProviderUnavailable("YandexGPT answered with a body that is not JSON",
                                      provider=self.name, status_code=response.status_code) from None
        finally:
            response.close()
        state = CumulativeStream(request_id=response.headers.get("x-server-trace-id"))
        result = payload.get("result", payload) if isinstance(payload, dict) else None
        if not isinstance(result, dict) or not result.get("alternatives"):
            raise ProviderUnavailable("YandexGPT answered without a reply", provider=self.name,
                                      request_id=state.request_id)
        chunk = state.feed(result)
        if chunk is not None:
            yield chunk
        yield state.closing_chunk()

    # --- HTTP

    def _http(self) -> httpx.Client:
        if self._client is None:
            self._client = build_client(self._spec)
        return self._client

    def _headers(self, folder: str | None, deadline: Deadline) -> dict[str, str]:
        headers = self._auth.headers(self._http(), policy=self._policy, deadline=deadline)
        headers["x-client-request-id"] = str(uuid.uuid4())
        if self._auth.user_token:
            headers["x-folder-id"] = self._require_folder(folder)
        if self._data_logging is not None and str(self._data_logging).lower() in ("false", "0", "off", "no"):
            headers["x-data-logging-enabled"] = "false"
        return headers

    def _send(
        self, method: str, path: str, body: dict[str, Any] | None, folder: str | None,
        deadline: Deadline, *, stream: bool, extra_headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        """Send with retries (http.send); a 401 on an IAM token we exchanged renews it once."""
        client = self._http()
        for attempt in (1, 2):
            headers = {**self._headers(folder, deadline), **(extra_headers or {})}
            request = client.build_request(method, self._base_url + path, json=body, headers=headers)
            try:
                return send(client, request, provider=self.name, stream=stream, policy=self._policy,
                            deadline=deadline, error_parser=_parse_error)
            except AuthError as exc:
                if attempt == 1 and exc.status_code == 401 and self._auth.renewable:
                    log.debug("yandexgpt: 401 with an exchanged IAM token; renewing it once")
                    self._auth.renew(client, policy=self._policy, deadline=deadline)
                    continue
                add_hint(exc, auth_kind=self._auth.kind)
                raise
            except ProviderError as exc:
                add_hint(exc)
                raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _require_folder(self, folder: str | None) -> str:
        folder = folder or self._folder_id
        if not folder:
            raise missing_folder_error()
        return folder


def _parse_error(response: httpx.Response) -> str | None:
    try:
        response.read()
        return error_message(response.json())
    except (ValueError, httpx.HTTPError):
        return None
