"""What `llmcli doctor` needs to know about the history database, read without migrating or creating
anything: where it is, whether it exists yet, its schema version, and SQLite's integrity check."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.engine import make_url

from llmcli.storage.database import Database, sqlite_file
from llmcli.storage.migrations import LATEST, applied_versions
from llmcli.storage.store import Store


@dataclass(frozen=True)
class DatabaseHealth:
    location: str  # the file for SQLite, the URL without its password otherwise
    exists: bool
    dialect: str = "sqlite"
    version: int = 0  # the newest schema step applied
    latest: int = LATEST
    problems: tuple[str, ...] = ()  # what the integrity check found (SQLite only)


def inspect_database(url: str) -> DatabaseHealth:
    """The database's state; StorageError when it cannot be opened or read."""
    try:
        path = sqlite_file(make_url(url))
    except Exception:  # noqa: BLE001 - Database() below reports a bad URL properly
        path = None
    if path is not None and not path.exists():
        return DatabaseHealth(str(path), exists=False)
    db = Database(url)
    try:
        with db.read() as conn:
            versions = applied_versions(conn)
        return DatabaseHealth(db.location, True, db.dialect, max(versions, default=0), LATEST,
                              tuple(Store(db).check()))
    finally:
        db.dispose()
