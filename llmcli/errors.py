"""The one error tree. Each class carries its exit code (DESIGN.md §3) and an optional hint.

Stdlib only: every layer may import this module. Messages must never contain a secret.
"""

from __future__ import annotations

from contextlib import contextmanager

TYPE_CHECKING = False  # `typing` is not imported on the start-up path
if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator
    from typing import Any


class LlmcliError(Exception):
    """An error the user should see as one `error:` line (plus an optional `hint:`)."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class UsageError(LlmcliError):
    """Bad flag, unknown provider or model, empty or oversized input."""

    exit_code = 2


class ConfigError(UsageError):
    """A broken or invalid configuration file or value."""


class CredentialsError(LlmcliError):
    """A key is missing, or was rejected (401/403) after one token refresh."""

    exit_code = 3


class ProviderError(LlmcliError):
    """An error that came from (or on the way to) a provider's server."""

    exit_code = 6

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        provider: str | None = None,
        status_code: int | None = None,
        request_id: str | None = None,
        retry_after: float | None = None,
        in_band: bool = False,
    ) -> None:
        super().__init__(message, hint=hint)
        self.provider = provider
        self.status_code = status_code
        self.request_id = request_id
        self.retry_after = retry_after
        # Reported inside a 200 answer's body or stream (not as the HTTP status): nothing retried it yet.
        self.in_band = in_band


class AuthError(ProviderError, CredentialsError):
    """401/403 from the server: the key or token was rejected."""

    exit_code = 3


class RequestRejected(ProviderError):
    """Other 4xx (400/402/404/413/422), content filter, context too long."""

    exit_code = 4


class RateLimited(ProviderError):
    """429 still there after retries (quota or concurrency cap)."""

    exit_code = 5


class ProviderUnavailable(ProviderError):
    """Timeout, refused/reset connection, 5xx, or a body of the wrong kind — before any output."""

    exit_code = 6


class StreamBroken(ProviderError):
    """The stream failed after output began; the partial reply is kept, marked incomplete."""

    exit_code = 7


class StorageError(LlmcliError):
    """The database cannot be opened, read or written."""

    exit_code = 8


class Interrupted(LlmcliError):
    """Ctrl-C (130), SIGTERM (143) or SIGHUP (129) while working; partial replies are saved first."""

    exit_code = 130

    def __init__(self, message: str = "interrupted", *, signal_number: int = 2) -> None:
        super().__init__(message)
        self.exit_code = 128 + signal_number


class TerminateRequested(KeyboardInterrupt):
    """Raised by our SIGTERM and SIGHUP handlers, so every Ctrl-C cleanup path (save the partial
    reply, close the stream) also runs then; the boundary maps it to exit 128 + the signal number
    (143 for SIGTERM, 129 for SIGHUP)."""

    def __init__(self, signal_number: int = 15) -> None:  # 15: SIGTERM on every platform
        super().__init__(signal_number)
        self.signal_number = signal_number

    @property
    def exit_code(self) -> int:
        return 128 + self.signal_number

    @property
    def signal_name(self) -> str:
        import signal

        try:
            return signal.Signals(self.signal_number).name
        except ValueError:
            return f"signal {self.signal_number}"


def terminating_signals() -> tuple[int, ...]:
    """The signals that end a run the way SIGTERM does: SIGTERM, and SIGHUP (the terminal was
    closed: ssh dropped, tab closed) where the platform has it (not Windows)."""
    import signal

    hangup = getattr(signal, "SIGHUP", None)
    return (signal.SIGTERM,) if hangup is None else (signal.SIGTERM, hangup)


@contextmanager
def handled_signals(handler: Any, signals: Iterable[int]) -> Iterator[None]:
    """Install `handler` (a function, or signal.SIG_IGN) for `signals` while the block runs, then put
    back what was there. Outside the main thread, where Python cannot handle signals, it does nothing."""
    import signal

    previous: dict[int, Any] = {}
    try:
        for sig in signals:
            previous[sig] = signal.signal(sig, handler)
    except ValueError:  # not the main thread
        pass
    try:
        yield
    finally:
        for sig, handler_before in previous.items():
            signal.signal(sig, handler_before)
