"""Append-only schema migrations: a list of named steps, applied once, recorded in schema_migrations.

Rules (docs/database.md explains why):
- Never edit or reorder a released step; add `m00N_<what>` at the end of MIGRATIONS.
- Steps are portable SQL. Anything SQLite-only lives in a step that checks the dialect itself
  (m002_sqlite_fulltext) and is recorded as applied, doing nothing, elsewhere.
- `migrate()` reads the applied versions with a plain read; only if something is pending does it take
  the write lock (BEGIN IMMEDIATE on SQLite, an advisory lock on PostgreSQL), read them again and apply
  what is still missing — so many processes opening a fresh database at once all succeed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from llmcli.errors import StorageError
from llmcli.storage.database import Database
from llmcli.storage.timestamps import now_iso


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    apply: Callable[[Connection], None]


def _run(conn: Connection, script: str) -> None:
    """Execute `;`-separated statements (no `;` inside them: triggers are run one by one)."""
    for statement in script.split(";"):
        if statement.strip():
            conn.exec_driver_sql(statement)


def m001_initial(conn: Connection) -> None:
    _run(conn, """
    CREATE TABLE providers (
        name VARCHAR NOT NULL PRIMARY KEY,
        kind VARCHAR NOT NULL,
        base_url VARCHAR,
        model VARCHAR,
        options TEXT NOT NULL DEFAULT '{}',
        created_at VARCHAR NOT NULL
    );
    CREATE TABLE conversations (
        id VARCHAR NOT NULL PRIMARY KEY,
        title VARCHAR NOT NULL DEFAULT '',
        created_at VARCHAR NOT NULL,
        updated_at VARCHAR NOT NULL,
        parent_id VARCHAR REFERENCES conversations (id) ON DELETE SET NULL
    );
    CREATE INDEX ix_conversations_updated_at ON conversations (updated_at);
    CREATE TABLE messages (
        id VARCHAR NOT NULL PRIMARY KEY,
        conversation_id VARCHAR NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
        seq INTEGER NOT NULL,
        created_at VARCHAR NOT NULL,
        role VARCHAR NOT NULL,
        text TEXT NOT NULL,
        provider VARCHAR,
        model VARCHAR,
        finish_reason VARCHAR,
        complete BOOLEAN NOT NULL DEFAULT TRUE,
        prompt_tokens INTEGER,
        completion_tokens INTEGER,
        cached_tokens INTEGER,
        latency_ms INTEGER,
        error TEXT,
        request_id VARCHAR
    );
    CREATE INDEX ix_messages_conversation_seq ON messages (conversation_id, seq);
    CREATE INDEX ix_messages_seq ON messages (seq);
    CREATE TABLE model_cache (
        provider VARCHAR NOT NULL PRIMARY KEY,
        models TEXT NOT NULL,
        fetched_at VARCHAR NOT NULL
    )
    """)


FULLTEXT_TABLE = "messages_fts"


def m002_sqlite_fulltext(conn: Connection) -> None:
    """SQLite only: an FTS5 index over messages.text, kept in sync by triggers.

    `unicode61 remove_diacritics 2` folds case for Cyrillic as well as Latin. Elsewhere (or on a SQLite
    built without FTS5) nothing is created and search falls back to LIKE.
    """
    if conn.dialect.name != "sqlite":
        return
    if not conn.exec_driver_sql("SELECT sqlite_compileoption_used('ENABLE_FTS5')").scalar():
        return
    fts = FULLTEXT_TABLE
    delete_old = f"INSERT INTO {fts} ({fts}, rowid, text) VALUES ('delete', old.seq, old.text);"
    insert_new = f"INSERT INTO {fts} (rowid, text) VALUES (new.seq, new.text);"
    for statement in (
        # External content: the text is stored once, in messages; seq is the row id.
        f"""CREATE VIRTUAL TABLE {fts} USING fts5(
            text, content='messages', content_rowid='seq', tokenize='unicode61 remove_diacritics 2')""",
        f"CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN {insert_new} END",
        f"CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN {delete_old} END",
        f"""CREATE TRIGGER messages_fts_update AFTER UPDATE OF text, seq ON messages
            BEGIN {delete_old} {insert_new} END""",
        f"INSERT INTO {fts} ({fts}) VALUES ('rebuild')",  # index messages saved before this step
    ):
        conn.exec_driver_sql(statement)


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "m001_initial", m001_initial),
    Migration(2, "m002_sqlite_fulltext", m002_sqlite_fulltext),
)
LATEST = MIGRATIONS[-1].version

_BOOTSTRAP = """CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER NOT NULL PRIMARY KEY,
    name VARCHAR NOT NULL,
    applied_at VARCHAR NOT NULL
)"""
# Any constant: PostgreSQL sessions migrating the same database queue on this advisory lock.
_PG_LOCK_KEY = 0x6C6C6D636C69


def applied_versions(conn: Connection) -> set[int]:
    if not sa.inspect(conn).has_table("schema_migrations"):
        return set()
    return {int(v) for v in conn.exec_driver_sql("SELECT version FROM schema_migrations").scalars()}


def pending(applied: set[int], target: int = LATEST) -> list[Migration]:
    newer = {v for v in applied if v > LATEST}
    if newer:
        raise StorageError(
            f"the database was written by a newer llmcli (schema version {max(newer)}, "
            f"this llmcli knows {LATEST})",
            hint="upgrade llmcli, or point LLMCLI_DATABASE_URL at another database",
        )
    return [m for m in MIGRATIONS if m.version <= target and m.version not in applied]


def migrate(db: Database, *, target: int = LATEST) -> list[str]:
    """Apply the steps up to `target` that are not applied yet; return the names applied here."""
    with db.read() as conn:
        if not pending(applied_versions(conn), target):
            return []  # the common case: one cheap read, no lock
    with db.write() as conn:  # BEGIN IMMEDIATE: one migrating process at a time
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_PG_LOCK_KEY})")
        conn.exec_driver_sql(_BOOTSTRAP)
        todo = pending(applied_versions(conn), target)  # again: another process may have done it
        for step in todo:
            step.apply(conn)
            conn.execute(
                sa.text("INSERT INTO schema_migrations (version, name, applied_at) VALUES (:v, :n, :t)"),
                {"v": step.version, "n": step.name, "t": now_iso()},
            )
        return [step.name for step in todo]
