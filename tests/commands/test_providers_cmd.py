"""`llmcli providers list | status | add | remove | setup` through the real app, against the fake
OpenAI-compatible server on a real socket."""

from __future__ import annotations

import json
import socket

import pytest
from typer.testing import CliRunner

from llmcli.app import build_app
from llmcli.storage import open_store
from tests.fakes.openai_server import openai_server

KEY = "sk-providers-SENTINEL-7c1e"


@pytest.fixture
def server():
    with openai_server(api_key=KEY) as srv:
        yield srv


@pytest.fixture
def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again when the test uses it: connection refused


@pytest.fixture
def configured(llmcli_home, server, closed_port, monkeypatch):
    llmcli_home.mkdir(parents=True, exist_ok=True)
    (llmcli_home / "config.toml").write_text(
        f'default_provider = "fake"\n'
        f'[providers.fake]\nkind = "openai"\nbase_url = "{server.url}/v1"\nmodel = "gpt-fake"\n'
        f'[providers.down]\nkind = "openai"\nbase_url = "http://127.0.0.1:{closed_port}/v1"\nmodel = "m"\n'
        f"needs_key = false\n", encoding="utf-8")
    monkeypatch.setenv("LLMCLI_FAKE_API_KEY", KEY)
    return server


@pytest.fixture
def run():
    app = build_app()

    def invoke(*args: str, input: str | None = None):
        result = CliRunner().invoke(app, list(args), input=input)
        assert KEY not in result.stdout + result.stderr
        return result

    return invoke


def test_list_json_shows_every_provider_and_where_its_key_comes_from(run, configured, memory_keyring) -> None:
    memory_keyring.set_password("llmcli", "gigachat", "giga-SECRET-123456")
    result = run("providers", "list", "--json")
    assert result.exit_code == 0, result.stderr
    rows = {r["name"]: r for r in json.loads(result.stdout)}
    assert {"openai", "gigachat", "yandexgpt", "ollama", "local", "fake", "down"} <= set(rows)
    assert rows["fake"] == {"name": "fake", "kind": "openai", "base_url": configured.url + "/v1",
                            "model": "gpt-fake", "credentials": "env", "origin": "config"}
    assert rows["gigachat"]["credentials"] == "keyring" and rows["openai"]["credentials"] == "none"
    assert rows["down"]["credentials"] == rows["local"]["credentials"] == "not needed"
    assert "giga-SECRET" not in result.stdout


def test_added_provider_is_listed_and_usable_by_ask(run, configured, monkeypatch) -> None:
    added = run("providers", "add", "my-vllm", "--kind", "openai", "--base-url", configured.url + "/v1/",
                "--model", "gpt-fake-mini")
    assert added.exit_code == 0, added.stderr
    assert "added provider my-vllm" in added.stderr and "keys set my-vllm" in added.stderr
    row = {r["name"]: r for r in json.loads(run("providers", "list", "--json").stdout)}["my-vllm"]
    assert row == {"name": "my-vllm", "kind": "openai", "base_url": configured.url + "/v1",
                   "model": "gpt-fake-mini", "credentials": "none", "origin": "database"}
    monkeypatch.setenv("LLMCLI_MY_VLLM_API_KEY", KEY)
    asked = run("ask", "-p", "my-vllm", "привет")
    assert (asked.exit_code, asked.stdout) == (0, "echo: привет\n"), asked.stderr
    assert configured.requests[-1].json["model"] == "gpt-fake-mini"


def test_added_provider_without_a_key(run, closed_port, llmcli_home) -> None:
    with openai_server() as open_srv:  # needs no key
        assert run("providers", "add", "lan", "-k", "openai", "--base-url", open_srv.url + "/v1",
                   "-m", "gpt-fake", "--no-key").exit_code == 0
        asked = run("ask", "-p", "lan", "hi")
    assert asked.exit_code == 0, asked.stderr
    assert "authorization" not in open_srv.requests[-1].headers


@pytest.mark.parametrize("args, message", [
    (["openai", "--kind", "openai"], "openai is a built-in provider"),
    (["fake", "--kind", "openai"], "fake is already defined in config.toml"),
    (["x", "--kind", "anthropic"], "unknown provider kind 'anthropic'"),
    (["x", "--kind", "openai", "--base-url", "localhost:8000"], "must start with http"),
    (["x y", "--kind", "openai"], "bad provider name"),
    (["x", "--kind", "openai", "-o", "api_key=sk-123"], "refusing to store api_key"),
    (["x", "--kind", "openai", "-o", "timeout=soon"], "invalid settings for provider x: timeout"),
])
def test_add_refuses_bad_input_with_exit_2(run, configured, args, message) -> None:
    result = run("providers", "add", *args)
    assert result.exit_code == 2 and message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


def test_remove(run, configured) -> None:
    assert run("providers", "add", "tmp", "--kind", "openai", "--base-url", "http://h/v1").exit_code == 0
    removed = run("providers", "remove", "tmp")
    assert removed.exit_code == 0 and "removed provider tmp" in removed.stderr
    with open_store() as store:
        assert store.list_providers() == []
    again = run("providers", "remove", "tmp")
    assert again.exit_code == 2 and "no provider 'tmp'" in again.stderr
    assert run("providers", "remove", "gigachat").exit_code == 2
    assert "config.toml" in run("providers", "remove", "fake").stderr


