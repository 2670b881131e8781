"""`llmcli chat -r NAME -f FILE`: a role's prompt and settings, attached files as the first message.
Run without a terminal (the seed is the whole chat), scripted provider in place of the network."""

from __future__ import annotations

from typing import Iterator, Sequence

import pytest
from typer.testing import CliRunner

from llmcli.app import build_app
from llmcli.services import providers as provider_registry
from llmcli.services.roles import Role, chat_opening
from llmcli.types import ChatOptions, Chunk, Message


class Scripted:
    def __init__(self, name: str, log: list) -> None:
        self.name, self.log = name, log

    def list_models(self):
        return []

    def stream_chat(self, model: str, messages: Sequence[Message], options: ChatOptions) -> Iterator[Chunk]:
        self.log.append((self.name, model, [(m.role, m.content) for m in messages], options))
        yield Chunk("ok", finish_reason="stop")

    def close(self) -> None:
        pass


@pytest.fixture
def sent(llmcli_home, monkeypatch) -> list:
    from llmcli.commands.repl_input import Terminal

    llmcli_home.mkdir(parents=True, exist_ok=True)
    (llmcli_home / "config.toml").write_text(
        'default_provider = "alpha"\n[defaults]\nsystem = "be brief"\n'
        + "".join(f'[providers.{n}]\nkind = "openai"\nbase_url = "http://127.0.0.1:9/v1"\nmodel = "{n[0]}-1"\n'
                  for n in ("alpha", "beta"))
        + '[roles.tr]\nsystem = "Translate into French:\\n{input}"\nprovider = "beta"\nmodel = "b-fr"\n'
          "temperature = 0.3\n",
        encoding="utf-8")
    for name in ("ALPHA", "BETA"):
        monkeypatch.setenv(f"LLMCLI_{name}_API_KEY", f"sk-{name.lower()}-0123456789")
    monkeypatch.setattr(Terminal, "open", classmethod(lambda cls: None))  # a script: no /dev/tty
    log: list = []
    monkeypatch.setattr(provider_registry, "open_provider", lambda spec: Scripted(spec.name, log))
    return log


def chat(*args: str, input: str = ""):
    return CliRunner().invoke(build_app(), ["chat", *args], input=input)


def test_role_system_prompt_and_settings_apply_to_the_chat(sent) -> None:
    result = chat("-r", "review", "-t", "0.9", input="DIFF")
    assert result.exit_code == 0, result.stderr
    ((provider, model, messages, options),) = sent
    assert (provider, model, options.temperature) == ("alpha", "a-1", 0.9)
    assert messages[0][0] == "system" and "reviewing a diff" in messages[0][1]
    assert messages[1] == ("user", "DIFF")


def test_template_role_fills_its_input_with_the_seed_and_its_provider(sent) -> None:
    assert chat("-r", "tr", input="good morning").exit_code == 0
    ((provider, model, messages, options),) = sent
    assert (provider, model, options.temperature) == ("beta", "b-fr", 0.3)
    assert messages == [("user", "Translate into French:\ngood morning")]


def test_files_are_the_first_message(sent, tmp_path) -> None:
    (tmp_path / "app.py").write_text("x = 1\n", encoding="utf-8")
    result = chat("-f", str(tmp_path / "app.py"), input="what does it do?")
    assert result.exit_code == 0, result.stderr
    user = sent[0][2][-1]
    assert user == ("user", f"File: {tmp_path / 'app.py'}\n```python\nx = 1\n```\n\nwhat does it do?")


def test_unknown_role_and_binary_file_are_usage_errors(sent, tmp_path) -> None:
    (tmp_path / "a.bin").write_bytes(b"\x00\x01")
    assert "unknown role 'nope'" in chat("-r", "nope", input="hi").stderr
    result = chat("-f", str(tmp_path / "a.bin"), input="hi")
    assert result.exit_code == 2 and "looks binary" in result.stderr
    assert sent == []


def test_without_input_a_template_role_drops_its_placeholder() -> None:
    role = Role("tr", system="Translate into French:\n{input}")
    assert chat_opening(role, [], system=None) == (None, "Translate into French:")
    assert chat_opening(Role("r", system="Be kind."), [], system=None) == (None, "Be kind.")
    assert chat_opening(role, [], system="Mine.") == (None, "Mine.")
    assert chat_opening(None, ["seed"], system=None) == ("seed", None)
