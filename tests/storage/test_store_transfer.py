"""Export to JSON Lines and Markdown; import into a fresh database, idempotently."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from llmcli.errors import UsageError
from llmcli.storage import Store, open_store, transfer
from llmcli.types import FINISH_ERROR
from tests.storage.helpers import at, message, sqlite_url


@pytest.fixture
def filled(store: Store) -> list[str]:
    ids = [uuid.uuid4().hex for _ in range(3)]
    for n, cid in enumerate(ids):
        store.save_message(message(cid, "system", "Отвечай кратко."))
        store.save_message(message(cid, "user", f"Вопрос {n}: что такое WAL?"))
        store.save_message(message(cid, "assistant", f"Ответ {n}", provider="gigachat", model="GigaChat-2",
                                   prompt_tokens=10 + n, completion_tokens=5, latency_ms=300 + n))
    store.save_message(message(ids[0], "user", "и ещё?"))
    store.save_message(message(ids[0], "assistant", "Обры", provider="yandexgpt", complete=False,
                               finish_reason=FINISH_ERROR, error="StreamBroken: reset"))
    return ids


def test_export_then_import_into_a_fresh_database_reproduces_the_history(
        store: Store, filled: list[str], tmp_path: Path) -> None:
    lines = list(store.export_jsonl())
    assert len(lines) == 3 and all("\n" not in line for line in lines)
    assert [json.loads(line)["id"] for line in lines] == filled  # oldest conversation first

    with open_store(sqlite_url(tmp_path / "other.db")) as other:
        assert other.import_jsonl(lines) == (3, 11)
        assert other.list_conversations() == store.list_conversations()
        for cid in filled:
            assert other.messages(cid) == store.messages(cid)
        assert other.search("WAL")  # imported messages are searchable
        assert other.import_jsonl(lines) == (0, 0)  # twice adds nothing
        assert other.import_jsonl(iter(lines)) == (0, 0)
        assert len(other.messages(filled[0])) == 5


def test_importing_new_messages_into_a_known_conversation_appends_them(
        store: Store, filled: list[str], tmp_path: Path) -> None:
    before = list(store.export_jsonl([filled[1]]))
    store.save_message(message(filled[1], "user", "later question", created_at=at(10_000)))
    after = list(store.export_jsonl([filled[1]]))
    with open_store(sqlite_url(tmp_path / "other.db")) as other:
        other.import_jsonl(before)
        assert other.import_jsonl(after) == (0, 1)
        assert [m.text for m in other.messages(filled[1])][-1] == "later question"
        assert other.conversation(filled[1]).updated_at == store.conversation(filled[1]).updated_at


def test_export_of_chosen_ids_keeps_their_order(store: Store, filled: list[str]) -> None:
    lines = list(store.export_jsonl([filled[2], filled[0]]))
    assert [json.loads(line)["id"] for line in lines] == [filled[2], filled[0]]


def test_export_of_an_unknown_id_is_a_usage_error(store: Store, filled: list[str]) -> None:
    with pytest.raises(UsageError):
        list(store.export_jsonl([filled[0], "nope"]))


def test_export_pages_through_many_conversations(store: Store, monkeypatch) -> None:
    monkeypatch.setattr(transfer, "BATCH", 7)
    ids = [uuid.uuid4().hex for _ in range(30)]
    for n, cid in enumerate(ids):
        store.save_message(message(cid, text=f"m{n}", created_at=at(n // 3)))  # ties on created_at
    exported = [json.loads(line)["id"] for line in store.export_jsonl()]
    assert sorted(exported) == sorted(ids) and len(exported) == 30


@pytest.mark.parametrize("line, problem", [
    ("{not json", "not valid JSON"),
    ('{"title": "x", "messages": []}', "no id"),
    (json.dumps({"id": "c", "created_at": "2026-11-26T10:00:00Z", "messages": [
        {"id": "m", "role": "robot", "text": "x", "created_at": "2026-11-26T10:00:00Z"}]}), "role"),
    ('{"id": "c", "created_at": "yesterday", "messages": []}', "ISO 8601"),
])
def test_a_bad_line_is_reported_with_its_number(store: Store, line: str, problem: str) -> None:
    good = '{"id": "ok", "created_at": "2026-11-26T10:00:00Z", "messages": []}'
    with pytest.raises(UsageError) as caught:
        store.import_jsonl([good, "", line])
    assert "line 3" in caught.value.message and problem in caught.value.message


def test_markdown_export_shows_roles_models_and_cut_short_replies(store: Store, filled: list[str]) -> None:
    text = store.export_markdown(filled[0])
    assert text.startswith("# Вопрос 0: что такое WAL?\n")
    assert "## assistant · gigachat/GigaChat-2\n\nОтвет 0" in text
    assert "## user\n\nи ещё?" in text
    assert "*(incomplete: error)*" in text
