"""Slash-command parsing and completion in the chat REPL (no terminal needed)."""

from __future__ import annotations

import pytest

from llmcli.commands import repl_commands
from llmcli.commands.repl_commands import Slash, UnknownSlash, parse, split_set_arg


@pytest.mark.parametrize("line, expected", [
    ("/help", Slash("help", "")),
    ("/provider gigachat", Slash("provider", "gigachat")),
    ("  /model   GigaChat-2-Max  ", "  /model   GigaChat-2-Max  "),  # leading space: a message
    ("/model   GigaChat-2-Max  ", Slash("model", "GigaChat-2-Max")),
    ("/system Answer in French. Be brief.", Slash("system", "Answer in French. Be brief.")),
    ("/SET temperature 0.2", Slash("set", "temperature 0.2")),
    ("/quit", Slash("exit", "")),
    ("/q", Slash("exit", "")),
    ("/?", Slash("help", "")),
])
def test_commands_are_recognised(line, expected) -> None:
    assert parse(line) == expected


@pytest.mark.parametrize("line", [
    "what is /etc/passwd for?",
    "/usr/bin/env python\nwhy does this shebang work?",  # a pasted block is a message
])
def test_messages_are_not_commands(line) -> None:
    assert parse(line) == line


def test_double_slash_sends_the_text_with_one_slash() -> None:
    assert parse("//etc/hosts is empty, why?") == "/etc/hosts is empty, why?"


@pytest.mark.parametrize("typed, suggestion", [
    ("hlep", "help"), ("provder", "provider"), ("mdl", "model"), ("exti", "exit"), ("qiut", "exit"),
    ("hist", "history"), ("sys", "system"),
])
def test_unknown_commands_get_a_suggestion(typed, suggestion) -> None:
    parsed = parse(f"/{typed} x")
    assert isinstance(parsed, UnknownSlash)
    assert parsed.message() == f"unknown command /{typed}; did you mean /{suggestion}?"


def test_unknown_command_without_anything_close() -> None:
    parsed = parse("/zzzzqqq")
    assert isinstance(parsed, UnknownSlash) and parsed.message() == "unknown command /zzzzqqq"


@pytest.mark.parametrize("arg, expected", [
    ("temperature 0.2", ("temperature", "0.2")),
    ("max_tokens=512", ("max_tokens", "512")),
    ("top_p   0.9 ", ("top_p", "0.9")),
    ("temperature", None),
    ("", None),
])
def test_set_arguments(arg, expected) -> None:
    assert split_set_arg(arg) == expected


def test_help_lists_every_command_and_the_keys() -> None:
    text = repl_commands.help_text()
    for name in repl_commands.NAMES:
        assert f"/{name}" in text
    assert "Alt-Enter" in text and "Ctrl-R" in text and "Ctrl-D" in text


# --- completion (prompt_toolkit's Document, no terminal)


def completions(text: str, providers=("gigachat", "ollama", "yandexgpt"),
                models=("GigaChat-2", "GigaChat-2-Max")) -> list[str]:
    from prompt_toolkit.completion import CompleteEvent
    from prompt_toolkit.document import Document

    from llmcli.commands.repl_input import ReplCompleter

    completer = ReplCompleter(lambda: list(providers), lambda: list(models))
    found = completer.get_completions(Document(text), CompleteEvent(completion_requested=True))
    return [c.text for c in found]


def test_tab_completes_commands_providers_models_and_settings() -> None:
    assert completions("/pro") == ["provider "]  # a space: ready for the name
    assert completions("/he") == ["help"]
    assert [c.strip() for c in completions("/")] == list(repl_commands.NAMES)
    assert completions("/provider ya") == ["yandexgpt"]
    assert completions("/provider ") == ["gigachat", "ollama", "yandexgpt"]
    assert completions("/model GigaChat-2-") == ["GigaChat-2-Max"]
    assert completions("/model giga") == ["GigaChat-2", "GigaChat-2-Max"]  # case does not matter
    assert completions("/set te") == ["temperature"]
    assert completions("/set temperature 0") == []
    assert completions("hello /pro") == []
    assert completions("/history x") == []


def test_chat_help_loads_neither_the_line_editor_nor_anything_heavy() -> None:
    import json
    import subprocess
    import sys

    probe = (
        "import sys, json\n"
        "sys.argv = ['llmcli', 'chat', '--help']\n"
        "from llmcli.app import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "wanted = ('prompt_toolkit', 'httpx', 'sqlmodel', 'sqlalchemy', 'keyring', 'pydantic_settings')\n"
        "loaded = sorted({m.split('.')[0] for m in sys.modules} & set(wanted))\n"
        "loaded += [m for m in ('rich.markdown', 'rich.live') if m in sys.modules]\n"
        "sys.stderr.write('LOADED=' + json.dumps(loaded) + '\\n')\n"
    )
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert "Chat interactively" in proc.stdout
    line = [ln for ln in proc.stderr.splitlines() if ln.startswith("LOADED=")]
    assert line and json.loads(line[0][len("LOADED="):]) == []
