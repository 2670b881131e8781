"""Line editing for `llmcli chat` (prompt_toolkit): history file, keys, completion, the terminal.

Imported only when a chat starts (prompt_toolkit is not on the --help path). Emacs keys and Ctrl-R
reverse search are prompt_toolkit's defaults; bracketed paste inserts a pasted block as one piece
(it is never sent line by line). Enter sends and Alt-Enter / Esc-Enter adds a line; `/multi` swaps
the two, except that a one-line `/command` is always sent by Enter.
"""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterable, Iterator, TextIO

from prompt_toolkit import PromptSession
from prompt_toolkit.completion import CompleteEvent, Completer, Completion
from prompt_toolkit.document import Document
from prompt_toolkit.filters import Condition
from prompt_toolkit.formatted_text import FormattedText
from prompt_toolkit.history import FileHistory
from prompt_toolkit.input import create_input
from prompt_toolkit.key_binding import KeyBindings
from prompt_toolkit.output import create_output

from llmcli import console
from llmcli.commands import repl_commands
from llmcli.errors import TerminateRequested, handled_signals, terminating_signals
from llmcli.paths import ensure_private_dir


class PrivateHistory(FileHistory):
    """Input history in a 0600 file (folder 0700). Lines typed with a leading space are not kept."""

    def __init__(self, path: Path) -> None:
        ensure_private_dir(path.parent)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.close(fd)
        try:
            os.chmod(path, 0o600)
        except OSError:
            pass
        super().__init__(str(path))

    def append_string(self, string: str) -> None:
        if string.startswith(" ") or not string.strip():
            return
        super().append_string(string)


class ReplCompleter(Completer):
    """Slash commands, then provider names, cached model names or /set keys — never a network call."""

    def __init__(self, provider_names: Callable[[], list[str]], model_names: Callable[[], list[str]]) -> None:
        self.provider_names = provider_names
        self.model_names = model_names

    def get_completions(self, document: Document, complete_event: CompleteEvent) -> Iterable[Completion]:
        text = document.text_before_cursor
        if not text.startswith("/") or "\n" in text:
            return
        head, space, arg = text[1:].partition(" ")
        if not space:
            for command in repl_commands.COMMANDS:
                if command.name.startswith(head.lower()):
                    text = command.name + (" " if command.usage else "")  # ready for the argument
                    yield Completion(text, start_position=-len(head), display=f"/{command.name}")
            return
        command = repl_commands.ALIASES.get(head.lower(), head.lower())
        if command == "provider":
            choices = self.provider_names()
        elif command == "model":
            choices = self.model_names()
        elif command == "set" and " " not in arg:
            choices = list(repl_commands.SET_KEYS)
        else:
            return
        for choice in choices:
            if choice.lower().startswith(arg.lower()):
                yield Completion(choice, start_position=-len(arg))


def key_bindings(multiline: Callable[[], bool]) -> KeyBindings:
    bindings = KeyBindings()
    in_multi = Condition(multiline)

    @bindings.add("escape", "enter", filter=~in_multi)
    def _newline(event) -> None:  # type: ignore[no-untyped-def]
        event.current_buffer.insert_text("\n")

    @bindings.add("enter", filter=in_multi)
    def _enter_in_multi(event) -> None:  # type: ignore[no-untyped-def]
        buffer = event.current_buffer
        if buffer.text.startswith("/") and "\n" not in buffer.text:
            buffer.validate_and_handle()  # /multi, /exit ... need no Alt-Enter
        else:
            buffer.insert_text("\n")

    return bindings


