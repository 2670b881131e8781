"""Streaming Markdown for a terminal, in O(total length).

The answer is cut into blocks (paragraphs, lists, headings, tables, quotes) at blank lines and
headings. A finished block is rendered once with rich and never touched again; only the open block is
shown live (rich Live, transient, redrawn at most every LIVE_REFRESH_SECONDS). An open block that
grows past a screenful is flushed at the next safe line (a new list item, a table row — its header is
repeated — or any line of a paragraph), so neither the live region nor its redraws grow with the
answer. Inside a code fence each line is printed, highlighted on its own, as soon as it is complete:
a 4,000-line code block costs the same per line as a 40-line one. The output looks like rich's
rendering of the whole answer at once: blocks separated by one blank line, code in a padded panel.
Only imported on a TTY (console.reply_writer).
"""

from __future__ import annotations

import re
import time
from typing import Any, Callable

from rich.console import Console
from rich.live import Live
from rich.markdown import Markdown
from rich.segment import Segments
from rich.syntax import Syntax
from rich.text import Text

MAX_OPEN_BLOCK_LINES = 24  # at most this many source lines (or a screenful) stay live
LIVE_REFRESH_SECONDS = 0.05
CODE_THEME = "monokai"  # rich.markdown's default, so streamed code looks like rendered code

