"""Files attached to a prompt (`ask -f PATH`): each becomes a labelled, fenced block of text.

Only UTF-8 text is attached. A binary file (a NUL byte, or bytes that are not UTF-8) or one that would
take the input past `max_input_bytes` is refused with a UsageError naming the file: sending a PNG as
mojibake, or a 200 MB log, would only cost money and produce a confusing answer.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from llmcli.errors import UsageError

STDIN_PATH = "-"
STDIN_LABEL = "stdin"

# file suffix -> the info string of its fence, so the model (and a Markdown view) knows the language
LANGUAGES = {
    ".py": "python", ".js": "javascript", ".mjs": "javascript", ".ts": "typescript", ".tsx": "tsx",
    ".jsx": "jsx", ".go": "go", ".rs": "rust", ".java": "java", ".kt": "kotlin", ".c": "c", ".h": "c",
    ".cc": "cpp", ".cpp": "cpp", ".hpp": "cpp", ".cs": "csharp", ".rb": "ruby", ".php": "php",
    ".swift": "swift", ".sh": "sh", ".bash": "bash", ".zsh": "zsh", ".fish": "fish", ".ps1": "powershell",
    ".sql": "sql", ".html": "html", ".css": "css", ".scss": "scss", ".json": "json", ".yaml": "yaml",
    ".yml": "yaml", ".toml": "toml", ".ini": "ini", ".xml": "xml", ".md": "markdown", ".rst": "rst",
    ".tex": "latex", ".r": "r", ".lua": "lua", ".pl": "perl", ".scala": "scala", ".dart": "dart",
    ".diff": "diff", ".patch": "diff", ".dockerfile": "dockerfile", ".tf": "hcl", ".vue": "vue",
}
LANGUAGES_BY_NAME = {"Dockerfile": "dockerfile", "Makefile": "makefile", "CMakeLists.txt": "cmake"}


@dataclass(frozen=True)
class Attachment:
    label: str  # the path as the user typed it, or "stdin"
    text: str
    language: str | None = None

    def fenced(self) -> str:
        """`File: LABEL` and the text in a fence longer than any backtick run inside it."""
        longest = max((len(run) for run in re.findall(r"`+", self.text)), default=0)
        fence = "`" * max(3, longest + 1)
        body = self.text if self.text.endswith("\n") or not self.text else self.text + "\n"
        return f"File: {self.label}\n{fence}{self.language or ''}\n{body}{fence}"


def load_attachments(paths: Sequence[str], *, limit: int, stdin_text: str | None = None) -> list[Attachment]:
    """Read each path (`-` is the already-read `stdin_text`) so that the files and stdin together stay
    within `limit` bytes."""
    attachments: list[Attachment] = []
    remaining = limit - len((stdin_text or "").encode("utf-8"))
    for path in paths:
        if path == STDIN_PATH:
            attachments.append(_stdin_attachment(stdin_text, paths))
            continue
        attachment, size = _read_file(path, remaining, limit)
        remaining -= size
        attachments.append(attachment)
    return attachments


def prompt_inputs(paths: Sequence[str], piped: str | None, *, limit: int) -> list[str]:
    """What goes after the prompt (ask) or into the first message (chat): the attached files as fenced
    blocks, then piped stdin — unless `-f -` already attached it."""
    inputs = [a.fenced() for a in load_attachments(paths, limit=limit, stdin_text=piped)]
    return inputs + ([piped] if piped and STDIN_PATH not in paths else [])


def _stdin_attachment(stdin_text: str | None, paths: Sequence[str]) -> Attachment:
    if list(paths).count(STDIN_PATH) > 1:
        raise UsageError("-f - is given more than once: stdin can be read only once")
    if stdin_text is None:
        raise UsageError("-f - attaches stdin, but nothing is piped in",
                         hint="cat notes.txt | llmcli ask -f - \"summarize\"")
    return Attachment(STDIN_LABEL, stdin_text)


def _read_file(path: str, remaining: int, limit: int) -> tuple[Attachment, int]:
    file = Path(path).expanduser()
    try:
        with file.open("rb") as handle:
            raw = handle.read(max(remaining, 0) + 1)
    except FileNotFoundError:
        raise UsageError(f"cannot attach {path}: no such file") from None
    except IsADirectoryError:
        raise UsageError(f"cannot attach {path}: it is a folder",
                         hint="attach files one by one, e.g. -f src/a.py -f src/b.py") from None
    except OSError as exc:
        raise UsageError(f"cannot attach {path}: {exc.strerror or exc}") from None
    if len(raw) > remaining:
        which = "it is" if remaining == limit else "with the other input it would be"
        raise UsageError(
            f"cannot attach {path}: {which} larger than the {size_text(limit)} input cap",
            hint="attach a smaller part (e.g. `head -c 100000 FILE | llmcli ask -f -`), "
                 "or raise the cap with `llmcli config set max_input_bytes N`",
        )
    return Attachment(path, _decode(path, raw), _language(file)), len(raw)


def _decode(path: str, raw: bytes) -> str:
    nul = raw.find(b"\x00")
    if nul >= 0:
        raise UsageError(f"cannot attach {path}: it looks binary (a NUL byte at offset {nul})",
                         hint="only text files can be attached")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UsageError(
            f"cannot attach {path}: it is not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start})",
            hint=f"if it is text in another encoding, convert it: iconv -f cp1251 -t utf-8 {path} | llmcli ask -f -",
        ) from None
    return text.removeprefix("\ufeff")  # a BOM is an encoding mark, not text


def _language(file: Path) -> str | None:
    return LANGUAGES_BY_NAME.get(file.name) or LANGUAGES.get(file.suffix.lower())


def size_text(n: int) -> str:
    """A byte count as users read it in messages: "2 MiB", "1000 bytes"."""
    return f"{n / 1048576:g} MiB" if n >= 1048576 else f"{n} bytes"
