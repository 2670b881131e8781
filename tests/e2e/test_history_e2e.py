"""`llmcli history` end to end: the installed console script, a real SQLite file, the fake
OpenAI-compatible server on a real socket."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.e2e.helpers import one_error_line, openai_provider_config, run, write_config
from tests.fakes.base import Fault
from tests.fakes.openai_server import openai_server

pytestmark = pytest.mark.e2e

KEY = "sk-history-e2e-SENTINEL-93ab"
WORDS = ("отчёт", "сервер", "запрос", "данные", "модель", "ответ", "время", "память", "журнал", "ключ")


@pytest.fixture
def server():
    with openai_server(api_key=KEY, reply="Готово.") as srv:
        yield srv


@pytest.fixture
def env(e2e_env, llmcli_home: Path, server):
    write_config(llmcli_home, openai_provider_config("fake", server.url + "/v1"))
    return dict(e2e_env, LLMCLI_FAKE_API_KEY=KEY)


def ok(proc):
    assert proc.returncode == 0, proc.stderr
    return proc


def synthetic_history(path: Path, conversations: int, per_conversation: int, needle_at: int) -> None:
    """JSON Lines as `history export` writes them; one reply (conversation `needle_at`) holds the needle."""
    with path.open("w", encoding="utf-8") as handle:
        for c in range(conversations):
            messages = []
            for m in range(per_conversation):
                role = "user" if m % 2 == 0 else "assistant"
                text = " ".join(WORDS[(c + m + k) % len(WORDS)] for k in range(12))
                if c == needle_at and m == 3:
                    text = "Для этого нужно нагрузочное тестирование перед релизом."
                messages.append({"id": f"m{c:05d}{m:02d}", "role": role, "text": text,
                                 "created_at": f"2026-10-{1 + c % 28:02d}T10:{m:02d}:00+00:00",
                                 "provider": "fake" if role == "assistant" else None,
                                 "model": "gpt-fake" if role == "assistant" else None,
                                 "complete": True})
            handle.write(json.dumps({"format": "llmcli.conversation.v1", "id": f"c{c:05d}",
                                     "title": f"разговор {c}", "created_at": messages[0]["created_at"],
                                     "updated_at": messages[-1]["created_at"], "parent_id": None,
                                     "messages": messages}, ensure_ascii=False) + "\n")


def test_stats_after_three_good_requests_and_one_failure(llmcli_exe, env, server) -> None:
    for prompt in ("раз", "два", "три"):
        ok(run(llmcli_exe, ["ask", prompt], env))
    server.inject(Fault.json(400, {"error": {"message": "bad request", "type": "invalid_request_error"}},
                             path="/chat/completions"))
    failed = run(llmcli_exe, ["ask", "четыре"], env)
    assert failed.returncode == 4 and "bad request" in one_error_line(failed.stderr)
    (row,) = json.loads(ok(run(llmcli_exe, ["history", "stats", "--json"], env)).stdout)
    assert (row["provider"], row["model"], row["requests"], row["errors"]) == ("fake", "gpt-fake", 4, 1)
    assert row["errors_by_kind"] == {"RequestRejected": 1}
    assert (row["prompt_tokens"], row["completion_tokens"]) == (33, 21)  # the fake's 11 + 7, three times
    assert row["latency_p50_ms"] is not None and row["latency_p95_ms"] >= row["latency_p50_ms"]


def test_search_finds_a_russian_word_among_ten_thousand_messages(llmcli_exe, env, tmp_path) -> None:
    source = tmp_path / "big.jsonl"
    synthetic_history(source, conversations=1000, per_conversation=10, needle_at=617)
    imported = ok(run(llmcli_exe, ["history", "import", str(source)], env, timeout=120))
    assert imported.stdout == "imported 1000 conversations, 10000 messages\n"
    hits = json.loads(ok(run(llmcli_exe, ["history", "search", "нагрузочное", "--json"], env)).stdout)
    assert [(h["conversation_id"], h["message_id"], h["role"]) for h in hits] == \
        [("c00617", "m0061703", "assistant")]
    assert "нагрузочное" in hits[0]["snippet"]


def test_export_then_import_into_a_fresh_home_reproduces_history(llmcli_exe, env, tmp_path) -> None:
    ok(run(llmcli_exe, ["ask", "первый вопрос"], env))
    ok(run(llmcli_exe, ["ask", "-c", "и второй"], env))
    dump = tmp_path / "export.jsonl"
    ok(run(llmcli_exe, ["history", "export", "-o", str(dump)], env))
    (line,) = dump.read_text(encoding="utf-8").splitlines()
    assert [m["text"] for m in json.loads(line)["messages"]] == ["первый вопрос", "Готово.", "и второй",
                                                                 "Готово."]

    fresh = dict(env, LLMCLI_HOME=str(tmp_path / "fresh-home"))
    first = ok(run(llmcli_exe, ["history", "import", str(dump)], fresh))
    assert first.stdout == "imported 1 conversation, 4 messages\n"
    second = ok(run(llmcli_exe, ["history", "import", str(dump)], fresh))
    assert second.stdout == "imported 0 conversations, 0 messages (everything was already there)\n"
    # Exported again from the fresh home: the same conversation, ids, texts, usage and timestamps.
    assert ok(run(llmcli_exe, ["history", "export"], fresh)).stdout == dump.read_text(encoding="utf-8")


def test_unusable_database_exits_8(llmcli_exe, env, llmcli_home) -> None:
    (llmcli_home / "history.db").write_bytes(b"\x00not sqlite" * 512)
    result = run(llmcli_exe, ["history", "list"], env)
    assert result.returncode == 8
    assert str(llmcli_home / "history.db") in one_error_line(result.stderr)
    assert "hint: " in result.stderr
