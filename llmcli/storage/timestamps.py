"""Timestamps are stored as ISO 8601 UTC strings with microseconds: portable and sortable as text.

Sorting and `<` comparisons in SQL only work if every stored value has the same shape, so every
timestamp that enters the database goes through `normalize_iso` first.
"""

from __future__ import annotations

from datetime import datetime, timezone

from llmcli.errors import UsageError


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


def normalize_iso(value: str) -> str:
    """Any ISO 8601 timestamp → "YYYY-MM-DDTHH:MM:SS.ffffff+00:00" (naive values are taken as UTC)."""
    text = value.strip()
    if text.endswith(("Z", "z")):  # Python 3.10's fromisoformat does not accept "Z"
        text = text[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(
            f"not an ISO 8601 timestamp: {value!r}", hint="e.g. 2026-11-26T10:00:00+00:00"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).isoformat(timespec="microseconds")
