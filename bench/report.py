"""The Markdown table (and its header: date, machine, load, versions) that run.py prints and keeps in README."""

from __future__ import annotations

import os
import platform
from datetime import datetime

from cases import Row
from tools import BENCH

TOOLS = ("llmcli", "llm", "shell-gpt")
START, END = "<!-- bench:table:start -->", "<!-- bench:table:end -->"


def machine(started: datetime, rounds: int, load_before, load_after, versions: dict[str, str]) -> str:
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            cpu = next(line.split(":", 1)[1].strip() for line in handle if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    memory = ""
    try:
        with open("/proc/meminfo", encoding="utf-8") as handle:
            kib = int(next(line.split()[1] for line in handle if line.startswith("MemTotal")))
            memory = f", {kib / 1048576:.0f} GiB RAM"
    except (OSError, StopIteration, ValueError):
        pass
    tools = ", ".join(f"{name} `{versions.get(name, '?')}`" for name in TOOLS)
    return "\n".join([
        (f"Run {started:%Y-%m-%d %H:%M} UTC on {platform.system()} {platform.release()}, {cpu}, "
         f"{os.cpu_count()} cores{memory}; CPython {platform.python_version()}."),
        f"Load average (1/5/15 min) before {_load(load_before)}, after {_load(load_after)}.",
        (f"Tools: {tools}. Median of {rounds} rounds after one warm-up run each; ratios are "
         f"peer ÷ llmcli per round (paired), median over rounds — above 1 means llmcli is faster."),
    ])


def _load(values) -> str:
    return "/".join(f"{v:.2f}" for v in values)


def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "n/a"
    if unit == "MiB":
        return f"{value:.0f} MiB"
    if unit == "×":
        return f"{value:.2f}×"
    return f"{value:.3f} s"


def table(rows: list[Row]) -> str:
    lines = [("| case | llmcli | llm | shell-gpt | llm ÷ llmcli | shell-gpt ÷ llmcli | target (llmcli) | result "
              "| CPU s: llmcli / llm / shell-gpt |"),
             "|---|---:|---:|---:|---:|---:|---|---|---:|"]
    notes = []
    for row in rows:
        target = []
        if row.target is not None:
            target.append(f"≤ {_fmt(row.target, row.unit)}")
        if row.peer_factor is not None:
            target.append(f"llm ≥ {row.peer_factor:g}× ours")
        ratios = [f"{row.ratios[t]:.1f}×" if t in row.ratios else "—" for t in ("llm", "shell-gpt")]
        lines.append(f"| {row.case} | " + " | ".join(_fmt(row.medians.get(t), row.unit) for t in TOOLS)
                     + f" | {ratios[0]} | {ratios[1]} | {', '.join(target) or '—'} | {row.verdict()} | "
                     + (" / ".join(f"{row.cpu[t]:.2f}" if t in row.cpu else "—" for t in TOOLS) if row.cpu else "")
                     + " |")
        notes += [f"- {row.case}: {note}" for note in row.notes]
    return "\n".join(lines + ([""] + notes if notes else []))


def write_readme(text: str) -> None:
    path = BENCH / "README.md"
    readme = path.read_text(encoding="utf-8")
    head, _, rest = readme.partition(START)
    _, _, tail = rest.partition(END)
    path.write_text(f"{head}{START}\n{text}\n{END}{tail}", encoding="utf-8")
