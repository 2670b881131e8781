"""Connections: files and modes, SQLite pragmas, short transactions, and database errors → StorageError.

Why these rules: /work/shared/reference/reliability.md §2 (16 processes writing one SQLite file) and
docs/database.md. In short: busy_timeout before anything else, WAL, NullPool (a pooled connection can
be left inside a "failed" transaction that a later commit then commits), writes in BEGIN IMMEDIATE
(deferred read→write upgrades lost 84–94 % of updates silently), reads deferred (IMMEDIATE reads cut
reader throughput ~100×).
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import NullPool, QueuePool, StaticPool

from llmcli.errors import StorageError
from llmcli.paths import ensure_private_dir


def _busy_timeout_ms(default: int = 30_000) -> int:
    """LLMCLI_DB_BUSY_TIMEOUT_MS overrides the wait for a lock (slow shared disks; tests of a lock
    held past it, which would otherwise take 30 s)."""
    try:
        value = int(os.environ.get("LLMCLI_DB_BUSY_TIMEOUT_MS") or default)
    except ValueError:
        return default
    return value if value > 0 else default


# Measured: 5 s lost 0–4 of 3 200 transactions under 16 writers on 2 cores, 30 s lost none.
BUSY_TIMEOUT_MS = _busy_timeout_ms()
# Only a failed BEGIN IMMEDIATE is retried: nothing has happened yet, so a retry cannot duplicate.
# Also after a whole busy timeout: SQLite's busy handler is not fair, and under 32 writers on a loaded
# 2-core machine one of them waited past half the timeout and lost (tests/e2e/test_parallel.py, when
# only quick failures were retried). A lock held for good therefore costs three timeouts; the error
# says how long it really waited.
BEGIN_ATTEMPTS = 3

_umask_lock = threading.Lock()


class Database:
    """Two engines over one database: `write()` (BEGIN IMMEDIATE) and `read()` (deferred)."""

    def __init__(self, url: str, *, sleep: Callable[[float], None] = time.sleep) -> None:
        try:
            parsed = sa.engine.make_url(url)
        except Exception:  # noqa: BLE001 - any parse failure means the same to the user
            raise StorageError(
                "the database URL is not valid",
                hint="set LLMCLI_DATABASE_URL to an SQLAlchemy URL, e.g. sqlite:////path/history.db",
            ) from None
        self.url = parsed.render_as_string(hide_password=True)
        self.dialect = parsed.get_backend_name()
        self.path = sqlite_file(parsed)
        # What error messages name: the file for SQLite, the URL without its password otherwise.
        self.location = str(self.path) if self.path else self.url
        self._sleep = sleep
        self._clock = time.monotonic  # how long a BEGIN waited (tests replace it)
        if self.path:
            prepare_file(self.path)
        self.writer, self.reader = self._engines(parsed)

    def _engines(self, parsed: sa.URL) -> tuple[Engine, Engine]:
        if self.dialect != "sqlite":
            try:
                writer = sa.create_engine(parsed, poolclass=NullPool)
            except Exception as exc:  # noqa: BLE001 - a missing driver module, a bad option
                raise StorageError(
                    f"cannot use the database {self.url}: {first_line(exc)}",
                    hint="install the database driver named in the URL, or unset LLMCLI_DATABASE_URL",
                ) from None
            return writer, writer
        if self.path is None:
            # In-memory: one shared connection, or every connection would see an empty database.
            writer = sa.create_engine(
                parsed, poolclass=StaticPool, connect_args={"check_same_thread": False}
            )
            _install_sqlite_events(writer, begin="BEGIN IMMEDIATE")
            return writer, writer
        args = {"timeout": BUSY_TIMEOUT_MS / 1000}
        writer = sa.create_engine(parsed, poolclass=NullPool, connect_args=args)
        # Reads keep one idle connection for the store's life. Besides saving reconnects, it stops
        # every write from being the last connection to close, which would checkpoint the WAL and
        # fsync each time (measured: a save took 2-4x longer). Read transactions cannot leave
        # anything half-committed, and the reset below ends any that is still open.
        reader = sa.create_engine(parsed, poolclass=QueuePool, pool_size=1, max_overflow=8,
                                  connect_args={**args, "check_same_thread": False})
        event.listen(reader, "reset", lambda dbapi_conn, _record, _state: dbapi_conn.rollback())
        _install_sqlite_events(writer, begin="BEGIN IMMEDIATE")
        _install_sqlite_events(reader, begin="BEGIN")
        return writer, reader

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with self.errors(), self.reader.connect() as conn, conn.begin():
            yield conn

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """One short write transaction. Never hold it across a network call."""
        with self.errors():
            conn = self._begin_write()
            try:
                yield conn
                conn.commit()
            finally:
                conn.close()  # NullPool: closing really closes, and rolls back anything left open

    def _begin_write(self) -> Connection:
        started = self._clock()
        for attempt in range(1, BEGIN_ATTEMPTS + 1):
            conn = self.writer.connect()
            try:
                conn.begin()
                return conn
            except sa.exc.OperationalError as exc:
                conn.close()
                if not is_locked(exc):
                    raise
                if attempt == BEGIN_ATTEMPTS:
                    raise storage_error(self.location, exc.orig, server=self.path is None,
                                        waited=self._clock() - started) from None
                self._sleep(random.uniform(0.05, 0.25) * attempt)
            except BaseException:
                conn.close()
                raise
        raise AssertionError("unreachable")

    @contextmanager
    def errors(self) -> Iterator[None]:
        """Turn every database failure into a StorageError naming the database."""
        try:
            yield
        except StorageError:
            raise
        except sa.exc.DBAPIError as exc:
            raise storage_error(self.location, exc.orig, server=self.path is None) from None
        except (sa.exc.SQLAlchemyError, OSError) as exc:
            raise storage_error(self.location, exc, server=self.path is None) from None

    def dispose(self) -> None:
        self.writer.dispose()
        if self.reader is not self.writer:
            self.reader.dispose()


def sqlite_file(url: sa.URL) -> Path | None:
    """The database file of a sqlite URL (None for in-memory or other databases)."""
    if url.get_backend_name() != "sqlite":
        return None
    database = url.database or ""
    if database.startswith("file:"):  # sqlite:///file:/path/db?mode=ro&uri=true
        database = database[len("file:"):].partition("?")[0]
    if database in ("", ":memory:") or "mode=memory" in str(url):
        return None
    return Path(database).expanduser().absolute()


def prepare_file(path: Path) -> None:
    """Folder 0700 and an empty file 0600 *before* SQLite opens it (SQLite copies the mode to -wal/-shm)."""
    try:
        ensure_private_dir(path.parent)
    except OSError as exc:
        raise StorageError(
            f"cannot create the folder {path.parent}: {exc.strerror or exc}",
            hint="check its permissions, or point LLMCLI_HOME somewhere writable",
        ) from None
    if path.exists():
        return
    try:
        with _umask_lock:
            old = os.umask(0o077)
            try:
                fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)  # an empty file is an empty database
            finally:
                os.umask(old)
        os.close(fd)
    except OSError as exc:
        raise StorageError(
            f"cannot create the database {path}: {exc.strerror or exc}",
            hint="check the permissions of its folder",
        ) from None


def _install_sqlite_events(engine: Engine, *, begin: str) -> None:
    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
        dbapi_conn.isolation_level = None  # the driver must not open transactions behind our back
        with _umask_lock:
            old = os.umask(0o077)  # -wal and -shm are created here: keep them private too
            try:
                cursor = dbapi_conn.cursor()
                cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")  # first: the next one may wait
                cursor.execute("PRAGMA journal_mode=WAL")
                cursor.execute("PRAGMA synchronous=NORMAL")
                cursor.execute("PRAGMA foreign_keys=ON")
                cursor.close()
            finally:
                os.umask(old)

    @event.listens_for(engine, "begin")
    def _begin(conn) -> None:  # type: ignore[no-untyped-def]
        conn.exec_driver_sql(begin)


def is_locked(exc: BaseException) -> bool:
    text = str(getattr(exc, "orig", None) or exc).lower()
    return "locked" in text or "busy" in text


# (substring of the driver's message, what happened, what to do)
_KNOWN_FAILURES = (
    ("file is not a database", "{where} is not a SQLite database",
     "move it aside; llmcli will create a new one"),
    ("malformed", "{where} is damaged (database disk image is malformed)",
     "move it aside (keep a copy to recover from); llmcli will create a new one"),
    ("readonly", "{where} is read-only",
     "check the permissions of the file and its folder"),
    ("read-only", "{where} is read-only",
     "check the permissions of the file and its folder"),
    ("locked", "{where} stayed locked by another process for {seconds} s",
     "try again; if it persists, look for a stuck llmcli process"),
    ("busy", "{where} stayed locked by another process for {seconds} s",
     "try again; if it persists, look for a stuck llmcli process"),
    ("unable to open", "cannot open {where}",
     "check the permissions of the file and its folder"),
    ("disk is full", "no space left for {where}", "free some disk space"),
    ("disk i/o error", "disk I/O error on {where}", "check the disk and the file"),
)


def storage_error(location: str, exc: BaseException, *, server: bool = False,
                  waited: float | None = None) -> StorageError:
    """A StorageError whose message names the database and whose hint says what to do. `waited`: how
    long the writes waited for a lock in all (one busy timeout when not given)."""
    text = first_line(exc)
    lowered = text.lower()
    if server:  # a database server: nothing to move aside, usually a connection or rights problem
        return StorageError(
            f"database error on {location}: {text}",
            hint="check that the database server is reachable and that LLMCLI_DATABASE_URL is right",
        )
    for needle, message, hint in _KNOWN_FAILURES:
        if needle in lowered:
            return StorageError(
                message.format(where=location, seconds=round(waited) if waited is not None
                               else BUSY_TIMEOUT_MS // 1000), hint=hint
            )
    return StorageError(
        f"database error on {location}: {text}",
        hint="check the database; if the file is damaged, move it aside and llmcli will create a new one",
    )


def first_line(exc: BaseException) -> str:
    """The driver's message only: SQLAlchemy's own text would add the SQL and its parameters."""
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__
