"""`llmcli models list` and the model check before `ask`, against the fake OpenAI-compatible server."""

from __future__ import annotations

import json

import pytest

from tests.fakes.openai_server import openai_server

KEY = "sk-models-SENTINEL-51f0"


@pytest.fixture
def server():
    with openai_server(api_key=KEY, models=["gpt-fake", "gpt-fake-mini", "text-embedding-fake"]) as srv:
        yield srv


def write_config(home, base_url: str, extra: str = "", *, provider_extra: str = "") -> None:
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text(
        f'default_provider = "fake"\n{extra}'
        f'[providers.fake]\nkind = "openai"\nbase_url = "{base_url}"\nmodel = "gpt-fake"\n{provider_extra}',
        encoding="utf-8")


FAIL_FAST = "deadline = 0.3\n"  # no time for retry back-off: an unreachable server fails at once


@pytest.fixture
def configured(llmcli_home, server, monkeypatch):
    write_config(llmcli_home, server.url + "/v1")
    monkeypatch.setenv("LLMCLI_FAKE_API_KEY", KEY)
    return server


def model_requests(server) -> int:
    return sum(r.path.endswith("/models") for r in server.requests)


def test_second_listing_within_the_ttl_makes_no_request_and_refresh_makes_one(run, configured) -> None:
    first = run("models", "list", "-p", "fake", "--json")
    second = run("models", "list", "-p", "fake", "--json")
    assert first.exit_code == second.exit_code == 0, first.stderr
    assert model_requests(configured) == 1
    rows = json.loads(second.stdout)
    assert rows == json.loads(first.stdout)
    assert [r["id"] for r in rows] == ["gpt-fake", "gpt-fake-mini", "text-embedding-fake"]
    assert set(rows[0]) >= {"id", "provider", "type", "context_window", "cached_at"}
    assert rows[0]["provider"] == "fake" and rows[0]["cached_at"].endswith("+00:00")
    assert run("models", "list", "-p", "fake", "--refresh", "--json").exit_code == 0
    assert model_requests(configured) == 2


def test_a_zero_ttl_always_asks(run, configured, llmcli_home) -> None:
    write_config(llmcli_home, configured.url + "/v1", "models_cache_ttl_hours = 0\n")
    run("models", "list")
    run("models", "list")
    assert model_requests(configured) == 2


def test_offline_shows_the_stale_cache_with_a_notice(run, llmcli_home, monkeypatch) -> None:
    monkeypatch.setenv("LLMCLI_FAKE_API_KEY", KEY)
    with openai_server(api_key=KEY) as srv:
        url = srv.url + "/v1"
        write_config(llmcli_home, url, "models_cache_ttl_hours = 0\n", provider_extra=FAIL_FAST)
        assert run("models", "list").exit_code == 0
    result = run("models", "list")  # the server is gone
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines()[1].startswith("gpt-fake\t")
    assert "warning: fake is unreachable" in result.stderr and "cached" in result.stderr


def test_offline_without_a_cache_fails_with_exit_6(run, llmcli_home, monkeypatch) -> None:
    monkeypatch.setenv("LLMCLI_FAKE_API_KEY", KEY)
    with openai_server() as srv:
        url = srv.url + "/v1"
    write_config(llmcli_home, url, provider_extra=FAIL_FAST)
    result = run("models", "list")
    assert result.exit_code == 6 and result.stderr.startswith("error: ")


def test_table_shows_aliases(run, configured, llmcli_home) -> None:
    write_config(llmcli_home, configured.url + "/v1", '[aliases]\nfast = "gpt-fake-mini"\n')
    result = run("models", "list")
    assert "gpt-fake-mini\tchat\t\tfast" in result.stdout.splitlines()
    assert "3 models of fake, from the provider" in result.stderr


def test_ask_refuses_an_unknown_model_before_any_request(run, configured) -> None:
    run("models", "list")
    before = len(configured.requests)
    result = run("ask", "-m", "gpt-fake-mni", "hi")
    assert result.exit_code == 2
    assert "error: no such model gpt-fake-mni for fake; did you mean gpt-fake-mini?" in result.stderr
    assert len(configured.requests) == before


def test_ask_with_an_alias_sends_the_model_it_stands_for(run, configured, llmcli_home) -> None:
    write_config(llmcli_home, configured.url + "/v1", '[aliases]\nfast = "gpt-fake-mini"\n')
    run("models", "list")
    result = run("ask", "-m", "fast", "hi")
    assert result.exit_code == 0, result.stderr
    assert configured.requests[-1].json["model"] == "gpt-fake-mini"


def test_ask_without_a_cached_list_is_not_checked(run, configured) -> None:
    result = run("ask", "-m", "brand-new-model", "hi")
    assert result.exit_code == 0, result.stderr
    assert configured.requests[-1].json["model"] == "brand-new-model"
