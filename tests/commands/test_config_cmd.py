"""`llmcli config show | path | set` through the real app and its error boundary."""

from __future__ import annotations

import json
import sys
from pathlib import Path



if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

SENTINEL = "sk-SENTINEL-0123456789abcdef"


def test_path_honours_llmcli_home_and_llmcli_config(run, llmcli_home: Path, tmp_path: Path, monkeypatch) -> None:
    assert run("config", "path").stdout == f"{llmcli_home / 'config.toml'}\n"
    monkeypatch.setenv("LLMCLI_CONFIG", str(tmp_path / "team.toml"))
    assert run("config", "path").stdout == f"{tmp_path / 'team.toml'}\n"


def test_set_then_show(run, llmcli_home: Path) -> None:
    result = run("config", "set", "providers.gigachat.scope", "GIGACHAT_API_CORP")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""
    assert f"set providers.gigachat.scope in {llmcli_home / 'config.toml'}" in result.stderr
    shown = run("config", "show", "--json")
    assert shown.exit_code == 0, shown.stderr
    gigachat = json.loads(shown.stdout)["providers"]["gigachat"]
    assert gigachat["scope"] == "GIGACHAT_API_CORP"
    assert gigachat["model"] == "GigaChat-2"  # merged with the built-in defaults


def test_show_prints_toml_that_parses(run, monkeypatch) -> None:
    monkeypatch.setenv("LLMCLI_DEFAULTS__TEMPERATURE", "0.3")
    result = run("config", "show")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("# effective settings: built-in defaults < ")
    data = tomllib.loads(result.stdout)
    assert data["defaults"] == {"temperature": 0.3}
    assert data["providers"]["yandexgpt"]["kind"] == "yandexgpt"


def test_show_never_prints_secrets(run, llmcli_home: Path, monkeypatch) -> None:
    llmcli_home.mkdir(parents=True)
    (llmcli_home / "config.toml").write_text(f'[providers.openai]\napi_key = "{SENTINEL}"\n')
    monkeypatch.setenv("OPENAI_API_KEY", SENTINEL)
    monkeypatch.setenv("LLMCLI_GIGACHAT_API_KEY", SENTINEL)
    for args in (("config", "show"), ("config", "show", "--json")):
        result = run(*args)
        assert result.exit_code == 0, result.stderr
        assert SENTINEL not in result.stdout + result.stderr


def test_set_refuses_a_secret(run, llmcli_home: Path) -> None:
    result = run("config", "set", "providers.openai.api_key", SENTINEL)
    assert result.exit_code == 2
    assert "error: refusing to write providers.openai.api_key to config.toml" in result.stderr
    assert "hint: run `llmcli keys set openai`" in result.stderr
    assert SENTINEL not in result.stderr
    assert not (llmcli_home / "config.toml").exists()


def test_set_with_a_wrong_type_exits_2_and_writes_nothing(run, llmcli_home: Path) -> None:
    result = run("config", "set", "defaults.max_tokens", "lots")
    assert result.exit_code == 2
    assert "error: invalid value: defaults.max_tokens must be a whole number" in result.stderr
    assert not (llmcli_home / "config.toml").exists()


def test_a_broken_config_file_is_one_error_line(run, llmcli_home: Path) -> None:
    llmcli_home.mkdir(parents=True)
    (llmcli_home / "config.toml").write_text(f'default_provider = "openai"\nkey = {SENTINEL}\n')
    result = run("config", "show")
    assert result.exit_code == 2
    assert f"error: config error in {llmcli_home / 'config.toml'}, line 2, column 7: " in result.stderr
    assert "Traceback" not in result.stderr
    assert SENTINEL not in result.stderr
