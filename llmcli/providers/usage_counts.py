"""Reading token counts out of a provider's usage object, leniently.

A missing, null or malformed count is 0: the reply itself has already arrived, and a usage
field the provider mangled must not turn it into an error. Counts may be ints or numeric
strings (YandexGPT's int64 in proto-JSON).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["token_count"]


def token_count(usage: Mapping[str, Any], key: str) -> int:
    """usage[key] as an int; 0 when it is missing, null or not a number."""
    try:
        return int(usage.get(key) or 0)
    except (TypeError, ValueError):
        return 0
