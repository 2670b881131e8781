"""Usage statistics: requests, errors by kind, tokens and latency percentiles per provider and model."""

from __future__ import annotations

import uuid

from llmcli.storage import Store
from tests.storage.helpers import at, message


def test_percentiles_errors_and_tokens_per_provider_and_model(store: Store) -> None:
    cid = uuid.uuid4().hex
    for latency in range(100, 2100, 100):  # 20 replies: 100 … 2000 ms, saved in shuffled order
        latency = (latency * 7) % 2000 + 100
        store.save_message(message(cid, "user", "q"))
        store.save_message(message(cid, "assistant", "a", provider="gigachat", model="GigaChat-2",
                                   latency_ms=latency, prompt_tokens=10, completion_tokens=2))
    store.save_message(message(cid, "assistant", "", provider="gigachat", model="GigaChat-2",
                               error="RateLimited: 429 after 3 retries"))
    store.save_message(message(cid, "assistant", "", provider="gigachat", model="GigaChat-2",
                               error="RateLimited: quota"))
    store.save_message(message(cid, "assistant", "par", provider="gigachat", model="GigaChat-2",
                               error="StreamBroken: connection reset", latency_ms=5000, complete=False))
    store.save_message(message(cid, "assistant", "ok", provider="openai", model="gpt-4o-mini",
                               latency_ms=700, prompt_tokens=3, completion_tokens=1))

    stats = store.stats()
    assert [(s["provider"], s["model"]) for s in stats] == [("gigachat", "GigaChat-2"),
                                                           ("openai", "gpt-4o-mini")]
    giga, openai = stats
    assert giga["requests"] == 23 and giga["errors"] == 3
    assert giga["errors_by_kind"] == {"RateLimited": 2, "StreamBroken": 1}
    assert giga["prompt_tokens"] == 200 and giga["completion_tokens"] == 40
    # 21 latencies: 100..2000 and 5000; nearest rank p50 = 11th = 1100, p95 = 20th = 2000
    assert giga["latency_p50_ms"] == 1100 and giga["latency_p95_ms"] == 2000
    assert openai == {"provider": "openai", "model": "gpt-4o-mini", "requests": 1, "errors": 0,
                      "errors_by_kind": {}, "prompt_tokens": 3, "completion_tokens": 1,
                      "latency_p50_ms": 700, "latency_p95_ms": 700}


def test_user_messages_do_not_count_and_since_filters(store: Store) -> None:
    cid = uuid.uuid4().hex
    store.save_message(message(cid, "user", "q", provider="gigachat", model="m", created_at=at(0)))
    store.save_message(message(cid, "assistant", "old", provider="gigachat", model="m",
                               latency_ms=10, created_at=at(0)))
    store.save_message(message(cid, "assistant", "new", provider="gigachat", model="m",
                               latency_ms=30, created_at=at(60)))
    assert store.stats()[0]["requests"] == 2
    recent = store.stats(since_iso=at(30))
    assert recent[0]["requests"] == 1 and recent[0]["latency_p50_ms"] == 30


def test_replies_without_latency_have_no_percentiles(store: Store) -> None:
    store.save_message(message("c", "assistant", "x", provider="p", model="m"))
    assert store.stats()[0]["latency_p50_ms"] is None
    assert store.stats() and store.stats(since_iso=at(10**7)) == []
