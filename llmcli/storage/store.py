"""The repository: conversations, messages, configured providers and the model cache.

Every public method is one short transaction (writes: BEGIN IMMEDIATE) and raises StorageError, never
a raw driver error. Search, statistics and import/export live in search.py, stats.py, transfer.py.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterable, Iterator, Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from llmcli.defaults import KIND_SECRETS
from llmcli.errors import UsageError
from llmcli.storage import search as search_module
from llmcli.storage import stats as stats_module
from llmcli.storage import transfer
from llmcli.storage.database import Database
from llmcli.storage.migrations import FULLTEXT_TABLE, migrate
from llmcli.storage.rows import (
    conversation_records,
    escape_like,
    insert_ignoring_duplicates,
    message_record,
    message_values,
    next_seq,
)
from llmcli.storage.search import SearchHit
from llmcli.storage.tables import conversations, messages, model_cache, providers
from llmcli.storage.timestamps import normalize_iso, now_iso
from llmcli.types import ConversationRecord, MessageRecord, ModelInfo

TITLE_LENGTH = 80
_SECRET_OPTION = re.compile(r"key|token|secret|password|credential", re.IGNORECASE)
_SECRET_NAMES = {name for secrets in KIND_SECRETS.values() for name in secrets}
_IN_BATCH = 500  # ids per `IN (...)`: well below SQLite's bound-parameter limit


def open_store(url: str | None = None) -> Store:
    """Open (creating and migrating if needed) the history database. None → the user's database."""
    if url is None:
        from llmcli.paths import get_paths

        url = get_paths().database_url
    db = Database(url)
    try:
        migrate(db)
    except BaseException:
        db.dispose()
        raise
    return Store(db)


def title_from(text: str) -> str:
    """The first user message squeezed to one line of at most 80 characters."""
    line = " ".join(text.split())
    return line if len(line) <= TITLE_LENGTH else line[: TITLE_LENGTH - 1].rstrip() + "…"


