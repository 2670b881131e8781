"""A retry policy for providers whose 429 means "too many requests running on this key right now".

Such a cap frees up only as the key's other requests finish, so a retry after the generic full
jitter (which may be ~0 s) usually meets the same full cap and a burst of parallel `ask`s burns
its retries at once. Here a 429 without Retry-After waits [1, 2), [2, 4), [4, 8) s (equal jitter);
a Retry-After is honoured as for every provider, and other failures (5xx, dropped connections)
keep the generic backoff, so a wrong base_url is still reported quickly.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from llmcli.providers.http import RetryPolicy
from llmcli.providers.http_errors import parse_retry_after

__all__ = ["ConcurrencyCapPolicy"]


@dataclass(frozen=True)
class ConcurrencyCapPolicy(RetryPolicy):
    """RetryPolicy with a floor under the wait after a 429 that carries no Retry-After."""

    cap_base_delay: float = 2.0
    cap_max_delay: float = 16.0

    def cap_wait(self, retry: int) -> float:
        """Equal jitter: uniform in [ceiling / 2, ceiling), ceiling = min(cap_max_delay, cap_base_delay * 2**retry)."""
        ceiling = min(self.cap_max_delay, self.cap_base_delay * (2 ** retry))
        return ceiling / 2 + self.rng() * ceiling / 2

    def delay_for(self, retry: int, response: httpx.Response | None = None) -> float:
        if response is not None and response.status_code == 429 and parse_retry_after(response.headers) is None:
            return self.cap_wait(retry)
        return super().delay_for(retry, response)
