"""Fitting a conversation into a model's context window (pure: no I/O, no clock).

Tokens are *estimated*, never counted with a tokenizer: no provider ships one we could load cheaply,
and an estimate that errs on the large side is enough to decide which old turns to leave out.
The estimate is one token per 3.5 ASCII characters (English text and code run at ~4 per token in
every tokenizer we send to) and one per 2.5 other characters (Cyrillic runs at ~2.5–3.5 per token in
OpenAI's tokenizers, better in GigaChat's and YandexGPT's), plus 4 tokens per message for the
role markup. It over-counts a little, which only makes trimming start a little early.

The window itself comes, in order, from: the provider's `context_window` option in config.toml (the
user knows their server: a vLLM started with --max-model-len, an Ollama num_ctx); for the local kind its
`n_ctx` option; the model cache (`ModelInfo.context_window`, when the server reported one); and
last a conservative default per kind.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from llmcli.types import Message, ModelInfo

ASCII_CHARS_PER_TOKEN = 3.5
OTHER_CHARS_PER_TOKEN = 2.5
TOKENS_PER_MESSAGE = 4  # role markup and separators around every message

# Conservative defaults when neither config nor the model cache knows the window. OpenAI-compatible
# servers range from Ollama's 4k to 128k+; GigaChat 2 and YandexGPT 5 take at least 32k; the local
# engine is started with n_ctx = 4096 unless configured otherwise.
KIND_CONTEXT_WINDOWS: dict[str, int] = {
    "openai": 8192,
    "gigachat": 32768,
    "yandexgpt": 32768,
    "local": 4096,
}
FALLBACK_CONTEXT_WINDOW = 8192
# Room kept for the reply when max_tokens is not set: a quarter of the window, at most this much.
DEFAULT_REPLY_RESERVE = 1024


def estimate_tokens(text: str) -> int:
    """A cheap, slightly generous token count for `text`."""
    if not text:
        return 0
    ascii_chars = len(text.encode("ascii", "ignore"))
    other_chars = len(text) - ascii_chars
    return math.ceil(ascii_chars / ASCII_CHARS_PER_TOKEN + other_chars / OTHER_CHARS_PER_TOKEN)


def message_tokens(message: Message) -> int:
    return estimate_tokens(message.content) + TOKENS_PER_MESSAGE


@dataclass(frozen=True)
class ContextWindow:
    tokens: int
    source: str  # "config" | "model cache" | "default"


def context_window(kind: str, model: str, options: Mapping[str, Any],
                   cached_models: Sequence[ModelInfo] | None = None) -> ContextWindow:
    """The context window to fit `model` into (see the module docstring for the order)."""
    configured = _positive_int(options.get("context_window"))
    if configured is None and kind == "local":
        configured = _positive_int(options.get("n_ctx"))
    if configured is not None:
        return ContextWindow(configured, "config")
    for info in cached_models or ():
        if info.id == model and info.context_window:
            return ContextWindow(info.context_window, "model cache")
    return ContextWindow(KIND_CONTEXT_WINDOWS.get(kind, FALLBACK_CONTEXT_WINDOW), "default")


def reply_reserve(window: int, max_tokens: int | None) -> int:
    """Tokens kept free for the reply: max_tokens when set (at most half the window), else a default."""
    if max_tokens:
        return min(max_tokens, window // 2)
    return min(DEFAULT_REPLY_RESERVE, window // 4)


@dataclass(frozen=True)
class FittedContext:
    messages: list[Message]
    window: int
    estimated_tokens: int  # of the kept messages
    left_out_turns: int = 0
    left_out_messages: int = 0
    overflow: bool = False  # even the system prompt and the new message alone do not fit

    def notice(self, model: str) -> str | None:
        """What to tell the user on stderr, or None when everything was sent."""
        if self.overflow:
            return (f"the prompt alone is about {self.estimated_tokens:,} tokens, more than the "
                    f"{self.window:,}-token context of {model} leaves room for; sending it anyway")
        if self.left_out_turns:
            what = ("the oldest turn" if self.left_out_turns == 1
                    else f"{self.left_out_turns} oldest turns")
            return f"left out {what} to fit the {self.window:,}-token context of {model}"
        return None


def fit_context(messages: Sequence[Message], window: int, reserve: int = 0) -> FittedContext:
    """Keep the system prompt(s) and the newest turns; leave out the oldest turns that do not fit.

    `messages` is what would be sent: system messages first (if any), the conversation so far, and
    the new user message last. A turn is a user message and the replies that follow it; turns are
    left out whole, so what is sent still starts with a user message. The new message is always
    kept, even when it alone is too big (the server then has the last word).
    """
    budget = max(window - reserve, 0)
    head = [m for m in messages[:-1] if m.role == "system"]
    body = [m for m in messages[:-1] if m.role != "system"]
    newest = list(messages[-1:])
    turns = _turns(body)
    costs = [sum(message_tokens(m) for m in turn) for turn in turns]
    fixed = sum(message_tokens(m) for m in head + newest)

    total = fixed + sum(costs)
    dropped = 0
    while dropped < len(turns) and total > budget:
        total -= costs[dropped]
        dropped += 1
    kept_body = [m for turn in turns[dropped:] for m in turn]
    return FittedContext(
        messages=head + kept_body + newest,
        window=window,
        estimated_tokens=total,
        left_out_turns=dropped,
        left_out_messages=sum(len(turn) for turn in turns[:dropped]),
        overflow=total > budget,
    )


def _turns(body: Sequence[Message]) -> list[list[Message]]:
    """Split into turns: each starts at a user message (a leading reply forms a turn of its own)."""
    turns: list[list[Message]] = []
    for message in body:
        if message.role == "user" or not turns:
            turns.append([message])
        else:
            turns[-1].append(message)
    return turns


def _positive_int(value: Any) -> int | None:
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if number > 0 else None
