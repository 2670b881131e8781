"""Export to / import from JSON Lines (one conversation with its messages per line), and Markdown.

Import is idempotent: conversations and messages keep their ids, and ids already present are
skipped. Lines are validated and written in batches, one short write transaction per batch.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import sqlalchemy as sa

from llmcli.errors import UsageError
from llmcli.storage.database import Database
from llmcli.storage.rows import insert_ignoring_duplicates, message_record, message_values, next_seq
from llmcli.storage.tables import conversations, messages
from llmcli.storage.timestamps import normalize_iso
from llmcli.types import ROLES, ConversationRecord, MessageRecord

FORMAT = "llmcli.conversation.v1"
BATCH = 100  # conversations per read or write transaction
_MESSAGE_FIELDS = ("id", "role", "text", "created_at", "provider", "model", "finish_reason", "complete",
                   "prompt_tokens", "completion_tokens", "cached_tokens", "latency_ms", "error",
                   "request_id")


def export_jsonl(db: Database, ids: Sequence[str] | None) -> Iterator[str]:
    if ids is None:
        yield from _export_all(db)
        return
    wanted = list(dict.fromkeys(ids))
    with db.read() as conn:
        known = set()
        for start in range(0, len(wanted), BATCH):
            batch = wanted[start:start + BATCH]
            known.update(conn.execute(sa.select(conversations.c.id)
                                      .where(conversations.c.id.in_(batch))).scalars())
    missing = [cid for cid in wanted if cid not in known]
    if missing:
        raise UsageError(f"no conversation {missing[0]!r}", hint="see `llmcli history list` for ids")
    for start in range(0, len(wanted), BATCH):
        yield from _lines(db, wanted[start:start + BATCH])


def _export_all(db: Database) -> Iterator[str]:
    """Oldest first, a batch at a time (keyset pagination: no transaction held while the caller writes)."""
    after: tuple[str, str] | None = None
    while True:
        query = sa.select(conversations.c.id, conversations.c.created_at)
        if after is not None:
            created, cid = after
            query = query.where(sa.or_(conversations.c.created_at > created,
                                       sa.and_(conversations.c.created_at == created,
                                               conversations.c.id > cid)))
        query = query.order_by(conversations.c.created_at, conversations.c.id).limit(BATCH)
        with db.read() as conn:
            page = conn.execute(query).all()
        if not page:
            return
        yield from _lines(db, [row.id for row in page])
        after = (page[-1].created_at, page[-1].id)


def _lines(db: Database, ids: list[str]) -> Iterator[str]:
    """JSON lines for these conversations, in this order: two queries per batch, not one per conversation."""
    with db.read() as conn:
        heads = {r["id"]: r for r in conn.execute(
            sa.select(conversations).where(conversations.c.id.in_(ids))).mappings()}
        grouped: dict[str, list[dict[str, Any]]] = {cid: [] for cid in ids}
        for row in conn.execute(sa.select(messages).where(messages.c.conversation_id.in_(ids))
                                .order_by(messages.c.conversation_id, messages.c.seq)).mappings():
            record = message_record(row)
            grouped[record.conversation_id].append({f: getattr(record, f) for f in _MESSAGE_FIELDS})
    lines = []
    for cid in ids:
        head = heads[cid]
        lines.append(json.dumps({
            "format": FORMAT, "id": cid, "title": head["title"], "created_at": head["created_at"],
            "updated_at": head["updated_at"], "parent_id": head["parent_id"], "messages": grouped[cid],
        }, ensure_ascii=False))
    return iter(lines)


def import_jsonl(db: Database, lines: Iterable[str]) -> tuple[int, int]:
    added_conversations = added_messages = 0
    parents: list[tuple[str, str]] = []
    batch: list[dict[str, Any]] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        batch.append(_parse(line, number))
        if len(batch) == BATCH:
            added = _write(db, batch, parents)
            added_conversations, added_messages = added_conversations + added[0], added_messages + added[1]
            batch = []
    if batch:
        added = _write(db, batch, parents)
        added_conversations, added_messages = added_conversations + added[0], added_messages + added[1]
    if parents:  # linked last: a parent may come later in the file, or not at all
        with db.write() as conn:
            for child, parent in parents:
                exists = sa.select(conversations.c.id).where(conversations.c.id == parent).exists()
                conn.execute(conversations.update()
                             .where(conversations.c.id == child, conversations.c.parent_id.is_(None),
                                    exists)
                             .values(parent_id=parent))
    return added_conversations, added_messages


def _write(db: Database, batch: list[dict[str, Any]], parents: list[tuple[str, str]]) -> tuple[int, int]:
    added_conversations = added_messages = 0
    with db.write() as conn:
        for item in batch:
            head = {k: item[k] for k in ("id", "title", "created_at", "updated_at")}
            if insert_ignoring_duplicates(conn, conversations, [{**head, "parent_id": None}], key="id"):
                added_conversations += 1
                if item["parent_id"]:
                    parents.append((item["id"], item["parent_id"]))
            seq = next_seq(conn)
            rows = [message_values(m, seq=seq + i, created_at=m.created_at)
                    for i, m in enumerate(item["messages"])]
            added = insert_ignoring_duplicates(conn, messages, rows, key="id")
            if added:
                updated = conversations.c.updated_at
                conn.execute(conversations.update().where(conversations.c.id == item["id"]).values(
                    updated_at=sa.case((updated < item["updated_at"], item["updated_at"]), else_=updated)))
            added_messages += added
    return added_conversations, added_messages


def _parse(line: str, number: int) -> dict[str, Any]:
    def bad(problem: str) -> UsageError:
        return UsageError(f"import line {number}: {problem}",
                          hint="each line must be one conversation as written by `llmcli history export`")

    try:
        data = json.loads(line)
    except ValueError:
        raise bad("not valid JSON") from None
    if not isinstance(data, dict) or not isinstance(data.get("id"), str) or not data["id"]:
        raise bad("not a conversation (no id)")
    if not isinstance(data.get("messages"), list):
        raise bad("no messages list")
    try:
        created = normalize_iso(str(data.get("created_at") or ""))
        item = {"id": data["id"], "title": str(data.get("title") or ""), "created_at": created,
                "updated_at": normalize_iso(str(data.get("updated_at") or created)),
                "parent_id": data.get("parent_id") or None, "messages": []}
        for raw in data["messages"]:
            item["messages"].append(_message(raw, data["id"]))
    except UsageError as exc:
        raise bad(exc.message) from None
    except (TypeError, ValueError, KeyError) as exc:
        raise bad(f"malformed message ({exc})") from None
    return item


def _message(raw: Any, conversation_id: str) -> MessageRecord:
    if not isinstance(raw, dict) or not raw.get("id") or raw.get("role") not in ROLES:
        raise ValueError("each message needs an id and a role of " + "/".join(ROLES))
    if not isinstance(raw.get("text"), str):
        raise TypeError(f"message {raw['id']} has no text")
    fields = {f: raw.get(f) for f in _MESSAGE_FIELDS}
    fields["created_at"] = normalize_iso(str(raw.get("created_at") or ""))
    fields["complete"] = bool(raw.get("complete", True))
    for name in ("prompt_tokens", "completion_tokens", "cached_tokens", "latency_ms"):
        fields[name] = None if fields[name] is None else int(fields[name])
    return MessageRecord(conversation_id=conversation_id, **fields)


def to_markdown(conversation: ConversationRecord, records: Sequence[MessageRecord]) -> str:
    parts = [f"# {conversation.title or conversation.id}", "",
             f"Conversation `{conversation.id}`, started {conversation.created_at}.", ""]
    for record in records:
        who = record.role
        if record.role == "assistant" and (record.provider or record.model):
            who += " · " + "/".join(x for x in (record.provider, record.model) if x)
        parts += [f"## {who}", "", record.text.rstrip(), ""]
        if not record.complete:
            parts += [f"*(incomplete: {record.finish_reason or 'cut short'})*", ""]
    return "\n".join(parts).rstrip() + "\n"
