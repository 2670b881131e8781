"""Search: FTS5 with Cyrillic, ranked; and the portable LIKE fallback, forced."""

from __future__ import annotations

import uuid

import pytest

from llmcli.storage import Store
from tests.storage.helpers import message

FILLER = [
    "Как сварить борщ? Нужна свёкла, капуста и немного терпения.",
    "Напиши функцию на Python, которая сортирует список.",
    "Translate 'good morning' into French.",
    "Расскажи про тестирование программного обеспечения в целом.",
]


@pytest.fixture(params=["fts5", "like"])
def searchable(request, store: Store) -> Store:
    if request.param == "like":
        store.full_text = False  # what PostgreSQL (or a SQLite without FTS5) gets
    else:
        assert store.full_text, "this SQLite should have FTS5"
    return store


@pytest.fixture
def haystack(store: Store) -> dict[str, str]:
    """60 conversations of filler, two mentioning the needle: one once, one three times."""
    ids = {}
    for n in range(60):
        cid = uuid.uuid4().hex
        store.save_message(message(cid, "user", FILLER[n % len(FILLER)] + f" #{n}"))
        store.save_message(message(cid, "assistant", FILLER[(n + 1) % len(FILLER)], provider="gigachat"))
    once, often = uuid.uuid4().hex, uuid.uuid4().hex
    store.save_message(message(once, "user", "Что такое нагрузочное тестирование?"))
    store.save_message(message(once, "assistant",
                               "Это проверка системы под нагрузкой: " + "много запросов и метрик. " * 20
                               + "Нагрузочное тестирование показывает пределы."))
    store.save_message(message(often, "user", "Нагрузочное, нагрузочное, нагрузочное: повтори"))
    ids["once"], ids["often"] = once, often
    return ids


def test_finds_a_russian_word_in_any_case_ranked(searchable: Store, haystack: dict[str, str]) -> None:
    hits = searchable.search("НАГРУЗОЧНОЕ")
    assert {h.conversation_id for h in hits} == {haystack["once"], haystack["often"]}
    assert len(hits) == 3  # the two messages of `once`, the one of `often`
    assert hits[0].conversation_id == haystack["often"]  # three occurrences in a short message
    assert hits == sorted(hits, key=lambda h: -h.rank)
    assert all("**" in h.snippet and "нагрузочное" in h.snippet.lower() for h in hits)
    assert {h.title for h in hits} >= {"Что такое нагрузочное тестирование?"}


def test_every_word_must_occur(searchable: Store, haystack: dict[str, str]) -> None:
    hits = searchable.search("нагрузочное пределы")
    assert [h.conversation_id for h in hits] == [haystack["once"]]
    assert hits[0].role == "assistant"


def test_limit_is_respected(searchable: Store, haystack: dict[str, str]) -> None:
    assert len(searchable.search("тестирование", limit=5)) == 5


@pytest.mark.parametrize("query", ['"', "a OR", "-x", "NEAR(", "50%", "*", "col:val", "", "   "])
def test_query_syntax_characters_are_taken_literally(searchable: Store, haystack: dict[str, str],
                                                     query: str) -> None:
    assert isinstance(searchable.search(query), list)  # no syntax error reaches the user


def test_like_wildcards_in_a_word_are_literal(searchable: Store, conversation_id: str) -> None:
    searchable.save_message(message(conversation_id, text="rename it to snake_case please"))
    searchable.save_message(message(uuid.uuid4().hex, text="rename it to snakeXcase please"))
    hits = searchable.search("snake_case")
    assert [h.conversation_id for h in hits] == [conversation_id]


def test_deleted_and_new_messages_are_reflected(searchable: Store, conversation_id: str) -> None:
    searchable.save_message(message(conversation_id, text="уникальноеслово"))
    assert len(searchable.search("уникальноеслово")) == 1
    searchable.delete_conversations([conversation_id])
    assert searchable.search("уникальноеслово") == []
