"""The database file: private modes, and every way it can be broken → StorageError naming the path."""

from __future__ import annotations

import os
import shutil
import sqlite3
import stat
import uuid
from pathlib import Path

import pytest

from llmcli.errors import StorageError
from llmcli.storage import Store, database, open_store
from tests.storage.helpers import message, sqlite_url


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_folder_0700_and_files_0600_even_under_a_lax_umask(tmp_path: Path) -> None:
    path = tmp_path / "new" / "deeper" / "history.db"
    old = os.umask(0o022)
    try:
        store = open_store(sqlite_url(path))
        store.save_message(message("c"))
        with sqlite3.connect(path) as reader:  # keeps -wal and -shm alive while we look
            reader.execute("SELECT count(*) FROM messages").fetchone()
            assert mode(path.parent) == 0o700
            assert mode(path) == 0o600
            for suffix in ("-wal", "-shm"):
                side = path.with_name(path.name + suffix)
                assert side.exists() and mode(side) == 0o600, suffix
        store.close()
    finally:
        os.umask(old)


def test_open_store_without_a_url_uses_the_llmcli_home(llmcli_home: Path) -> None:
    with open_store() as store:
        store.save_message(message("c"))
    assert (llmcli_home / "history.db").exists()


def test_llmcli_database_url_is_honoured(tmp_path: Path, monkeypatch) -> None:
    target = tmp_path / "elsewhere.db"
    monkeypatch.setenv("LLMCLI_DATABASE_URL", sqlite_url(target))
    with open_store() as store:
        store.save_message(message("c"))
        assert store.url == sqlite_url(target)
    assert target.exists()


def test_an_in_memory_database_works(tmp_path: Path) -> None:
    with open_store("sqlite://") as store:
        store.save_message(message("c", text="в памяти"))
        assert [h.conversation_id for h in store.search("памяти")] == ["c"]


def assert_storage_error(caught: pytest.ExceptionInfo, path: Path, *words: str) -> None:
    error = caught.value
    assert str(path) in error.message, error.message
    assert error.hint, "a hint says what to do"
    text = (error.message + " " + error.hint).lower()
    assert all(w in text for w in words), (error.message, error.hint)
    assert error.__cause__ is None and error.__suppress_context__  # no driver traceback attached


def test_a_file_that_is_not_sqlite(db_path: Path) -> None:
    db_path.parent.mkdir(parents=True)
    db_path.write_bytes(b"MZ\x90\x00" + os.urandom(8192))
    with pytest.raises(StorageError) as caught:
        open_store(sqlite_url(db_path))
    assert_storage_error(caught, db_path, "not a sqlite database", "move it aside")


def test_a_truncated_file(store: Store, db_path: Path) -> None:
    for n in range(200):
        store.save_message(message(uuid.uuid4().hex, text="x" * 2000))
    store.close()  # the last connection checkpoints the WAL into the file
    broken = db_path.with_name("broken.db")
    shutil.copy(db_path, broken)
    with open(broken, "r+b") as handle:
        handle.truncate(broken.stat().st_size // 2)
    with pytest.raises(StorageError) as caught:
        damaged = open_store(sqlite_url(broken))
        damaged.list_conversations()
        damaged.stats()
    assert_storage_error(caught, broken, "malformed", "move it aside")


def test_a_read_only_database(store: Store, db_path: Path) -> None:
    store.save_message(message("c"))
    store.close()
    if os.geteuid() == 0:  # root ignores file modes: ask SQLite for a read-only open instead
        url = f"sqlite:///file:{db_path}?mode=ro&uri=true"
    else:
        db_path.chmod(0o400)
        db_path.parent.chmod(0o500)
        url = sqlite_url(db_path)
    try:
        with pytest.raises(StorageError) as caught:
            readonly = open_store(url)
            assert readonly.messages("c")  # reading still works
            readonly.save_message(message("c"))
    finally:
        db_path.parent.chmod(0o700)
    assert_storage_error(caught, db_path, "read-only", "permissions")


def test_a_folder_that_cannot_be_created(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(StorageError) as caught:
        open_store(sqlite_url(blocker / "sub" / "history.db"))
    assert_storage_error(caught, blocker / "sub", "cannot create", "permissions")


def test_an_invalid_url(tmp_path: Path) -> None:
    with pytest.raises(StorageError) as caught:
        open_store("not a url at all")
    assert "LLMCLI_DATABASE_URL" in (caught.value.hint or "")


def hold_write_lock(path: Path) -> sqlite3.Connection:
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    return holder


def test_locked_past_the_busy_timeout(store: Store, db_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(database, "BUSY_TIMEOUT_MS", 50)
    pauses = []
    store._db._sleep = pauses.append
    ticks = iter([100.0, 190.0])  # the clock at the first BEGIN and after the last one
    store._db._clock = lambda: next(ticks)
    holder = hold_write_lock(db_path)
    try:
        with pytest.raises(StorageError) as caught:
            store.save_message(message("c"))
    finally:
        holder.rollback()
        holder.close()
    assert_storage_error(caught, db_path, "locked", "try again")
    assert store.messages("c") == []
    # Three attempts (SQLite's busy handler is not fair under many writers); the error says how long
    # they waited in all, not one busy timeout.
    assert len(pauses) == 2
    assert "stayed locked by another process for 90 s" in caught.value.message


def test_a_lock_released_between_attempts_is_retried_once(store: Store, db_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(database, "BUSY_TIMEOUT_MS", 50)
    holder = hold_write_lock(db_path)
    pauses = []

    def release(seconds: float) -> None:  # the other process commits while we back off
        pauses.append(seconds)
        holder.rollback()

    store._db._sleep = release
    record = message("c")
    store.save_message(record)
    holder.close()
    assert len(pauses) == 1
    assert store.messages("c") == [record]


def test_check_is_empty_for_a_healthy_database(store: Store) -> None:
    store.save_message(message("c"))
    assert store.check() == []


def test_an_unreachable_server_is_named_without_its_password() -> None:
    with pytest.raises(StorageError) as caught:
        open_store("postgresql+psycopg://llmcli:pw-SENTINEL@127.0.0.1:1/history")
    text = caught.value.message + " " + (caught.value.hint or "")
    assert "pw-SENTINEL" not in text
    assert "127.0.0.1" in caught.value.message and "LLMCLI_DATABASE_URL" in text
