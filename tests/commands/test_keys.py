"""`llmcli keys set | list | remove` through the real app and its error boundary."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import keyring
import pytest
from keyring.backends import fail

from llmcli.commands import keys as keys_command

SENTINEL = "sk-SENTINEL-0123456789abcdef"


@pytest.fixture
def no_keyring() -> None:
    keyring.set_keyring(fail.Keyring())


def test_set_reads_one_line_from_stdin_into_the_keyring(run, memory_keyring) -> None:
    result = run("keys", "set", "gigachat", input=f"  {SENTINEL}\nsecond line\n")
    assert result.exit_code == 0, result.stderr
    assert memory_keyring.store[("llmcli", "gigachat")] == SENTINEL
    assert result.stdout == ""
    assert "stored the key for gigachat in the OS keyring" in result.stderr
    assert SENTINEL not in result.stderr


def test_set_never_takes_the_key_as_an_argument(run, memory_keyring) -> None:
    result = run("keys", "set", "gigachat", SENTINEL, input="")
    assert result.exit_code == 2
    assert memory_keyring.store == {}


def test_set_with_empty_input_is_a_usage_error(run, memory_keyring) -> None:
    result = run("keys", "set", "openai", input="\n")
    assert result.exit_code == 2
    assert "error: empty key: nothing stored" in result.stderr
    assert memory_keyring.store == {}


def test_set_for_an_unknown_provider_suggests_one(run, memory_keyring) -> None:
    result = run("keys", "set", "yandexgtp", input="key\n")
    assert result.exit_code == 2
    assert "error: unknown provider 'yandexgtp'; did you mean 'yandexgpt'?" in result.stderr
    assert memory_keyring.store == {}


def test_set_for_a_provider_that_takes_no_key_is_refused(run, memory_keyring) -> None:
    result = run("keys", "set", "local", input="key\n")
    assert result.exit_code == 2
    assert "error: local (local) takes no API key" in result.stderr
    assert memory_keyring.store == {}


def test_set_without_a_keyring_explains_insecure_storage(run, no_keyring, llmcli_home) -> None:
    result = run("keys", "set", "gigachat", input=f"{SENTINEL}\n")
    assert result.exit_code == 3
    assert "error: cannot store the key for gigachat: no usable OS keyring" in result.stderr
    assert "hint: run `llmcli keys set gigachat --insecure-storage`" in result.stderr
    assert "GIGACHAT_CREDENTIALS" in result.stderr
    assert not (llmcli_home / "credentials.toml").exists()


def test_set_with_insecure_storage_says_plain_text_and_where(run, no_keyring, llmcli_home) -> None:
    result = run("keys", "set", "openai", "--insecure-storage", input=f"{SENTINEL}\n")
    assert result.exit_code == 0, result.stderr
    path = llmcli_home / "credentials.toml"
    assert f"warning: the key for openai is stored in plain text at {path}" in result.stderr
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert SENTINEL not in result.stderr + result.stdout


def test_on_a_terminal_the_key_is_read_without_echo(monkeypatch) -> None:
    asked = {}

    class Terminal:
        def isatty(self) -> bool:
            return True

    def fake_prompt(text: str, **kwargs):
        asked.update(kwargs, text=text)
        return SENTINEL

    monkeypatch.setattr(keys_command.sys, "stdin", Terminal())
    monkeypatch.setattr(keys_command.typer, "prompt", fake_prompt)
    assert keys_command._read_secret("openai") == SENTINEL
    assert asked["hide_input"] is True and asked["text"] == "API key for openai"


def test_list_shows_sources_never_values(run, memory_keyring, monkeypatch) -> None:
    memory_keyring.store[("llmcli", "openai")] = SENTINEL
    monkeypatch.setenv("GIGACHAT_CREDENTIALS", SENTINEL + "-env")
    result = run("keys", "list", "--json")
    assert result.exit_code == 0, result.stderr
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert rows["openai"]["credentials"] == "keyring"
    assert rows["gigachat"] == {"name": "gigachat", "kind": "gigachat", "credentials": "env",
                                "detail": "GIGACHAT_CREDENTIALS"}
    assert rows["yandexgpt"]["credentials"] == "none"
    assert rows["ollama"]["credentials"] == "not needed"
    assert SENTINEL not in result.stdout + result.stderr


def test_list_as_a_table_when_piped(run, memory_keyring) -> None:
    result = run("keys", "list")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split("\t") == ["PROVIDER", "KIND", "KEY FROM", "DETAIL"]
    assert "openai\topenai\tnone\t" in lines


def test_list_without_a_keyring_says_why_once(run, no_keyring) -> None:
    result = run("keys", "list")
    assert result.exit_code == 0
    assert result.stderr.count("keyring not used: no usable OS keyring") == 1


def test_remove(run, memory_keyring) -> None:
    memory_keyring.store[("llmcli", "openai")] = SENTINEL
    result = run("keys", "remove", "openai")
    assert result.exit_code == 0, result.stderr
    assert "removed the key for openai from keyring" in result.stderr
    assert memory_keyring.store == {}
    again = run("keys", "remove", "openai")
    assert again.exit_code == 0 and "warning: no stored key for openai" in again.stderr


def test_remove_mentions_a_key_still_in_the_environment(run, memory_keyring, monkeypatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", SENTINEL)
    result = run("keys", "remove", "openai")
    assert "the environment still provides a key for openai" in result.stderr


def test_command_modules_import_nothing_heavy() -> None:
    code = (
        "import sys, llmcli.commands.keys, llmcli.commands.config; "
        "print(sorted(m for m in ('keyring', 'pydantic_settings', 'tomlkit', 'httpx') if m in sys.modules))"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False,
                         cwd=Path(__file__).resolve().parents[2], env=env)
    assert out.stdout.strip() == "[]", out.stderr
