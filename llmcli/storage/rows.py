"""Rows ↔ records, the portable "insert unless present", and conversation summaries built in SQL."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from llmcli.storage.tables import messages
from llmcli.types import ConversationRecord, MessageRecord

_ROWS_PER_INSERT = 200  # × 16 columns stays far below SQLite's bound-parameter limit


def message_values(record: MessageRecord, *, seq: int, created_at: str) -> dict[str, Any]:
    return {
        "id": record.id,
        "conversation_id": record.conversation_id,
        "seq": seq,
        "created_at": created_at,
        "role": record.role,
        "text": record.text,
        "provider": record.provider,
        "model": record.model,
        "finish_reason": record.finish_reason,
        "complete": bool(record.complete),
        "prompt_tokens": record.prompt_tokens,
        "completion_tokens": record.completion_tokens,
        "cached_tokens": record.cached_tokens,
        "latency_ms": record.latency_ms,
        "error": record.error,
        "request_id": record.request_id,
    }


def message_record(row: Mapping[str, Any]) -> MessageRecord:
    return MessageRecord(
        id=row["id"],
        conversation_id=row["conversation_id"],
        role=row["role"],
        text=row["text"],
        created_at=row["created_at"],
        provider=row["provider"],
        model=row["model"],
        finish_reason=row["finish_reason"],
        complete=bool(row["complete"]),
        prompt_tokens=row["prompt_tokens"],
        completion_tokens=row["completion_tokens"],
        cached_tokens=row["cached_tokens"],
        latency_ms=row["latency_ms"],
        error=row["error"],
        request_id=row["request_id"],
    )


def next_seq(conn: Connection) -> int:
    """The next message seq; safe because it runs under the write lock (BEGIN IMMEDIATE)."""
    return (conn.execute(sa.select(sa.func.max(messages.c.seq))).scalar() or 0) + 1


def insert_ignoring_duplicates(conn: Connection, table: sa.Table, rows: Sequence[dict[str, Any]],
                               *, key: str) -> int:
    """Insert the rows whose `key` is not in the table yet; return how many were inserted.

    ON CONFLICT DO NOTHING where the dialect has it (SQLite, PostgreSQL); elsewhere look first, which
    is safe under the write transaction's lock.
    """
    inserted = 0
    for start in range(0, len(rows), _ROWS_PER_INSERT):
        batch = list(rows[start:start + _ROWS_PER_INSERT])
        dialect = conn.dialect.name
        if dialect in ("sqlite", "postgresql"):
            if dialect == "sqlite":
                from sqlalchemy.dialects.sqlite import insert
            else:
                from sqlalchemy.dialects.postgresql import insert
            statement = insert(table).values(batch).on_conflict_do_nothing(index_elements=[key])
            if dialect == "sqlite":  # RETURNING needs SQLite 3.35; rowcount is right here anyway
                inserted += conn.execute(statement).rowcount
            else:  # psycopg reports no rowcount for a multi-row VALUES
                inserted += len(conn.execute(statement.returning(table.c[key])).all())
            continue
        column = table.c[key]
        present = set(conn.execute(sa.select(column).where(column.in_([r[key] for r in batch]))).scalars())
        fresh = [r for r in batch if r[key] not in present]
        if fresh:
            conn.execute(table.insert(), fresh)
        inserted += len(fresh)
    return inserted


def conversation_records(conn: Connection, page: sa.Subquery) -> list[ConversationRecord]:
    """Summaries of the conversations in `page` (a subquery over conversations), newest first.

    Two queries whatever the page size: counts and last model as correlated subqueries (index on
    messages(conversation_id, seq)), then the providers of the whole page at once.
    """
    belongs = messages.c.conversation_id == page.c.id
    count = sa.select(sa.func.count()).where(belongs).scalar_subquery()
    last_model = (sa.select(messages.c.model).where(belongs, messages.c.model.is_not(None))
                  .order_by(messages.c.seq.desc()).limit(1).scalar_subquery())
    query = (sa.select(page, count.label("message_count"), last_model.label("last_model"))
             .order_by(page.c.updated_at.desc(), page.c.id))
    rows = conn.execute(query).mappings().all()
    if not rows:
        return []
    ids = [row["id"] for row in rows]
    first_seen = sa.func.min(messages.c.seq)
    used = conn.execute(
        sa.select(messages.c.conversation_id, messages.c.provider)
        .where(messages.c.conversation_id.in_(ids), messages.c.provider.is_not(None))
        .group_by(messages.c.conversation_id, messages.c.provider)
        .order_by(first_seen)
    )
    providers: dict[str, list[str]] = {}
    for conversation_id, provider in used:
        providers.setdefault(conversation_id, []).append(provider)
    return [
        ConversationRecord(
            id=row["id"],
            title=row["title"],
            created_at=row["created_at"],
            updated_at=row["updated_at"],
            messages=row["message_count"],
            providers=tuple(providers.get(row["id"], ())),
            last_model=row["last_model"],
            parent_id=row["parent_id"],
        )
        for row in rows
    ]


def escape_like(text: str) -> str:
    """Make `text` literal inside a LIKE pattern that uses ESCAPE '\\'."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
