"""The history service: JSON shapes of DESIGN.md §7, durations, export/import and deletion."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from llmcli.errors import StorageError, UsageError
from llmcli.services.history import HistoryService, cutoff_iso, parse_age
from llmcli.storage import open_store
from llmcli.types import MessageRecord


def seed(store, cid: str, when: str, reply: str = "Ответ", *, complete: bool = True) -> None:
    store.save_message(MessageRecord(f"{cid}-u", cid, "user", f"вопрос {cid}", when))
    store.save_message(MessageRecord(
        f"{cid}-a", cid, "assistant", reply, when, provider="gigachat", model="GigaChat-2",
        finish_reason="stop" if complete else "interrupted", complete=complete,
        prompt_tokens=11, completion_tokens=7, latency_ms=420,
        error=None if complete else "Interrupted: Ctrl-C"))


@pytest.fixture
def history():
    service = HistoryService(open_store())
    yield service
    service.close()


def test_durations_and_dates() -> None:
    assert parse_age("30d") == timedelta(days=30)
    assert parse_age("12h") == timedelta(hours=12) and parse_age("2w") == timedelta(weeks=2)
    assert parse_age("90m") == timedelta(minutes=90)
    now = datetime(2026, 11, 26, 12, 0, tzinfo=timezone.utc)
    assert cutoff_iso("1d", now) == "2026-11-25T12:00:00.000000+00:00"
    assert cutoff_iso("2026-01-31") == "2026-01-31T00:00:00.000000+00:00"
    with pytest.raises(UsageError, match="not a duration"):
        cutoff_iso("soon")


def test_show_has_the_contract_shape_and_marks_cut_replies(history) -> None:
    seed(history.store, "c0ffee11", "2026-11-26T10:00:00+00:00", "частично", complete=False)
    shown = history.show("c0ff")
    assert set(shown) >= {"id", "title", "created_at", "messages"}
    user, reply = shown["messages"]
    assert set(reply) >= {"id", "role", "text", "provider", "model", "created_at", "finish_reason",
                          "complete", "usage", "latency_ms"}
    assert (reply["complete"], reply["finish_reason"]) == (False, "interrupted")
    assert reply["usage"] == {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}
    assert user["usage"] is None and reply["created_at"].endswith("+00:00")


def test_list_has_the_contract_shape(history) -> None:
    seed(history.store, "a1", "2026-11-26T10:00:00+00:00")
    (row,) = history.list_conversations()
    assert row == {"id": "a1", "title": "вопрос a1", "created_at": row["created_at"],
                   "updated_at": row["updated_at"], "messages": 2, "providers": ["gigachat"],
                   "last_model": "GigaChat-2"}


def test_prefixes_resolve_and_ambiguity_is_a_usage_error(history) -> None:
    seed(history.store, "abc1", "2026-11-26T10:00:00+00:00")
    seed(history.store, "abc2", "2026-11-26T10:00:00+00:00")
    assert history.resolve("abc1") == "abc1"
    with pytest.raises(UsageError, match="matches 2"):
        history.show("abc")


def test_export_then_import_into_a_fresh_database_is_idempotent(history, tmp_path) -> None:
    seed(history.store, "one", "2026-11-25T10:00:00+00:00")
    seed(history.store, "two", "2026-11-26T10:00:00+00:00")
    lines = list(history.export())
    assert [json.loads(line)["id"] for line in lines] == ["one", "two"]
    with HistoryService(open_store(f"sqlite:///{tmp_path / 'fresh.db'}")) as fresh:
        assert fresh.import_lines(lines) == (2, 4)
        assert fresh.import_lines(lines) == (0, 0)
        assert fresh.show("two") == history.show("two")


def test_markdown_export_of_everything_is_oldest_first(history) -> None:
    seed(history.store, "new", "2026-11-26T10:00:00+00:00", "второй")
    seed(history.store, "old", "2026-11-20T10:00:00+00:00", "первый")
    docs = list(history.export(fmt="markdown"))
    assert len(docs) == 2 and "первый" in docs[0] and "второй" in docs[1]
    with pytest.raises(UsageError, match="unknown format"):
        history.export(fmt="csv")


def test_delete_by_prefix_and_by_age(history) -> None:
    seed(history.store, "keep", datetime.now(timezone.utc).isoformat())
    seed(history.store, "drop-old", "2020-01-01T00:00:00+00:00")
    seed(history.store, "drop-me", datetime.now(timezone.utc).isoformat())
    assert history.delete(["drop-m"]) == 1
    assert history.delete_before(cutoff_iso("30d")) == 1
    assert [c["id"] for c in history.list_conversations()] == ["keep"]


def test_stats_since_filters_by_time(history) -> None:
    seed(history.store, "old", "2020-01-01T00:00:00+00:00")
    seed(history.store, "new", datetime.now(timezone.utc).isoformat())
    (everything,) = history.stats()
    (recent,) = history.stats("7d")
    assert (everything["requests"], recent["requests"]) == (2, 1)


def test_an_unusable_database_is_a_storage_error_naming_the_path(llmcli_home) -> None:
    llmcli_home.mkdir(parents=True, exist_ok=True)
    (llmcli_home / "history.db").write_bytes(b"this is not a database" * 100)
    with pytest.raises(StorageError) as caught:
        HistoryService()
    assert str(llmcli_home / "history.db") in caught.value.message and caught.value.exit_code == 8
