"""HTTP answers and transport failures → one-line typed errors (used by providers/http.py).

Messages name the provider, the host and what happened, in one line: HTML bodies are reduced to
their <title>, JSON bodies to their message. Headers are never quoted, so no secret can leak here.
"""

from __future__ import annotations

import email.utils
import html
import json
import re
import ssl
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import httpx

from llmcli.errors import (
    ConfigError,
    LlmcliError,
    ProviderError,
    ProviderUnavailable,
    RateLimited,
    StreamBroken,
)
from llmcli.providers.streams import error_class_for_status

if TYPE_CHECKING:
    from llmcli.providers.http import Deadline

MAX_MESSAGE = 300
MAX_ERROR_BODY = 64 * 1024
REQUEST_ID_HEADERS = ("x-request-id", "request-id", "x-generation-id", "x-server-trace-id")
TLS_HINT = (
    "if the server uses a private or national CA, set ca_bundle = \"/path/to/ca.pem\" for this provider "
    "(it is added to the default trust store)"
)
CONNECT_HINT = "check the provider's base_url and, if you use one, the proxy (HTTPS_PROXY / NO_PROXY)"
FALLBACK_ADVICE = "let another provider answer: --fallback <other>"
DROPPED_HINT = f"the server or a proxy on the way dropped the connection; try again later, or {FALLBACK_ADVICE}"
# A timeout that fires with less than this left of the overall deadline was cut short by the deadline
# (_bounded in http.py lowers every timeout to what remains), so `deadline` is the setting to raise.
DEADLINE_SLACK = 0.5

_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)


def where(url: httpx.URL) -> str:
    """host:port of a URL (host alone for a default port): never the path or the query."""
    return f"{url.host}:{url.port}" if url.port else url.host


def one_line(text: str, limit: int = MAX_MESSAGE) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def request_id_of(response: httpx.Response) -> str | None:
    return next((response.headers[h] for h in REQUEST_ID_HEADERS if h in response.headers), None)


def buffered(response: httpx.Response, limit: int = MAX_ERROR_BODY) -> httpx.Response:
    """A fully read copy of `response` (at most `limit` body bytes), safe to parse; closes a stream."""
    try:
        response.content  # noqa: B018 - raises ResponseNotRead for an unread stream
        return response
    except httpx.ResponseNotRead:
        pass
    data = bytearray()
    try:
        for piece in response.iter_bytes():
            data += piece
            if len(data) >= limit:
                break
    except (httpx.HTTPError, httpx.StreamError):
        pass  # what arrived is enough for a message
    finally:
        response.close()
    skip = {"content-encoding", "content-length", "transfer-encoding"}
    headers = [(k, v) for k, v in response.headers.multi_items() if k.lower() not in skip]
    return httpx.Response(response.status_code, headers=headers, content=bytes(data[:limit]),
                          request=response.request)


def media_type(response: httpx.Response) -> str:
    return response.headers.get("content-type", "").split(";")[0].strip().lower()


def json_message(payload: Any) -> str | None:
    """The human message inside the usual JSON error shapes, or None."""
    if isinstance(payload, str):
        return payload or None
    if isinstance(payload, list):
        return "; ".join(filter(None, (json_message(item) for item in payload))) or None
    if not isinstance(payload, dict):
        return None
    error = payload.get("error")
    if isinstance(error, (dict, str)) and error:
        return json_message(error)
    for key in ("message", "detail", "error_description", "msg", "title"):
        if payload.get(key):
            found = json_message(payload[key])
            if key == "msg" and payload.get("loc"):  # FastAPI/pydantic: say which field
                found = f"{'.'.join(map(str, payload['loc']))}: {found}"
            return found
    return None


def body_message(response: httpx.Response) -> str | None:
    """A short description of an (already read) body: JSON message, HTML <title>, or short text."""
    text = response.text.strip()
    if not text:
        return None
    kind = media_type(response)
    if "json" in kind or text[:1] in "{[":
        try:
            return json_message(json.loads(text))
        except ValueError:
            pass
    if "html" in kind or text[:1] == "<":
        match = _TITLE.search(text)
        return (html.unescape(match.group(1)).strip() or None) if match else None
    return text.splitlines()[0] if len(text) <= 200 else None


