"""The same Store on PostgreSQL: portable migrations and queries (LIKE search, no FTS5)."""

from __future__ import annotations

import threading
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

from llmcli.errors import UsageError
from llmcli.storage import open_store
from llmcli.storage.migrations import MIGRATIONS
from llmcli.storage.tables import ConversationRow, MessageRow, ModelCacheRow, ProviderRow, SchemaMigrationRow
from llmcli.types import ModelInfo
from tests.storage.helpers import at, message, sqlite_url

pytestmark = pytest.mark.slow


def test_many_sessions_migrating_a_fresh_database_at_once(postgres_url: str) -> None:
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def opener() -> None:
        try:
            start.wait()
            open_store(postgres_url).close()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=opener) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[0]
    engine = sa.create_engine(postgres_url)
    with engine.connect() as conn:
        rows = conn.exec_driver_sql("SELECT version, name FROM schema_migrations ORDER BY version").all()
        assert [tuple(r) for r in rows] == [(m.version, m.name) for m in MIGRATIONS]
        inspector = sa.inspect(conn)
        for table in (ProviderRow, ConversationRow, MessageRow, ModelCacheRow, SchemaMigrationRow):
            columns = {c["name"]: c["nullable"] for c in inspector.get_columns(table.__tablename__)}
            assert columns == {c.name: c.nullable for c in table.__table__.columns}
    engine.dispose()


def test_conversations_on_postgresql(postgres_url: str) -> None:
    with open_store(postgres_url) as store:
        assert store.full_text is False
        a, b = "abc1" + uuid.uuid4().hex[4:], "abc2" + uuid.uuid4().hex[4:]
        first = message(a, "user", "Как настроить  WAL?")
        store.save_message(first)
        store.save_message(first)
        store.save_message(message(a, "assistant", "Так", provider="gigachat", model="GigaChat-2",
                                   latency_ms=100, complete=False, error="StreamBroken: reset"))
        store.save_message(message(b, "user", "other", created_at=at(10_000)))
        assert [m.text for m in store.messages(a)] == ["Как настроить  WAL?", "Так"]
        assert store.conversation(a).title == "Как настроить WAL?"
        assert store.conversation(a).providers == ("gigachat",)
        assert [c.id for c in store.list_conversations(provider="gigachat")] == [a]
        assert store.last_conversation_id() == b
        assert store.resolve_conversation("abc1") == a
        with pytest.raises(UsageError):
            store.resolve_conversation("abc")
        with pytest.raises(UsageError):
            store.resolve_conversation("ABC1")  # ids are case-sensitive everywhere
        assert [h.conversation_id for h in store.search("НАСТРОИТЬ")] == [a]
        stats = store.stats()
        assert stats[0]["errors_by_kind"] == {"StreamBroken": 1} and stats[0]["latency_p95_ms"] == 100
        assert store.delete_older_than(at(5_000)) == 1
        assert store.delete_conversations([b]) == 1
        assert store.list_conversations() == []
        assert store.check() == []


def test_history_moves_between_sqlite_and_postgresql(postgres_url: str, tmp_path: Path) -> None:
    with open_store(sqlite_url(tmp_path / "h.db")) as local:
        for n in range(3):
            cid = uuid.uuid4().hex
            local.save_message(message(cid, "user", f"вопрос {n}"))
            local.save_message(message(cid, "assistant", f"ответ {n}", provider="yandexgpt", latency_ms=n))
        lines = list(local.export_jsonl())
        with open_store(postgres_url) as shared:
            assert shared.import_jsonl(lines) == (3, 6)
            assert shared.import_jsonl(lines) == (0, 0)
            assert shared.list_conversations() == local.list_conversations()
            assert list(shared.export_jsonl()) == lines


def test_providers_and_model_cache_on_postgresql(postgres_url: str) -> None:
    with open_store(postgres_url) as store:
        store.save_provider("team-vllm", "openai", "http://gpu/v1", "qwen3", {"timeout": 30})
        store.save_provider("team-vllm", "openai", "http://gpu2/v1", "qwen3")
        assert store.list_providers()[0]["base_url"] == "http://gpu2/v1"
        store.cache_models("team-vllm", [ModelInfo("qwen3", "team-vllm")])
        assert store.cached_models("team-vllm")[0] == [ModelInfo("qwen3", "team-vllm")]
        assert store.remove_provider("team-vllm") and store.cached_models("team-vllm") is None
