"""Migrations: applied once, recorded in schema_migrations, and reachable from every earlier version."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
import sqlalchemy as sa

from llmcli.errors import StorageError
from llmcli.storage import open_store
from llmcli.storage.migrations import LATEST, MIGRATIONS
from llmcli.storage.tables import ConversationRow, MessageRow, ModelCacheRow, ProviderRow, SchemaMigrationRow
from tests.storage.helpers import database_at_version, message, sqlite_url


def recorded(path: Path) -> list[tuple[int, str]]:
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT version, name FROM schema_migrations ORDER BY version").fetchall()


def test_a_fresh_database_records_every_step_once(db_path: Path) -> None:
    for _ in range(3):
        open_store(sqlite_url(db_path)).close()
    assert recorded(db_path) == [(m.version, m.name) for m in MIGRATIONS]


def test_steps_are_numbered_in_order_with_unique_names() -> None:
    assert [m.version for m in MIGRATIONS] == list(range(1, len(MIGRATIONS) + 1))
    assert len({m.name for m in MIGRATIONS}) == len(MIGRATIONS)
    assert all(m.name.startswith(f"m{m.version:03d}_") for m in MIGRATIONS)


@pytest.mark.parametrize("table", [ProviderRow, ConversationRow, MessageRow, ModelCacheRow,
                                   SchemaMigrationRow], ids=lambda t: t.__tablename__)
def test_the_migrated_schema_has_exactly_the_columns_of_the_tables(db_path: Path, table) -> None:
    open_store(sqlite_url(db_path)).close()
    inspector = sa.inspect(sa.create_engine(sqlite_url(db_path)))
    columns = {c["name"]: c["nullable"] for c in inspector.get_columns(table.__tablename__)}
    expected = {c.name: c.nullable for c in table.__table__.columns}
    assert columns == expected
    primary = inspector.get_pk_constraint(table.__tablename__)["constrained_columns"]
    assert primary == [c.name for c in table.__table__.primary_key.columns]


def test_the_list_and_conversation_queries_have_their_indexes(db_path: Path) -> None:
    open_store(sqlite_url(db_path)).close()
    inspector = sa.inspect(sa.create_engine(sqlite_url(db_path)))
    message_indexes = {tuple(i["column_names"]) for i in inspector.get_indexes("messages")}
    conversation_indexes = {tuple(i["column_names"]) for i in inspector.get_indexes("conversations")}
    assert ("conversation_id", "seq") in message_indexes
    assert ("updated_at",) in conversation_indexes


@pytest.mark.parametrize("start", range(len(MIGRATIONS)), ids=lambda v: f"from-v{v}")
def test_upgrading_from_every_earlier_version_keeps_the_data(db_path: Path, start: int) -> None:
    url = sqlite_url(db_path)
    database_at_version(url, start)
    if start >= 1:  # data as written at that version: m001's tables, by plain SQL
        with sqlite3.connect(db_path) as conn:
            conn.execute("INSERT INTO conversations (id, title, created_at, updated_at) VALUES "
                         "('old', 'old chat', '2026-01-01T00:00:00.000000+00:00', "
                         "'2026-01-01T00:00:00.000000+00:00')")
            conn.execute("INSERT INTO messages (id, conversation_id, seq, created_at, role, text) VALUES "
                         "('m1', 'old', 1, '2026-01-01T00:00:00.000000+00:00', 'user', "
                         "'нагрузочное тестирование')")
    store = open_store(url)
    try:
        assert [v for v, _ in recorded(db_path)] == list(range(1, LATEST + 1))
        if start >= 1:
            assert [m.text for m in store.messages("old")] == ["нагрузочное тестирование"]
            assert [h.message_id for h in store.search("нагрузочное")] == ["m1"]  # indexed on upgrade
        store.save_message(message("new", text="после обновления"))
        assert [h.conversation_id for h in store.search("обновления")] == ["new"]
    finally:
        store.close()


def test_a_database_from_a_newer_llmcli_is_refused(db_path: Path) -> None:
    open_store(sqlite_url(db_path)).close()
    with sqlite3.connect(db_path) as conn:
        conn.execute("INSERT INTO schema_migrations VALUES (?, 'm999_future', '2030-01-01T00:00:00+00:00')",
                     (LATEST + 1,))
    with pytest.raises(StorageError) as caught:
        open_store(sqlite_url(db_path))
    assert "newer llmcli" in caught.value.message
    assert caught.value.hint and "upgrade" in caught.value.hint
