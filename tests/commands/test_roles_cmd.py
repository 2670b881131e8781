"""`llmcli roles list | show | add | remove` through the real app and its error boundary."""

from __future__ import annotations

import json
import sys

import pytest


if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


def roles_in_config(home) -> dict:
    path = home / "config.toml"
    return tomllib.loads(path.read_text(encoding="utf-8")).get("roles", {}) if path.exists() else {}


def test_list_shows_builtins_with_their_source_as_tab_separated_lines(run) -> None:
    result = run("roles", "list")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "name\tsource\tprovider/model\tdescription"
    rows = {line.split("\t")[0]: line.split("\t") for line in lines[1:]}
    assert {"commit", "shell", "ru-en", "en-ru", "review"} <= set(rows)
    assert rows["commit"][1] == "built-in" and "commit message" in rows["commit"][3]


def test_add_then_list_show_and_remove(run, llmcli_home) -> None:
    result = run("roles", "add", "reviewer", "-s", "Find bugs only.", "-p", "gigachat", "-m", "GigaChat-2-Max",
                 "-t", "0.2", "-d", "bug hunt")
    assert result.exit_code == 0, result.stderr
    assert "saved role reviewer" in result.stderr and result.stdout == ""
    assert roles_in_config(llmcli_home)["reviewer"] == {
        "system": "Find bugs only.", "provider": "gigachat", "model": "GigaChat-2-Max", "temperature": 0.2,
        "description": "bug hunt"}

    listed = json.loads(run("roles", "list", "--json").stdout)
    reviewer = next(r for r in listed if r["name"] == "reviewer")
    assert reviewer["source"] == "config" and reviewer["provider"] == "gigachat"

    shown = run("roles", "show", "reviewer")
    assert shown.exit_code == 0
    assert "source: config" in shown.stdout and "model: GigaChat-2-Max" in shown.stdout
    assert shown.stdout.rstrip().endswith("system:\nFind bugs only.")

    removed = run("roles", "remove", "reviewer")
    assert removed.exit_code == 0 and "removed role reviewer" in removed.stderr
    assert roles_in_config(llmcli_home) == {}
    assert run("roles", "show", "reviewer").exit_code == 2


def test_overriding_a_builtin_and_removing_the_override(run, llmcli_home) -> None:
    assert run("roles", "add", "shell", "-m", "gpt-4o").exit_code == 0
    shown = json.loads(run("roles", "show", "shell", "--json").stdout)
    assert shown["model"] == "gpt-4o" and "POSIX shell command" in shown["system"]
    assert shown["source"] == "config" and shown["overrides_builtin"] is True
    assert "config (overrides built-in)" in run("roles", "list").stdout
    removed = run("roles", "remove", "shell")
    assert "the built-in role of that name applies again" in removed.stderr
    assert json.loads(run("roles", "show", "shell", "--json").stdout)["source"] == "built-in"


def test_system_prompt_from_stdin_keeps_its_lines(run, llmcli_home) -> None:
    prompt = "Explain this code:\n\n{input}\n\nUse short sentences."
    result = run("roles", "add", "explain", "-s", "-", input=prompt + "\n")
    assert result.exit_code == 0, result.stderr
    assert roles_in_config(llmcli_home)["explain"]["system"] == prompt
    assert "input: placed at {input}" in run("roles", "show", "explain").stdout


@pytest.mark.parametrize("args, expected", [
    (["roles", "show", "comit"], "unknown role 'comit'; did you mean 'commit'?"),
    (["roles", "remove", "commit"], "'commit' is a built-in role and cannot be removed"),
    (["roles", "add", "x", "-p", "nope", "-s", "p"], "unknown provider 'nope'"),
    (["roles", "add", "bad name", "-s", "p"], "invalid role name 'bad name'"),
    (["roles", "add", "x"], "role 'x' would be empty"),
])
def test_mistakes_exit_2_with_one_clear_line(run, llmcli_home, args, expected) -> None:
    result = run(*args)
    assert result.exit_code == 2, result.stderr
    assert f"error: {expected}" in result.stderr
    assert roles_in_config(llmcli_home) == {}


def test_adding_twice_needs_force(run, llmcli_home) -> None:
    assert run("roles", "add", "r", "-s", "one").exit_code == 0
    again = run("roles", "add", "r", "-s", "two")
    assert again.exit_code == 2 and "already exists" in again.stderr
    assert run("roles", "add", "r", "-s", "two", "--force").exit_code == 0
    assert roles_in_config(llmcli_home)["r"] == {"system": "two"}
