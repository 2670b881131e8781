"""Pure prompt formatting and stop handling for the local provider (no model, no I/O).

A base model (no chat template, such as the bundled Gemma 3 270M) is not trained to follow chat
turns: chat formatting gives junk, while a plain "Q: …\nA:" completion prompt gets short factual
answers. The model then happily writes the next "Q:" itself, so generation stops there.
"""

from __future__ import annotations

from collections.abc import Sequence

from llmcli.types import Message

QUESTION = "Q:"
ANSWER = "A:"
# The model starts the next turn on its own; that is where its answer ends. A second "A:" line is
# the model inventing alternative answers ("Johann von Steig\nA: …"), never part of the first.
COMPLETION_STOPS: tuple[str, ...] = ("\n" + QUESTION, "\n" + ANSWER)


def completion_prompt(messages: Sequence[Message]) -> str:
    """Render a conversation as Q:/A: turns, system text first as a preamble, ending in "A:".

    >>> completion_prompt([Message("user", "Столица России?")])
    'Q: Столица России?\\nA:'
    """
    preamble = "\n".join(m.content.strip() for m in messages if m.role == "system" and m.content.strip())
    turns: list[str] = []
    for message in messages:
        text = message.content.strip()
        if message.role == "user":
            turns.append(f"{QUESTION} {text}")
        elif message.role == "assistant":
            turns.append(f"{ANSWER} {text}")
    if not messages or messages[-1].role != "assistant":
        turns.append(ANSWER)  # the model's turn: it continues after "A:"
    body = "\n".join(turns)
    return f"{preamble}\n\n{body}" if preamble else body


def chat_messages(messages: Sequence[Message]) -> list[dict[str, str]]:
    """Messages for a model with its own chat template (the engine applies the template)."""
    return [{"role": m.role, "content": m.content} for m in messages]


class StopFilter:
    """Turns raw generated deltas into the deltas the user sees: trimmed, cut at a stop string.

    Streaming makes this fiddly, so it lives here as a small pure state machine:
    - leading whitespace of the answer is dropped ("A:" is followed by a space);
    - trailing whitespace is held back until more text follows, so the answer ends trimmed;
    - text that might be the start of a stop string is held back until it is clear that it is not;
    - at a stop string everything from it on is dropped and `stopped` becomes True.
    The engine also stops at these strings, but may already have emitted part of one (it sends the
    "\\n" of "\\nQ:"), so the filter is what guarantees a clean answer.
    """

    def __init__(self, stops: Sequence[str] = ()) -> None:
        self.stops = tuple(s for s in stops if s)
        self.stopped = False
        self._started = False  # has any non-whitespace text been emitted?
        self._pending = ""  # received but not yet emitted

    def feed(self, delta: str) -> str:
        """Take the next raw delta; return the text that is safe to show now (maybe "")."""
        if self.stopped or not delta:
            return ""
        text = self._pending + delta
        if not self._started:
            text = text.lstrip()
            if not text:
                self._pending = ""
                return ""
        cut = self._first_stop(text)
        if cut is not None:
            self.stopped = True
            self._pending = ""
            return self._emit(text[:cut].rstrip())
        keep = max(self._partial_stop_length(text), len(text) - len(text.rstrip()))
        self._pending = text[len(text) - keep :] if keep else ""
        return self._emit(text[: len(text) - keep])

    def finish(self) -> str:
        """End of generation: release what was held back, minus trailing whitespace."""
        text, self._pending = self._pending, ""
        return "" if self.stopped else self._emit(text.rstrip())

    def _emit(self, text: str) -> str:
        if text:
            self._started = True
        return text

    def _first_stop(self, text: str) -> int | None:
        positions = [i for i in (text.find(stop) for stop in self.stops) if i >= 0]
        return min(positions) if positions else None

    def _partial_stop_length(self, text: str) -> int:
        """Length of the longest suffix of `text` that is a proper prefix of a stop string."""
        longest = 0
        for stop in self.stops:
            for size in range(min(len(stop) - 1, len(text)), 0, -1):
                if text.endswith(stop[:size]):
                    longest = max(longest, size)
                    break
        return longest


def filter_text(deltas: Sequence[str], stops: Sequence[str] = ()) -> str:
    """The whole visible answer for a list of raw deltas (for tests and non-streamed use)."""
    stop_filter = StopFilter(stops)
    shown = "".join(stop_filter.feed(d) for d in deltas)
    return shown + stop_filter.finish()