def parse_retry_after(headers: httpx.Headers, now: Callable[[], float] = time.time) -> float | None:
    """Seconds the server asks us to wait: retry-after-ms, Retry-After seconds or HTTP-date."""
    value = headers.get("retry-after-ms")
    if value:
        try:
            return max(0.0, float(value) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return None if moment is None else max(0.0, moment.timestamp() - now())


def error_for_status(response: httpx.Response, *, provider: str, message: str | None,
                     retries: int | None = None) -> ProviderError:
    """The typed error for a non-2xx answer. `message` is what the adapter's parser found (or None);
    `retries` is how many times this request was retried before it, when the caller knows."""
    response = buffered(response)
    status = response.status_code
    detail = one_line(message or body_message(response) or response.reason_phrase or "no details")
    cls = error_class_for_status(status)
    if cls is StreamBroken:  # a status outside 4xx/5xx (3xx, 1xx) that we cannot use
        cls = ProviderUnavailable
    return cls(
        f"{provider}: HTTP {status} from {where(response.request.url)}: {detail}",
        hint=status_hint(status, provider, retries),
        provider=provider,
        status_code=status,
        request_id=request_id_of(response),
        retry_after=parse_retry_after(response.headers) if cls is RateLimited else None,
    )


def server_failing_hint(retries: int | None) -> str:
    """For a 5xx/408 that is still there after the retries; the count only when it is known."""
    tried = f" (llmcli retried {retries} time{'s' if retries != 1 else ''})" if retries else ""
    return f"the server is failing or overloaded{tried}; try again later, or {FALLBACK_ADVICE}"


def more_time_command(provider: str, setting: str, now: float | None) -> str:
    """`llmcli config set providers.P.<setting> <twice now>`: how to give a slow server more time."""
    value = f"{2 * now:g}" if now else "<seconds>"
    return f"`llmcli config set providers.{provider}.{setting} {value}`"


def status_hint(status: int, provider: str, retries: int | None = None) -> str | None:
    """What the user can do about an HTTP(-like) status, whether it came as the status or in-band."""
    if status in (401, 403):
        return f"check the key for {provider}: `llmcli keys set {provider}` (or its environment variable)"
    if status == 404:
        return f"check the model name (`llmcli models list -p {provider}`) and the provider's base_url"
    if status == 413:
        return "the request is too large for this server; send less text"
    if status == 429:
        return "the provider is rate limiting or out of quota; wait and try again"
    if status >= 300 and status < 400:
        return "the server redirected the request; check the provider's base_url"
    if status == 501:
        return "the server does not implement this request; check the provider's base_url and kind"
    if status == 408 or status >= 500:
        return server_failing_hint(retries)
    return None


def _tls_verification_failure(exc: BaseException) -> ssl.SSLCertVerificationError | None:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ssl.SSLCertVerificationError):
            return current
        current = current.__cause__ or current.__context__
    return None


def _timeout_value(request: httpx.Request | None, kind: str) -> float | None:
    value = (request.extensions.get("timeout") or {}).get(kind) if request is not None else None
    return float(value) if isinstance(value, (int, float)) else None


def _timeout_of(request: httpx.Request, kind: str) -> str:
    value = _timeout_value(request, kind)
    return f" within {value:g} s" if value is not None else ""


def _request_of(exc: httpx.TransportError) -> httpx.Request | None:
    try:
        return exc.request
    except RuntimeError:
        return None


def more_time_for(exc: httpx.TransportError, *, provider: str, deadline: Deadline | None = None) -> str | None:
    """For a connect or read timeout: the `llmcli config set …` that gives the server more time —
    `deadline` when the overall deadline was what cut the wait short, else `connect_timeout` / `timeout`
    (the seconds of silence allowed). None for every other failure."""
    if isinstance(exc, httpx.ConnectTimeout):
        setting, kind = "connect_timeout", "connect"
    elif isinstance(exc, httpx.ReadTimeout):
        setting, kind = "timeout", "read"
    else:
        return None
    if deadline is not None and deadline.remaining() < DEADLINE_SLACK:
        return more_time_command(provider, "deadline", deadline.seconds)
    return more_time_command(provider, setting, _timeout_value(_request_of(exc), kind))


def is_retryable_transport_error(exc: httpx.TransportError) -> bool:
    """Connect errors, timeouts and dropped connections may succeed next time; TLS distrust will not."""
    if _tls_verification_failure(exc) is not None:
        return False
    return isinstance(exc, (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError))


def transport_error(exc: httpx.TransportError, *, provider: str, deadline: Deadline | None = None) -> LlmcliError:
    """A typed error for a failure below HTTP (no status): refused, reset, timed out, TLS, proxy.
    With the request's `deadline` a timeout's hint can tell which setting cut the wait short."""
    request = _request_of(exc)
    target = where(request.url) if request is not None else "the server"
    reason = one_line(str(exc) or type(exc).__name__, 160)
    tls = _tls_verification_failure(exc)
    if tls is not None:
        why = one_line(tls.verify_message or tls.reason or "verification failed", 120)
        return ProviderUnavailable(f"{provider}: TLS certificate of {target} is not trusted ({why})",
                                   hint=TLS_HINT, provider=provider)
    if isinstance(exc, httpx.UnsupportedProtocol):
        return ConfigError(f"{provider}: base_url is not an http(s) URL ({reason})",
                           hint="set base_url to something like https://host/v1")
    if isinstance(exc, httpx.ProxyError):
        return ProviderUnavailable(f"{provider}: the proxy refused the connection to {target} ({reason})",
                                   hint="check HTTPS_PROXY / HTTP_PROXY / NO_PROXY", provider=provider)
    more_time = more_time_for(exc, provider=provider, deadline=deadline)
    if isinstance(exc, httpx.ConnectTimeout):
        message = f"no connection to {target}" + (_timeout_of(request, "connect") if request else "")
        hint = ("check the provider's base_url and the network or proxy; if the host is just slow, "
                f"allow more time: {more_time}")
    elif isinstance(exc, httpx.ReadTimeout):
        message = f"no data from {target}" + (_timeout_of(request, "read") if request else "")
        hint = f"if the server is just slow, allow more time: {more_time}"
    elif isinstance(exc, (httpx.WriteTimeout, httpx.PoolTimeout)):
        message = f"timed out sending the request to {target}"
        hint = "try again later" + (", or send less text" if isinstance(exc, httpx.WriteTimeout) else "")
    elif isinstance(exc, httpx.ConnectError):
        return ProviderUnavailable(f"{provider}: cannot connect to {target} ({reason})", hint=CONNECT_HINT,
                                   provider=provider)
    else:  # ReadError, WriteError, RemoteProtocolError, ...
        message = f"the connection to {target} was closed unexpectedly ({reason})"
        hint = DROPPED_HINT
    return ProviderUnavailable(f"{provider}: {message}", hint=hint, provider=provider)
