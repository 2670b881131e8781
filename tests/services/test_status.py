"""Health checks with a scripted model fetch: outcomes, exit codes, parallelism, history facts."""

from __future__ import annotations

import threading

import pytest

from llmcli.config import load_settings
from llmcli.errors import AuthError, ProviderUnavailable, RateLimited
from llmcli.services.status import StatusReport, check_providers, default_targets
from llmcli.storage import open_store
from llmcli.types import MessageRecord, ModelInfo

CONFIG = """
default_provider = "alpha"
[providers.alpha]
kind = "openai"
base_url = "http://127.0.0.1:9/v1"
model = "a"
[providers.beta]
kind = "openai"
base_url = "http://127.0.0.1:9/v1"
model = "b"
needs_key = false
[providers.gamma]
kind = "openai"
base_url = "http://127.0.0.1:9/v1"
model = "c"
"""


@pytest.fixture
def settings(llmcli_home, monkeypatch):
    llmcli_home.mkdir(parents=True, exist_ok=True)
    (llmcli_home / "config.toml").write_text(CONFIG, encoding="utf-8")
    monkeypatch.setenv("LLMCLI_ALPHA_API_KEY", "sk-alpha-0000000000")
    monkeypatch.setenv("LLMCLI_GAMMA_API_KEY", "sk-gamma-0000000000")
    return load_settings()


def scripted(outcomes: dict):
    def fetch(settings, name, *, timeout=None):
        outcome = outcomes[name]
        if isinstance(outcome, BaseException):
            raise outcome
        if callable(outcome):
            return outcome()
        return [ModelInfo(m, name) for m in outcome]

    return fetch


def by_name(report: StatusReport) -> dict:
    return {r.name: r for r in report.results}


def test_all_up_is_exit_zero_with_counts_and_latency(settings) -> None:
    report = check_providers(settings, ["alpha", "beta"],
                             fetch=scripted({"alpha": ["a", "a2"], "beta": ["b"]}))
    alpha, beta = report.results
    assert report.exit_code == 0
    assert (alpha.ok, alpha.auth_ok, alpha.models, alpha.credentials) == (True, True, 2, "env")
    assert (beta.models, beta.credentials) == (1, "not needed")
    assert alpha.latency_ms is not None and alpha.latency_ms >= 0


def test_rejected_key_is_exit_3_and_unreachable_is_exit_6(settings) -> None:
    auth = check_providers(settings, ["alpha"], fetch=scripted({"alpha": AuthError("401", status_code=401)}))
    (alpha,) = auth.results
    assert auth.exit_code == 3 and (alpha.ok, alpha.auth_ok, alpha.reachable) == (False, False, True)
    down = check_providers(settings, ["alpha", "beta"], fetch=scripted(
        {"alpha": AuthError("401", status_code=401), "beta": ProviderUnavailable("connection refused")}))
    assert down.exit_code == 6
    assert by_name(down)["beta"].reachable is False and by_name(down)["beta"].auth_ok is None
    assert by_name(down)["beta"].error == "connection refused"


def test_missing_key_is_reported_without_a_request(settings, monkeypatch) -> None:
    monkeypatch.delenv("LLMCLI_GAMMA_API_KEY")
    report = check_providers(settings, ["gamma"])  # the real fetch: a request would be "unreachable"
    (gamma,) = report.results
    assert (gamma.ok, gamma.auth_ok, gamma.reachable, gamma.credentials) == (False, False, None, "none")
    assert report.exit_code == 3 and "gamma" in gamma.error


def test_rate_limited_means_the_key_was_accepted(settings) -> None:
    report = check_providers(settings, ["alpha"], fetch=scripted({"alpha": RateLimited("429")}))
    (alpha,) = report.results
    assert (alpha.ok, alpha.auth_ok, alpha.reachable, report.exit_code) == (False, True, True, 6)


