"""Fenced code blocks in a reply (`ask -x` / `--xl`). Pure functions over text.

Fences follow CommonMark where it matters for model output: ``` or ~~~, three or more; the closing
fence uses the same character, is at least as long, and carries no info string; a longer fence can
hold shorter ones. Unlike strict CommonMark, an opening fence may be indented by any amount (models
nest code blocks in list items) and that indentation is removed from the block's lines. A block left
open at the end of the reply (cut off by max_tokens) still counts, marked `closed=False`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_OPENING = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})(?P<info>.*)$")


@dataclass(frozen=True)
class CodeBlock:
    code: str  # the lines between the fences, without a trailing newline
    language: str | None  # the first word of the info string (```python → "python")
    closed: bool  # False when the reply ended inside the block


def code_blocks(text: str) -> list[CodeBlock]:
    """Every fenced code block of `text`, in order."""
    blocks: list[CodeBlock] = []
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        opening = _OPENING.match(lines[index])
        index += 1
        if opening is None:
            continue
        fence, info = opening["fence"], opening["info"].strip()
        if fence[0] == "`" and "`" in info:
            continue  # CommonMark: a backtick fence's info string has no backticks (it is inline code)
        body: list[str] = []
        closed = False
        while index < len(lines):
            line = lines[index]
            index += 1
            if _closes(line, fence):
                closed = True
                break
            body.append(_dedent(line, len(opening["indent"])))
        language = info.split()[0] if info else None
        blocks.append(CodeBlock("\n".join(body), language, closed))
    return blocks


def pick_block(text: str, *, last: bool = False) -> CodeBlock | None:
    """The first (or last) fenced code block of `text`, or None when it has none."""
    blocks = code_blocks(text)
    if not blocks:
        return None
    return blocks[-1] if last else blocks[0]


def _closes(line: str, fence: str) -> bool:
    stripped = line.strip()
    run = len(stripped) - len(stripped.lstrip(fence[0]))
    return run >= len(fence) and stripped == fence[0] * run


def _dedent(line: str, width: int) -> str:
    """Remove up to `width` leading spaces/tabs (the opening fence's indentation)."""
    removed = 0
    while removed < width and removed < len(line) and line[removed] in " \t":
        removed += 1
    return line[removed:]
