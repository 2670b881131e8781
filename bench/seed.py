"""A big history for the history cases: 100,000 messages, through each tool's own public path.

The same deterministic corpus (random.Random(9)) goes to both tools that keep history:
25,000 conversations of two exchanges (user, assistant, user, assistant) = 100,000 messages.
- llmcli: `llmcli history import corpus.jsonl` (the `history export` format);
- llm: its own Python API — `Response.from_dict(...)` logged with `llm.logs.LogStore` in llm's venv,
  50,000 responses (prompt + reply = 100,000 messages), one thread per conversation.
shell-gpt keeps no history outside `--chat` sessions, so it has no row in these cases.

Seeding runs once per bench/.work folder (a marker file records it); later runs reuse the databases.
About 1 in 150 messages mentions SEARCH_WORD, so a search has a few hundred hits to rank.
"""

from __future__ import annotations

import json
import random
import subprocess
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

from tools import VENVS, WORK, Tool

CONVERSATIONS = 25_000
SEARCH_WORD = "kubernetes"
MARKER = "seeded-100k-v1"

_SYLLABLES = ["ka", "lo", "mi", "ten", "ra", "so", "vi", "du", "pe", "gor", "an", "sel", "tri", "ob", "nu"]

_LLM_SCRIPT = r"""
import json, sys, sqlite_utils, llm
from llm.logs import LogStore
from llm.migrations import migrate
from llm.models import Response
db = sqlite_utils.Database(sys.argv[2])
migrate(db)
db.execute("PRAGMA synchronous=OFF")  # seeding speed only; the measured runs use llm's own settings
model = llm.get_model("bench-instant")
store = LogStore(db)
text = lambda t: [{"type": "text", "text": t}]
for line in open(sys.argv[1], encoding="utf-8"):
    conv = json.loads(line)
    msgs = conv["messages"]
    thread = store.ensure_thread(conv["id"], name=conv["title"])
    chain = []
    for i in range(0, len(msgs), 2):
        user, reply = msgs[i], msgs[i + 1]
        chain.append({"role": "user", "parts": text(user["text"])})
        data = {"model": "bench-instant", "prompt": {"messages": list(chain)},
                "messages": [{"role": "assistant", "parts": text(reply["text"])}],
                "usage": {"input": reply["prompt_tokens"], "output": reply["completion_tokens"]},
                "datetime_utc": reply["created_at"]}
        store.log(Response.from_dict(data, model=model), thread_id=thread)
        chain.append({"role": "assistant", "parts": text(reply["text"])})
"""


def _vocabulary(rng: random.Random, size: int = 3000) -> list[str]:
    words = set()
    while len(words) < size:
        words.add("".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(1, 4))))
    return sorted(words)


def _sentence(rng: random.Random, words: list[str], n: int) -> str:
    picked = rng.choices(words, k=n)
    if rng.random() < 1 / 150:
        picked[rng.randrange(n)] = SEARCH_WORD
    return " ".join(picked).capitalize() + "."


def corpus() -> Iterator[dict]:
    rng = random.Random(9)
    words = _vocabulary(rng)
    start = datetime(2025, 1, 1, tzinfo=timezone.utc)
    for c in range(CONVERSATIONS):
        moment = start + timedelta(minutes=21 * c)
        messages = []
        for turn in range(2):
            asked = moment + timedelta(minutes=turn)
            question = _sentence(rng, words, rng.randint(8, 40))
            answer = " ".join(_sentence(rng, words, rng.randint(8, 30)) for _ in range(rng.randint(2, 8)))
            messages.append({"id": f"{c:08d}{turn}u".ljust(32, "0"), "role": "user", "text": question,
                             "created_at": asked.isoformat()})
            messages.append({"id": f"{c:08d}{turn}a".ljust(32, "0"), "role": "assistant", "text": answer,
                             "created_at": (asked + timedelta(seconds=3)).isoformat(),
                             "provider": "bench-instant", "model": "gpt-fake", "finish_reason": "stop",
                             "complete": True, "prompt_tokens": len(question.split()),
                             "completion_tokens": len(answer.split()), "latency_ms": 900})
        yield {"format": "llmcli.conversation.v1", "id": f"{c:08d}".ljust(32, "c"),
               "title": messages[0]["text"][:60], "created_at": moment.isoformat(),
               "updated_at": messages[-1]["created_at"], "parent_id": None, "messages": messages}


def write_corpus(path: Path) -> Path:
    if not path.exists():
        tmp = path.with_suffix(".tmp")
        with tmp.open("w", encoding="utf-8") as handle:
            for conversation in corpus():
                handle.write(json.dumps(conversation, ensure_ascii=False) + "\n")
        tmp.rename(path)
    return path


def seed(tools: dict[str, Tool], log: Callable[[str], None] = print) -> None:
    data = write_corpus(WORK / "corpus.jsonl")
    llmcli = tools["llmcli"]
    marker = Path(llmcli.env["LLMCLI_HOME"]) / MARKER
    if not marker.exists():
        log("seeding llmcli: history import of 100,000 messages ...")
        subprocess.run([llmcli.exe, "history", "import", str(data)], env=llmcli.env, check=True)
        marker.touch()
    llm = tools["llm"]
    user_dir = Path(llm.env["LLM_USER_PATH"])
    if not (user_dir / MARKER).exists():
        log("seeding llm: 50,000 logged responses (100,000 messages) through llm's LogStore ...")
        (user_dir / "logs.db").unlink(missing_ok=True)
        subprocess.run([str(VENVS / "llm" / "bin" / "python"), "-c", _LLM_SCRIPT, str(data),
                        str(user_dir / "logs.db")], env=llm.env, check=True)
        (user_dir / MARKER).touch()
