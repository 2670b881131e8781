"""Saving messages, finding conversations, listing and deleting them."""

from __future__ import annotations

import json
import uuid

import pytest
import sqlalchemy as sa
from sqlalchemy import event

from llmcli.errors import UsageError
from llmcli.storage import Store
from llmcli.types import FINISH_INTERRUPTED
from tests.storage.helpers import at, message


def test_saving_the_same_message_twice_stores_it_once(store: Store, conversation_id: str) -> None:
    record = message(conversation_id, text="hi")
    store.save_message(record)
    store.save_message(record)  # e.g. a retry after an ambiguous failure
    assert store.messages(conversation_id) == [record]
    assert store.list_conversations()[0].messages == 1


def test_messages_come_back_in_conversation_order_with_every_field(store: Store,
                                                                   conversation_id: str) -> None:
    saved = [
        message(conversation_id, "system", "Answer briefly."),
        message(conversation_id, "user", "Привет"),
        message(conversation_id, "assistant", "Здравствуйте", provider="gigachat", model="GigaChat-2",
                finish_reason=FINISH_INTERRUPTED, complete=False, prompt_tokens=12, completion_tokens=3,
                cached_tokens=4, latency_ms=830, error="StreamBroken: connection reset",
                request_id="req-1"),
    ]
    for record in saved:
        store.save_message(record)
    assert store.messages(conversation_id) == saved


def test_order_follows_saving_even_when_clocks_disagree(store: Store, conversation_id: str) -> None:
    first = message(conversation_id, text="first", created_at=at(100))
    second = message(conversation_id, "assistant", "second", created_at=at(50))
    store.save_message(first)
    store.save_message(second)
    assert [m.text for m in store.messages(conversation_id)] == ["first", "second"]


def test_timestamps_are_stored_as_utc_with_microseconds(store: Store, conversation_id: str) -> None:
    store.save_message(message(conversation_id, created_at="2026-11-26T13:00:00+03:00"))
    assert store.messages(conversation_id)[0].created_at == "2026-11-26T10:00:00.000000+00:00"
    assert store.conversation(conversation_id).updated_at == "2026-11-26T10:00:00.000000+00:00"


def test_title_is_the_first_user_message_on_one_line(store: Store, conversation_id: str) -> None:
    store.save_message(message(conversation_id, "system", "You are terse."))
    store.save_message(message(conversation_id, "user", "  Как   провести\n\tнагрузочное тестирование " + "x" * 100))
    store.save_message(message(conversation_id, "user", "second question"))
    title = store.conversation(conversation_id).title
    assert title.startswith("Как провести нагрузочное тестирование x")
    assert "\n" not in title and len(title) == 80


def test_a_given_title_wins(store: Store, conversation_id: str) -> None:
    store.save_message(message(conversation_id, "system", "be brief"), title="Release notes")
    store.save_message(message(conversation_id, "user", "draft them"))
    assert store.conversation(conversation_id).title == "Release notes"


def test_a_conversation_records_every_provider_and_the_last_model(store: Store, conversation_id: str) -> None:
    store.save_message(message(conversation_id, "user", "q1"))
    store.save_message(message(conversation_id, "assistant", "a1", provider="gigachat", model="GigaChat-2"))
    store.save_message(message(conversation_id, "user", "q2"))
    store.save_message(message(conversation_id, "assistant", "a2", provider="yandexgpt", model="yandexgpt-lite"))
    record = store.conversation(conversation_id)
    assert record.messages == 4
    assert record.providers == ("gigachat", "yandexgpt")
    assert record.last_model == "yandexgpt-lite"


def test_an_unknown_conversation_is_a_usage_error(store: Store) -> None:
    with pytest.raises(UsageError):
        store.conversation("nope")


@pytest.fixture
def three(store: Store) -> list[str]:
    ids = ["abc111" + "0" * 26, "abc222" + "0" * 26, "def333" + "0" * 26]
    for n, cid in enumerate(ids):
        store.save_message(message(cid, text=f"chat {n}"))
    return ids


