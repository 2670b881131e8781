"""Driving the installed `llmcli` in a real pseudo-terminal (pexpect) and reading what the user sees.

The screen is a stream of text with ANSI escapes (colours, cursor moves from prompt_toolkit and rich).
`PtySession.expect` matches against that stream with the escapes stripped, so a test can wait for
"echo: hello" or a prompt without caring how it was drawn.
"""

from __future__ import annotations

import os
import re
import time
from typing import Sequence

import pexpect

ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(\x07|\x1b\\)|\x1b[=>()][0-9A-Za-z]?|\x1b[78]")
BRACKETED_PASTE_START = "\x1b[200~"
BRACKETED_PASTE_END = "\x1b[201~"
UP_ARROW = "\x1b[A"


def strip_ansi(text: str) -> str:
    return ANSI.sub("", text)


_TOKEN = re.compile(r"\x1b\[([0-?]*)[ -/]*([@-~])|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[=>()][0-9A-Za-z]?"
                    r"|\x1b[78]|[\r\n\b]|[^\x1b\r\n\b]+")


def render_screen(raw: str, cols: int) -> str:
    """What a terminal `cols` wide shows after `raw`, scrollback included: a tiny VT100 subset
    (CR, LF, BS, cursor up/down/left/right/column, erase line/below, autowrap with its pending
    state) — enough for prompt_toolkit's redraws and rich's live region. Colours are dropped."""
    lines: list[list[str]] = [[]]
    row = col = 0
    pending_wrap = False

    def put(ch: str) -> None:
        nonlocal row, col, pending_wrap
        if pending_wrap:
            row, col, pending_wrap = row + 1, 0, False
            while len(lines) <= row:
                lines.append([])
        line = lines[row]
        line.extend(" " * (col - len(line) + 1)) if len(line) <= col else None
        line[col] = ch
        if col == cols - 1:
            pending_wrap = True
        else:
            col += 1

    for match in _TOKEN.finditer(raw):
        token = match.group(0)
        final, params = match.group(2), match.group(1)
        if final:
            if params.startswith("?"):
                continue
            n = int(params.split(";")[0]) if params.split(";")[0].isdigit() else None
            if final == "A":
                row = max(row - (n or 1), 0)
            elif final == "B":
                row += n or 1
            elif final == "C":
                col = min(col + (n or 1), cols - 1)
            elif final == "D":
                col = max(col - (n or 1), 0)
            elif final == "G":
                col = min((n or 1) - 1, cols - 1)
            elif final == "K":
                if (n or 0) == 0:
                    del lines[row][col:]
                elif n == 2:
                    lines[row] = []
            elif final == "J" and (n or 0) == 0:
                del lines[row][col:]
                del lines[row + 1:]
            if final in "ABCDGKJ":
                pending_wrap = False
            while len(lines) <= row:
                lines.append([])
        elif token == "\r":
            col, pending_wrap = 0, False
        elif token == "\n":
            row, pending_wrap = row + 1, False
            while len(lines) <= row:
                lines.append([])
        elif token == "\b":
            col, pending_wrap = max(col - 1, 0), False
        elif not token.startswith("\x1b"):
            for ch in token:
                put(ch)
    return "\n".join("".join(line).rstrip() for line in lines).rstrip() + "\n"


class PtySession:
    def __init__(self, exe: str, args: Sequence[str], env: dict[str, str], *, timeout: float = 20,
                 rows: int = 30, cols: int = 100) -> None:
        env = dict(env)
        env.setdefault("TERM", "xterm-256color")
        # pexpect is no terminal emulator: it cannot answer prompt_toolkit's cursor-position query
        env["PROMPT_TOOLKIT_NO_CPR"] = "1"
        env.pop("NO_COLOR", None)
        self.child = pexpect.spawn(exe, list(args), env=env, dimensions=(rows, cols), encoding="utf-8",
                                   codec_errors="replace", timeout=timeout)
        self.timeout = timeout
        self.cols = cols
        self.raw = ""  # everything the terminal received, escapes included
        self._seen = 0  # offset in the stripped text already matched

    @property
    def text(self) -> str:
        return strip_ansi(self.raw).replace("\r", "")

    def screen(self) -> str:
        """The terminal as the user sees it now, scrollback included (see render_screen)."""
        return render_screen(self.raw, self.cols)

    def _pump(self, wait: float) -> None:
        """Read what the terminal has received so far (nothing once the process has gone)."""
        try:
            self.raw += self.child.read_nonblocking(65536, timeout=wait)
        except pexpect.TIMEOUT:
            pass
        except (pexpect.EOF, OSError):
            time.sleep(min(wait, 0.05))

    def expect(self, pattern: str, *, timeout: float | None = None, regex: bool = False) -> str:
        """Wait until `pattern` shows up after what earlier expects matched; returns the text up to it."""
        deadline = time.monotonic() + (timeout or self.timeout)
        compiled = re.compile(pattern if regex else re.escape(pattern))
        while True:
            text = self.text
            found = compiled.search(text, self._seen)
            if found:
                before = text[self._seen:found.start()]
                self._seen = found.end()
                return before
            if time.monotonic() > deadline:
                raise AssertionError(f"{pattern!r} did not appear; the screen so far:\n{text[-3000:]}")
            if not self.child.isalive():
                self._pump(0.05)
                if not compiled.search(self.text, self._seen):
                    raise AssertionError(f"llmcli exited before {pattern!r} appeared:\n{self.text[-3000:]}")
                continue
            self._pump(0.1)

    def send(self, text: str) -> None:
        self.child.send(text)

    def line(self, text: str) -> None:
        """Type a line and press Enter (a terminal sends CR)."""
        self.child.send(text)
        self.child.send("\r")

    def paste(self, text: str) -> None:
        self.child.send(BRACKETED_PASTE_START + text + BRACKETED_PASTE_END)

    def ctrl(self, key: str) -> None:
        self.child.sendcontrol(key)

    def wait_exit(self, timeout: float | None = None) -> int:
        """Wait for the process to end; its exit status (128 + N when killed by signal N)."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while self.child.isalive():
            if time.monotonic() > deadline:
                raise AssertionError(f"llmcli did not exit; the screen so far:\n{self.text[-3000:]}")
            self._pump(0.1)
        self._pump(0)
        self.child.close()
        if self.child.signalstatus is not None:
            return 128 + self.child.signalstatus
        return self.child.exitstatus

    def kill(self, sig: int) -> None:
        os.kill(self.child.pid, sig)

    def close(self) -> None:
        if self.child.isalive():
            self.child.terminate(force=True)
        self.child.close()
