"""The chat REPL: read a line, run a slash command or a turn, render, repeat.

Errors inside the loop (auth, rate limit, network, unknown model, a broken stream) print one
`error:` line (+ hint) and the session goes on. Ctrl-C during a reply stops it (the partial reply is
kept, marked interrupted) and returns to the prompt; SIGTERM saves the same way and leaves with 143.
"""

from __future__ import annotations

import os
import threading
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from llmcli import console
from llmcli.commands import repl_commands
from llmcli.commands.repl_commands import Slash, UnknownSlash
from llmcli.commands.repl_stream import stream_reply
from llmcli.errors import LlmcliError, TerminateRequested, UsageError

if TYPE_CHECKING:
    from llmcli.commands.repl_input import PromptReader, Terminal
    from llmcli.services.chat import Turn
    from llmcli.services.session import ChatSession
    from llmcli.types import MessageRecord

SHOWN_ON_RESUME = 3  # exchanges shown when a conversation is continued
PREVIEW_LINES = 12


class Exit(Exception):
    """Raised by /exit."""


class ChatRepl:
    def __init__(self, session: ChatSession, reader: PromptReader | None = None,
                 writer_factory: Callable[[], console.PlainWriter] = console.reply_writer) -> None:
        self.session = session
        self.reader = reader
        self.writer_factory = writer_factory
        self.multiline = False
        self.terminal: Terminal | None = None  # set when the chat reads from a terminal

    def terminal_quiet(self) -> AbstractContextManager[None]:
        return self.terminal.quiet() if self.terminal is not None else nullcontext()

    # --- the loop ---------------------------------------------------------------------------------

    def run(self) -> None:
        from llmcli.commands.repl_input import prompt_message

        assert self.reader is not None
        self.session.warm_up()
        if console.color_allowed():
            threading.Thread(target=_import_renderer, daemon=True).start()
        # Quiet between prompts too, so keys typed while a reply starts are kept for the next prompt
        # (prompt_toolkit restores this state, not the cooked one, when each prompt ends).
        with self.terminal_quiet():
            while True:
                try:
                    line = self.reader.read(prompt_message(self.session.provider, self.session.model,
                                                           self.multiline))
                except TerminateRequested:
                    raise
                except KeyboardInterrupt:
                    if self.reader.interrupted_empty_line:
                        console.info("(Ctrl-D or /exit leaves)")
                    continue
                except EOFError:
                    return
                try:
                    self.handle(line)
                except Exit:
                    return

    def handle(self, line: str) -> None:
        if not line.strip():
            return
        parsed = repl_commands.parse(line)
        if isinstance(parsed, UnknownSlash):
            console.error(parsed.message(), "/help lists the commands; start with // to send a slash")
        elif isinstance(parsed, Slash):
            self.command(parsed)
        else:
            self.ask(parsed)

    # --- turns ------------------------------------------------------------------------------------

    def ask(self, text: str, *, retry: bool = False) -> LlmcliError | None:
        """Run one turn; returns the error it ended with (already shown), None on success."""
        turn: Turn | None = None
        try:
            turn = self.session.retry() if retry else self.session.start_turn(text)
            shown = len(turn.result.notices)
            for notice in turn.result.notices:
                console.warn(notice)  # left-out turns: say so before the answer
            self._stream(turn)
            for notice in turn.result.notices[shown:]:
                console.warn(notice)
            if turn.result.finish_reason == "length":
                console.warn("the reply was cut short by the max_tokens limit (/set max_tokens N)")
        except TerminateRequested:
            raise
        except KeyboardInterrupt:
            kept = turn is not None and turn.result.text
            console.info("[interrupted: the partial reply is kept]" if kept else "[interrupted]")
        except LlmcliError as exc:
            console.error(exc.message, exc.hint)
            return exc
        except Exception as exc:  # noqa: BLE001 - a bug must not end the session (history is saved)
            return LlmcliError(console.bug(exc), hint=console.BUG_HINT)
        finally:
            if turn is not None:
                self.session.finish_turn(turn)
                for warning in turn.result.warnings:
                    console.warn(warning)
                if console.stdout_is_tty():
                    console.out("")  # air between an answer and the next prompt (not in piped output)
        return None

    def _stream(self, turn: Turn) -> None:
        with self.terminal_quiet():
            stream_reply(turn, self.writer_factory())

    # --- slash commands ---------------------------------------------------------------------------

    def command(self, slash: Slash) -> None:
        handler = getattr(self, f"cmd_{slash.name}")
        try:
            handler(slash.arg)
        except (Exit, TerminateRequested):
            raise
        except LlmcliError as exc:
            console.error(exc.message, exc.hint)
        except OSError as exc:
            console.error(f"{exc.strerror or type(exc).__name__}: {exc.filename or ''}".rstrip(": "))

    def cmd_help(self, arg: str) -> None:
        console.out(repl_commands.help_text())

    def cmd_exit(self, arg: str) -> None:
        raise Exit()

    def cmd_multi(self, arg: str) -> None:
        self.multiline = not self.multiline
        console.info("multi-line mode: Enter adds a line, Alt-Enter (or Esc Enter) sends" if self.multiline
                     else "single-line mode: Enter sends, Alt-Enter (or Esc Enter) adds a line")

    def cmd_provider(self, arg: str) -> None:
        if not arg:
            names = self.session.provider_names()
            console.out("providers: " + ", ".join(
                f"[{n}]" if n == self.session.provider else n for n in names))
            return
        for note in self.session.set_provider(arg):
            console.warn(note)
        console.info(f"now using {self.session.provider}/{self.session.model}")

    def cmd_model(self, arg: str) -> None:
        if not arg:
            console.out(f"model: {self.session.model}")
            names = self.session.model_names()
            if names:
                console.out("cached models: " + ", ".join(names))
            else:
                provider = self.session.provider
                console.out(f"(no cached model list; `llmcli models list -p {provider}` fetches it)")
            return
        for note in self.session.set_model(arg):
            console.warn(note)
        console.info(f"now using {self.session.provider}/{self.session.model}")

    def cmd_system(self, arg: str) -> None:
        if not arg:
            current = self.session.current_system()
            console.out(f"system prompt: {current}" if current else "no system prompt")
            return
        self.session.set_system(None if arg == "-" else arg)
        console.info("system prompt removed" if arg == "-" else "system prompt set for the next turns")

    def cmd_set(self, arg: str) -> None:
        if not arg:
            for key, value in self.session.effective_options().items():
                console.out(f"{key} = {'(server default)' if value is None else value}")
            return
        pair = repl_commands.split_set_arg(arg)
        if pair is None:
            raise UsageError("usage: /set KEY VALUE", hint="keys: " + ", ".join(repl_commands.SET_KEYS))
        value = self.session.set_option(*pair)
        console.info(f"{pair[0]} = {'default' if value is None else value}")

    def cmd_new(self, arg: str) -> None:
        self.session.new_conversation()
        console.info(f"new conversation {self.session.conversation_id[:12]}")

    def cmd_history(self, arg: str) -> None:
        exchanges = self.session.exchanges()
        if not exchanges:
            console.out("no turns yet")
            return
        for number, (question, replies) in enumerate(exchanges, 1):
            console.out(f"{number:>3}. you: {_one_line(question.text)}")
            for reply in replies:
                console.out(f"     {_who(reply)}: {_one_line(reply.text) or '(no text)'}{_mark(reply)}")

    def cmd_retry(self, arg: str) -> None:
        self.ask("", retry=True)

    def cmd_save(self, arg: str) -> None:
        if not arg:
            raise UsageError("usage: /save FILE")
        path = Path(os.path.expanduser(arg))
        text = self.session.markdown()
        path.write_text(text, encoding="utf-8")
        console.info(f"saved {len(self.session.history)} messages to {path}")

    def cmd_usage(self, arg: str) -> None:
        totals = self.session.usage()
        if not totals.replies:
            console.out("no replies yet")
            return
        replies = "reply" if totals.replies == 1 else "replies"
        line = (f"{totals.prompt_tokens:,} prompt + {totals.completion_tokens:,} completion = "
                f"{totals.total_tokens:,} tokens over {totals.replies} {replies}")
        if totals.replies_without_usage:
            line += f" ({totals.replies_without_usage} without usage from the server)"
        console.out(line)

    # --- showing a continued conversation ---------------------------------------------------------

    def show_recent(self) -> None:
        exchanges = self.session.exchanges()
        console.info(f"continuing conversation {self.session.conversation_id[:12]} "
                     f"({len(exchanges)} turns)")
        for question, replies in exchanges[-SHOWN_ON_RESUME:]:
            console.out(f"you: {_preview(question.text)}")
            for reply in replies:
                console.out(f"{_who(reply)}: {_preview(reply.text)}{_mark(reply)}")
        if exchanges:
            console.out("")


def _import_renderer() -> None:
    import llmcli.render  # noqa: F401 - rich.markdown and pygments, loaded while the user types


def _who(record: MessageRecord) -> str:
    return "/".join(x for x in (record.provider, record.model) if x) or "assistant"


def _mark(record: MessageRecord) -> str:
    return "" if record.complete else f" [{record.finish_reason or 'incomplete'}]"


def _one_line(text: str, width: int = 70) -> str:
    line = " ".join(text.split())
    return line if len(line) <= width else line[: width - 1] + "…"


def _preview(text: str) -> str:
    lines = text.rstrip().splitlines()
    if len(lines) <= PREVIEW_LINES:
        return "\n".join(lines)
    return "\n".join(lines[:PREVIEW_LINES]) + f"\n… ({len(lines) - PREVIEW_LINES} more lines)"


def stdin_text(limit: int) -> str | None:
    """Piped stdin as the first message (None when stdin is a terminal or empty)."""
    from llmcli.commands.ask import read_stdin

    text = read_stdin(limit)
    return text if text and text.strip() else None