def test_unknown_provider_is_a_failed_check_not_a_crash(settings) -> None:
    report = check_providers(settings, ["nope"], fetch=scripted({}))
    assert report.results[0].error.startswith("unknown provider 'nope'") and report.exit_code == 6


def test_checks_run_side_by_side(settings) -> None:
    """Each fetch waits until all three have started: run one after another, they would time out."""
    barrier = threading.Barrier(3, timeout=5)

    def together():
        barrier.wait()
        return [ModelInfo("m", "x")]

    report = check_providers(settings, ["alpha", "beta", "gamma"],
                             fetch=scripted({"alpha": together, "beta": together, "gamma": together}))
    assert [r.ok for r in report.results] == [True, True, True]


def test_a_hung_provider_is_reported_after_the_timeout(settings) -> None:
    release = threading.Event()

    def hang():
        release.wait(5)
        return []

    try:
        report = check_providers(settings, ["alpha", "beta"], timeout=0.05, grace=0.05,
                                 fetch=scripted({"alpha": hang, "beta": ["b"]}))
    finally:
        release.set()
    alpha, beta = report.results
    assert (alpha.ok, alpha.reachable, alpha.kind) == (False, False, "openai")
    assert "no answer within 0.05 s" in alpha.error and beta.ok


def test_default_targets_skip_providers_without_keys(settings) -> None:
    checked, skipped = default_targets(settings)
    assert checked[0] == "alpha" and {"beta", "gamma", "local", "ollama"} <= set(checked)
    assert {name for name, _ in skipped} == {"gigachat", "openai", "yandexgpt"}


def test_history_facts_last_error_and_cache_age(settings) -> None:
    with open_store() as store:
        store.cache_models("alpha", [ModelInfo("a", "alpha")])
        store.save_message(MessageRecord("u1", "c1", "user", "hi", "2026-11-20T10:00:00+00:00"))
        store.save_message(MessageRecord("a1", "c1", "assistant", "", "2026-11-20T10:00:01+00:00",
                                         provider="alpha", model="a", complete=False, finish_reason="error",
                                         error="RateLimited: quota exceeded"))
        store.save_message(MessageRecord("a2", "c1", "assistant", "ok", "2026-11-20T10:00:05+00:00",
                                         provider="alpha", model="a"))
    report = check_providers(settings, ["alpha"], fetch=scripted({"alpha": ProviderUnavailable("down")}))
    (alpha,) = report.results
    assert alpha.last_error == "RateLimited: quota exceeded"
    assert alpha.last_error_at.startswith("2026-11-20T10:00:01")
    assert alpha.cache_age_s is not None and alpha.cache_age_s < 60
    assert alpha.to_json()["last_error"] == {"at": alpha.last_error_at,
                                             "error": "RateLimited: quota exceeded"}


def test_a_successful_check_refreshes_the_model_cache(settings) -> None:
    check_providers(settings, ["alpha"], fetch=scripted({"alpha": ["a", "a-new"]}))
    with open_store() as store:
        models, _ = store.cached_models("alpha")
    assert [m.id for m in models] == ["a", "a-new"]


def test_json_has_the_contract_fields(settings) -> None:
    report = check_providers(settings, ["beta"], fetch=scripted({"beta": ["b"]}))
    row = report.results[0].to_json()
    assert {"name", "kind", "ok", "auth_ok", "latency_ms", "models", "error"} <= set(row)
    assert (row["name"], row["kind"], row["ok"]) == ("beta", "openai", True)
    assert (row["models"], row["error"]) == (1, None)


def test_a_catalogue_fallback_is_not_reported_as_reachable():
    from llmcli.config import load_settings
    from llmcli.providers.yandex_wire import catalogue_models
    from llmcli.services.status import check_one

    result = check_one(load_settings(), "yandexgpt", 1.0, lambda settings, name, timeout: catalogue_models(name))
    assert result.ok is False and "built-in catalogue" in result.error
