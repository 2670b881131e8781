"""`llmcli history …` through the real app: output shapes, prefixes, export/import, deletion, errors."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from llmcli.commands import history as history_command
from llmcli.storage import open_store
from llmcli.types import MessageRecord


def iso(days_ago: float = 0) -> str:
    return (datetime.now(timezone.utc) - timedelta(days=days_ago)).isoformat()


def seed(cid: str, question: str, reply: str, *, days_ago: float = 0, provider: str = "gigachat",
         model: str = "GigaChat-2", error: str | None = None, latency: int = 100) -> None:
    with open_store() as store:
        store.save_message(MessageRecord(f"{cid}-u", cid, "user", question, iso(days_ago)))
        store.save_message(MessageRecord(
            f"{cid}-a", cid, "assistant", reply, iso(days_ago), provider=provider, model=model,
            finish_reason="error" if error else "stop", complete=error is None, error=error,
            prompt_tokens=None if error else 10, completion_tokens=None if error else 5,
            latency_ms=latency))


@pytest.fixture
def two(llmcli_home):
    seed("aaaa1111", "Как провести нагрузочное тестирование?", "Начните с профиля нагрузки.", days_ago=40)
    seed("bbbb2222", "What is WAL?", "Write-ahead logging.", provider="openai", model="gpt-4o-mini")


def test_list_newest_first_as_json_and_table(run, two) -> None:
    rows = json.loads(run("history", "list", "--json").stdout)
    assert [r["id"] for r in rows] == ["bbbb2222", "aaaa1111"]
    assert rows[0]["providers"] == ["openai"] and rows[0]["last_model"] == "gpt-4o-mini"
    table = run("history", "list", "-n", "1").stdout.splitlines()
    assert table[0].split("\t") == ["id", "updated", "msgs", "providers", "last model", "title"]
    assert len(table) == 2 and table[1].startswith("bbbb2222\t")
    only = json.loads(run("history", "list", "--provider", "gigachat", "--json").stdout)
    assert [r["id"] for r in only] == ["aaaa1111"]


def test_show_by_prefix_json_text_and_markdown(run, two) -> None:
    data = json.loads(run("history", "show", "aaaa", "--json").stdout)
    assert data["id"] == "aaaa1111" and [m["role"] for m in data["messages"]] == ["user", "assistant"]
    assert data["messages"][1]["usage"] == {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}
    text = run("history", "show", "aaaa").stdout
    assert "Начните с профиля нагрузки." in text and "gigachat/GigaChat-2" in text
    markdown = run("history", "show", "aaaa", "--markdown").stdout
    assert markdown.startswith("#") and "нагрузочное" in markdown


def test_unknown_or_ambiguous_ids_exit_2(run, two, llmcli_home) -> None:
    seed("aaaa3333", "q", "r")
    missing = run("history", "show", "zzzz")
    assert missing.exit_code == 2 and "no conversation matches 'zzzz'" in missing.stderr
    ambiguous = run("history", "show", "aaaa")
    assert ambiguous.exit_code == 2 and "matches 2 conversations" in ambiguous.stderr


def test_search_finds_a_russian_word_in_a_reply(run, two) -> None:
    hits = json.loads(run("history", "search", "профиля", "--json").stdout)
    assert [(h["conversation_id"], h["role"]) for h in hits] == [("aaaa1111", "assistant")]
    assert "профиля" in hits[0]["snippet"]
    table = run("history", "search", "нагрузочное", "тестирование").stdout.splitlines()
    assert len(table) == 2 and table[1].startswith("aaaa1111\t")


def test_export_to_a_file_then_import_into_a_fresh_home(run, two, tmp_path, monkeypatch) -> None:
    target = tmp_path / "all.jsonl"
    exported = run("history", "export", "-o", str(target))
    assert exported.exit_code == 0 and "exported 2 conversations" in exported.stderr
    original = json.loads(run("history", "show", "bbbb", "--json").stdout)
    monkeypatch.setenv("LLMCLI_HOME", str(tmp_path / "fresh"))
    first = run("history", "import", str(target))
    assert (first.exit_code, first.stdout) == (0, "imported 2 conversations, 4 messages\n")
    again = run("history", "import", str(target))
    assert again.stdout == "imported 0 conversations, 0 messages (everything was already there)\n"
    assert json.loads(run("history", "show", "bbbb", "--json").stdout) == original


def test_export_selected_to_stdout_as_jsonl_and_markdown(run, two) -> None:
    lines = run("history", "export", "bbbb").stdout.splitlines()
    assert [json.loads(line)["id"] for line in lines] == ["bbbb2222"]
    markdown = run("history", "export", "--format", "markdown").stdout
    assert markdown.index("нагрузочное") < markdown.index("What is WAL?") and "\n---\n" in markdown
    assert run("history", "export", "--format", "csv").exit_code == 2


def test_import_reports_a_bad_line(run, tmp_path, llmcli_home) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{not json\n", encoding="utf-8")
    result = run("history", "import", str(bad))
    assert result.exit_code == 2 and "line 1" in result.stderr
    assert run("history", "import", str(tmp_path / "missing.jsonl")).exit_code == 2


def test_delete_by_id_and_older_than(run, two) -> None:
    assert run("history", "delete", "bbbb").stdout == "deleted 1 conversation\n"
    assert run("history", "delete", "--older-than", "30d").stdout == "deleted 1 conversation\n"
    assert json.loads(run("history", "list", "--json").stdout) == []
    assert run("history", "delete").exit_code == 2


def test_delete_asks_on_a_terminal(run, two, monkeypatch) -> None:
    monkeypatch.setattr(history_command, "interactive", lambda: True)
    declined = run("history", "delete", "bbbb", input="n\n")
    assert declined.exit_code == 1 and "delete 1 conversation (bbbb2222)?" in declined.stdout
    assert len(json.loads(run("history", "list", "--json").stdout)) == 2
    assert run("history", "delete", "bbbb", input="y\n").exit_code == 0
    assert run("history", "delete", "aaaa", "--yes").stdout == "deleted 1 conversation\n"
    assert json.loads(run("history", "list", "--json").stdout) == []


def test_stats_counts_requests_errors_and_tokens(run, llmcli_home) -> None:
    for n, latency in enumerate((100, 200, 300)):
        seed(f"ok{n}", "q", "r", provider="fake", model="m", latency=latency)
    seed("bad", "q", "", provider="fake", model="m", error="AuthError: 401 Unauthorized", latency=50)
    seed("old", "q", "r", provider="fake", model="m", days_ago=30)
    (row,) = json.loads(run("history", "stats", "--since", "7d", "--json").stdout)
    assert {k: row[k] for k in ("provider", "model", "requests", "errors", "prompt_tokens",
                                "completion_tokens")} == {"provider": "fake", "model": "m", "requests": 4,
                                                          "errors": 1, "prompt_tokens": 30,
                                                          "completion_tokens": 15}
    assert row["errors_by_kind"] == {"AuthError": 1} and row["latency_p50_ms"] == 100
    assert row["latency_p95_ms"] == 300
    table = run("history", "stats").stdout.splitlines()
    assert table[1].split("\t")[:4] == ["fake", "m", "5", "1 (AuthError 1)"]


def test_an_unusable_database_exits_8_with_the_path_and_a_hint(run, llmcli_home) -> None:
    llmcli_home.mkdir(parents=True, exist_ok=True)
    (llmcli_home / "history.db").write_bytes(b"garbage" * 1000)
    result = run("history", "list")
    assert result.exit_code == 8
    assert str(llmcli_home / "history.db") in result.stderr and "hint: " in result.stderr
    assert "Traceback" not in result.stderr
