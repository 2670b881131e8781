"""Roles: built-in and config presets, how a role shapes the prompt ({input}), which of its settings
flags override, and editing [roles.NAME] in config.toml."""

from __future__ import annotations

import sys

import pytest

from llmcli.errors import ConfigError, UsageError
from llmcli.services.chat import TurnRequest
from llmcli.services.roles import (
    BUILTIN_ROLES,
    Role,
    add_role,
    apply_role,
    get_role,
    join_prompt,
    list_roles,
    remove_role,
    role_prompt,
)

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


def settings_with(home, text: str = ""):
    from llmcli.config import load_settings

    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text(text, encoding="utf-8")
    return load_settings()


def config_roles(home) -> dict:
    return tomllib.loads((home / "config.toml").read_text(encoding="utf-8")).get("roles", {})


# --- lookup


def test_builtins_are_listed_with_their_source(llmcli_home) -> None:
    roles = {r.name: r for r in list_roles(settings_with(llmcli_home))}
    assert {"commit", "shell", "ru-en", "en-ru", "review"} <= set(roles)
    assert all(r.source == "built-in" and r.system for r in roles.values())
    assert "72" in roles["commit"].system and "imperative" in roles["commit"].system
    assert "no code fences" in roles["shell"].system


def test_config_role_is_added_and_one_named_like_a_builtin_overrides_it_field_by_field(llmcli_home) -> None:
    settings = settings_with(llmcli_home, '[roles.pirate]\nsystem = "Talk like a pirate."\ntemperature = 1.2\n'
                                          '[roles.commit]\nmodel = "GigaChat-2-Max"\nprovider = "gigachat"\n')
    pirate = get_role(settings, "pirate")
    assert (pirate.system, pirate.temperature, pirate.source) == ("Talk like a pirate.", 1.2, "config")
    commit = get_role(settings, "commit")
    assert commit.system == BUILTIN_ROLES["commit"].system  # kept from the built-in
    assert (commit.provider, commit.model, commit.source, commit.overrides_builtin) == (
        "gigachat", "GigaChat-2-Max", "config", True)
    assert [r.name for r in list_roles(settings)].count("commit") == 1


def test_unknown_role_suggests_the_closest(llmcli_home) -> None:
    with pytest.raises(UsageError, match="unknown role 'comit'; did you mean 'commit'") as caught:
        get_role(settings_with(llmcli_home), "comit")
    assert "llmcli roles add" in caught.value.hint


# --- the prompt a role builds


REVIEWER = Role("reviewer", system="Review this.")
TEMPLATE = Role("explain", system="Explain the code below to a beginner.\n\n{input}\n\nEnd of code.")


def test_plain_role_is_the_system_prompt_and_input_follows_the_words() -> None:
    assert role_prompt(REVIEWER, "focus on errors", ["DIFF"]) == ("focus on errors\n\nDIFF", "Review this.")
    assert role_prompt(REVIEWER, None, ["DIFF"]) == ("DIFF", "Review this.")


def test_system_flag_beats_the_role() -> None:
    assert role_prompt(REVIEWER, "q", [], system="Be terse.") == ("q", "Be terse.")
    assert role_prompt(TEMPLATE, "q", ["code"], system="Be terse.") == ("q\n\ncode", "Be terse.")


def test_input_placeholder_puts_stdin_and_files_inside_the_system_prompt() -> None:
    prompt, system = role_prompt(TEMPLATE, "why a loop?", ["File: a.py\n```python\nx\n```", "piped"])
    assert prompt == "why a loop?"
    assert system == ("Explain the code below to a beginner.\n\nFile: a.py\n```python\nx\n```\n\npiped"
                      "\n\nEnd of code.")


def test_input_placeholder_without_words_sends_the_filled_template_as_the_message() -> None:
    prompt, system = role_prompt(TEMPLATE, None, ["for i in x: pass"])
    assert prompt == "Explain the code below to a beginner.\n\nfor i in x: pass\n\nEnd of code."
    assert system == ""  # no system prompt at all, not the configured default


def test_input_placeholder_takes_the_words_when_nothing_is_piped() -> None:
    prompt, system = role_prompt(TEMPLATE, "x = 1", [])
    assert "beginner.\n\nx = 1\n\nEnd" in prompt and system == ""


