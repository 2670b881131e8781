"""Streaming Markdown for a terminal, in O(total length).

Finished blocks (paragraphs, headings, lists, tables) are rendered once with rich and never touched
again; only the open block is shown live. Lines inside a code fence are printed as they complete, so a
4,000-line code block costs the same per line as a 40-line one. Only imported on a TTY.
"""

from __future__ import annotations

import time

from rich.console import Console
from rich.live import Live
from rich.markdown import Markdown
from rich.text import Text

MAX_OPEN_BLOCK_LINES = 24  # bound the live block so one huge paragraph/list stays linear
LIVE_REFRESH_SECONDS = 0.05


class MarkdownStream:
    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(highlight=False, soft_wrap=False)
        self._partial = ""  # text after the last newline
        self._block: list[str] = []  # complete lines of the open block
        self._fence: str | None = None  # the opening fence marker while inside a code block
        self._live: Live | None = None
        self._last_refresh = 0.0
        self.wrote_anything = False

    # -- input ---------------------------------------------------------------------------------
    def feed(self, text: str) -> None:
        if not text:
            return
        self.wrote_anything = True
        self._partial += text
        if "\n" in self._partial:
            *lines, self._partial = self._partial.split("\n")
            for line in lines:
                self._line(line)
        self._show_open()

    def close(self) -> None:
        if self._partial:
            self._line(self._partial)
            self._partial = ""
        self._flush()
        self._stop_live()

    # -- block logic ---------------------------------------------------------------------------
    def _line(self, line: str) -> None:
        stripped = line.strip()
        if self._fence is not None:
            if stripped.startswith(self._fence) and stripped.strip(self._fence[0]) == "":
                self._fence = None
                return
            self._print(Text(line, style="green"))
            return
        if stripped.startswith(("```", "~~~")):
            self._flush()
            self._fence = stripped[:3]
            return
        if not stripped:
            self._flush()
            return
        if stripped.startswith("#"):
            self._flush()
            self._block.append(line)
            self._flush()
            return
        if len(self._block) >= MAX_OPEN_BLOCK_LINES and stripped[:2] in ("- ", "* ", "+ ", "| "):
            self._flush()
        self._block.append(line)

    def _flush(self) -> None:
        if not self._block:
            return
        text = "\n".join(self._block)
        self._block = []
        self._print(Markdown(text))

    # -- output --------------------------------------------------------------------------------
    def _print(self, renderable) -> None:
        self._stop_live()
        self.console.print(renderable)

    def _show_open(self) -> None:
        open_text = "\n".join([*self._block, self._partial]) if self._block else self._partial
        if not open_text:
            self._stop_live()
            return
        now = time.monotonic()
        if self._live is None:
            self._live = Live(console=self.console, auto_refresh=False, transient=True)
            self._live.start()
        elif now - self._last_refresh < LIVE_REFRESH_SECONDS:
            return
        self._last_refresh = now
        style = "green" if self._fence is not None else ""
        self._live.update(Text(open_text, style=style), refresh=True)

    def _stop_live(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None