def test_a_unique_prefix_or_a_full_id_resolves(store: Store, three: list[str]) -> None:
    assert store.resolve_conversation("abc1") == three[0]
    assert store.resolve_conversation("d") == three[2]
    assert store.resolve_conversation(three[1]) == three[1]


def test_an_ambiguous_prefix_names_the_candidates(store: Store, three: list[str]) -> None:
    with pytest.raises(UsageError) as caught:
        store.resolve_conversation("abc")
    assert "abc111" in caught.value.message and "abc222" in caught.value.message
    assert "chat 0" in caught.value.message  # titles help the user pick


@pytest.mark.parametrize("prefix", ["zzz", "ABC1", "abc_", "%", ""])
def test_a_prefix_matching_nothing_is_a_usage_error(store: Store, three: list[str], prefix: str) -> None:
    with pytest.raises(UsageError):
        store.resolve_conversation(prefix)


def test_last_conversation_is_the_most_recently_updated(store: Store, three: list[str]) -> None:
    assert store.last_conversation_id() == three[2]
    store.save_message(message(three[0], "assistant", "later"))
    assert store.last_conversation_id() == three[0]


def test_last_conversation_of_an_empty_history_is_none(store: Store) -> None:
    assert store.last_conversation_id() is None


def test_list_is_newest_first_limited_and_filtered_by_provider(store: Store) -> None:
    ids = [uuid.uuid4().hex for _ in range(5)]
    for n, cid in enumerate(ids):
        store.save_message(message(cid, "user", f"q{n}"))
        provider = "gigachat" if n % 2 else "openai"
        store.save_message(message(cid, "assistant", f"a{n}", provider=provider, model="m"))
    assert [c.id for c in store.list_conversations(limit=3)] == ids[::-1][:3]
    assert [c.id for c in store.list_conversations(provider="gigachat")] == [ids[3], ids[1]]
    assert all(c.messages == 2 for c in store.list_conversations())


def test_listing_costs_the_same_queries_for_20_or_200_conversations(store: Store) -> None:
    for n in range(200):
        cid = uuid.uuid4().hex
        store.save_message(message(cid, "user", f"q{n}"))
        store.save_message(message(cid, "assistant", f"a{n}", provider=f"p{n % 3}", model="m"))
    statements: list[str] = []
    event.listen(store._db.reader, "before_cursor_execute",
                 lambda conn, cursor, sql, *rest: statements.append(sql))
    listed = store.list_conversations(limit=20)
    few = len(statements)
    statements.clear()
    store.list_conversations(limit=200)
    assert len(listed) == 20 and all(c.providers for c in listed)
    assert len(statements) == few <= 3  # BEGIN, the page with counts, the providers of the page


def test_delete_conversations_removes_their_messages(store: Store, three: list[str]) -> None:
    assert store.delete_conversations([three[0], three[1], "missing"]) == 2
    assert [c.id for c in store.list_conversations()] == [three[2]]
    assert store.messages(three[0]) == []
    with store._db.read() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM messages")).scalar() == 1


def test_delete_older_than_goes_by_last_update(store: Store) -> None:
    old, revived, recent = (uuid.uuid4().hex for _ in range(3))
    store.save_message(message(old, created_at=at(0)))
    store.save_message(message(revived, created_at=at(0)))
    store.save_message(message(revived, "assistant", created_at=at(3600)))
    store.save_message(message(recent, created_at=at(7200)))
    assert store.delete_older_than(at(1800)) == 1
    assert {c.id for c in store.list_conversations()} == {revived, recent}


def test_deleting_a_parent_keeps_its_fork(store: Store) -> None:
    parent, child = uuid.uuid4().hex, uuid.uuid4().hex
    store.save_message(message(parent))
    fork = {"id": child, "title": "fork", "created_at": at(5), "parent_id": parent, "messages": []}
    store.import_jsonl([json.dumps(fork)])
    assert store.conversation(child).parent_id == parent
    store.delete_conversations([parent])
    assert store.conversation(child).parent_id is None