_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})\s*([^`\s]*)")
_LIST_ITEM = re.compile(r"^ {0,3}([-*+]|\d{1,9}[.)])(\s|$)")
_TABLE_DELIMITER = re.compile(r"^\s*\|?\s*:?-+:?\s*(\|\s*:?-+:?\s*)*\|?\s*$")
_HEADING = re.compile(r"^ {0,3}#{1,6}(\s|$)")


class MarkdownStream:
    def __init__(self, console: Console | None = None, *, refresh_seconds: float = LIVE_REFRESH_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.console = console or Console(highlight=False, soft_wrap=False)
        self.refresh_seconds = refresh_seconds
        self._clock = clock
        self._partial: list[str] = []  # pieces of the line after the last newline
        self._block: list[str] = []  # complete lines of the open block
        self._table_header: list[str] = []  # repeated when a long table is flushed in parts
        self._fence: str | None = None  # the opening fence marker while inside a code block
        self._lexer: Any = None
        self._gap = False  # a block was printed: the next one starts after a blank line
        self._continuing = False  # the open block continues one flushed in part (no blank line)
        self._live: Live | None = None
        self._last_refresh = 0.0
        self.wrote_anything = False

    # -- input ---------------------------------------------------------------------------------
    def feed(self, text: str) -> None:
        if not text:
            return
        self.wrote_anything = True
        if "\n" in text:
            head, *lines, tail = text.split("\n")
            self._line("".join(self._partial) + head)
            for line in lines:
                self._line(line)
            self._partial = [tail] if tail else []
        else:
            self._partial.append(text)
        self._show_open()

    def close(self) -> None:
        if self._partial:
            self._line("".join(self._partial))
            self._partial = []
        self._stop_live()
        if self._fence is not None:
            self._print(self._code_line(""))  # the panel's bottom padding
            self._fence = None
        self._flush()

    # -- block logic ---------------------------------------------------------------------------
    def _line(self, line: str) -> None:
        if self._fence is not None:
            stripped = line.strip()
            if stripped.startswith(self._fence) and not stripped.strip(self._fence[0]):
                self._print(self._code_line(""))
                self._fence = None
                self._gap = True
            else:
                self._print(self._code_line(line))
            return
        fence = _FENCE.match(line)
        if fence:
            self._flush()
            self._fence = fence.group(1)
            self._lexer = _lexer(fence.group(2))
            self._start_block()
            self._print(self._code_line(""))  # the panel's top padding
            return
        if not line.strip():
            self._flush()
            return
        if _HEADING.match(line):
            self._flush()
            self._block.append(line)
            self._flush()
            return
        if len(self._block) >= self._max_open_lines() and self._safe_split(line):
            self._flush(continued=True)
        self._block.append(line)
        if len(self._block) == 2 and _TABLE_DELIMITER.match(line) and "|" in self._block[0] + line:
            self._table_header = list(self._block)

    def _safe_split(self, line: str) -> bool:
        """May the open block end before `line` without changing what the rest renders as?"""
        indent = len(line) - len(line.lstrip(" "))
        if indent >= 4:
            return False  # a continuation: alone it would become a code block
        if self._table_header:
            return "|" in line
        if _LIST_ITEM.match(self._block[0]):
            return bool(_LIST_ITEM.match(line))
        if self._block[0].lstrip().startswith(">"):
            return line.lstrip().startswith(">")
        return True  # a paragraph

    def _flush(self, *, continued: bool = False) -> None:
        if not self._block:
            self._table_header = []
            return
        text = "\n".join(self._block)
        header = self._table_header
        self._block = []
        if not self._continuing:
            self._start_block()
        self._print_markdown(text)
        self._continuing = continued
        if continued and header:
            self._block = list(header)  # the next part of the table renders with the same header
        else:
            self._table_header = []
        self._gap = True

    def _start_block(self) -> None:
        if self._gap:
            self._print(Text(""))
            self._gap = False

    def _max_open_lines(self) -> int:
        return max(4, min(MAX_OPEN_BLOCK_LINES, self.console.height - 4))

    def _code_line(self, line: str) -> Syntax:
        return Syntax(line, self._lexer, theme=CODE_THEME, word_wrap=True, padding=(0, 1))

    # -- output --------------------------------------------------------------------------------
    def _print_markdown(self, text: str) -> None:
        """Render a block without the blank line rich puts before a list, table or quote rendered
        alone: blocks are separated here (_start_block). The later parts of a long block also lose
        any blank top lines (a table's padding row), so the parts join up."""
        self._stop_live()
        segments = list(self.console.render(Markdown(text, code_theme=CODE_THEME)))
        start = 0
        while start < len(segments):
            end = next((i for i in range(start, len(segments)) if "\n" in segments[i].text), None)
            if end is None:
                break
            first_line = "".join(s.text for s in segments[start:end + 1])
            blank = first_line == "\n" or (self._continuing and not first_line.strip())
            if not blank or first_line.count("\n") > 1:
                break
            start = end + 1
        self.console.print(Segments(segments[start:]), end="")

    def _print(self, renderable: Any) -> None:
        self._stop_live()
        self.console.print(renderable)

    def _show_open(self) -> None:
        now = self._clock()
        if self._live is not None and now - self._last_refresh < self.refresh_seconds:
            return  # checked first: building the view costs O(open block)
        partial = "".join(self._partial)
        if self._fence is not None:
            view: Any = self._code_line(partial) if partial else None
        elif self._block or partial:
            view = self._open_view(partial)
        else:
            view = None
        if view is None:
            self._stop_live()
            return
        if self._live is None:
            self._live = Live(console=self.console, auto_refresh=False, transient=True,
                              vertical_overflow="crop")
            self._live.start()
        self._last_refresh = now
        self._live.update(view, refresh=True)

    def _open_view(self, partial: str) -> Any:
        text = "\n".join([*self._block, partial]) if self._block else partial
        room = max(self.console.height - 2, 1) * max(self.console.width, 1)
        if len(text) > room:  # one huge line: show its end, plain, until the block is done
            return Text(text[-room:])
        return Markdown(text, code_theme=CODE_THEME)

    def _stop_live(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None


def _lexer(name: str) -> Any:
    """A pygments lexer for a fence's info string (plain text when unknown), looked up once per block."""
    from pygments.lexers import get_lexer_by_name
    from pygments.util import ClassNotFound

    try:
        return get_lexer_by_name(name or "text")
    except ClassNotFound:
        return get_lexer_by_name("text")
