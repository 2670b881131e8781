"""Fitting a conversation into the context window: what is kept, what is left out, what the user is told
— as a pure function, and through the turn service (so `ask -c` trims as `chat` does)."""

from __future__ import annotations

import pytest

from llmcli.services.context import (
    DEFAULT_REPLY_RESERVE,
    TOKENS_PER_MESSAGE,
    context_window,
    estimate_tokens,
    fit_context,
    reply_reserve,
)
from llmcli.types import Message, MessageRecord, ModelInfo


def turn(n: int, size: int = 350) -> list[Message]:
    """A question and its answer, each about size/3.5 tokens."""
    return [Message("user", f"q{n} " + "x" * size), Message("assistant", f"a{n} " + "y" * size)]


def conversation(turns: int, *, system: str | None = "be brief", size: int = 350) -> list[Message]:
    head = [Message("system", system)] if system else []
    body = [m for n in range(1, turns + 1) for m in turn(n, size)]
    return head + body + [Message("user", "the new question")]


# --- estimating


def test_estimate_counts_ascii_at_3_5_and_other_scripts_at_2_5_chars_per_token() -> None:
    assert estimate_tokens("") == 0
    assert estimate_tokens("a" * 35) == 10
    assert estimate_tokens("я" * 25) == 10  # Cyrillic costs more tokens per character
    assert estimate_tokens("a" * 35 + "я" * 25) == 20
    assert estimate_tokens("a") == 1  # rounds up: never zero for real text


# --- fitting


def test_everything_is_sent_when_it_fits() -> None:
    messages = conversation(3)
    fitted = fit_context(messages, window=100_000, reserve=1000)
    assert fitted.messages == messages
    assert (fitted.left_out_turns, fitted.overflow) == (0, False)
    assert fitted.notice("m") is None


def test_oldest_turns_are_left_out_whole_keeping_system_and_newest() -> None:
    messages = conversation(6)  # each turn ≈ 2 × (101 + 4) = 210 tokens
    fitted = fit_context(messages, window=1000, reserve=300)
    kept = fitted.messages
    assert kept[0] == Message("system", "be brief")
    assert kept[-1] == Message("user", "the new question")
    assert kept[1].role == "user"  # what is sent still starts with a question
    # the newest turns survive, in order, and the left-out ones are the oldest
    assert [m.content[:2] for m in kept[1:-1]] == ["q4", "a4", "q5", "a5", "q6", "a6"]
    assert (fitted.left_out_turns, fitted.left_out_messages) == (3, 6)
    assert fitted.estimated_tokens <= 1000 - 300
    expected = "left out 3 oldest turns to fit the 1,000-token context of llama-lite"
    assert fitted.notice("llama-lite") == expected


def test_one_left_out_turn_reads_naturally() -> None:
    messages = conversation(2)
    needed = sum(estimate_tokens(m.content) + TOKENS_PER_MESSAGE for m in messages)
    fitted = fit_context(messages, window=needed - 1)
    assert fitted.left_out_turns == 1
    assert fitted.notice("m") == f"left out the oldest turn to fit the {needed - 1:,}-token context of m"


def test_reserve_for_the_reply_counts_against_the_window() -> None:
    messages = conversation(2)
    needed = sum(estimate_tokens(m.content) + TOKENS_PER_MESSAGE for m in messages)
    assert fit_context(messages, window=needed).left_out_turns == 0
    assert fit_context(messages, window=needed, reserve=1).left_out_turns == 1


def test_a_new_message_too_big_alone_is_still_sent_and_flagged() -> None:
    messages = conversation(2, system=None)[:-1] + [Message("user", "z" * 7000)]
    fitted = fit_context(messages, window=1000)
    assert fitted.messages == [messages[-1]]
    assert fitted.overflow and fitted.left_out_turns == 2
    assert "the prompt alone is about 2,004 tokens" in fitted.notice("m")


def test_a_leading_reply_without_question_is_a_turn_of_its_own() -> None:
    messages = [Message("assistant", "hello " * 100), Message("user", "q " * 100),
                Message("assistant", "a " * 100), Message("user", "new")]
    fitted = fit_context(messages, window=200)
    assert [m.role for m in fitted.messages] == ["user", "assistant", "user"]
    assert fitted.left_out_turns == 1


# --- which window


def test_window_comes_from_config_then_cache_then_kind_default() -> None:
    cache = [ModelInfo("big", "p", context_window=131072), ModelInfo("other", "p", context_window=4096)]
    assert context_window("openai", "big", {"context_window": 16000}, cache).tokens == 16000
    found = context_window("openai", "big", {}, cache)
    assert (found.tokens, found.source) == (131072, "model cache")
    default = context_window("openai", "unknown-model", {}, cache)
    assert (default.tokens, default.source) == (8192, "default")
    assert context_window("gigachat", "GigaChat-2", {}).tokens == 32768
    assert context_window("made-up-kind", "m", {}).tokens == 8192


def test_local_models_use_their_n_ctx_and_bad_values_are_ignored() -> None:
    assert context_window("local", "gemma", {"n_ctx": 2048}).tokens == 2048
    assert context_window("local", "gemma", {}).tokens == 4096
    assert context_window("openai", "m", {"context_window": "lots"}).source == "default"
    assert context_window("openai", "m", {"context_window": 0}).source == "default"


def test_reply_reserve() -> None:
    assert reply_reserve(8192, None) == DEFAULT_REPLY_RESERVE
    assert reply_reserve(2048, None) == 512
    assert reply_reserve(8192, 300) == 300
    assert reply_reserve(8192, 100_000) == 4096  # a silly max_tokens must not leave no room at all


# --- through the turn service: `ask -c` and the REPL trim the same way


@pytest.fixture
def settings(llmcli_home, monkeypatch):
    from llmcli.config import load_settings

    llmcli_home.mkdir(parents=True, exist_ok=True)
    (llmcli_home / "config.toml").write_text(
        'default_provider = "small"\n'
        '[providers.small]\nkind = "openai"\nbase_url = "http://127.0.0.1:9/v1"\nmodel = "llama-lite"\n'
        "context_window = 1000\n", encoding="utf-8")
    monkeypatch.setenv("LLMCLI_SMALL_API_KEY", "sk-test-0123456789")
    return load_settings()


def records(turns: int) -> list[MessageRecord]:
    found = []
    for n, message in enumerate(m for t in range(1, turns + 1) for m in turn(t)):
        stamp = f"2026-01-01T00:00:{n:02d}+00:00"
        found.append(MessageRecord(f"m{n}", "c1", message.role, message.content, stamp))
    return found


def test_turn_service_leaves_out_old_turns_and_says_so(settings) -> None:
    from llmcli.services.chat import ChatService, TurnRequest

    turn_ = ChatService(settings).start_turn(TurnRequest(
        prompt="the new question", conversation="c1", history=records(6), max_tokens=300, log=False))
    assert [m.content[:2] for m in turn_.messages] == ["q4", "a4", "q5", "a5", "q6", "a6", "th"]
    assert turn_.result.notices == ["left out 3 oldest turns to fit the 1,000-token context of llama-lite"]
    assert turn_.context is not None and turn_.context.left_out_turns == 3


def test_turn_service_sends_everything_that_fits_without_a_notice(settings) -> None:
    from llmcli.services.chat import ChatService, TurnRequest

    turn_ = ChatService(settings).start_turn(TurnRequest(
        prompt="the new question", conversation="c1", history=records(1), log=False))
    assert len(turn_.messages) == 3 and turn_.result.notices == []
