"""The recorded `llmcli chat` session of docs/transcripts/chat.txt, also run as a test.

    python -m tests.e2e.chat_transcript docs/transcripts/chat.txt

Two fake OpenAI-compatible servers (tests/fakes/openai_server.py) run in this process; the installed
`llmcli chat` runs in a real pseudo-terminal. The session: two turns on fake-a, `/provider fake-b`,
a third turn (fake-b must receive the earlier turns), Ctrl-C during a long reply, a fourth turn,
Ctrl-D. The transcript is the terminal screen as the user saw it (tests/e2e/pty_session.py renders
the escape sequences), then what fake-b received and what history saved.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import sys
import tempfile
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from tests.e2e.helpers import openai_provider_config, write_config
from tests.e2e.pty_session import PtySession
from tests.fakes.openai_server import openai_server

KEY_A = "sk-fake-a-0123456789"
KEY_B = "sk-fake-b-0123456789"
LONG_REPLY = " ".join(f"Word{i}" for i in range(1, 401))


@dataclass
class Recording:
    screen: str
    exit_status: int
    third_turn_request: list[dict]  # the messages fake-b received for the third turn
    fourth_turn_request: list[dict]  # ... and for the turn after the interrupted one
    saved: list[tuple]  # (role, provider, model, finish_reason, complete, text) from history.db
    requests_a: int
    requests_b: int


def chat_env(base_env: dict[str, str], home: Path) -> dict[str, str]:
    env = dict(base_env, LLMCLI_HOME=str(home), LLMCLI_FAKE_A_API_KEY=KEY_A, LLMCLI_FAKE_B_API_KEY=KEY_B)
    env["PYTHON_KEYRING_BACKEND"] = "keyring.backends.null.Keyring"
    env["NO_PROXY"] = "127.0.0.1,localhost"
    return env


def record(exe: str, base_env: dict[str, str], home: Path) -> Recording:
    with ExitStack() as stack:
        a = stack.enter_context(openai_server(api_key=KEY_A, reply="**Paris** is the capital of France."))
        b = stack.enter_context(openai_server(api_key=KEY_B))
        write_config(home, openai_provider_config("fake-a", a.url + "/v1", "gpt-fake")
                     + openai_provider_config("fake-b", b.url + "/v1", "llama-fake", default=False))
        chat = PtySession(exe, ["chat"], chat_env(base_env, home), rows=30, cols=96)
        stack.callback(chat.close)

        chat.expect("fake-a/gpt-fake>")
        chat.line("What is the capital of France?")
        chat.expect("is the capital of France.")
        chat.expect("fake-a/gpt-fake>")

        a.state.reply = "**Rome**, since 1871."
        chat.line("And of Italy?")
        chat.expect("since 1871.")
        chat.expect("fake-a/gpt-fake>")

        chat.line("/provider fake-b")
        chat.expect("now using fake-b/llama-fake")
        chat.expect("fake-b/llama-fake>")

        b.state.reply = "We talked about:\n\n1. Paris, capital of France\n2. Rome, capital of Italy"
        chat.line("Which two cities did we just talk about?")
        chat.expect("Rome, capital of Italy")
        chat.expect("fake-b/llama-fake>")
        third_turn = b.requests[-1].json["messages"]

        b.state.reply, b.state.chunk_interval = LONG_REPLY, 0.02
        chat.line("Now tell me a very long story.")
        chat.expect("Word40 ")
        chat.ctrl("c")
        chat.expect("[interrupted: the partial reply is kept]")
        chat.expect("fake-b/llama-fake>")

        b.state.reply, b.state.chunk_interval = "Once upon a time, a terminal asked for less — and got it.", 0
        chat.line("Sorry, one sentence is enough.")
        chat.expect("and got it.")
        chat.expect("fake-b/llama-fake>")
        fourth_turn = b.requests[-1].json["messages"]

        chat.ctrl("d")
        status = chat.wait_exit()
        screen = chat.screen()
        requests_a = len([r for r in a.requests if r.path.endswith("/chat/completions")])
        requests_b = len([r for r in b.requests if r.path.endswith("/chat/completions")])

    conn = sqlite3.connect(f"file:{home / 'history.db'}?mode=ro", uri=True)
    try:
        saved = conn.execute("SELECT role, provider, model, finish_reason, complete, text FROM messages "
                             "ORDER BY seq").fetchall()
    finally:
        conn.close()
    return Recording(screen, status, third_turn, fourth_turn, saved, requests_a, requests_b)


def transcript(rec: Recording) -> str:
    lines = [
        "# llmcli chat — a recorded session",
        "#",
        "# Recorded by `python -m tests.e2e.chat_transcript docs/transcripts/chat.txt`: the installed",
        "# `llmcli chat` in a real pseudo-terminal (96x30), talking to two fake OpenAI-compatible",
        "# servers (tests/fakes/openai_server.py) configured as providers fake-a and fake-b.",
        "# What was typed: two questions on fake-a, `/provider fake-b`, a third question, a request for",
        "# a long story interrupted with Ctrl-C while it streamed, a fourth question, then Ctrl-D.",
        "# The screen below is what the terminal showed (escape sequences rendered; colours dropped);",
        "# status lines such as `now using …` and `[interrupted …]` were written to stderr.",
        "",
        "-" * 96,
        rec.screen.rstrip(),
        "-" * 96,
        f"exit status: {rec.exit_status}",
        "",
        "# What fake-b received for the third question (the turns asked of fake-a came along):",
        json.dumps(rec.third_turn_request, ensure_ascii=False, indent=2),
        "",
        f"# Requests: fake-a {rec.requests_a}, fake-b {rec.requests_b}.",
        "# What history saved (role, provider, model, finish_reason, complete, first 40 characters):",
    ]
    for role, provider, model, finish, complete, text in rec.saved:
        short = " ".join(text.split())
        short = short if len(short) <= 40 else short[:39] + "…"
        lines.append(f"{role:<9} {provider or '-':<7} {model or '-':<11} {finish or '-':<12} "
                     f"{'yes' if complete else 'no':<4} {short}")
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    target = Path(argv[0]) if argv else None
    exe = shutil.which("llmcli", path=str(Path(sys.executable).parent)) or shutil.which("llmcli")
    if not exe:
        print("the llmcli console script is not installed (pip install -e '.[test]')", file=sys.stderr)
        return 1
    base = {k: v for k, v in os.environ.items()
            if not k.startswith(("LLMCLI_", "GIGACHAT_", "YC_", "OPENAI_"))}
    with tempfile.TemporaryDirectory() as home:
        text = transcript(record(exe, base, Path(home)))
    if target:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
