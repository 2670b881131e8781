"""SQLModel tables: the shape of the data as the code sees it.

The database itself is built by the SQL steps in migrations.py (the tables here are never
`create_all`-ed); tests/storage check that a migrated database has exactly these columns.
Timestamps are ISO 8601 UTC strings with microseconds; JSON columns hold text (portable).
"""

from __future__ import annotations

from sqlmodel import Field, SQLModel


class ProviderRow(SQLModel, table=True):
    """A provider added with `providers add` (never a secret: those live in the keyring)."""

    __tablename__ = "providers"

    name: str = Field(primary_key=True)
    kind: str
    base_url: str | None = None
    model: str | None = None
    options: str = "{}"  # JSON object of non-secret settings (folder_id, scope, ...)
    created_at: str


class ConversationRow(SQLModel, table=True):
    __tablename__ = "conversations"

    id: str = Field(primary_key=True)
    title: str = ""
    created_at: str
    updated_at: str = Field(index=True)
    parent_id: str | None = Field(default=None, foreign_key="conversations.id")


class MessageRow(SQLModel, table=True):
    __tablename__ = "messages"

    id: str = Field(primary_key=True)  # client-generated uuid4 hex: a retried save cannot duplicate
    conversation_id: str = Field(foreign_key="conversations.id")
    # Increases with every insert across the whole table (assigned under the write lock): orders a
    # conversation's messages and doubles as the full-text index's row id.
    seq: int
    created_at: str
    role: str
    text: str
    provider: str | None = None
    model: str | None = None
    finish_reason: str | None = None
    complete: bool = True
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cached_tokens: int | None = None
    latency_ms: int | None = None
    error: str | None = None  # "<kind>: <short message>", never a secret
    request_id: str | None = None


class ModelCacheRow(SQLModel, table=True):
    __tablename__ = "model_cache"

    provider: str = Field(primary_key=True)
    models: str  # JSON array of ModelInfo fields
    fetched_at: str


class SchemaMigrationRow(SQLModel, table=True):
    """One row per applied migration step: the schema version lives here, portable to any database."""

    __tablename__ = "schema_migrations"

    version: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    name: str
    applied_at: str


providers = ProviderRow.__table__
conversations = ConversationRow.__table__
messages = MessageRow.__table__
model_cache = ModelCacheRow.__table__
schema_migrations = SchemaMigrationRow.__table__