def test_status_of_a_working_provider(run, configured) -> None:
    result = run("providers", "status", "fake", "--json")
    assert result.exit_code == 0, result.stderr
    (row,) = json.loads(result.stdout)
    assert (row["name"], row["kind"], row["ok"], row["auth_ok"], row["models"], row["error"]) == \
        ("fake", "openai", True, True, 2, None)
    assert isinstance(row["latency_ms"], int)
    assert [r.path for r in configured.requests] == ["/v1/models"]


def test_status_exit_codes_auth_3_and_unreachable_6(run, configured, monkeypatch) -> None:
    monkeypatch.setenv("LLMCLI_FAKE_API_KEY", "sk-wrong-key-000000")
    rejected = run("providers", "status", "fake", "--json")
    assert rejected.exit_code == 3
    assert json.loads(rejected.stdout)[0]["auth_ok"] is False
    down = run("providers", "status", "down", "fake", "--timeout", "0.5")
    assert down.exit_code == 6
    lines = down.stdout.splitlines()
    assert lines[0].startswith("provider\tkind\tstatus")
    assert lines[1].split("\t")[:3] == ["down", "openai", "unreachable"]
    assert lines[2].split("\t")[:3] == ["fake", "openai", "auth failed"]


def test_status_without_names_checks_what_has_a_key_and_says_what_was_skipped(run, configured) -> None:
    result = run("providers", "status", "--json", "--timeout", "0.5")
    names = [r["name"] for r in json.loads(result.stdout)]
    assert names[0] == "fake" and "down" in names and "gigachat" not in names
    assert "skipped (no key): gigachat, openai, yandexgpt" in result.stderr
    assert result.exit_code == 6  # `down` (and a local ollama that is not running) are unreachable


def test_setup_of_a_new_provider_stores_key_and_tests_it(run, server, memory_keyring) -> None:
    answers = "\n".join(["openai", server.url + "/v1", KEY, "gpt-fake"]) + "\n"
    result = run("providers", "setup", "team-llm", input=answers)
    assert result.exit_code == 0, result.stderr
    assert "team-llm works: 2 models" in result.stderr
    assert memory_keyring.get_password("llmcli", "team-llm") == KEY
    with open_store() as store:
        (row,) = store.list_providers()
    assert (row["name"], row["kind"], row["model"]) == ("team-llm", "openai", "gpt-fake")
    assert KEY not in json.dumps(row)


def test_setup_of_a_configured_provider_writes_config_and_reports_failure(
        run, configured, llmcli_home, memory_keyring, monkeypatch) -> None:
    monkeypatch.delenv("LLMCLI_FAKE_API_KEY")
    # keep the base URL, type a wrong key, pick another model: the test request is rejected (exit 3)
    result = run("providers", "setup", "fake", input="\nsk-typo-0000000000\ngpt-fake-mini\n")
    assert result.exit_code == 3
    assert "fake does not work yet" in result.stderr
    assert 'model = "gpt-fake-mini"' in (llmcli_home / "config.toml").read_text(encoding="utf-8")
    assert memory_keyring.get_password("llmcli", "fake") == "sk-typo-0000000000"


def test_setup_says_when_the_environment_overrides_the_stored_key(run, configured, memory_keyring) -> None:
    result = run("providers", "setup", "fake", input="\nsk-other-0000000000\n\n")
    assert result.exit_code == 0, result.stderr
    assert "a key in the environment still wins" in result.stderr and "LLMCLI_FAKE_API_KEY" in result.stderr


def test_status_of_an_unknown_name_is_a_usage_error(run, configured) -> None:
    result = run("providers", "status", "fakee")
    assert result.exit_code == 2 and "unknown provider 'fakee'" in result.stderr
    assert "did you mean 'fake'" in result.stderr and configured.requests == []


def test_an_added_provider_works_with_keys_and_config_commands(run, configured, memory_keyring,
                                                               llmcli_home) -> None:
    assert run("providers", "add", "team", "--kind", "openai", "--base-url", configured.url + "/v1",
               "--model", "gpt-fake").exit_code == 0
    stored = run("keys", "set", "team", input=KEY + "\n")
    assert stored.exit_code == 0, stored.stderr
    assert memory_keyring.get_password("llmcli", "team") == KEY
    listed = {r["name"]: r for r in json.loads(run("keys", "list", "--json").stdout)}
    assert listed["team"]["credentials"] == "keyring"
    assert run("config", "set", "default_provider", "team").exit_code == 0
    asked = run("ask", "hello")  # the default provider is now the added one, its key from the keyring
    assert (asked.exit_code, asked.stdout) == (0, "echo: hello\n"), asked.stderr
    typo = run("config", "set", "default_provider", "teem")
    assert typo.exit_code == 2 and "unknown provider 'teem'" in typo.stderr
