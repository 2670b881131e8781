"""The HTTP layer every adapter shares: client factory, retries, deadlines, status → typed error.

Retry rule (openai-python style): connect errors, timeouts, dropped connections and the policy's
statuses are retried while nothing of the body has reached the caller; once a chunk was yielded a
failure is raised as StreamBroken and never replayed (a replay would show the user the start twice).
"""

from __future__ import annotations

import logging
import os
import random
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import httpx

from llmcli import __version__
from llmcli.errors import ConfigError, ProviderError, ProviderUnavailable, StreamBroken
from llmcli.providers.base import ProviderSpec
from llmcli.providers.http_errors import (
    body_message,
    buffered,
    error_for_status,
    is_retryable_transport_error,
    media_type,
    more_time_command,
    one_line,
    parse_retry_after,
    request_id_of,
    transport_error,
    where,
)
from llmcli.providers.streams import error_class_for_status, in_band_error

__all__ = [
    "Deadline", "RetryPolicy", "build_client", "error_for_status", "expect_content_type",
    "guarded_stream", "read_lines", "send", "transport_error",
]

log = logging.getLogger("llmcli")

USER_AGENT = f"llmcli/{__version__}"
WRITE_TIMEOUT = 30.0
POOL_TIMEOUT = 10.0


# --- client ----------------------------------------------------------------------------------


