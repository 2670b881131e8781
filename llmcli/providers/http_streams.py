"""The stream half of the HTTP layer (re-exported by providers/http.py): deadline-checked line
reading, and guarded_stream, which retries only before the first chunk and never replays output."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, TypeVar

import httpx

from llmcli.errors import LlmcliError, ProviderError, ProviderUnavailable, StreamBroken
from llmcli.providers.http_errors import (
    is_retryable_transport_error,
    more_time_for,
    status_hint,
    transport_error,
    where,
)
from llmcli.providers.streams import PROTOCOL_HINT

if TYPE_CHECKING:
    from llmcli.providers.http import Deadline, RetryPolicy

log = logging.getLogger("llmcli")
T = TypeVar("T")
PARTIAL_KEPT = "the partial reply was kept; ask again to get a complete one"


_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def read_lines(response: httpx.Response, *, deadline: Deadline, provider: str) -> Iterator[str]:
    """response.iter_lines(), but checking the overall deadline after every network read, so a
    server that trickles bytes cannot hold us past it (httpx's read timeout is per read)."""
    pending: list[str] = []
    carry_cr = False
    for text in response.iter_text():
        if deadline.expired():
            raise deadline.error(provider, where(response.request.url))
        if carry_cr:
            text, carry_cr = "\r" + text, False
        if text.endswith("\r"):  # maybe the first half of \r\n
            text, carry_cr = text[:-1], True
        parts = _LINE_BREAK.split(text)
        pending.append(parts[0])
        if len(parts) > 1:
            yield "".join(pending)
            yield from parts[1:-1]
            pending = [parts[-1]]
    rest = "".join(pending)
    if rest or carry_cr:
        yield rest


def _without_prefix(message: str, provider: str) -> str:
    prefix = f"{provider}: "
    return message.removeprefix(prefix)


def _broken(error: LlmcliError, provider: str, shown: int, *, more_time: str | None = None) -> StreamBroken:
    """The error after `shown` chunks. Its one hint says the partial reply was kept — and, when the
    server was only too slow (`more_time`: the command that gives it longer), how to allow more."""
    if isinstance(error, StreamBroken):
        if error.hint is None or error.hint == PROTOCOL_HINT:  # good events came first: the protocol is right
            error.hint = PARTIAL_KEPT
        return error
    reason = _without_prefix(error.message, provider)
    hint = PARTIAL_KEPT if more_time is None else (
        f"{PARTIAL_KEPT} (if the server is just slow, first allow more time: {more_time})")
    return StreamBroken(
        f"{provider}: the reply was cut off after {shown} chunk{'s' if shown != 1 else ''}: {reason}",
        hint=hint,
        provider=provider,
        status_code=getattr(error, "status_code", None),
        request_id=getattr(error, "request_id", None),
    )


def _not_started(error: StreamBroken, provider: str) -> ProviderUnavailable:
    return ProviderUnavailable(error.message, hint=error.hint, provider=provider,
                               status_code=error.status_code, request_id=error.request_id)


def guarded_stream(start: Callable[[], Iterator[T]], *, provider: str, policy: RetryPolicy,
                   deadline: Deadline) -> Iterator[T]:
    """Run `start()`; re-run it after a retryable transport failure *before its first chunk*.

    An error the server reports in-band (inside a 200 stream, e.g. OpenRouter's "Provider returned
    error" with code 502) before the first chunk is retried like that status would have been: nothing
    retried it yet (`send` sees only the HTTP status), and nothing was shown.

    After the first chunk every failure (transport error, timeout, deadline, bad payload, in-band
    error) is raised as StreamBroken and never retried. Before it, a StreamBroken from the parser
    becomes ProviderUnavailable (nothing was shown). The inner iterator is always closed.
    """

    def attempt() -> Iterator[T]:
        yield from start()  # so errors raised by start() itself arrive through next()

    shown = 0
    retry = 0

    def waited_to_retry(retryable: bool, error: LlmcliError, delay: float) -> bool:
        """Sleep `delay` and say True when one more attempt is allowed."""
        nonlocal retry
        if not (retryable and retry < policy.max_retries and deadline.allows(delay)):
            return False
        log.debug("%s; retrying in %.2f s (%d/%d)", error.message, delay, retry + 1, policy.max_retries)
        policy.sleep(delay)
        retry += 1
        deadline.retries += 1
        return True

    while True:
        chunks = attempt()
        try:
            while True:
                try:
                    chunk = next(chunks)
                except StopIteration:
                    return
                except httpx.TransportError as exc:
                    error = transport_error(exc, provider=provider, deadline=deadline)
                    if shown:
                        more_time = more_time_for(exc, provider=provider, deadline=deadline)
                        raise _broken(error, provider, shown, more_time=more_time) from None
                    if waited_to_retry(is_retryable_transport_error(exc), error, policy.backoff(retry)):
                        break  # start again
                    raise error from None
                except StreamBroken as error:
                    raise (_broken(error, provider, shown) if shown else _not_started(error, provider)) from None
                except ProviderError as error:
                    if shown:  # read_lines raises the deadline's own error when it runs out mid-stream
                        more_time = deadline.more_time(provider) if deadline.expired() else None
                        raise _broken(error, provider, shown, more_time=more_time) from None
                    if not error.in_band or error.status_code is None:
                        raise
                    if waited_to_retry(error.status_code in policy.retry_statuses, error,
                                       policy.delay_for_status(retry, error.status_code)):
                        break  # start again
                    if error.hint is None:
                        error.hint = status_hint(error.status_code, provider, deadline.retries)
                    raise
                shown += 1
                yield chunk
                if deadline.expired():
                    raise _broken(deadline.error(provider, "the server"), provider, shown,
                                  more_time=deadline.more_time(provider))
        finally:
            chunks.close()  # closes the adapter's response, also on GeneratorExit / Ctrl-C
