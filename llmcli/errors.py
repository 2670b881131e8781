"""The one error tree. Each class carries its exit code (DESIGN.md §3) and an optional hint.

Stdlib only: every layer may import this module. Messages must never contain a secret.
"""

from __future__ import annotations


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
    ) -> None:
        super().__init__(message, hint=hint)
        self.provider = provider
        self.status_code = status_code
        self.request_id = request_id
        self.retry_after = retry_after


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
    """Ctrl-C (130) or SIGTERM (143) while working; partial replies are saved first."""

    exit_code = 130

    def __init__(self, message: str = "interrupted", *, signal_number: int = 2) -> None:
        super().__init__(message)
        self.exit_code = 128 + signal_number


class TerminateRequested(KeyboardInterrupt):
    """Raised by our SIGTERM handler, so every Ctrl-C cleanup path (save the partial reply, close
    the stream) also runs on SIGTERM; the boundary maps it to exit 143."""
