"""The model catalogue: TTL cache, --refresh, the offline fallback, and the check before a request."""

from __future__ import annotations

import time

import pytest

from llmcli import completion
from llmcli.config import load_settings
from llmcli.errors import AuthError, ProviderUnavailable, UsageError
from llmcli.services import providers as registry
from llmcli.services.models import ModelService, check_model, did_you_mean
from llmcli.storage import open_store
from llmcli.types import ModelInfo

CONFIG = """
default_provider = "fake"
models_cache_ttl_hours = 1
[aliases]
fast = "gpt-fake-mini"
[providers.fake]
kind = "openai"
base_url = "http://127.0.0.1:9/v1"
model = "gpt-fake"
"""


class Clock:
    """Starts at the real time (the store stamps the cache with it) and moves only when told."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def settings(llmcli_home):
    llmcli_home.mkdir(parents=True, exist_ok=True)
    (llmcli_home / "config.toml").write_text(CONFIG, encoding="utf-8")
    return load_settings()


@pytest.fixture
def provider_calls(monkeypatch):
    """Stands in for the network: records each fetch; `.error` makes the next fetches fail."""

    class Calls(list):
        error: Exception | None = None
        models: tuple[str, ...] = ("gpt-fake", "gpt-fake-mini")

    calls = Calls()

    def fetch(settings, name, *, timeout=None):
        calls.append(name)
        if calls.error is not None:
            raise calls.error
        return [ModelInfo(m, name) for m in calls.models]

    monkeypatch.setattr(registry, "fetch_models", fetch)
    return calls


def service(settings, clock, store=None):
    return ModelService(settings, store=store, clock=clock)


def test_cache_is_used_within_the_ttl_and_refetched_after(settings, provider_calls) -> None:
    clock = Clock()
    first = service(settings, clock).list_models()
    assert (first.source, [m.id for m in first.models]) == ("provider", ["gpt-fake", "gpt-fake-mini"])
    clock.now += 59 * 60
    again = service(settings, clock).list_models()
    assert again.source == "cache" and again.fetched_at == first.fetched_at
    assert provider_calls == ["fake"]
    clock.now += 2 * 60  # past the one-hour TTL of the config
    assert service(settings, clock).list_models().source == "provider"
    assert provider_calls == ["fake", "fake"]


def test_refresh_asks_the_provider_even_when_fresh(settings, provider_calls) -> None:
    clock = Clock()
    service(settings, clock).list_models()
    provider_calls.models = ("gpt-fake", "gpt-new")
    listing = service(settings, clock).list_models(refresh=True)
    assert [m.id for m in listing.models] == ["gpt-fake", "gpt-new"] and len(provider_calls) == 2


def test_offline_falls_back_to_the_stale_cache_with_a_notice(settings, provider_calls) -> None:
    clock = Clock()
    service(settings, clock).list_models()
    clock.now += 5 * 3600
    provider_calls.error = ProviderUnavailable("cannot connect to 127.0.0.1:9")
    listing = service(settings, clock).list_models()
    assert listing.source == "stale cache" and [m.id for m in listing.models] == ["gpt-fake", "gpt-fake-mini"]
    (notice,) = listing.notices
    assert "fake is unreachable" in notice and "cached 5 h ago" in notice


def test_offline_without_a_cache_is_an_error(settings, provider_calls) -> None:
    provider_calls.error = ProviderUnavailable("cannot connect")
    with pytest.raises(ProviderUnavailable):
        service(settings, Clock()).list_models()


def test_rejected_key_is_not_hidden_behind_the_stale_cache(settings, provider_calls) -> None:
    clock = Clock()
    service(settings, clock).list_models()
    clock.now += 5 * 3600
    provider_calls.error = AuthError("401 Unauthorized", provider="fake")
    with pytest.raises(AuthError):
        service(settings, clock).list_models()


def test_unknown_provider_is_a_usage_error(settings, provider_calls) -> None:
    with pytest.raises(UsageError, match="unknown provider 'fak'"):
        service(settings, Clock()).list_models("fak")
    assert provider_calls == []


def test_fetched_list_is_mirrored_for_completion_and_validation(settings, provider_calls) -> None:
    service(settings, Clock()).list_models()
    entry = completion.cached_model_entry("fake")
    assert entry["models"] == ["gpt-fake", "gpt-fake-mini"] and entry["base_url"] == "http://127.0.0.1:9/v1"


def test_a_cache_from_the_database_alone_is_mirrored_on_read(settings, provider_calls) -> None:
    with open_store() as store:
        store.cache_models("fake", [ModelInfo("only-one", "fake")])  # stamped with the real time
    result = ModelService(settings, clock=time.time).list_models()
    assert result.source == "cache" and provider_calls == []
    assert completion.cached_model_entry("fake")["models"] == ["only-one"]


def test_json_rows_carry_the_contract_fields_and_aliases(settings, provider_calls) -> None:
    listing = service(settings, Clock()).list_models()
    rows = listing.to_json(settings.aliases)
    assert rows[1] == {"id": "gpt-fake-mini", "provider": "fake", "type": "chat", "context_window": None,
                       "cached_at": listing.fetched_at, "owned_by": None, "aliases": ["fast"]}


# --- the check before a request ----------------------------------------------------------------------


@pytest.fixture
def indexed():
    completion.index_models("gigachat", ["GigaChat-2", "GigaChat-2-Max", "GigaChat-2-Pro"],
                            "2026-11-26T10:00:00+00:00", "https://giga/api/v1")


def test_unknown_model_is_refused_with_a_suggestion(indexed) -> None:
    with pytest.raises(UsageError) as caught:
        check_model("gigachat", "GigaChat-3", "https://giga/api/v1")
    assert caught.value.message == "no such model GigaChat-3 for gigachat; did you mean GigaChat-2?"
    assert caught.value.exit_code == 2 and "--refresh" in caught.value.hint


def test_known_models_pass(indexed) -> None:
    check_model("gigachat", "GigaChat-2-Max", "https://giga/api/v1/")


def test_no_check_without_a_cache_or_when_the_endpoint_changed(indexed) -> None:
    check_model("yandexgpt", "anything", "https://llm")
    check_model("gigachat", "GigaChat-3", "https://other-endpoint/api/v1")


def test_ollama_tags_yandex_branches_and_uris_are_accepted() -> None:
    completion.index_models("ollama", ["llama3.2:latest"], "2026-11-26T10:00:00+00:00", "http://o/v1")
    completion.index_models("yandexgpt", ["yandexgpt-lite", "yandexgpt"], "2026-11-26T10:00:00+00:00", "https://y")
    check_model("ollama", "llama3.2", "http://o/v1")
    check_model("yandexgpt", "yandexgpt/rc", "https://y")
    check_model("yandexgpt", "gpt://b1g/yandexgpt/latest", "https://y")
    with pytest.raises(UsageError):
        check_model("yandexgpt", "yandexgpt-pro/rc", "https://y")


def test_suggestions_ignore_case_and_list_models_when_nothing_is_close() -> None:
    assert did_you_mean("gigachat-2", ["GigaChat-2"]) == "; did you mean GigaChat-2?"
    assert did_you_mean("zzz", ["a", "b"]) == " (known: a, b)"


def test_aliases_resolve_before_the_check(settings, monkeypatch) -> None:
    completion.index_models("fake", ["gpt-fake", "gpt-fake-mini"], "2026-11-26T10:00:00+00:00",
                            "http://127.0.0.1:9/v1")
    config = registry.find_provider_config(settings, "fake")
    model = registry.resolve_model(settings, "fake", config, "fast")
    assert model == "gpt-fake-mini"
    check_model("fake", model, config.base_url)
