"""`ask` with -r/-f/-x/-p a,b/--fallback through the real app, scripted providers in place of the
network: flag conflicts, and how compare looks on a terminal (headers) and in a pipe (JSON lines)."""

from __future__ import annotations

import json
from typing import Iterator, Sequence

import pytest
from typer.testing import CliRunner

from llmcli import console
from llmcli.app import build_app
from llmcli.commands import ask_output
from llmcli.errors import ProviderUnavailable
from llmcli.services import providers as provider_registry
from llmcli.services.compare import CompareOutcome
from llmcli.services.chat import TurnResult
from llmcli.types import ChatOptions, Chunk, Message, Usage


class Scripted:
    def __init__(self, name: str, log: list, down: set) -> None:
        self.name, self.log, self.down = name, log, down

    def list_models(self):
        return []

    def stream_chat(self, model: str, messages: Sequence[Message], options: ChatOptions) -> Iterator[Chunk]:
        self.log.append((self.name, [(m.role, m.content) for m in messages]))
        if self.name in self.down:
            raise ProviderUnavailable(f"cannot connect to {self.name}")
        yield Chunk(f"{self.name}:\n```sh\necho {self.name}\n```\n", finish_reason="stop", usage=Usage(1, 2, 3))

    def close(self) -> None:
        pass


@pytest.fixture
def world(offline_providers, monkeypatch):
    offline_providers("alpha", "beta")
    state = {"log": [], "down": set()}
    monkeypatch.setattr(provider_registry, "open_provider",
                        lambda spec: Scripted(spec.name, state["log"], state["down"]))
    return state


def ask(*args: str, input: str | None = None):
    return CliRunner().invoke(build_app(), ["ask", *args], input=input)


@pytest.mark.parametrize("args, expected", [
    (["-x", "--xl", "q"], "-x and --xl exclude each other"),
    (["-p", "alpha,beta", "-m", "m", "q"], "-m cannot be combined with several providers"),
    (["-p", "alpha,beta", "--fallback", "beta", "q"], "--fallback cannot be combined with several providers"),
    (["-p", "alpha:a-2", "-m", "a-3", "q"], "the model is given twice"),
    (["--fallback", "beta", "--no-fallback", "q"], "--fallback and --no-fallback exclude each other"),
    (["-p", "alpha,,beta", "q"], "bad -p value"),
    (["-r", "nope", "q"], "unknown role 'nope'"),
])
def test_conflicting_flags_exit_2_before_any_request(world, args, expected) -> None:
    result = ask(*args)
    assert result.exit_code == 2, result.stderr
    assert f"error: {expected}" in result.stderr and world["log"] == []


def test_compare_in_a_pipe_prints_json_lines_in_the_order_given(world) -> None:
    result = ask("-p", "beta,alpha", "-x", "hi")
    assert result.exit_code == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(x["provider"], x["code"]) for x in lines] == [("beta", "echo beta"), ("alpha", "echo alpha")]


def test_compare_exit_code_when_every_provider_failed(world) -> None:
    world["down"].update({"alpha", "beta"})
    result = ask("-p", "alpha,beta", "hi")
    assert result.exit_code == 6
    assert [json.loads(line)["error"]["type"] for line in result.stdout.splitlines()] == [
        "ProviderUnavailable", "ProviderUnavailable"]
    assert "error: alpha: cannot connect to alpha" in result.stderr


def test_role_model_goes_only_to_its_provider_in_a_compare(world, llmcli_home) -> None:
    with (llmcli_home / "config.toml").open("a", encoding="utf-8") as handle:
        handle.write('[roles.r]\nsystem = "Be a pirate."\nprovider = "beta"\nmodel = "b-pirate"\n')
    result = ask("-r", "r", "-p", "alpha,beta", "--json", "hi")
    models = {line["provider"]: line["model"] for line in map(json.loads, result.stdout.splitlines())}
    assert models == {"alpha": "a-1", "beta": "b-pirate"}
    assert all(messages[0] == ("system", "Be a pirate.") for _, messages in world["log"])


def test_fallback_says_who_answered_on_stderr_only(world) -> None:
    world["down"].add("alpha")
    result = ask("--fallback", "beta", "hi")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "beta:\n```sh\necho beta\n```\n"
    assert "warning: alpha failed: cannot connect to alpha; asking beta" in result.stderr
    assert "answered by beta (b-1)" in result.stderr


def test_compare_on_a_terminal_shows_a_header_per_provider(monkeypatch, capsys) -> None:
    monkeypatch.setattr(console, "color_allowed", lambda: False)  # the plain writer, for a stable text
    answered = TurnResult("c1", "m1", "alpha", "a-1", text="Alpha's answer.", latency_ms=1234,
                          server_model="a-1-v7", complete=True)
    failed = CompareOutcome("beta", "b-1", error=ProviderUnavailable("cannot connect to beta"))
    ask_output.render_comparison([CompareOutcome("alpha", "a-1", result=answered), failed], as_json=False,
                                 show_usage=False, extract=None)
    out, err = capsys.readouterr()
    assert out == "── alpha · a-1-v7 · 1.2 s ──\nAlpha's answer.\n\n── beta · b-1 ──\n\n"
    assert err == "error: beta: cannot connect to beta\n"
