"""Storage fixtures: a real SQLite file under tmp_path, opened through the public open_store()."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from llmcli.storage import Store, open_store
from tests.storage.helpers import sqlite_url


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "history.db"


@pytest.fixture
def store(db_path: Path) -> Iterator[Store]:
    opened = open_store(sqlite_url(db_path))
    yield opened
    opened.close()


@pytest.fixture
def conversation_id() -> str:
    return uuid.uuid4().hex


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    from tests.storage.postgres import postgres_server

    yield from postgres_server()


@pytest.fixture
def postgres_url(postgres_server_url: str) -> str:
    """A new, empty PostgreSQL database on the suite's own server."""
    from tests.storage.postgres import fresh_database

    return fresh_database(postgres_server_url)
