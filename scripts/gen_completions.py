"""Regenerate the shell completion scripts in completions/ with typer's own completion machinery.

    python scripts/gen_completions.py           # (re)write completions/
    python scripts/gen_completions.py --check   # exit 1 and name the stale files, write nothing

The scripts are what `_LLMCLI_COMPLETE=source_<shell> llmcli` prints. They call back into llmcli for
every completion, so new commands and options need no regeneration — a typer upgrade that changes
the callback protocol does, and tests/test_completions.py notices.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGETS = {"bash": "llmcli.bash", "zsh": "_llmcli", "fish": "llmcli.fish"}


def render(shell: str) -> str:
    """The completion script for `shell`, as typer generates it for the `llmcli` program."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("_LLMCLI_")}
    env["_LLMCLI_COMPLETE"] = f"source_{shell}"
    proc = subprocess.run([sys.executable, "-m", "llmcli"], env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    if proc.returncode != 0 or not proc.stdout.strip():
        raise SystemExit(f"cannot run `{sys.executable} -m llmcli` (is llmcli installed for this Python? "
                         f"try .venv/bin/python):\n{proc.stderr.strip()}")
    # zsh needs `#compdef` on the first line of an fpath file; typer starts with a blank line.
    return proc.stdout.strip("\n") + "\n"


def stale(folder: Path = ROOT / "completions") -> list[str]:
    """Files in `folder` that differ from what typer generates now."""
    found = []
    for shell, name in TARGETS.items():
        path = folder / name
        if not path.exists() or path.read_text(encoding="utf-8") != render(shell):
            found.append(name)
    return found


def main(argv: list[str]) -> int:
    folder = ROOT / "completions"
    if "--check" in argv:
        names = stale(folder)
        for name in names:
            print(f"stale: completions/{name}", file=sys.stderr)
        return 1 if names else 0
    folder.mkdir(exist_ok=True)
    for shell, name in TARGETS.items():
        (folder / name).write_text(render(shell), encoding="utf-8")
        print(f"wrote completions/{name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
