"""Builders shared by the storage tests: messages, timestamps, databases at an older schema."""

from __future__ import annotations

import itertools
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from llmcli.storage.database import Database
from llmcli.storage.migrations import migrate
from llmcli.types import MessageRecord

BASE_TIME = datetime(2026, 11, 26, 10, 0, tzinfo=timezone.utc)
_clock = itertools.count()


def at(seconds: float) -> str:
    """A timestamp `seconds` after BASE_TIME, in the stored format."""
    return (BASE_TIME + timedelta(seconds=seconds)).isoformat(timespec="microseconds")


def message(conversation_id: str, role: str = "user", text: str = "hello", **fields: Any) -> MessageRecord:
    """A message with a fresh id; created_at increases with every call unless given."""
    fields.setdefault("id", uuid.uuid4().hex)
    fields.setdefault("created_at", at(next(_clock)))
    return MessageRecord(conversation_id=conversation_id, role=role, text=text, **fields)


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def database_at_version(url: str, version: int) -> None:
    """A database migrated only up to `version` (0 = empty file), as an older llmcli left it."""
    db = Database(url)
    try:
        if version:
            migrate(db, target=version)
    finally:
        db.dispose()
