"""How `ask` builds its prompt from words and stdin (DESIGN.md §7)."""

from __future__ import annotations

import io

import pytest

from llmcli.commands.ask import build_prompt, read_stdin
from llmcli.commands.options import parse_options
from llmcli.errors import UsageError


class FakeStdin(io.TextIOWrapper):
    def __init__(self, data: bytes) -> None:
        super().__init__(io.BytesIO(data), encoding="utf-8")

    def isatty(self) -> bool:
        return False


def test_words_then_stdin_after_a_blank_line() -> None:
    assert build_prompt(["summarize", "this"], "data") == "summarize this\n\ndata"
    assert build_prompt([], "only stdin") == "only stdin"
    assert build_prompt(["only", "words"], None) == "only words"


def test_empty_prompt_is_refused() -> None:
    with pytest.raises(UsageError, match="empty prompt"):
        build_prompt([" "], "\n\n")


def test_stdin_size_cap_reads_at_most_limit_plus_one(monkeypatch) -> None:
    stdin = FakeStdin(b"x" * 10_000)
    monkeypatch.setattr("sys.stdin", stdin)
    with pytest.raises(UsageError, match="larger than 100 bytes"):
        read_stdin(100)
    assert stdin.buffer.tell() == 101  # refused early: the rest was never read


def test_invalid_utf8_names_byte_and_offset(monkeypatch) -> None:
    monkeypatch.setattr("sys.stdin", FakeStdin(b"ok \xff\xfe"))
    with pytest.raises(UsageError, match=r"byte 0xff at offset 3"):
        read_stdin(1000)


def test_cyrillic_stdin_decodes(monkeypatch) -> None:
    monkeypatch.setattr("sys.stdin", FakeStdin("нагрузочное тестирование".encode()))
    assert read_stdin(1000) == "нагрузочное тестирование"


def test_provider_options_parse_scalars() -> None:
    assert parse_options(["repetition_penalty=1.1", "reasoning=on", "top-k=40", "stop=END"]) == {
        "repetition_penalty": 1.1, "reasoning": True, "top_k": 40, "stop": "END"}
    with pytest.raises(UsageError):
        parse_options(["=1"])
