"""Regenerate docs/examples.md: one example per command, with the output the installed `llmcli` really
printed.

    python scripts/gen_examples.py                 # write docs/examples.md
    python scripts/gen_examples.py --no-local      # skip the local-model example (no `.[local]` extra)
    python scripts/gen_examples.py -o FILE         # write elsewhere

Each example is run as `bash -c COMMAND` in a real pseudo-terminal (tests/e2e/pty_session.py), so the
screen is what a user sees at a terminal (tables drawn, stderr interleaved). The setting: a fresh
LLMCLI_HOME, no OS keyring (as on a server or in a container), the bundled local model, and a fake
OpenAI-compatible server of the test suite (tests/fakes/openai_server.py) added as provider `my-vllm`;
it answers `echo: <the prompt it received>`, so its replies show what llmcli sent. Before an example is
written, its exit status is checked: a command that behaves differently fails the script.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

SHOWN_HOME = "~/llmcli-demo"
SHOWN_PORT = 8000
DEMO_KEY = "sk-demo-0123456789abcdef"
COLS = 120


@dataclass
class Example:
    title: str
    command: str | Callable[[], str]  # a callable when it needs an id known only at run time
    exit_code: int = 0
    note: str = ""
    typed: tuple[tuple[str, str], ...] = ()  # (line typed, text to wait for) in a REPL, then Ctrl-D


class Demo:
    """A fresh home, a fake server, and a way to run commands in a terminal and record the screen."""

    def __init__(self, exe: str, base_url: str, home: Path, workdir: Path) -> None:
        self.exe_dir = str(Path(exe).parent)
        self.base_url = base_url
        self.home = home
        self.workdir = workdir
        self.env = {k: v for k, v in os.environ.items()
                    if not k.startswith(("LLMCLI_", "GIGACHAT_", "YC_", "OPENAI_"))}
        self.env.update(LLMCLI_HOME=str(home), MY_VLLM_KEY=DEMO_KEY, NO_PROXY="127.0.0.1,localhost",
                        PYTHON_KEYRING_BACKEND="keyring.backends.null.Keyring", COLUMNS=str(COLS),
                        PATH=self.exe_dir + os.pathsep + os.environ.get("PATH", ""), PS1="$ ")

    def run(self, command: str, typed: tuple[tuple[str, str], ...] = ()) -> tuple[str, int]:
        from tests.e2e.pty_session import PtySession

        session = PtySession("bash", ["--noprofile", "--norc", "-c", command], self.env, timeout=180,
                             rows=40, cols=COLS)
        try:
            for line, wait_for in typed:
                session.expect(">", timeout=60)  # the prompt
                session.line(line)
                session.expect(wait_for, timeout=60)
            if typed:
                session.expect(">", timeout=60)
                session.ctrl("d")
            status = session.wait_exit(timeout=300)
            return unwrap(session.screen()), status
        finally:
            session.close()

    def json(self, command: str) -> object:
        import subprocess

        proc = subprocess.run(["bash", "-c", command], env=self.env, capture_output=True, text=True,
                              timeout=60, cwd=self.workdir, check=True)
        return json.loads(proc.stdout)

    def last_id(self) -> str:
        rows = self.json("llmcli history list --json")
        return rows[0]["id"][:6]  # type: ignore[index]

    def shown(self, text: str) -> str:
        """Hide what only this run has: the temporary home and the fake server's port."""
        port = self.base_url.rsplit(":", 1)[1].split("/")[0]
        text = text.replace(str(self.home), SHOWN_HOME).replace(sys.prefix, ".venv")
        return re.sub(rf"(127\.0\.0\.1|localhost):{port}\b", rf"\g<1>:{SHOWN_PORT}", text)


def unwrap(screen: str) -> str:
    """Join the lines the terminal wrapped (a full-width line goes on in the next one): a browser
    shows code blocks unwrapped, and paths are shortened afterwards. Lines that llmcli or rich broke
    themselves are shorter than the terminal and stay as they are."""
    out: list[str] = []
    joining = False
    for line in screen.split("\n"):
        if joining:
            out[-1] += line
        else:
            out.append(line)
        joining = len(line) == COLS
    return "\n".join(out)


