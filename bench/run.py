"""Run the issue-9 benchmark: llmcli, simonw/llm and shell-gpt side by side, against the same fake servers.

    .venv/bin/python bench/run.py                 # everything, 5 rounds after a warm-up
    .venv/bin/python bench/run.py --rounds 9 --only startup ask
    .venv/bin/python bench/run.py --readme        # also write the table into bench/README.md

Groups (--only): startup (--version, --help, completion), ask (instant server, peak memory),
slow (300 ms + 50 chunks over 500 ms: first byte, overhead), flood (10,000 chunks: CPU),
history (100k messages: list, search), render (Markdown 2,000 vs 4,000 lines in a pty, llmcli only).
Peers are installed on the first run into bench/.venvs (pip), homes and databases live in bench/.work.
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from cases import Row, ask, fill, history_cases, startup_cases
from harness import load_average, measure
from report import machine, table, write_readme
from seed import seed
from servers import SLOW_CHUNKS, SLOW_DELAY, SLOW_INTERVAL, fake_servers, server_floor
from tools import BENCH, WORK, make_tools, snapshot

GROUPS = ("startup", "ask", "slow", "flood", "history", "render")


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run_rows(pairs, rounds: int) -> list[Row]:
    rows = []
    for row, invocations in pairs:
        log(f"- {row.case}  (load {load_average()[0]:.2f})")
        rows.append(fill(row, measure(invocations, rounds, row.case, log=log)))
    return rows


def ask_rows(tools, rounds: int) -> list[Row]:
    log(f"- ask, instant server  (load {load_average()[0]:.2f})")
    result = measure({n: ask(t, "instant") for n, t in tools.items()}, rounds, "ask instant", log=log)
    return [fill(Row("`ask`, instant server, history saved", "wall", "s", target=0.45, peer_factor=2.0), result),
            fill(Row("`ask`, instant server: CPU (user+sys, helpers included)", "cpu", "s"), result),
            fill(Row("peak memory of `ask`: its largest process", "max_rss_mib", "MiB"), result),
            fill(Row("peak memory of `ask`: all its processes added up", "tree_rss_mib", "MiB", target=80),
                 result)]


def slow_rows(tools, urls, rounds: int) -> list[Row]:
    first, total = server_floor(urls["slow"], rounds)
    nominal = SLOW_DELAY + (SLOW_CHUNKS - 1) * SLOW_INTERVAL
    log(f"- ask, slow server: the server alone takes {total:.3f} s (nominal {nominal:.2f} s), "
        f"first byte {first:.3f} s  (load {load_average()[0]:.2f})")
    result = measure({n: ask(t, "slow") for n, t in tools.items()}, rounds, "ask slow", log=log)
    floor_note = f"server alone: first byte {first:.3f} s, whole stream {total:.3f} s (stdlib client)"
    ttfb = fill(Row("`ask`, 300 ms + 500 ms server: first byte on stdout", "first_byte", "s", target=0.45), result)
    overhead = fill(Row("`ask`, 300 ms + 500 ms server: overhead (wall − server)", "overhead", "s",
                        target=0.20, peer_factor=3.0), result, floor=total)
    overhead.notes.append(floor_note)
    return [ttfb, overhead]


def flood_rows(tools, rounds: int) -> list[Row]:
    log(f"- 10,000-chunk stream  (load {load_average()[0]:.2f})")
    result = measure({n: ask(t, "flood") for n, t in tools.items()}, rounds, "flood", log=log)
    return [fill(Row("10,000-chunk stream, piped: CPU (user+sys)", "cpu", "s", target=1.0), result),
            fill(Row("10,000-chunk stream, piped: wall", "wall", "s"), result)]


def render_rows(source: Path | None) -> list[Row]:
    log(f"- Markdown rendering in a pty (bench/render_bench.py)  (load {load_average()[0]:.2f})")
    script = (source or BENCH.parent) / "bench" / "render_bench.py"  # it imports llmcli from beside itself
    out = subprocess.run([sys.executable, str(script), "--lines", "2000", "4000"],
                         capture_output=True, text=True, check=False)
    cpu = {int(m.group(1)): float(m.group(2))
           for m in re.finditer(r"^\s*(\d+)\s+\d+\s+\d+\s+\d+\s+([\d.]+)", out.stdout, re.MULTILINE)}
    rows = []
    for lines in sorted(cpu):
        row = Row(f"Markdown answer of {lines:,} lines in a pty: CPU (best of 3)", "cpu", "s")
        row.medians["llmcli"] = cpu[lines]
        rows.append(row)
    if len(cpu) == 2:
        ratio = Row("Markdown rendering: CPU(4,000 lines) / CPU(2,000 lines)", "ratio", "×", target=2.3)
        ratio.medians["llmcli"] = cpu[4000] / cpu[2000]
        ratio.notes.append("linear ≈ 2.0")
        rows.append(ratio)
    else:
        log(f"  ! render_bench failed: {out.stdout[-400:]} {out.stderr[-400:]}")
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--only", nargs="+", choices=GROUPS, default=list(GROUPS))
    parser.add_argument("--readme", action="store_true", help="write the table into bench/README.md")
    parser.add_argument("--worktree", action="store_true",
                        help="measure the working tree as it is (default: a snapshot of HEAD)")
    args = parser.parse_args(argv)

    started, clock = datetime.now(timezone.utc), time.monotonic()
    load_before = load_average()
    rows: list[Row] = []
    with fake_servers() as urls:
        source, commit = (None, "working tree") if args.worktree else snapshot()
        tools = make_tools(urls, source)
        tools["llmcli"].version += f" at {commit}"
        if "history" in args.only:
            seed(tools, log=log)
        if "startup" in args.only:
            rows += run_rows(startup_cases(tools), args.rounds)
        if "ask" in args.only:
            rows += ask_rows(tools, args.rounds)
        if "slow" in args.only:
            rows += slow_rows(tools, urls, args.rounds)
        if "flood" in args.only:
            rows += flood_rows(tools, args.rounds)
        if "history" in args.only:
            rows += run_rows(history_cases(tools), args.rounds)
    if "render" in args.only:
        rows += render_rows(source)
    load_after = load_average()

    header = machine(started, args.rounds, load_before, load_after, {n: t.version for n, t in tools.items()})
    text = header + "\n\n" + table(rows)
    print(text)
    WORK.mkdir(parents=True, exist_ok=True)
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    (WORK / f"results-{stamp}.json").write_text(json.dumps({
        "started": started.isoformat(), "python": platform.python_version(), "rounds": args.rounds,
        "load_before": load_before, "load_after": load_after,
        "rows": [row.__dict__ | {"verdict": row.verdict()} for row in rows],
    }, indent=1, default=str))
    if args.readme:
        write_readme(text)
        log("bench/README.md updated")
    log(f"done in {time.monotonic() - clock:.0f} s; raw figures in bench/.work/results-{stamp}.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
