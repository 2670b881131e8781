"""Search over message text: FTS5 (ranked by bm25) on SQLite, a portable LIKE fallback elsewhere.

Both take the user's words literally (no query syntax): every word must occur, as a word prefix in
FTS5, as a substring with LIKE. Matches in snippets are wrapped in MARK ... MARK.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from llmcli.storage.migrations import FULLTEXT_TABLE
from llmcli.storage.rows import escape_like
from llmcli.storage.tables import conversations, messages

MARK = "**"  # readable as plain text, bold as Markdown; not rich markup (unlike [ ])
SNIPPET_WORDS = 16
_LIKE_CANDIDATES = 10  # the fallback scores this many times `limit` recent matches in Python


@dataclass(frozen=True)
class SearchHit:
    conversation_id: str
    message_id: str
    role: str
    title: str
    snippet: str
    created_at: str
    rank: float  # higher is more relevant


def query_words(query: str) -> list[str]:
    return re.findall(r"\w+", query)


def full_text_search(conn: Connection, query: str, limit: int) -> list[SearchHit]:
    words = query_words(query)
    if not words:
        return []
    # Each word quoted (so `-`, `:`, `*`, AND/OR in the user's text are not FTS5 syntax) and matched
    # as a prefix, which makes up a little for the lack of stemming ("тест" finds "тестирование").
    match = " ".join('"' + word.replace('"', '""') + '"*' for word in words)
    sql = sa.text(f"""
        SELECT m.id, m.conversation_id, m.role, c.title, m.created_at,
               snippet({FULLTEXT_TABLE}, 0, :mark, :mark, '…', :words) AS snippet,
               bm25({FULLTEXT_TABLE}) AS score
        FROM {FULLTEXT_TABLE}
        JOIN messages m ON m.seq = {FULLTEXT_TABLE}.rowid
        JOIN conversations c ON c.id = m.conversation_id
        WHERE {FULLTEXT_TABLE} MATCH :match
        ORDER BY score, m.created_at DESC
        LIMIT :limit
    """)
    rows = conn.execute(sql, {"mark": MARK, "words": SNIPPET_WORDS, "match": match, "limit": limit})
    return [
        SearchHit(conversation_id=r.conversation_id, message_id=r.id, role=r.role, title=r.title,
                  snippet=" ".join(r.snippet.split()), created_at=r.created_at,
                  rank=-float(r.score))  # bm25: lower is better; SearchHit: higher is better
        for r in rows
    ]


def like_search(conn: Connection, query: str, limit: int) -> list[SearchHit]:
    """Portable fallback: SQL narrows with LIKE, Python ranks by occurrences and builds snippets.

    LIKE folds case for ASCII only on SQLite (and not at all on PostgreSQL), so each word is tried as
    typed, lower-case, upper-case and capitalised; Python then re-checks with casefold().
    """
    words = query_words(query)
    if not words:
        return []
    conditions = []
    for word in words:
        variants = {word, word.lower(), word.upper(), word.capitalize()}
        conditions.append(sa.or_(*(messages.c.text.like(f"%{escape_like(v)}%", escape="\\")
                                   for v in sorted(variants))))
    rows = conn.execute(
        sa.select(messages.c.id, messages.c.conversation_id, messages.c.role, messages.c.text,
                  messages.c.created_at, conversations.c.title)
        .join(conversations, conversations.c.id == messages.c.conversation_id)
        .where(*conditions)
        .order_by(messages.c.created_at.desc())
        .limit(limit * _LIKE_CANDIDATES)
    )
    folded = [w.casefold() for w in words]
    hits = []
    for r in rows:
        text = r.text.casefold()
        if not all(w in text for w in folded):
            continue
        score = float(sum(text.count(w) for w in folded)) / (1 + len(text) / 1000)
        hits.append(SearchHit(conversation_id=r.conversation_id, message_id=r.id, role=r.role,
                              title=r.title, snippet=make_snippet(r.text, words), created_at=r.created_at,
                              rank=score))
    hits.sort(key=lambda h: h.created_at, reverse=True)
    hits.sort(key=lambda h: h.rank, reverse=True)  # stable: equal ranks stay newest first
    return hits[:limit]


def make_snippet(text: str, words: list[str]) -> str:
    """About SNIPPET_WORDS words around the first match, matches marked like FTS5's snippet()."""
    tokens = text.split()
    folded = [w.casefold() for w in words]
    first = next((i for i, t in enumerate(tokens) if any(w in t.casefold() for w in folded)), 0)
    start = max(0, first - SNIPPET_WORDS // 4)
    window = tokens[start:start + SNIPPET_WORDS]
    marked = [MARK + t + MARK if any(w in t.casefold() for w in folded) else t for t in window]
    prefix = "…" if start > 0 else ""
    suffix = "…" if start + SNIPPET_WORDS < len(tokens) else ""
    return prefix + " ".join(marked) + suffix