class Store:
    def __init__(self, db: Database) -> None:
        self._db = db
        self.url = db.url
        # Full-text search where the FTS5 index exists; tests set this to False to force the fallback.
        with db.read() as conn:
            self.full_text = sa.inspect(conn).has_table(FULLTEXT_TABLE)

    # --- conversations and messages -------------------------------------------------------------

    def save_message(self, record: MessageRecord, *, title: str | None = None) -> None:
        """Insert a message (a second insert of the same id does nothing), creating its conversation."""
        created_at = normalize_iso(record.created_at)
        with self._db.write() as conn:
            self._ensure_conversation(conn, record.conversation_id, created_at, title)
            seq = next_seq(conn)
            values = message_values(record, seq=seq, created_at=created_at)
            if not insert_ignoring_duplicates(conn, messages, [values], key="id"):
                return  # already saved: an idempotent retry
            updated = conversations.c.updated_at
            conn.execute(conversations.update().where(conversations.c.id == record.conversation_id)
                         .values(updated_at=sa.case((updated < created_at, created_at), else_=updated)))
            if record.role == "user":
                conn.execute(
                    conversations.update()
                    .where(conversations.c.id == record.conversation_id, conversations.c.title == "")
                    .values(title=title_from(record.text))
                )

    def _ensure_conversation(self, conn: Connection, conversation_id: str, created_at: str,
                             title: str | None) -> None:
        row = {"id": conversation_id, "title": title_from(title) if title else "",
               "created_at": created_at, "updated_at": created_at, "parent_id": None}
        if not insert_ignoring_duplicates(conn, conversations, [row], key="id") and title:
            conn.execute(conversations.update()
                         .where(conversations.c.id == conversation_id, conversations.c.title == "")
                         .values(title=title_from(title)))
        # PostgreSQL: serialise writers of one conversation so their seq values keep their order.
        conn.execute(sa.select(conversations.c.id)
                     .where(conversations.c.id == conversation_id).with_for_update())

    def messages(self, conversation_id: str) -> list[MessageRecord]:
        query = (sa.select(messages).where(messages.c.conversation_id == conversation_id)
                 .order_by(messages.c.seq))
        with self._db.read() as conn:
            return [message_record(row) for row in conn.execute(query).mappings()]

    def resolve_conversation(self, id_or_prefix: str) -> str:
        """A full id from an id or a unique prefix (like git). UsageError when none or several match."""
        prefix = id_or_prefix.strip()
        if not prefix:
            raise UsageError("no conversation id given")
        pattern = escape_like(prefix) + "%"
        query = (sa.select(conversations.c.id, conversations.c.title)
                 .where(conversations.c.id.like(pattern, escape="\\"))
                 .order_by(conversations.c.updated_at.desc()).limit(11))
        with self._db.read() as conn:
            # Exact match first; LIKE is case-insensitive on SQLite only, so re-check the prefix.
            exact = conn.execute(sa.select(conversations.c.id).where(conversations.c.id == prefix))
            if exact.first():
                return prefix
            found = [(cid, title) for cid, title in conn.execute(query) if cid.startswith(prefix)]
        if not found:
            raise UsageError(f"no conversation matches {prefix!r}",
                             hint="see `llmcli history list` for ids")
        if len(found) > 1:
            shown = ", ".join(f"{cid[:12]} ({title[:30]})" for cid, title in found[:10])
            raise UsageError(f"{prefix!r} matches {len(found)}{'+' if len(found) > 10 else ''} "
                             f"conversations: {shown}", hint="type more characters of the id")
        return found[0][0]

    def link_conversations(self, parent_id: str, child_ids: Sequence[str]) -> None:
        """Mark conversations as forks of `parent_id` (e.g. one `ask -p a,b` compare run)."""
        children = [cid for cid in child_ids if cid != parent_id]
        with self._db.write() as conn:
            conn.execute(conversations.update().where(conversations.c.id.in_(children))
                         .values(parent_id=parent_id))

    def last_conversation_id(self) -> str | None:
        query = (sa.select(conversations.c.id)
                 .order_by(conversations.c.updated_at.desc(), conversations.c.created_at.desc())
                 .limit(1))
        with self._db.read() as conn:
            return conn.execute(query).scalar()

    def conversation(self, conversation_id: str) -> ConversationRecord:
        page = sa.select(conversations).where(conversations.c.id == conversation_id).subquery()
        with self._db.read() as conn:
            found = conversation_records(conn, page)
        if not found:
            raise UsageError(f"no conversation {conversation_id!r}",
                             hint="see `llmcli history list` for ids")
        return found[0]

    def list_conversations(self, limit: int = 20, provider: str | None = None) -> list[ConversationRecord]:
        """Most recently updated first; counts are aggregated in SQL, messages are not loaded."""
        page = sa.select(conversations)
        if provider is not None:
            page = page.where(sa.exists().where(messages.c.conversation_id == conversations.c.id,
                                                messages.c.provider == provider))
        page = page.order_by(conversations.c.updated_at.desc(), conversations.c.id).limit(limit)
        with self._db.read() as conn:
            return conversation_records(conn, page.subquery())

    def search(self, query: str, limit: int = 20) -> list[SearchHit]:
        with self._db.read() as conn:
            if self.full_text:
                return search_module.full_text_search(conn, query, limit)
            return search_module.like_search(conn, query, limit)

    def delete_conversations(self, ids: Sequence[str]) -> int:
        deleted = 0
        with self._db.write() as conn:
            for start in range(0, len(ids), _IN_BATCH):
                batch = list(ids[start:start + _IN_BATCH])
                deleted += delete_where(conn, conversations.c.id.in_(batch))
        return deleted

    def delete_older_than(self, cutoff_iso: str) -> int:
        """Delete conversations last updated before the cutoff."""
        cutoff = normalize_iso(cutoff_iso)
        with self._db.write() as conn:
            return delete_where(conn, conversations.c.updated_at < cutoff)

    # --- reports and transfer -------------------------------------------------------------------

    def stats(self, since_iso: str | None = None) -> list[dict]:
        since = normalize_iso(since_iso) if since_iso else None
        with self._db.read() as conn:
            return stats_module.usage_stats(conn, since)

    def export_jsonl(self, ids: Sequence[str] | None = None) -> Iterator[str]:
        """One JSON line per conversation with its messages, oldest conversation first."""
        return transfer.export_jsonl(self._db, ids)

    def import_jsonl(self, lines: Iterable[str]) -> tuple[int, int]:
        """(conversations added, messages added). Importing the same file twice adds nothing."""
        return transfer.import_jsonl(self._db, lines)

    def export_markdown(self, conversation_id: str) -> str:
        return transfer.to_markdown(self.conversation(conversation_id), self.messages(conversation_id))

    # --- model cache and configured providers ---------------------------------------------------

    def cached_models(self, provider: str) -> tuple[list[ModelInfo], str] | None:
        query = sa.select(model_cache.c.models, model_cache.c.fetched_at).where(
            model_cache.c.provider == provider)
        with self._db.read() as conn:
            row = conn.execute(query).first()
        if row is None:
            return None
        try:
            models = [ModelInfo(**item) for item in json.loads(row.models)]
        except (ValueError, TypeError):
            return None  # unreadable cache: treat as missing, it will be fetched again
        return models, row.fetched_at

    def cache_models(self, provider: str, models: Sequence[ModelInfo]) -> None:
        payload = json.dumps([dataclasses.asdict(m) for m in models], ensure_ascii=False)
        with self._db.write() as conn:
            conn.execute(model_cache.delete().where(model_cache.c.provider == provider))
            conn.execute(model_cache.insert().values(provider=provider, models=payload,
                                                     fetched_at=now_iso()))

    def list_providers(self) -> list[dict]:
        with self._db.read() as conn:
            rows = conn.execute(sa.select(providers).order_by(providers.c.name)).mappings().all()
        return [{"name": r["name"], "kind": r["kind"], "base_url": r["base_url"], "model": r["model"],
                 "options": json.loads(r["options"] or "{}")} for r in rows]

    def save_provider(self, name: str, kind: str, base_url: str | None, model: str | None,
                      options: dict | None = None) -> None:
        """Add or replace a provider. Its cached model list is dropped (the endpoint may have changed)."""
        secret = sorted(k for k in (options or {}) if k in _SECRET_NAMES or _SECRET_OPTION.search(k))
        if secret:
            raise UsageError(f"refusing to store {', '.join(secret)} in the database",
                             hint=f"store secrets with `llmcli keys set {name}`")
        values = {"kind": kind, "base_url": base_url, "model": model,
                  "options": json.dumps(options or {}, ensure_ascii=False, sort_keys=True)}
        with self._db.write() as conn:
            updated = conn.execute(providers.update().where(providers.c.name == name).values(**values))
            if not updated.rowcount:
                conn.execute(providers.insert().values(name=name, created_at=now_iso(), **values))
            conn.execute(model_cache.delete().where(model_cache.c.provider == name))

    def remove_provider(self, name: str) -> bool:
        with self._db.write() as conn:
            removed = conn.execute(providers.delete().where(providers.c.name == name)).rowcount
            conn.execute(model_cache.delete().where(model_cache.c.provider == name))
        return bool(removed)

    # --- maintenance ----------------------------------------------------------------------------

    def check(self) -> list[str]:
        """Problems found by SQLite's integrity check ([] when fine; nothing to check elsewhere)."""
        with self._db.read() as conn:
            if conn.dialect.name != "sqlite":
                return []
            problems = [str(row[0]) for row in conn.exec_driver_sql("PRAGMA integrity_check")]
            problems += [f"foreign key violation in {row[0]} (row {row[1]})"
                         for row in conn.exec_driver_sql("PRAGMA foreign_key_check")]
        return [p for p in problems if p != "ok"]

    def close(self) -> None:
        self._db.dispose()

    def __enter__(self) -> Store:  # noqa: PYI034 - Self needs Python 3.11
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def delete_where(conn: Connection, condition: sa.ColumnElement[bool]) -> int:
    """Delete matching conversations and their messages (explicitly: not every database cascades)."""
    doomed = sa.select(conversations.c.id).where(condition)
    conn.execute(conversations.update().where(conversations.c.parent_id.in_(doomed))
                 .values(parent_id=None))
    conn.execute(messages.delete().where(messages.c.conversation_id.in_(doomed)))
    return conn.execute(conversations.delete().where(condition)).rowcount
