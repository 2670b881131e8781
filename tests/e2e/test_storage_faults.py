"""A history database that is not SQLite, truncated, read-only, or locked by another process past the
busy timeout (the `storage` rows of tests/e2e/faults/matrix.py): `ask` still prints the answer and
warns (exit 0), history commands exit 8 naming the path with a hint, `llmcli doctor` reports, and
nothing already stored is damaged."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.faults.matrix import case
from tests.e2e.faults.targets import REPLY
from tests.e2e.helpers import db_rows, one_error_line, run

pytestmark = pytest.mark.e2e

BUSY_MS = 1000  # the busy timeout for these runs (30 s by default)

# Another process in the middle of a write, for as long as its stdin stays open. A separate process,
# not a connection of the test's own: POSIX locks belong to the process, and any read of the file by
# the test (a digest) would silently drop a lock held here.
LOCK_HOLDER = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
sys.stdin.read()
conn.execute("ROLLBACK")
"""


@pytest.fixture
def target(target_of):
    t = target_of("openai")
    t.write_config()
    t.env["LLMCLI_DB_BUSY_TIMEOUT_MS"] = str(BUSY_MS)
    return t


def seed(target) -> list[dict]:
    """Two stored conversations, written through llmcli's own store (no subprocess: faster); the WAL
    folded into the file, so the file alone holds them."""
    from llmcli.storage import open_store
    from llmcli.types import MessageRecord

    db = target.home / "history.db"
    with open_store(f"sqlite:///{db}") as store:
        for i in range(2):
            stamp = f"2026-01-0{i + 1}T10:00:00+00:00"
            store.save_message(MessageRecord(f"q{i}", f"conv{i}", "user", f"seed question {i}", stamp))
            store.save_message(MessageRecord(f"a{i}", f"conv{i}", "assistant", f"seed answer {i}", stamp,
                                             provider="fake", model="gpt-fake", finish_reason="stop"))
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return [dict(r) for r in db_rows(target.home, "SELECT * FROM messages ORDER BY seq")]


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class Broken:
    """A broken database and how to run llmcli against it; `release()` ends a held lock."""

    def __init__(self, target, fault: str) -> None:
        self.target = target
        self.db = target.home / "history.db"
        self.env = dict(target.env)
        self.before: list[dict] = []
        self._holder: subprocess.Popen | None = None
        if fault == "db-not-sqlite":
            self.db.parent.mkdir(parents=True, exist_ok=True)
            self.db.write_bytes(b"SQLite? no: " + bytes(range(256)) * 64)
        else:
            self.before = seed(target)
        if fault == "db-truncated":
            os.truncate(self.db, 3 * 4096)  # the schema survives, the tables' pages do not
        elif fault == "db-read-only":
            if os.geteuid() == 0:  # root writes through file modes: open it read-only instead
                self.env["LLMCLI_DATABASE_URL"] = f"sqlite:///file:{self.db}?mode=ro&uri=true"
            else:
                os.chmod(self.db, 0o400)
        self.digest = digest(self.db)
        if fault == "db-locked":
            self._holder = subprocess.Popen([sys.executable, "-c", LOCK_HOLDER, str(self.db)],
                                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            assert self._holder.stdout.readline() == "locked\n"

    def run(self, *args: str):
        return run(self.target.exe, list(args), self.env, timeout=120)

    def release(self) -> None:
        if self._holder is not None:
            self._holder.communicate("", timeout=30)
            assert self._holder.returncode == 0
            self._holder = None


FAULTS = ["db-not-sqlite", "db-truncated", "db-read-only", "db-locked"]


@pytest.mark.parametrize("fault", FAULTS)
def test_ask_prints_the_answer_and_warns_history_was_not_saved(target, fault):
    broken = Broken(target, fault)
    try:
        proc = broken.run("ask", "a question while history is broken")
    finally:
        broken.release()
    row = case(f"{fault}/ask")
    assert proc.returncode == row.exit_code, proc.stderr
    assert proc.stdout == REPLY + "\n"
    assert "Traceback" not in proc.stderr and "error:" not in proc.stderr
    (warning,) = [line for line in proc.stderr.splitlines() if line.startswith("warning: ")]
    assert "history not saved" in warning and str(broken.db) in warning
    assert all(word in warning.lower() for word in row.says), warning
    assert digest(broken.db) == broken.digest  # nothing written into the broken file
    if fault in ("db-read-only", "db-locked"):
        assert [dict(r) for r in db_rows(target.home, "SELECT * FROM messages ORDER BY seq")] == broken.before
    assert len(target.chat_requests()) == 1


@pytest.mark.parametrize("fault", FAULTS)
def test_history_commands_exit_8_with_the_path_and_a_hint(target, fault):
    broken = Broken(target, fault)
    try:
        if fault in ("db-read-only", "db-locked"):  # a writing command: reading ones must keep working
            reading = broken.run("history", "list", "--json")
            assert reading.returncode == 0, reading.stderr
            proc = broken.run("history", "delete", broken.before[0]["conversation_id"])
        else:
            proc = broken.run("history", "list")
    finally:
        broken.release()
    row = case(f"{fault}/history")
    assert proc.returncode == row.exit_code, proc.stderr
    line = one_error_line(proc.stderr)
    assert str(broken.db) in line and all(word in line.lower() for word in row.says), line
    assert "hint: " in proc.stderr and proc.stdout == ""
    assert digest(broken.db) == broken.digest
    if fault in ("db-read-only", "db-locked"):
        assert [dict(r) for r in db_rows(target.home, "SELECT * FROM messages ORDER BY seq")] == broken.before


def test_reads_go_on_while_another_process_writes(target):
    broken = Broken(target, "db-locked")
    try:
        listed = broken.run("history", "show", broken.before[0]["conversation_id"], "--json")
    finally:
        broken.release()
    assert listed.returncode == 0, listed.stderr
    assert "seed question 0" in listed.stdout


@pytest.mark.parametrize("fault", ["db-not-sqlite", "db-truncated"])
def test_doctor_reports_a_damaged_database(target, fault):
    broken = Broken(target, fault)
    proc = broken.run("doctor")
    assert proc.returncode == case("db-damaged/doctor").exit_code, proc.stderr
    (failed,) = [line for line in proc.stdout.splitlines() if line.startswith("FAIL")]
    assert "database" in failed and str(broken.db) in failed
    assert str(broken.db) in one_error_line(proc.stderr)
    assert digest(broken.db) == broken.digest


def test_doctor_passes_a_healthy_home_and_finds_a_loose_mode(target):
    seed(target)
    proc = run(target.exe, ["doctor"], target.env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert not [line for line in proc.stdout.splitlines() if line.startswith(("FAIL", "WARN"))], proc.stdout
    assert "integrity" in proc.stdout
    os.chmod(target.home / "history.db", 0o644)  # what a copy under umask 022 looks like
    proc = run(target.exe, ["doctor"], target.env)
    warned = [line for line in proc.stdout.splitlines() if line.startswith("WARN")]
    db = target.home / "history.db"
    assert f"WARN files: {db} is 0644: other users may read it" in warned, proc.stdout  # (-wal copies it)
    assert f"chmod 600 {db}" in proc.stdout
    assert proc.returncode == 0  # a warning, not a failure