def test_input_placeholder_with_nothing_at_all_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="role 'explain' needs input"):
        role_prompt(TEMPLATE, None, [])


def test_braces_in_a_prompt_are_not_format_fields() -> None:
    role = Role("json", system='Answer as {"answer": ...}. Input: {input}')
    assert role_prompt(role, None, ["q"])[0] == 'Answer as {"answer": ...}. Input: q'


def test_empty_prompt_is_refused_as_before() -> None:
    with pytest.raises(UsageError, match="empty prompt"):
        join_prompt(" ", ["\n\n"])


# --- which settings win


def test_role_settings_are_defaults_that_flags_override() -> None:
    role = Role("r", provider="gigachat", model="GigaChat-2-Max", temperature=0.1, max_tokens=50)
    filled = apply_role(TurnRequest(prompt="q"), role)
    assert (filled.provider, filled.model, filled.temperature, filled.max_tokens) == (
        "gigachat", "GigaChat-2-Max", 0.1, 50)
    flagged = apply_role(TurnRequest(prompt="q", model="GigaChat-2", temperature=0.9, max_tokens=7), role)
    assert (flagged.provider, flagged.model, flagged.temperature, flagged.max_tokens) == (
        "gigachat", "GigaChat-2", 0.9, 7)


def test_another_provider_does_not_get_the_roles_model() -> None:
    role = Role("r", provider="gigachat", model="GigaChat-2-Max")
    other = apply_role(TurnRequest(prompt="q", provider="yandexgpt"), role)
    assert (other.provider, other.model) == ("yandexgpt", None)
    anywhere = Role("r", model="m-any")
    assert apply_role(TurnRequest(prompt="q", provider="x"), anywhere).model == "m-any"
    assert apply_role(TurnRequest(prompt="q", provider="x"), anywhere, own_provider_only=True).model is None


# --- editing config.toml


def test_add_writes_a_validated_table_and_keeps_comments(llmcli_home) -> None:
    settings = settings_with(llmcli_home, "# my settings\nhistory = true\n")
    add_role(settings, "reviewer", system="Line one.\nLine two.", provider="gigachat", temperature=0.2)
    text = (llmcli_home / "config.toml").read_text(encoding="utf-8")
    assert text.startswith("# my settings\n")
    assert config_roles(llmcli_home) == {"reviewer": {"system": "Line one.\nLine two.", "provider": "gigachat",
                                                      "temperature": 0.2}}
    assert (llmcli_home / "config.toml").stat().st_mode & 0o077 == 0


def test_add_refuses_bad_values_and_writes_nothing(llmcli_home) -> None:
    settings = settings_with(llmcli_home, "")
    with pytest.raises(ConfigError):
        add_role(settings, "hot", system="x", temperature=5.0)
    with pytest.raises(UsageError, match="unknown provider 'gigachta'"):
        add_role(settings, "r", system="x", provider="gigachta")
    with pytest.raises(UsageError, match="invalid role name"):
        add_role(settings, "my.role", system="x")
    with pytest.raises(UsageError, match="would be empty"):
        add_role(settings, "r")
    assert config_roles(llmcli_home) == {}


def test_an_existing_config_role_is_replaced_only_with_force(llmcli_home) -> None:
    settings = settings_with(llmcli_home, '[roles.r]\nsystem = "old"\nmodel = "m1"\n')
    with pytest.raises(UsageError, match="already exists"):
        add_role(settings, "r", system="new")
    add_role(settings, "r", system="new", replace_existing=True)
    assert config_roles(llmcli_home) == {"r": {"system": "new"}}  # the old model went with the old role


def test_remove_deletes_config_roles_and_refuses_builtins(llmcli_home) -> None:
    settings = settings_with(llmcli_home, '[roles.r]\nsystem = "x"\n[roles.shell]\ntemperature = 0.0\n')
    assert remove_role(settings, "r")[1] is False
    _, builtin_remains = remove_role(settings_with(llmcli_home, (llmcli_home / "config.toml").read_text()), "shell")
    assert builtin_remains is True and config_roles(llmcli_home) == {}
    settings = settings_with(llmcli_home, "")
    with pytest.raises(UsageError, match="built-in role and cannot be removed"):
        remove_role(settings, "commit")
    with pytest.raises(UsageError, match="unknown role"):
        remove_role(settings, "ghost")
