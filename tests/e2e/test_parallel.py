"""32 `llmcli ask` processes at once on a fresh home (so the migrations race too), against each
provider kind: no failure, 32 conversations, no duplicate or lost message rows. The fake holds the
first 32 chat requests until all have arrived, so "at once" holds even where start-up spreads the
processes out; against YandexGPT allowing 10 concurrent generations the other 22 get 429s, which
backoff must absorb (the real server sends no Retry-After, nor does the fake here).

The counts are printed (`pytest -s`) and are quoted in docs/reliability.md.
"""

from __future__ import annotations

import sqlite3
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.e2e.faults.matrix import KINDS, case
from tests.e2e.helpers import db_rows, run

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

PROCESSES = 32
ECHO = {"openai": "echo: {}", "gigachat": "Эхо: {}", "yandexgpt": "echo: {}"}


@pytest.mark.parametrize("kind", KINDS)
def test_32_parallel_asks_lose_nothing(target_of, kind, llmcli_home):
    # the gate releases all 32 requests together; 50 ms between frames keeps each generation going
    # for ~0.6 s, so they really overlap (and 22 of them meet YandexGPT's cap)
    target = target_of(kind, reply=None, gate=PROCESSES, pace=0.05)
    if kind == "yandexgpt":
        target.state.max_concurrent, target.state.retry_after = 10, None
    target.write_config(deadline=120.0, timeout=60.0, connect_timeout=10.0)
    assert not (llmcli_home / "history.db").exists()  # fresh: every process races to create it
    prompts = [f"question number {i}" for i in range(PROCESSES)]

    with ThreadPoolExecutor(PROCESSES) as pool:
        procs = list(pool.map(lambda p: run(target.exe, ["ask", p], target.env, timeout=240), prompts))

    failures = [(p.returncode, p.stderr) for p in procs if p.returncode != 0]
    rows = db_rows(llmcli_home, "SELECT * FROM messages ORDER BY seq")
    conversations = db_rows(llmcli_home, "SELECT id FROM conversations")
    errors = len(failures) + sum(1 for r in rows if r["error"] or not r["complete"])
    chat_requests = len(target.chat_requests())
    print(f"\nparallel[{kind}]: processes={PROCESSES} conversations={len(conversations)} "
          f"messages={len(rows)} errors={errors} chat_requests={chat_requests}"
          + (f" peak_concurrent={target.state.peak_active}" if kind == "yandexgpt" else ""))

    assert failures == []
    assert [p.stderr for p in procs] == [""] * PROCESSES  # no "history not saved", no lock warnings
    assert sorted(p.stdout for p in procs) == sorted(ECHO[kind].format(q) + "\n" for q in prompts)
    assert len(conversations) == PROCESSES and len(rows) == 2 * PROCESSES and errors == 0
    assert len({r["id"] for r in rows}) == len(rows) and len({r["seq"] for r in rows}) == len(rows)
    by_conversation: dict[str, list] = {}
    for r in rows:
        by_conversation.setdefault(r["conversation_id"], []).append(r)
    for turn in by_conversation.values():  # each conversation: its question, then its own answer
        assert [r["role"] for r in turn] == ["user", "assistant"]
        assert turn[1]["text"] == ECHO[kind].format(turn[0]["text"]) and turn[1]["complete"] == 1
    assert sorted(r["text"] for r in rows if r["role"] == "user") == sorted(prompts)
    with sqlite3.connect(llmcli_home / "history.db") as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert [v for (v,) in conn.execute("SELECT version FROM schema_migrations ORDER BY version")] == \
            sorted({v for (v,) in conn.execute("SELECT version FROM schema_migrations")})  # each step once
    if kind == "yandexgpt":
        assert target.state.peak_active <= 10
        assert chat_requests > PROCESSES, "no 429 happened: the cap was not exercised"
    row = case("yandex-concurrency-cap" if kind == "yandexgpt" else "32-parallel-asks")
    assert {p.returncode for p in procs} == {row.exit_code}