class Terminal:
    """Where the prompt reads and draws: stdin/stdout when they are a terminal, else /dev/tty
    (so `cat notes.md | llmcli chat` can go on interactively after the seed)."""

    def __init__(self, input_file: TextIO | None, output_file: TextIO | None) -> None:
        self._input_file = input_file
        self._output_file = output_file
        self._opened: list[TextIO] = []

    @classmethod
    def open(cls) -> Terminal | None:
        """None when there is no terminal at all (a script, CI)."""
        stdin_tty = _isatty(sys.stdin)
        stdout_tty = _isatty(sys.stdout)
        if stdin_tty and stdout_tty:
            return cls(None, None)
        try:
            tty_in = open("/dev/tty", encoding="utf-8") if not stdin_tty else None  # noqa: SIM115
            tty_out = open("/dev/tty", "w", encoding="utf-8") if not stdout_tty else None  # noqa: SIM115
        except OSError:
            return None
        terminal = cls(tty_in, tty_out)
        terminal._opened = [f for f in (tty_in, tty_out) if f is not None]
        return terminal

    def create_io(self):  # type: ignore[no-untyped-def]
        return create_input(self._input_file), create_output(self._output_file)

    @contextmanager
    def quiet(self) -> Iterator[None]:
        """While a reply streams: typed keys are neither echoed nor line-edited by the terminal (they
        wait, as keys, for the next prompt — Ctrl-D and Enter included), Ctrl-C still interrupts, and
        it does not flush pending output (NOFLSH), which would drop part of a redraw and leave stale
        lines on the screen."""
        try:
            import termios
        except ImportError:  # Windows: no termios, and no such flush either
            yield
            return
        stream = self._input_file or sys.stdin
        try:
            fd = stream.fileno()
            saved = termios.tcgetattr(fd)
        except (AttributeError, ValueError, OSError, termios.error):
            yield
            return
        quiet = list(saved)
        quiet[3] = (quiet[3] & ~(termios.ECHO | termios.ICANON)) | termios.NOFLSH
        try:
            termios.tcsetattr(fd, termios.TCSANOW, quiet)
        except termios.error:
            yield
            return
        try:
            yield
        finally:
            try:
                termios.tcsetattr(fd, termios.TCSANOW, saved)
            except termios.error:
                pass

    def close(self) -> None:
        for f in self._opened:
            f.close()


class PromptReader:
    """Reads one message or command per call; KeyboardInterrupt clears the line, EOFError is Ctrl-D."""

    def __init__(self, terminal: Terminal, history_file: Path, completer: Completer,
                 multiline: Callable[[], bool]) -> None:
        pt_input, pt_output = terminal.create_io()
        self.session: PromptSession[str] = PromptSession(
            history=PrivateHistory(history_file),
            completer=completer,
            complete_while_typing=False,
            key_bindings=key_bindings(multiline),
            multiline=Condition(multiline),
            prompt_continuation=lambda width, line_number, wrap_count: "." * max(width - 1, 0) + " ",
            enable_history_search=False,  # Up/Down walk the history; Ctrl-R searches it
            input=pt_input,
            output=pt_output,
        )
        self.interrupted_empty_line = False

    def read(self, message: FormattedText) -> str:
        self.interrupted_empty_line = False
        with handled_signals(_PromptTerminator(self.session).on_signal, terminating_signals()):
            try:
                return self.session.prompt(message)
            except TerminateRequested:
                raise
            except KeyboardInterrupt:
                self.interrupted_empty_line = not self.session.default_buffer.text
                raise


class _PromptTerminator:
    """SIGTERM (or SIGHUP: the terminal was closed) at the prompt ends it cleanly (terminal
    restored) and becomes TerminateRequested, which the error boundary turns into exit 143 (129) —
    as it does during a reply."""

    def __init__(self, session: PromptSession[str]) -> None:
        self.session = session

    def on_signal(self, signum: int, frame: object) -> None:
        error = console.terminated_by(signum)
        app = self.session.app
        loop = getattr(app, "loop", None)
        future = getattr(app, "future", None)
        if app.is_running and loop is not None and future is not None and not future.done():
            loop.call_soon_threadsafe(lambda: app.exit(exception=error))
        else:
            raise error


def prompt_message(provider: str, model: str, multiline: bool) -> FormattedText:
    parts = [("class:provider bold", provider), ("", "/"), ("class:model", model)]
    if multiline:
        parts.append(("italic", " [multi]"))
    parts.append(("", "> "))
    return FormattedText(parts)


def _isatty(stream: TextIO | None) -> bool:
    try:
        return bool(stream is not None and stream.isatty())
    except (AttributeError, ValueError):
        return False
