"""Pure parsers for streamed replies: SSE events and NDJSON lines → dicts.

No I/O here: the input is any iterable of lines (what `httpx.Response.iter_lines()` yields; bytes are
decoded as UTF-8, and an item holding several lines is split). In-band error payloads become typed
errors; a payload that is not JSON becomes StreamBroken (guarded_stream turns a failure before the first
chunk into ProviderUnavailable and any typed failure after it into StreamBroken).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from typing import Any

from httpx_sse._decoders import SSEDecoder  # httpx-sse's spec-conformant event assembly

from llmcli.errors import (
    AuthError,
    ProviderError,
    ProviderUnavailable,
    RateLimited,
    RequestRejected,
    StreamBroken,
)

_LINE_BREAK = re.compile(r"\r\n|\r|\n")
DONE = "[DONE]"
SNIPPET = 80
# For a reply that is not the wire format at all; guarded_stream drops it once good events were shown.
PROTOCOL_HINT = ("the server may not speak the protocol of this provider's kind; "
                 "check its base_url and kind (`llmcli config show`)")


def error_class_for_status(status: int | None) -> type[ProviderError]:
    """The error class for an HTTP(-like) status: the one mapping every adapter shares."""
    if status in (401, 403):
        return AuthError
    if status == 429:
        return RateLimited
    if status is not None and (status == 408 or status >= 500):
        return ProviderUnavailable
    if status is not None and 400 <= status < 500:
        return RequestRejected
    return StreamBroken


def _lines(items: Iterable[str | bytes]) -> Iterator[str]:
    for item in items:
        text = item.decode("utf-8", "replace") if isinstance(item, bytes) else item
        if not text or ("\n" not in text and "\r" not in text):
            yield text
            continue
        parts = _LINE_BREAK.split(text)
        if parts[-1] == "":
            parts.pop()  # the item ended with its line break
        yield from parts


def malformed(provider: str, payload: str) -> StreamBroken:
    snippet = " ".join(payload.split())[:SNIPPET]
    return StreamBroken(f"{provider}: malformed event from server: {snippet}", hint=PROTOCOL_HINT,
                        provider=provider)


def _as_status(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def in_band_error(payload: dict[str, Any], *, provider: str) -> ProviderError | None:
    """The typed error an error payload stands for, or None when the payload is not an error.

    Shapes: {"error": {"message", "code"|"status"|"httpCode"}}, {"error": "text"} (Ollama),
    {"object": "error", "message", "code"} (vLLM).
    """
    error = payload.get("error")
    if error:
        details = error if isinstance(error, dict) else {"message": str(error)}
    elif payload.get("object") == "error":
        details = payload
    else:
        return None
    message = details.get("message") or details.get("error") or details.get("type") or "unknown error"
    status = next(
        (s for s in (_as_status(details.get(k)) for k in ("httpCode", "status", "code")) if s and s >= 400),
        None,
    )
    cls = error_class_for_status(status)
    text = " ".join(str(message).split())[:300]
    suffix = f" (code {status})" if status else ""
    return cls(f"{provider}: the server reported an error: {text}{suffix}", provider=provider, status_code=status,
               in_band=True)


def _parse(data: str, provider: str) -> dict[str, Any]:
    try:
        payload = json.loads(data)
    except ValueError:
        raise malformed(provider, data) from None
    if not isinstance(payload, dict):
        raise malformed(provider, data)
    error = in_band_error(payload, provider=provider)
    if error is not None:
        raise error
    return payload


def iter_sse_json(lines: Iterable[str | bytes], *, provider: str) -> Iterator[dict[str, Any]]:
    """JSON payloads of an SSE stream's events; comments, id/retry/event fields are handled per the
    SSE spec. Stops at `data: [DONE]` (or at the end of the input)."""
    decoder = SSEDecoder()

    def payloads() -> Iterator[tuple[str, str]]:
        for line in _lines(lines):
            event = decoder.decode(line)
            if event is not None:
                yield event.event, event.data
        event = decoder.decode("")  # a last event without its blank line still counts
        if event is not None:
            yield event.event, event.data

    for name, data in payloads():
        if not data.strip():
            continue  # an event carrying only id/retry/event fields
        if data.strip() == DONE:
            return
        payload = _parse(data, provider)
        if name == "error":  # servers that name their error events
            raise in_band_error({"error": payload.get("error", payload)}, provider=provider) or malformed(
                provider, data
            )
        yield payload


def iter_ndjson(lines: Iterable[str | bytes], *, provider: str) -> Iterator[dict[str, Any]]:
    """One JSON object per non-blank line; an `{"error": ...}` line raises its typed error."""
    for line in _lines(lines):
        if line.strip():
            yield _parse(line, provider)