def examples(demo: Demo, local: bool) -> list[tuple[str, list[Example]]]:
    url = demo.base_url
    sections: list[tuple[str, list[Example]]] = [("Version", [Example("The version", "llmcli --version")])]
    if local:
        sections.append(("Ask the local model (no key, no network)", [
            Example("A question to the bundled model (the licence notice is shown once)",
                    'llmcli ask -p local "Столица России?"'),
        ]))
    sections += [
        ("Set up a provider", [
            Example("Add an OpenAI-compatible endpoint", f"llmcli providers add my-vllm --kind openai "
                    f"--base-url {url}/v1 --model gpt-fake"),
            Example("Store its key: on a machine without an OS keyring this is refused, with a hint",
                    'printf %s "$MY_VLLM_KEY" | llmcli keys set my-vllm', exit_code=3),
            Example("…so keep it in a 0600 file instead",
                    'printf %s "$MY_VLLM_KEY" | llmcli keys set my-vllm --insecure-storage'),
            Example("Where each key comes from (never the key itself)", "llmcli keys list"),
            Example("Make it the default", "llmcli config set default_provider my-vllm"),
            Example("Where the settings file is", "llmcli config path"),
            Example("The effective settings", "llmcli config show"),
            Example("Every provider", "llmcli providers list"),
            Example("Check that it works", "llmcli providers status my-vllm"),
            Example("Its models", "llmcli models list"),
        ]),
        ("Ask", [
            Example("One question", 'llmcli ask "What is the capital of France?"'),
            Example("Piped input goes after the prompt, separated by a blank line",
                    "printf 'line one\\nline two\\n' | llmcli ask summarize"),
            Example("Token usage and latency on stderr", 'llmcli ask -u "hi"'),
            Example("One JSON object, for scripts", 'llmcli ask --json "2+2?"'),
            Example("Continue the last conversation", 'llmcli ask -c "and in one sentence?"'),
            Example("A provider without a key: exit code 3, a hint, nothing on stdout",
                    'llmcli ask -p gigachat "Привет"', exit_code=3),
        ]),
        ("Roles, files, code blocks, several providers", [
            Example("Built-in roles (and yours, from config.toml)", "llmcli roles list"),
            Example("What a role sends (`git diff | llmcli ask -r commit` uses it)",
                    "llmcli roles show commit"),
            Example("Attach files", "printf 'first line\\nsecond line\\n' > notes.txt && "
                    'llmcli ask -f notes.txt "summarize"'),
            Example("Print only the code block of the reply",
                    "printf '```sh\\ndate -u\\n```\\n' | llmcli ask -x \"one shell command\""),
            Example("When a provider is down before answering, ask the next one",
                    'llmcli ask -p ollama --fallback my-vllm "hi"',
                    note="no Ollama runs on this machine"),
            *([Example("The same question to two providers at once",
                       'llmcli ask -p local,my-vllm "Столица России?"')] if local else []),
            Example("Check the set-up", "llmcli doctor"),
        ]),
        ("Chat", [
            Example("An interactive session: typed `Привет!`, `/usage`, then Ctrl-D", "llmcli chat",
                    typed=(("Привет!", "echo: Привет!"), ("/usage", "tokens"))),
        ]),
        ("History", [
            Example("Recent conversations", "llmcli history list"),
            Example("One conversation", lambda: f"llmcli history show {demo.last_id()}"),
            Example("Full-text search", "llmcli history search capital"),
            Example("Export one conversation as Markdown",
                    lambda: f"llmcli history export --format markdown {demo.last_id()}"),
            Example("Export everything and import it again (nothing is duplicated)",
                    "llmcli history export > all.jsonl && llmcli history import all.jsonl"),
            Example("Usage statistics", "llmcli history stats"),
            Example("Delete a conversation", lambda: f"llmcli history delete {demo.last_id()} --yes"),
        ]),
        ("Clean up", [
            Example("Remove the stored key", "llmcli keys remove my-vllm"),
            Example("Remove the provider", "llmcli providers remove my-vllm"),
        ]),
    ]
    return sections


def render(demo: Demo, local: bool, log: Callable[[str], None]) -> str:
    out = [
        "# Examples with real output",
        "",
        "<!-- Generated by scripts/gen_examples.py; do not edit by hand. -->",
        "",
        "Every command below was run by `scripts/gen_examples.py` with the installed `llmcli`, in a",
        f"terminal {COLS} columns wide; the screen is shown as it was (stdout and stderr together).",
        "The setting: a fresh `LLMCLI_HOME` (shown as `" + SHOWN_HOME + "`), no OS keyring (as on a",
        "server or in a container), the bundled local model, and a local OpenAI-compatible test server",
        "(`tests/fakes/openai_server.py`, shown on port " + str(SHOWN_PORT) + ") added as `my-vllm`. That",
        "server answers `echo: <the last message it received>`, so its replies show what llmcli sent.",
        "Ids, timings and dates differ on every run. The chat in a terminal is shown in more detail in",
        "[transcripts/chat.txt](transcripts/chat.txt).",
        "",
    ]
    for section, items in examples(demo, local):
        out += [f"## {section}", ""]
        for example in items:
            command = example.command() if callable(example.command) else example.command
            started = time.monotonic()
            screen, status = demo.run(command, example.typed)
            log(f"$ {command}  ({time.monotonic() - started:.1f} s)")
            if status != example.exit_code:
                raise SystemExit(f"`{command}` exited with {status}, expected {example.exit_code}:\n{screen}")
            body = demo.shown(screen).rstrip("\n")
            shown_command = demo.shown(command)
            # (a chat's screen already shows what was typed)
            body = f"$ {shown_command}\n{body}" if body else f"$ {shown_command}"
            if status:
                body += f"\n$ echo $?\n{status}"
            title = f"{example.title} ({example.note})" if example.note else example.title
            out += [f"{title}:", "", "```console", body, "```", ""]
    return "\n".join(out).rstrip("\n") + "\n"


def main(argv: list[str]) -> int:
    from tests.fakes.openai_server import openai_server

    local = "--no-local" not in argv
    target = Path(argv[argv.index("-o") + 1]) if "-o" in argv else ROOT / "docs" / "examples.md"
    exe = shutil.which("llmcli", path=str(Path(sys.executable).parent)) or shutil.which("llmcli")
    if not exe:
        print("error: llmcli is not installed (pip install -e '.[test,local]')", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="llmcli-") as tmp, \
            openai_server(api_key=DEMO_KEY) as server:
        home, workdir = Path(tmp) / "home", Path(tmp) / "work"
        workdir.mkdir()
        os.chdir(workdir)  # `history export > all.jsonl` writes here
        demo = Demo(exe, server.url, home, workdir)
        text = render(demo, local, lambda line: print(line, file=sys.stderr))
    target.write_text(text, encoding="utf-8")
    print(f"wrote {target}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