class _DeferredTrustContext(ssl.SSLContext):
    """A client TLS context (hostname check, certificate required) whose trust store is loaded on
    its first TLS connection: parsing certifi's ~150 roots costs ~20 ms, which a plain-http
    endpoint (Ollama, vLLM, LM Studio on localhost) never needs. Until then it trusts nothing, so
    it can only fail closed."""

    _trust_lock = threading.Lock()
    _trust_loaded = False

    def wrap_socket(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        self._load_trust()
        return super().wrap_socket(*args, **kwargs)

    def wrap_bio(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        self._load_trust()
        return super().wrap_bio(*args, **kwargs)

    def _load_trust(self) -> None:
        with self._trust_lock:
            if not self._trust_loaded:
                import certifi

                self.load_verify_locations(cafile=certifi.where())
                self._trust_loaded = True


@lru_cache(maxsize=8)
def _ssl_context(ca_bundle: str | None, _mtime: float) -> ssl.SSLContext:
    # PROTOCOL_TLS_CLIENT: hostname checks and CERT_REQUIRED, as ssl.create_default_context(); certifi's
    # roots loaded on first use. Python 3.13's default context also sets VERIFY_X509_STRICT: not here
    # (not yet tried against the vendors' chains, e.g. the Russian Trusted Root CA for GigaChat).
    context = _DeferredTrustContext(ssl.PROTOCOL_TLS_CLIENT)
    if os.environ.get("SSLKEYLOGFILE"):
        context.keylog_filename = os.environ["SSLKEYLOGFILE"]
    if ca_bundle:  # read now: a bad ca_bundle is a config error before any request, not during one
        try:
            context.load_verify_locations(cafile=ca_bundle)
        except (OSError, ssl.SSLError) as exc:
            reason = getattr(exc, "strerror", None) or getattr(exc, "reason", None) or type(exc).__name__
            raise ConfigError(
                f"ca_bundle {ca_bundle} cannot be used: {reason}",
                hint="point ca_bundle at a readable PEM file with the CA certificate(s)",
            ) from None
    return context


def build_client(spec: ProviderSpec, *, base_url: str | None = None) -> httpx.Client:
    """An httpx client with the spec's timeouts and TLS settings; proxies come from the environment."""
    timeout = httpx.Timeout(connect=spec.connect_timeout, read=spec.timeout, write=WRITE_TIMEOUT,
                            pool=POOL_TIMEOUT)
    verify: ssl.SSLContext | bool
    if spec.verify is False:
        log.warning("%s: TLS certificate verification is OFF (verify = false); anyone on the network path "
                    "can read and change this traffic", spec.name)
        verify = False
    else:
        bundle = os.path.expanduser(spec.ca_bundle) if spec.ca_bundle else None
        mtime = 0.0
        if bundle:
            try:
                mtime = os.stat(bundle).st_mtime
            except OSError as exc:
                raise ConfigError(f"ca_bundle {bundle} cannot be used: {exc.strerror}",
                                  hint="point ca_bundle at a readable PEM file with the CA certificate(s)")
        verify = _ssl_context(bundle, mtime)
    return httpx.Client(
        base_url=base_url or spec.base_url or "",
        timeout=timeout,
        verify=verify,
        trust_env=True,
        headers={"User-Agent": USER_AGENT},
        follow_redirects=False,
    )


# --- policy and deadline ---------------------------------------------------------------------


@dataclass(frozen=True)
class RetryPolicy:
    """Retry rules as data. Tests inject `sleep` (and `rng` for a fixed jitter)."""

    max_retries: int = 3
    base_delay: float = 0.5
    max_delay: float = 8.0
    max_retry_after: float = 60.0
    retry_statuses: frozenset[int] = frozenset({408, 429, 500, 502, 503, 504})
    # For a provider whose 429 means "too many requests on this key right now" (GigaChat): such a cap
    # frees up only as the key's other requests end, so a full-jitter retry (maybe ~0 s) meets it full
    # again. With cap_base_delay set, a 429 without Retry-After waits [c/2, c) instead,
    # c = min(cap_max_delay, cap_base_delay * 2**retry); other failures keep the backoff.
    cap_base_delay: float | None = None
    cap_max_delay: float = 16.0
    sleep: Callable[[float], None] = time.sleep
    rng: Callable[[], float] = random.random

    def backoff(self, retry: int) -> float:
        """Full jitter: uniform in [0, min(max_delay, base_delay * 2**retry)]."""
        return self.rng() * min(self.max_delay, self.base_delay * (2 ** retry))

    def delay_for(self, retry: int, response: httpx.Response | None = None) -> float:
        """How long to wait before retry number `retry` (0-based) after this response."""
        if response is None:
            return self.backoff(retry)
        return self.delay_for_status(retry, response.status_code, response.headers)

    def delay_for_status(self, retry: int, status: int | None, headers: httpx.Headers | None = None) -> float:
        """The server's Retry-After (capped), else the cap wait for a 429 (if set), else backoff.
        Also for a status reported in-band, inside a 200 stream (no headers)."""
        asked = parse_retry_after(headers) if headers is not None else None
        if asked is not None:
            return min(asked, self.max_retry_after)
        if status == 429 and self.cap_base_delay is not None:
            ceiling = min(self.cap_max_delay, self.cap_base_delay * (2 ** retry))
            return ceiling / 2 + self.rng() * ceiling / 2
        return self.backoff(retry)


class Deadline:
    """The overall deadline of one request, first byte to last (httpx timeouts are per read).

    It also counts the retries made under it (`send` and `guarded_stream` both retry, each with its
    own loop), so the final error can say how many there were."""

    def __init__(self, seconds: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self.retries = 0
        self._clock = clock
        self._end = clock() + seconds

    def remaining(self) -> float:
        return max(0.0, self._end - self._clock())

    def expired(self) -> bool:
        return self._clock() >= self._end

    def allows(self, delay: float) -> bool:
        """Whether sleeping `delay` still leaves time for another attempt."""
        return delay < self.remaining()

    def error(self, provider: str, target: str, cls: type[ProviderError] = ProviderUnavailable) -> ProviderError:
        return cls(f"{provider}: no complete answer from {target} within {self.seconds:g} s",
                   hint=f"the server is too slow; try again later, or allow more time: {self.more_time(provider)}",
                   provider=provider)

    def more_time(self, provider: str) -> str:
        """The command that raises this deadline (the provider's `deadline` setting)."""
        return more_time_command(provider, "deadline", self.seconds)


def _bounded(request: httpx.Request, deadline: Deadline) -> None:
    """No single connect/read/write may outlast the overall deadline."""
    remaining = max(deadline.remaining(), 0.001)
    timeouts = dict(request.extensions.get("timeout") or {})
    for key in ("connect", "read", "write", "pool"):
        value = timeouts.get(key)
        timeouts[key] = remaining if value is None else min(value, remaining)
    request.extensions["timeout"] = timeouts


def _should_retry_status(response: httpx.Response, policy: RetryPolicy) -> bool:
    explicit = response.headers.get("x-should-retry", "").lower()
    if explicit in ("true", "false"):
        return explicit == "true"
    return response.status_code in policy.retry_statuses


# --- send ------------------------------------------------------------------------------------


def send(
    client: httpx.Client,
    request: httpx.Request,
    *,
    provider: str,
    stream: bool,
    policy: RetryPolicy,
    deadline: Deadline,
    error_parser: Callable[[httpx.Response], str | None] | None = None,
) -> httpx.Response:
    """Send with retries; return a 2xx response (the caller closes it) or raise a typed error."""
    target = where(request.url)
    for attempt in range(policy.max_retries + 1):
        if deadline.expired():
            raise deadline.error(provider, target)
        _bounded(request, deadline)
        try:
            response = client.send(request, stream=stream)
        except httpx.TransportError as exc:
            error = transport_error(exc, provider=provider, deadline=deadline)
            delay = policy.backoff(attempt)
            if (is_retryable_transport_error(exc) and attempt < policy.max_retries
                    and deadline.allows(delay)):
                log.debug("%s; retrying in %.2f s (%d/%d)", error.message, delay, attempt + 1, policy.max_retries)
                policy.sleep(delay)
                deadline.retries += 1
                continue
            raise error from None
        if response.is_success:
            return response
        delay = policy.delay_for(attempt, response)
        if _should_retry_status(response, policy) and attempt < policy.max_retries and deadline.allows(delay):
            response.close()
            log.debug("%s: HTTP %d from %s; retrying in %.2f s (%d/%d)", provider, response.status_code,
                      target, delay, attempt + 1, policy.max_retries)
            policy.sleep(delay)
            deadline.retries += 1
            continue
        raise _status_error(response, provider, error_parser, retries=deadline.retries)
    raise AssertionError("unreachable")  # pragma: no cover - the loop always returns or raises


def _status_error(response: httpx.Response, provider: str,
                  error_parser: Callable[[httpx.Response], str | None] | None, *, retries: int) -> ProviderError:
    response = buffered(response)
    message = None
    if error_parser is not None:
        try:
            message = error_parser(response)
        except Exception:  # noqa: BLE001 - a parser must never hide the real error behind its own
            message = None
    return error_for_status(response, provider=provider, message=message, retries=retries)


def expect_content_type(response: httpx.Response, wanted: str, *, provider: str) -> None:
    """A 2xx answer of the wrong kind is an error (with the body's own message when it has one),
    never an empty answer. Closes the response when it raises."""
    kind = media_type(response)
    if kind == wanted.lower():
        return
    body = buffered(response)
    response.close()
    target = where(response.request.url)
    if "json" in kind:
        try:
            payload = body.json()
        except ValueError:
            payload = None
        error = in_band_error(payload, provider=provider) if isinstance(payload, dict) else None
        if error is not None:
            text = one_line(body_message(body) or "unknown error")
            raise _typed(error.status_code, f"{provider}: {target} answered with an error: {text}", provider, body)
    detail = body_message(body) if "html" in kind or "json" in kind else None
    what = "an HTML page" if "html" in kind else (kind or "no content type")
    raise ProviderUnavailable(
        f"{provider}: expected {wanted} from {target}, got {what}" + (f": {one_line(detail)}" if detail else ""),
        hint="a proxy, gateway or login page may be answering instead of the API; check base_url",
        provider=provider, status_code=response.status_code, request_id=request_id_of(response),
    )


def _typed(status: int | None, message: str, provider: str, response: httpx.Response) -> ProviderError:
    cls = error_class_for_status(status)
    if cls is StreamBroken:
        cls = ProviderUnavailable  # nothing has been shown yet
    return cls(message, provider=provider, status_code=status, request_id=request_id_of(response))


# the stream half of this layer lives in http_streams.py; adapters import it from here
from llmcli.providers.http_streams import guarded_stream, read_lines
