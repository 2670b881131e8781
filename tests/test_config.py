"""Settings: precedence, errors that never echo values, provider merging, and `config set` writing."""

from __future__ import annotations

import json
import logging
import os
import stat
import sys
from pathlib import Path

import pytest

from llmcli import config
from llmcli.errors import ConfigError, UsageError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

SENTINEL = "sk-SENTINEL-0123456789abcdef"


@pytest.fixture
def config_file(llmcli_home: Path) -> Path:
    llmcli_home.mkdir(parents=True, exist_ok=True)
    return llmcli_home / "config.toml"


@pytest.fixture(autouse=True)
def fresh_warnings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(config, "_warned", set())


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# --- loading and precedence ------------------------------------------------------------------------


def test_builtin_defaults_without_a_config_file() -> None:
    settings = config.load_settings()
    assert settings.default_provider is None
    assert settings.history is True
    assert settings.max_input_bytes == 2 * 1024 * 1024
    assert settings.models_cache_ttl_hours == 24


def test_file_then_env_then_flags(config_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config_file.write_text("[defaults]\ntemperature = 0.1\nmax_tokens = 100\nsystem = 'Be brief.'\n")
    assert config.load_settings().defaults.temperature == 0.1
    monkeypatch.setenv("LLMCLI_DEFAULTS__TEMPERATURE", "0.2")
    settings = config.load_settings()
    assert settings.defaults.temperature == 0.2
    assert settings.defaults.max_tokens == 100  # env on one key keeps the file's other keys
    settings = config.load_settings(defaults={"temperature": 0.3, "max_tokens": None})
    assert settings.defaults.temperature == 0.3
    assert settings.defaults.max_tokens == 100  # a flag not given (None) does not erase the file's value
    assert settings.defaults.system == "Be brief."


def test_short_env_names(config_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config_file.write_text('default_provider = "openai"\n')
    monkeypatch.setenv("LLMCLI_PROVIDER", "gigachat")
    monkeypatch.setenv("LLMCLI_MODEL", "GigaChat-2-Max")
    monkeypatch.setenv("LLMCLI_NO_LOG", "1")
    monkeypatch.setenv("LLMCLI_FALLBACK", "yandexgpt, openai")
    settings = config.load_settings()
    assert settings.default_provider == "gigachat"
    assert settings.default_model == "GigaChat-2-Max"
    assert settings.history is False
    assert settings.fallback == ["yandexgpt", "openai"]
    assert config.load_settings(default_provider="ollama").default_provider == "ollama"


def test_llmcli_config_points_elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    other = tmp_path / "elsewhere.toml"
    other.write_text('default_provider = "yandexgpt"\n')
    monkeypatch.setenv("LLMCLI_CONFIG", str(other))
    assert config.load_settings().default_provider == "yandexgpt"


def test_provider_key_variables_are_not_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    # Provider names that collide with setting names: their keys must stay keys.
    for name in ("OPENAI", "DEBUG", "HISTORY", "DEFAULTS", "PROVIDERS", "MODEL"):
        monkeypatch.setenv(f"LLMCLI_{name}_API_KEY", SENTINEL)
    settings = config.load_settings()
    assert settings.debug is False and settings.history is True
    assert SENTINEL not in json.dumps(config.config_dump(settings))
    assert SENTINEL not in repr(settings)


# --- errors ----------------------------------------------------------------------------------------


def test_broken_toml_names_file_line_and_column_but_not_the_line(config_file: Path) -> None:
    config_file.write_text(f'default_provider = "openai"\nkey = "{SENTINEL}\n')
    with pytest.raises(ConfigError) as caught:
        config.load_settings()
    message = caught.value.message
    assert message.startswith(f"config error in {config_file}, line 2, column ")
    assert SENTINEL not in message and SENTINEL not in str(caught.value.hint)
    assert caught.value.exit_code == 2


def test_wrong_type_names_key_and_expected_type_without_the_value(config_file: Path) -> None:
    config_file.write_text('[defaults]\ntemperature = "hot-sk-SENTINEL"\n')
    with pytest.raises(ConfigError) as caught:
        config.load_settings()
    assert caught.value.message == f"config error in {config_file}: defaults.temperature must be a number"
    assert "SENTINEL" not in caught.value.message


def test_wrong_type_from_env_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLMCLI_MAX_INPUT_BYTES", "lots")
    with pytest.raises(ConfigError, match="in LLMCLI_MAX_INPUT_BYTES: max_input_bytes must be a whole number"):
        config.load_settings()


def test_out_of_range_value_is_explained(config_file: Path) -> None:
    config_file.write_text("[defaults]\ntemperature = 7\n")
    with pytest.raises(ConfigError, match=r"defaults\.temperature: .*less than or equal to 2"):
        config.load_settings()


def test_custom_provider_needs_a_known_kind(config_file: Path) -> None:
    config_file.write_text('[providers.my-ollama]\nbase_url = "http://localhost:11434/v1"\n')
    with pytest.raises(ConfigError, match="providers.my-ollama.kind is missing") as caught:
        config.load_settings()
    assert "config set providers.my-ollama.kind" in caught.value.hint
    config_file.write_text('[providers.my-ollama]\nkind = "opneai"\n')
    with pytest.raises(ConfigError, match=r"providers\.my-ollama\.kind: must be one of openai"):
        config.load_settings()


def test_unknown_keys_warn_with_a_suggestion_but_load(config_file: Path, caplog) -> None:
    config_file.write_text('defualt_provider = "x"\nmax_token = 9\n[defaults]\ntemprature = 0.2\n')
    with caplog.at_level(logging.WARNING, logger="llmcli.config"):
        settings = config.load_settings()
        config.load_settings()  # warned once per process, not on every load
    assert settings.defaults.temperature is None
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 3
    assert "unknown key defualt_provider is ignored (did you mean default_provider?)" in messages[0]
    assert "unknown key max_token is ignored (did you mean defaults.max_tokens?)" in messages[1]
    assert "unknown key defaults.temprature is ignored (did you mean defaults.temperature?)" in messages[2]


def test_a_secret_in_the_config_file_is_ignored_and_never_shown(config_file: Path, caplog) -> None:
    config_file.write_text(f'[providers.openai]\napi_key = "{SENTINEL}"\nmodel = "gpt-4o"\n')
    with caplog.at_level(logging.WARNING, logger="llmcli.config"):
        settings = config.load_settings()
    provider = config.provider_config(settings, "openai")
    assert provider is not None and provider.model == "gpt-4o"
    assert "api_key" not in (provider.model_extra or {})
    assert SENTINEL not in json.dumps(config.config_dump(settings))
    assert any("providers.openai.api_key looks like a secret" in r.getMessage() for r in caplog.records)
    assert all(SENTINEL not in r.getMessage() for r in caplog.records)


# --- providers -------------------------------------------------------------------------------------


def test_provider_config_merges_builtin_config_and_vendor_env(config_file: Path, monkeypatch) -> None:
    config_file.write_text(
        '[providers.gigachat]\nscope = "GIGACHAT_API_CORP"\ntimeout = 30\n'
        '[providers.yandexgpt]\nfolder_id = "from-config"\n'
        '[providers.yandex-work]\nkind = "yandexgpt"\nfolder_id = "work-folder"\n'
        '[providers.yandex-home]\nkind = "yandexgpt"\n'
    )
    monkeypatch.setenv("YC_FOLDER_ID", "from-env")
    settings = config.load_settings()
    gigachat = config.provider_config(settings, "gigachat")
    assert gigachat is not None
    assert (gigachat.kind, gigachat.model, gigachat.timeout) == ("gigachat", "GigaChat-2", 30)
    assert gigachat.model_extra == {
        "auth_url": "https://ngw.devices.sberbank.ru:9443/api/v2/oauth",
        "scope": "GIGACHAT_API_CORP",
    }
    def extra(name: str) -> str:
        return config.provider_config(settings, name).model_extra["folder_id"]

    assert extra("yandexgpt") == "from-env"  # env beats config for the provider it belongs to
    assert extra("yandex-work") == "work-folder"  # another provider keeps its own folder
    assert extra("yandex-home") == "from-env"  # ... and falls back to the variable without one
    assert config.provider_config(settings, "nope") is None
    assert config.provider_names(settings) == sorted(
        ["gigachat", "local", "ollama", "openai", "yandexgpt", "yandex-work", "yandex-home"]
    )


def test_require_provider_suggests_the_closest_name() -> None:
    with pytest.raises(UsageError, match="unknown provider 'gigachta'; did you mean 'gigachat'") as caught:
        config.require_provider(config.load_settings(), "gigachta")
    assert caught.value.exit_code == 2


def test_config_dump_is_the_effective_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLMCLI_PROVIDER", "ollama")
    dump = config.config_dump(config.load_settings())
    assert dump["default_provider"] == "ollama"
    assert dump["providers"]["ollama"]["needs_key"] is False
    assert dump["providers"]["openai"]["base_url"] == "https://api.openai.com/v1"
    json.dumps(dump)  # JSON-ready


# --- config set ------------------------------------------------------------------------------------


def test_config_set_writes_a_private_file_and_keeps_comments(config_file: Path, llmcli_home: Path) -> None:
    config_file.write_text('# my settings\ndefault_provider = "openai"  # the usual one\n')
    os.chmod(config_file, 0o644)
    assert config.config_set("defaults.temperature", "0.7") == config_file
    text = config_file.read_text()
    assert "# my settings" in text and "# the usual one" in text
    assert tomllib.loads(text) == {"default_provider": "openai", "defaults": {"temperature": 0.7}}
    assert mode(config_file) == 0o600 and mode(llmcli_home) == 0o700
    assert [p.name for p in llmcli_home.iterdir()] == ["config.toml"]  # no temp file left behind


@pytest.mark.parametrize(
    "key, value, expected",
    [
        ("defaults.max_tokens", "1024", {"defaults": {"max_tokens": 1024}}),
        ("history", "false", {"history": False}),
        ("providers.ollama.needs_key", "true", {"providers": {"ollama": {"needs_key": True}}}),
        ("fallback", '["gigachat", "openai"]', {"fallback": ["gigachat", "openai"]}),
        ("providers.gigachat.model", "GigaChat-2-Max", {"providers": {"gigachat": {"model": "GigaChat-2-Max"}}}),
        ("aliases.four", "4", {"aliases": {"four": "4"}}),  # a number where text is due stays text
        ('providers."lab.local".kind', "openai", {"providers": {"lab.local": {"kind": "openai"}}}),
        ("roles.shell.system", "Answer with a shell command only.",
         {"roles": {"shell": {"system": "Answer with a shell command only."}}}),
    ],
)
def test_config_set_parses_values(config_file: Path, key: str, value: str, expected: dict) -> None:
    config.config_set(key, value)
    assert tomllib.loads(config_file.read_text()) == expected
    config.load_settings()  # and the result loads


@pytest.mark.parametrize("key", ["providers.openai.api_key", "providers.gigachat.credentials",
                                 "providers.yandexgpt.iam_token", "providers.x.password", "api_key"])
def test_config_set_refuses_secrets(config_file: Path, key: str) -> None:
    with pytest.raises(UsageError, match="secrets do not belong in the config file") as caught:
        config.config_set(key, SENTINEL)
    assert "llmcli keys set" in caught.value.hint
    assert SENTINEL not in caught.value.message
    assert not config_file.exists()


def test_config_set_refuses_unknown_keys_with_a_suggestion(config_file: Path) -> None:
    with pytest.raises(UsageError, match="unknown config key defaults.temprature; did you mean defaults.temperature"):
        config.config_set("defaults.temprature", "0.2")
    with pytest.raises(UsageError, match="did you mean providers.gigachat.model"):
        config.config_set("providers.gigachat.modle", "GigaChat-2")
    with pytest.raises(UsageError, match="invalid key"):
        config.config_set('a = 1\nb', "2")
    assert not config_file.exists()


def test_config_set_validates_before_writing(config_file: Path) -> None:
    config_file.write_text("[defaults]\ntemperature = 0.5\n")
    before = config_file.read_text()
    with pytest.raises(ConfigError, match="^invalid value: defaults.temperature must be a number$"):
        config.config_set("defaults.temperature", "hot")
    with pytest.raises(UsageError, match="did you mean 'gigachat'"):
        config.config_set("default_provider", "gigachta")
    with pytest.raises(ConfigError, match="providers.my-x.kind is missing"):
        config.config_set("providers.my-x.base_url", "http://localhost:8000/v1")
    assert config_file.read_text() == before


def test_config_set_on_a_broken_file_says_where_and_writes_nothing(config_file: Path) -> None:
    config_file.write_text("[defaults\n")
    with pytest.raises(ConfigError, match=r"line 1, column"):
        config.config_set("history", "false")
    assert config_file.read_text() == "[defaults\n"


def test_config_set_writes_through_a_symlink(tmp_path: Path, llmcli_home: Path) -> None:
    llmcli_home.mkdir(parents=True)
    real = tmp_path / "dotfiles" / "llmcli.toml"
    real.parent.mkdir()
    real.write_text('default_provider = "openai"\n')
    (llmcli_home / "config.toml").symlink_to(real)
    config.config_set("history", "false")
    assert (llmcli_home / "config.toml").is_symlink()
    assert tomllib.loads(real.read_text()) == {"default_provider": "openai", "history": False}


def test_config_set_then_load_sees_the_value_and_env_still_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    config.config_set("default_provider", "gigachat")
    assert config.load_settings().default_provider == "gigachat"
    monkeypatch.setenv("LLMCLI_PROVIDER", "openai")
    assert config.load_settings().default_provider == "openai"
