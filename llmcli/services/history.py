"""History: list, show, search, export/import, delete and statistics over the Store.

Returns plain dicts shaped as DESIGN.md §7 says (`--json` prints them as they are); never prints.
Every database failure is the Store's StorageError (exit 8), which names the path and what to do.
"""

from __future__ import annotations

import dataclasses
import re
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Iterable, Iterator, Sequence

from llmcli.errors import UsageError

if TYPE_CHECKING:
    from llmcli.storage import Store
    from llmcli.types import ConversationRecord, MessageRecord

FORMATS = ("jsonl", "markdown")
_UNITS = {"s": "seconds", "m": "minutes", "min": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_AGE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|min|m|h|d|w)\s*$", re.IGNORECASE)
_EVERYTHING = 1_000_000_000  # "no limit" for list_conversations


def parse_age(text: str) -> timedelta:
    """"30d", "12h", "2w", "90m" (minutes), "45s" → a timedelta."""
    match = _AGE.match(text)
    if not match:
        raise UsageError(f"not a duration: {text!r}", hint="use a number and a unit: 30d, 12h, 2w, 90m")
    amount, unit = float(match.group(1)), match.group(2).lower()
    return timedelta(**{_UNITS[unit]: amount})


def cutoff_iso(text: str, now: datetime | None = None) -> str:
    """A duration ("30d": that long ago) or an ISO date/time → an ISO 8601 UTC instant."""
    if _AGE.match(text):
        moment = (now or datetime.now(timezone.utc)) - parse_age(text)
        return moment.astimezone(timezone.utc).isoformat(timespec="microseconds")
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(f"not a duration or a date: {text!r}",
                         hint="e.g. 30d, 12h, 2w, or 2026-01-31") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).isoformat(timespec="microseconds")


def conversation_json(record: ConversationRecord) -> dict[str, Any]:
    return {"id": record.id, "title": record.title, "created_at": record.created_at,
            "updated_at": record.updated_at, "messages": record.messages,
            "providers": list(record.providers), "last_model": record.last_model}


def message_json(m: MessageRecord) -> dict[str, Any]:
    usage = None
    if m.prompt_tokens is not None or m.completion_tokens is not None:
        prompt, completion = m.prompt_tokens or 0, m.completion_tokens or 0
        usage = {"prompt_tokens": prompt, "completion_tokens": completion,
                 "total_tokens": prompt + completion}
    return {"id": m.id, "role": m.role, "text": m.text, "provider": m.provider, "model": m.model,
            "created_at": m.created_at, "finish_reason": m.finish_reason, "complete": m.complete,
            "usage": usage, "latency_ms": m.latency_ms, "error": m.error}


class HistoryService:
    """One open store per command run; `close()` when done (or use it as a context manager)."""

    def __init__(self, store: Store | None = None) -> None:
        if store is None:
            from llmcli.storage import open_store

            store = open_store()
        self.store = store

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> HistoryService:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def list_conversations(self, limit: int = 20, provider: str | None = None) -> list[dict[str, Any]]:
        return [conversation_json(c) for c in self.store.list_conversations(limit=limit, provider=provider)]

    def resolve(self, id_or_prefix: str) -> str:
        return self.store.resolve_conversation(id_or_prefix)

    def show(self, id_or_prefix: str) -> dict[str, Any]:
        cid = self.resolve(id_or_prefix)
        head = self.store.conversation(cid)
        return {"id": cid, "title": head.title, "created_at": head.created_at, "updated_at": head.updated_at,
                "messages": [message_json(m) for m in self.store.messages(cid)]}

    def markdown(self, id_or_prefix: str) -> str:
        return self.store.export_markdown(self.resolve(id_or_prefix))

    def search(self, query: str, limit: int = 20) -> list[dict[str, Any]]:
        if not query.strip():
            raise UsageError("empty search query", hint='llmcli history search "words to find"')
        return [dataclasses.asdict(hit) for hit in self.store.search(query, limit=limit)]

    def export(self, ids: Sequence[str] = (), fmt: str = "jsonl") -> Iterator[str]:
        """Lines (jsonl) or documents (markdown) to write, each without a trailing newline."""
        if fmt not in FORMATS:
            raise UsageError(f"unknown format {fmt!r}", hint="use --format jsonl or --format markdown")
        resolved = [self.resolve(i) for i in ids] or None
        if fmt == "jsonl":
            return self.store.export_jsonl(resolved)
        if resolved is None:  # oldest first, like the JSON Lines export
            resolved = [c.id for c in reversed(self.store.list_conversations(limit=_EVERYTHING))]
        return (self.store.export_markdown(cid) for cid in resolved)

    def import_lines(self, lines: Iterable[str]) -> tuple[int, int]:
        return self.store.import_jsonl(lines)

    def resolve_all(self, ids: Sequence[str]) -> list[str]:
        """Full ids, without duplicates; UsageError for an unknown or ambiguous one (nothing deleted)."""
        return list(dict.fromkeys(self.resolve(i) for i in ids))

    def delete(self, ids: Sequence[str]) -> int:
        return self.store.delete_conversations(self.resolve_all(ids))

    def delete_before(self, cutoff: str) -> int:
        """Delete conversations last updated before `cutoff` (see cutoff_iso)."""
        return self.store.delete_older_than(cutoff)

    def stats(self, since: str | None = None) -> list[dict[str, Any]]:
        return self.store.stats(cutoff_iso(since) if since else None)
