"""Streaming Markdown (llmcli.render): the streamed result looks like rich's rendering of the whole
answer, a long answer costs linear work, and the live region is bounded."""

from __future__ import annotations

import io

import pytest
from rich.console import Console
from rich.markdown import Markdown

from llmcli import render
from llmcli.render import MarkdownStream

DOC = """\
# Title

First paragraph with **bold** text
that continues here.

- item one
- item two
## Sub heading right after a list
```python
def f(x):
    return x
```

| a | b |
|---|--:|
| 1 | 2 |

> quoted
> more

1. one
2. two

Last para."""


def console(*, terminal: bool = False, width: int = 60, height: int = 30) -> tuple[Console, io.StringIO]:
    buf = io.StringIO()
    return Console(file=buf, width=width, height=height, force_terminal=terminal, color_system=None,
                   highlight=False, soft_wrap=False), buf


def full_render(text: str, width: int = 60) -> str:
    con, buf = console(width=width)
    con.print(Markdown(text))
    return buf.getvalue()


def streamed(text: str, step: int, **kwargs) -> str:
    con, buf = console(**kwargs)
    stream = MarkdownStream(con, refresh_seconds=0)
    for i in range(0, len(text), step):
        stream.feed(text[i:i + step])
    stream.close()
    return buf.getvalue()


@pytest.mark.parametrize("step", [1, 3, 17, 10_000])
def test_streamed_output_equals_rendering_the_whole_answer(step) -> None:
    assert streamed(DOC, step) == full_render(DOC)


def test_a_fence_with_more_backticks_can_hold_a_shorter_one() -> None:
    doc = "````markdown\n```python\nx = 1\n```\n````\n\nafter"
    out = streamed(doc, 4)
    assert out == full_render(doc)
    assert "```python" in out and "after" in out


def test_unclosed_fence_and_missing_final_newline_are_flushed_on_close() -> None:
    out = streamed("intro\n\n```\ncode line\npartial last", 5)
    assert "code line" in out and "partial last" in out


def words_per_line(text: str) -> list[list[str]]:
    """Rendered lines as words: the same text, whatever the padding (number columns may differ
    in width between the parts of a long list)."""
    return [line.split() for line in text.strip("\n").splitlines()]


def test_long_list_is_flushed_in_parts_that_join_up() -> None:
    doc = "\n".join(f"{i}. item number {i}" for i in range(1, 101))
    out = streamed(doc, 7, height=20)
    assert not out.startswith("\n")  # rich puts a blank line before a list rendered alone; not here
    assert words_per_line(out) == words_per_line(full_render(doc))  # numbering goes on, no gaps


def test_long_table_repeats_its_header_in_each_part() -> None:
    doc = "| id | sq |\n|---|---|\n" + "\n".join(f"| {i} | {i * i} |" for i in range(60))
    out = streamed(doc, 9, height=20)
    lines = out.splitlines()
    assert sum(1 for line in lines if line.split() == ["id", "sq"]) >= 3
    rows = [line.split() for line in lines if line.split()[:1] and line.split()[0].isdigit()]
    assert rows == [[str(i), str(i * i)] for i in range(60)]  # every row once, in order


def test_a_long_paragraph_continuation_never_becomes_a_code_block() -> None:
    doc = "- item\n" + "\n".join("    continued line of the same item" for _ in range(40))
    out = streamed(doc, 11, height=12)
    assert out == full_render(doc).lstrip("\n")


def test_live_region_is_transient_on_a_terminal() -> None:
    con, buf = console(terminal=True)
    stream = MarkdownStream(con, refresh_seconds=0)
    for piece in ("Hello ", "wor", "ld\n\n- a", "\n- b\n"):
        stream.feed(piece)
    stream.close()
    raw = buf.getvalue()
    live, final = raw.find("Hello wor "), raw.find("Hello world")
    assert -1 < live < final and "\x1b[2K" in raw[live:final]  # shown while open, erased, printed
    assert raw.count("Hello world") == 1  # a finished block is printed once, never redrawn


@pytest.mark.parametrize("kind", ["paragraph", "list", "table", "code", "long line"])
def test_work_per_chunk_does_not_grow_with_the_answer(monkeypatch, kind) -> None:
    """Characters handed to rich (live view and final blocks), for answers of N and 2N lines, with a
    redraw after every 4-character delta: linear work keeps the ratio near 2; re-rendering the open
    block or the answer per chunk would give ~4. rich itself is stubbed out: only our work counts."""
    handed = {"chars": 0}

    class Counted:
        def __init__(self, text, *args, **kwargs) -> None:
            handed["chars"] += len(text)

        def __rich_console__(self, console, options):
            return iter(())

    for name in ("Markdown", "Text", "Syntax"):
        monkeypatch.setattr(render, name, Counted)

    def answer(lines: int) -> str:
        if kind == "paragraph":
            return "\n".join(f"word {i} of a long paragraph" for i in range(lines))
        if kind == "list":
            return "\n".join(f"- item {i}" for i in range(lines))
        if kind == "table":
            return "| a | b |\n|---|---|\n" + "\n".join(f"| {i} | x |" for i in range(lines))
        if kind == "code":
            return "```\n" + "\n".join(f"print({i})" for i in range(lines)) + "\n```"
        return " ".join(f"w{i}" for i in range(lines * 5))

    def cost(lines: int) -> int:
        handed["chars"] = 0
        con, _ = console(terminal=True, height=24)
        stream = MarkdownStream(con, refresh_seconds=0)
        text = answer(lines)
        for i in range(0, len(text), 4):
            stream.feed(text[i:i + 4])
        stream.close()
        return handed["chars"]

    small, big = cost(400), cost(800)
    assert small > 0
    assert big / small < 2.3
