"""The cases of issue 9: what each tool runs, which figure is compared, and the target for llmcli.

A Row is one line of the table: a case, a metric, the median per tool, paired ratios against llmcli
and, where the issue sets one, the target. `value(result, tool)` turns a CaseResult into the figure.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass, field

from harness import CaseResult, Invocation
from seed import SEARCH_WORD
from servers import EXPECTED
from tools import Tool

PROMPT = "What is the capital of France?"
PIPED = b"Answer in one sentence.\n"


def _has(expected: str) -> Callable[[bytes], bool]:
    return lambda out: expected.encode() in out


@dataclass
class Row:
    case: str
    metric: str  # "wall", "first_byte", "cpu", "max_rss_mib", "overhead"
    unit: str  # "s" or "MiB"
    target: float | None = None  # llmcli's median must be ≤ this
    peer_factor: float | None = None  # ... and llm's figure ≥ this × llmcli's (paired)
    medians: dict[str, float] = field(default_factory=dict)
    ratios: dict[str, float] = field(default_factory=dict)  # peer / llmcli, median of paired rounds
    cpu: dict[str, float] = field(default_factory=dict)  # median CPU of the same runs (wall rows only)
    notes: list[str] = field(default_factory=list)

    def verdict(self) -> str:
        ours = self.medians.get("llmcli")
        if ours is None:
            return "not measured"
        missed = []
        if self.target is not None and ours > self.target:
            missed.append(f"MISSED (> {self.target:g} {self.unit})")
        if self.peer_factor is not None:
            ratio = self.ratios.get("llm")
            if ratio is None or ratio < self.peer_factor:
                missed.append(f"MISSED (llm/llmcli < {self.peer_factor:g}×)")
        if missed:
            return "; ".join(missed)
        return "met" if self.target is not None or self.peer_factor is not None else "—"


def fill(row: Row, result: CaseResult, floor: float = 0.0) -> Row:
    """Medians and paired ratios of `row.metric` ("overhead" = wall minus the server's own time)."""
    metric = "wall" if row.metric == "overhead" else row.metric
    shift = floor if row.metric == "overhead" else 0.0
    for tool in result.samples:
        values = result.values(tool, metric)
        if values:
            row.medians[tool] = statistics.median(values) - shift
        if metric == "wall" and result.values(tool, "cpu"):
            row.cpu[tool] = statistics.median(result.values(tool, "cpu"))
    for tool in result.samples:
        if tool != "llmcli":
            ratio = result.paired_ratio(tool, "llmcli", metric, transform=lambda v: v - shift)
            if ratio is not None:
                row.ratios[tool] = ratio
    for tool, error in result.errors.items():
        row.notes.append(f"{tool} failed: {error[:160]}")
    return row


def completion_env(tool: Tool, words: str, cword: int) -> Invocation:
    """A TAB press: each tool's own shell-completion protocol (bash) asked for the next word.

    llm (click) answers its protocol with no candidates at all; it is timed all the same, since a
    TAB press costs that process start whatever it prints."""
    prog = {"llmcli": "LLMCLI", "llm": "LLM", "shell-gpt": "SGPT"}[tool.name]
    style = "bash_complete" if tool.name == "llm" else "complete_bash"  # click vs typer protocol
    env = {f"_{prog}_COMPLETE": style, "COMP_WORDS": words, "COMP_CWORD": str(cword)}
    check = None if tool.name == "llm" else (lambda out: len(out.strip()) > 0)
    return tool.run(env=env, check=check)


def startup_cases(tools: dict[str, Tool]) -> list[tuple[Row, dict[str, Invocation | None]]]:
    t = tools
    return [
        (Row("`--version`", "wall", "s", target=0.05), {n: tool.run("--version") for n, tool in t.items()}),
        (Row("`--help`", "wall", "s", target=0.20), {n: tool.run("--help") for n, tool in t.items()}),
        (Row("completion: first word (`llmcli <TAB>`)", "wall", "s", target=0.25), {
            "llmcli": completion_env(t["llmcli"], "llmcli ", 1),
            "llm": completion_env(t["llm"], "llm ", 1),
            "shell-gpt": completion_env(t["shell-gpt"], "sgpt --", 1),
        }),
        (Row("completion: provider names (`ask -p <TAB>`)", "wall", "s", target=0.25), {
            "llmcli": completion_env(t["llmcli"], "llmcli ask -p ", 3),
        }),
    ]


def ask(tool: Tool, server: str, *, stdin: bytes | None = PIPED) -> Invocation:
    """A prompt plus piped stdin, streamed to a pipe, saved to history where the tool keeps one."""
    check = _has(EXPECTED[server][-40:])
    if tool.name == "llmcli":
        return tool.run("ask", "-p", f"bench-{server}", PROMPT, stdin=stdin, check=check)
    if tool.name == "llm":
        return tool.run("-m", f"bench-{server}", PROMPT, stdin=stdin, check=check)
    # shell-gpt: no response cache (it would skip the request) and plain text (its Markdown mode
    # re-renders the whole answer per chunk even into a pipe)
    return tool.run("--no-cache", "--no-md", PROMPT, stdin=stdin, server=server, check=check)


def history_cases(tools: dict[str, Tool]) -> list[tuple[Row, dict[str, Invocation | None]]]:
    llmcli, llm = tools["llmcli"], tools["llm"]
    found = _has(SEARCH_WORD)
    return [
        (Row("`history list -n 20`, 100k messages (llm: `logs -n 20`)", "wall", "s", target=0.30), {
            "llmcli": llmcli.run("history", "list", "-n", "20", check=lambda out: out.count(b"\n") >= 20),
            "llm": llm.run("logs", "-n", "20", check=lambda out: len(out) > 0),
        }),
        (Row(f"`history search {SEARCH_WORD}`, 100k messages (llm: `logs -q … -n 20`)", "wall", "s",
             target=0.50), {
            "llmcli": llmcli.run("history", "search", SEARCH_WORD, check=found),
            "llm": llm.run("logs", "-q", SEARCH_WORD, "-n", "20", check=found),
        }),
    ]
