"""The chat REPL's slash commands: the table, parsing, and "did you mean" (stdlib only).

A slash command is one line starting with `/`. Anything else — including any multi-line input, and a
line starting with `//` (sent with one slash removed) — is a message for the model.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass


@dataclass(frozen=True)
class SlashCommand:
    name: str
    usage: str  # the argument part shown in /help
    help: str


COMMANDS: tuple[SlashCommand, ...] = (
    SlashCommand("help", "", "show this help"),
    SlashCommand("provider", "[NAME]", "switch provider (the conversation goes along); no NAME: list them"),
    SlashCommand("model", "[NAME]", "switch model; no NAME: show the current one and the cached list"),
    SlashCommand("system", "[TEXT | -]", "set the system prompt for the next turns; `-` removes it"),
    SlashCommand("set", "[KEY VALUE]", "temperature, top_p or max_tokens; VALUE `default` resets"),
    SlashCommand("new", "", "start a fresh conversation"),
    SlashCommand("history", "", "the turns of this conversation"),
    SlashCommand("retry", "", "ask the last question again (a new answer replaces the last one)"),
    SlashCommand("save", "FILE", "export this conversation as Markdown"),
    SlashCommand("usage", "", "tokens used by this conversation so far"),
    SlashCommand("multi", "", "toggle multi-line mode: Enter adds a line, Alt-Enter (Esc Enter) sends"),
    SlashCommand("exit", "", "leave (so does Ctrl-D)"),
)
ALIASES = {"quit": "exit", "q": "exit", "?": "help", "h": "help"}
NAMES = tuple(c.name for c in COMMANDS)
SET_KEYS = ("temperature", "top_p", "max_tokens")


@dataclass(frozen=True)
class Slash:
    name: str  # the canonical command name
    arg: str  # the rest of the line, stripped ("" if none)


@dataclass(frozen=True)
class UnknownSlash:
    typed: str
    suggestion: str | None

    def message(self) -> str:
        hint = f"; did you mean /{self.suggestion}?" if self.suggestion else ""
        return f"unknown command /{self.typed}{hint}"


def parse(line: str) -> Slash | UnknownSlash | str:
    """A Slash command, an UnknownSlash, or the message text to send (a str)."""
    if not line.startswith("/") or "\n" in line.strip():
        return line
    if line.startswith("//"):
        return line[1:]
    head, _, rest = line[1:].strip().partition(" ")
    typed = head.lower()
    name = ALIASES.get(typed, typed)
    if name in NAMES:
        return Slash(name, rest.strip())
    return UnknownSlash(head, suggest(typed))


def suggest(typed: str) -> str | None:
    candidates = list(NAMES) + list(ALIASES)
    close = difflib.get_close_matches(typed, candidates, n=1, cutoff=0.5)
    if not close:
        prefixed = [n for n in NAMES if n.startswith(typed)] if typed else []
        close = prefixed[:1]
    return ALIASES.get(close[0], close[0]) if close else None


def split_set_arg(arg: str) -> tuple[str, str] | None:
    """`/set KEY VALUE` (also `KEY=VALUE`) → (key, value); None if a part is missing."""
    key, sep, value = arg.replace("=", " ", 1).partition(" ")
    if not sep or not key.strip() or not value.strip():
        return None
    return key.strip(), value.strip()


def help_text() -> str:
    width = max(len(f"/{c.name} {c.usage}".rstrip()) for c in COMMANDS)
    lines = ["Commands:"]
    lines += [f"  {f'/{c.name} {c.usage}'.rstrip():<{width}}  {c.help}" for c in COMMANDS]
    lines += [
        "",
        "Keys: Enter sends; Alt-Enter (or Esc then Enter) starts a new line (in /multi mode the other way",
        "round); a pasted block is one message; Up/Down and Ctrl-R search earlier input; Tab completes",
        "commands, providers and models; Ctrl-C stops a reply or clears the line; Ctrl-D leaves.",
        "Start a message with // to send text that begins with a slash; a line starting with a space",
        "is not kept in the input history.",
    ]
    return "\n".join(lines)
