"""Usage statistics per (provider, model) over assistant messages, aggregated in SQL."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from llmcli.storage.tables import messages

PERCENTILES = (50, 95)


def usage_stats(conn: Connection, since: str | None) -> list[dict[str, Any]]:
    """[{provider, model, requests, errors, errors_by_kind, prompt_tokens, completion_tokens,
    latency_p50_ms, latency_p95_ms}], busiest first. Latency percentiles are nearest-rank over the
    replies that have a latency."""
    scope = [messages.c.role == "assistant"]
    if since:
        scope.append(messages.c.created_at >= since)
    group = (messages.c.provider, messages.c.model)

    totals = conn.execute(
        sa.select(*group, sa.func.count().label("requests"),
                  sa.func.count(messages.c.error).label("errors"),
                  sa.func.coalesce(sa.func.sum(messages.c.prompt_tokens), 0).label("prompt"),
                  sa.func.coalesce(sa.func.sum(messages.c.completion_tokens), 0).label("completion"))
        .where(*scope).group_by(*group)
    ).all()
    result: dict[tuple, dict[str, Any]] = {
        (r.provider, r.model): {
            "provider": r.provider, "model": r.model, "requests": r.requests, "errors": r.errors,
            "errors_by_kind": {}, "prompt_tokens": int(r.prompt), "completion_tokens": int(r.completion),
            **{f"latency_p{p}_ms": None for p in PERCENTILES},
        }
        for r in totals
    }

    # Error kinds: group by the full text in SQL (splitting strings is not portable), fold in Python.
    errors = conn.execute(
        sa.select(*group, messages.c.error, sa.func.count().label("n"))
        .where(*scope, messages.c.error.is_not(None)).group_by(*group, messages.c.error)
    )
    for r in errors:
        kinds = result[(r.provider, r.model)]["errors_by_kind"]
        kind = r.error.split(":", 1)[0].strip() or "error"
        kinds[kind] = kinds.get(kind, 0) + r.n

    for r in conn.execute(_percentile_query(scope)):
        for p in PERCENTILES:
            if r.rn == (p * r.cnt + 99) // 100:
                result[(r.provider, r.model)][f"latency_p{p}_ms"] = r.latency_ms
    return sorted(result.values(),
                  key=lambda s: (-s["requests"], s["provider"] or "", s["model"] or ""))


def _percentile_query(scope: list) -> sa.Select:
    """Only the rows at the percentile ranks leave the database (window functions: SQLite ≥ 3.25, PG)."""
    group = (messages.c.provider, messages.c.model)
    ranked = (
        sa.select(*group, messages.c.latency_ms,
                  sa.func.row_number().over(partition_by=group, order_by=messages.c.latency_ms).label("rn"),
                  sa.func.count().over(partition_by=group).label("cnt"))
        .where(*scope, messages.c.latency_ms.is_not(None))
        .subquery()
    )
    # nearest rank = ceil(p * n / 100), in integer arithmetic every database shares
    wanted = [ranked.c.rn == (p * ranked.c.cnt + 99) // 100 for p in PERCENTILES]
    return sa.select(ranked).where(sa.or_(*wanted))
