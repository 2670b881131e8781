"""Configured providers and the model-list cache."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from llmcli.errors import UsageError
from llmcli.storage import Store
from llmcli.types import ModelInfo


def test_providers_are_saved_replaced_listed_and_removed(store: Store) -> None:
    store.save_provider("my-ollama", "openai", "http://localhost:11434/v1", "llama3.2")
    store.save_provider("yc", "yandexgpt", None, "yandexgpt-lite", {"folder_id": "b1g123"})
    store.save_provider("my-ollama", "openai", "http://gpu:11434/v1", "qwen3", {"timeout": 30})
    assert store.list_providers() == [
        {"name": "my-ollama", "kind": "openai", "base_url": "http://gpu:11434/v1", "model": "qwen3",
         "options": {"timeout": 30}},
        {"name": "yc", "kind": "yandexgpt", "base_url": None, "model": "yandexgpt-lite",
         "options": {"folder_id": "b1g123"}},
    ]
    assert store.remove_provider("yc") is True
    assert store.remove_provider("yc") is False
    assert [p["name"] for p in store.list_providers()] == ["my-ollama"]


@pytest.mark.parametrize("option", ["api_key", "credentials", "iam_token", "password", "X-Api-Key"])
def test_secrets_are_refused_and_never_written(store: Store, db_path: Path, option: str) -> None:
    with pytest.raises(UsageError) as caught:
        store.save_provider("p", "openai", None, None, {option: "sk-SENTINEL"})
    assert "sk-SENTINEL" not in caught.value.message + (caught.value.hint or "")
    assert b"sk-SENTINEL" not in db_path.read_bytes()


def test_model_cache_round_trip_and_replacement(store: Store) -> None:
    assert store.cached_models("gigachat") is None
    models = [ModelInfo("GigaChat-2", "gigachat", context_window=128000),
              ModelInfo("Embeddings", "gigachat", type="embedder", owned_by="salutedevices")]
    store.cache_models("gigachat", models)
    cached, fetched_at = store.cached_models("gigachat")
    assert cached == models and fetched_at.endswith("+00:00")
    store.cache_models("gigachat", models[:1])
    assert store.cached_models("gigachat")[0] == models[:1]


def test_changing_or_removing_a_provider_drops_its_cached_models(store: Store) -> None:
    store.save_provider("local-vllm", "openai", "http://a/v1", None)
    store.cache_models("local-vllm", [ModelInfo("m1", "local-vllm")])
    store.save_provider("local-vllm", "openai", "http://b/v1", None)  # another server, other models
    assert store.cached_models("local-vllm") is None
    store.cache_models("local-vllm", [ModelInfo("m1", "local-vllm")])
    store.remove_provider("local-vllm")
    assert store.cached_models("local-vllm") is None


def test_an_unreadable_cache_counts_as_missing(store: Store, db_path: Path) -> None:
    store.cache_models("openai", [ModelInfo("gpt", "openai")])
    with sqlite3.connect(db_path) as conn:
        conn.execute("UPDATE model_cache SET models = '[{\"bogus\": 1}]'")
    assert store.cached_models("openai") is None
