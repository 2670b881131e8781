"""Running the installed `llmcli` as a user would, and reading what it stored."""

from __future__ import annotations

import sqlite3
import subprocess
from pathlib import Path
from typing import Any, Sequence

ANSI_ESCAPE = "\x1b["


def run(exe: str, args: Sequence[str], env: dict[str, str], *, stdin: bytes | str | None = b"",
        timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run llmcli; stdin defaults to empty (not a TTY), like a script."""
    data = stdin.encode() if isinstance(stdin, str) else stdin
    proc = subprocess.run([exe, *args], input=data, env=env, capture_output=True, timeout=timeout)
    return subprocess.CompletedProcess(proc.args, proc.returncode,
                                       proc.stdout.decode("utf-8", "replace"),
                                       proc.stderr.decode("utf-8", "replace"))


def write_config(home: Path, text: str) -> Path:
    home.mkdir(parents=True, exist_ok=True)
    path = home / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def openai_provider_config(name: str, base_url: str, model: str = "gpt-fake", *, default: bool = True,
                           extra: str = "") -> str:
    head = f'default_provider = "{name}"\n' if default else ""
    return (f'{head}[providers.{name}]\nkind = "openai"\nbase_url = "{base_url}"\nmodel = "{model}"\n'
            f"{extra}")


def db_rows(home: Path, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
    db = home / "history.db"
    assert db.exists(), f"no history database at {db}"
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def one_error_line(stderr: str) -> str:
    """The `error:` line of stderr, asserting there is exactly one and no traceback."""
    assert "Traceback" not in stderr, stderr
    errors = [line for line in stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, stderr
    return errors[0]
