"""Many real processes opening a fresh home at the same moment (think `xargs -P 16 llmcli ask`).

Each process imports the storage stack first, then waits at a start line, so that all of them create
the folder, the file, switch to WAL and migrate at once. Every one must succeed: no "database is
locked", every step applied exactly once, every message saved.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from llmcli.storage import open_store
from llmcli.storage.migrations import MIGRATIONS
from tests.storage.helpers import sqlite_url

PROCESSES = 16

WORKER = r"""
import sys, time, uuid
from pathlib import Path
url, ready, go = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
import llmcli.storage
from llmcli.types import MessageRecord
ready.touch()
deadline = time.monotonic() + 60
while not go.exists() and time.monotonic() < deadline:
    time.sleep(0.005)
store = llmcli.storage.open_store(url)
cid = uuid.uuid4().hex
store.save_message(MessageRecord(id=uuid.uuid4().hex, conversation_id=cid, role="user", text="q",
                                 created_at="2026-11-26T10:00:00+00:00"))
store.save_message(MessageRecord(id=uuid.uuid4().hex, conversation_id=cid, role="assistant", text="a",
                                 created_at="2026-11-26T10:00:01+00:00", provider="p", model="m"))
store.close()
"""


@pytest.mark.slow
def test_sixteen_processes_open_a_fresh_home_at_once(tmp_path: Path) -> None:
    path = tmp_path / "fresh-home" / "history.db"  # neither the folder nor the file exists yet
    url = sqlite_url(path)
    gates = tmp_path / "gates"
    gates.mkdir()
    go = gates / "go"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    workers = [
        subprocess.Popen([sys.executable, "-c", WORKER, url, str(gates / f"ready-{n}"), str(go)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        for n in range(PROCESSES)
    ]
    try:
        deadline = time.monotonic() + 120
        while len(list(gates.glob("ready-*"))) < PROCESSES and time.monotonic() < deadline:
            if any(w.poll() is not None for w in workers):
                break  # one died before the start line: its output says why
            time.sleep(0.01)
        go.touch()
        results = [(w.wait(timeout=120), *w.communicate()) for w in workers]
    finally:
        for w in workers:
            if w.poll() is None:
                w.kill()
    failures = [err for code, _out, err in results if code != 0]
    assert not failures, failures[0]

    with sqlite3.connect(path) as conn:
        applied = conn.execute("SELECT version, name FROM schema_migrations ORDER BY version").fetchall()
        assert applied == [(m.version, m.name) for m in MIGRATIONS]
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    with open_store(url) as store:
        assert len(store.list_conversations(limit=100)) == PROCESSES
        assert store.stats()[0]["requests"] == PROCESSES
        assert store.check() == []
