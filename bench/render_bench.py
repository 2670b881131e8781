"""Is streaming Markdown linear? CPU time of rendering an N-line answer into a real pseudo-terminal.

    python bench/render_bench.py                 # 2,000 vs 4,000 lines, 3 runs each
    python bench/render_bench.py --lines 1000 2000 4000 8000 --runs 5 --chunk 4
    python bench/render_bench.py --interval 0    # the real clock (see below)

Each run starts a child process on a fresh pty (100x40, TERM=xterm-256color, so rich renders
colour and the live region exactly as for a user), which streams a generated answer through
llmcli.render.MarkdownStream in `--chunk`-character deltas (like model tokens) as fast as it can.
The parent drains the terminal. The child reports the CPU time (user + system) of the streaming
alone — imports and generating the text are excluded. The best of the runs is kept per size.

The live region is redrawn at most every 50 ms. By default the renderer is given a stream clock
that advances `--interval` (1/64 s) per delta, as a fast model's stream would, so the number of
redraws is fixed by the answer. With `--interval 0` it runs on the real clock: deltas arrive as
fast as the renderer takes them, and on a busy machine every delta takes longer, so more redraws
fall into the same answer — the CPU ratio then drifts with the machine's load, not the renderer.

The answer mixes what models write: headings, paragraphs, bullet and numbered lists, tables, quotes
and fenced code, plus one long list, one long table and one long code block that grow with N, so a
renderer that re-renders an open block per chunk shows up as super-linear.

Pass: CPU(4,000 lines) < 2.3 x CPU(2,000 lines). Exit status 1 otherwise.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import pty
import select
import struct
import subprocess
import sys
import tempfile
import termios
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LIMIT = 2.3

SECTION = """\
## Section {n}

This paragraph explains point {n} with **bold**, *italic* and `inline code`, and runs on
for a second line so that it wraps like real prose does in a terminal window.

- first bullet of section {n}
- second bullet with a [link](https://example.com/{n})
- third bullet

1. step one
2. step two

```python
def handler_{n}(request):
    value = request.get("key", {n})
    return {{"status": "ok", "value": value * 2}}
```

| name | value | note |
|------|------:|------|
| a{n} | {n} | first |
| b{n} | {n}0 | second |

> A quote for section {n}.
"""


def answer(lines: int) -> str:
    """About `lines` lines of Markdown: repeated sections, then a long list, table and code block."""
    body: list[str] = []
    n = 0
    while len(body) < lines * 0.7:
        n += 1
        body += SECTION.format(n=n).splitlines() + [""]
    tail = (lines - len(body)) // 3
    body += [f"- long list item {i} with some words in it" for i in range(tail)] + [""]
    body += ["| id | square |", "|---:|---:|"] + [f"| {i} | {i * i} |" for i in range(tail)] + [""]
    body += ["```js"] + [f"console.log({i}, 'line {i}');" for i in range(lines - len(body) - 1)] + ["```"]
    return "\n".join(body[:lines]) + "\n"


class StreamClock:
    """The time as a model stream would make it: `interval` seconds more at every delta. The live
    region is redrawn at most every 50 ms *of this clock*, so the number of redraws depends on the
    answer, not on how busy the machine is (with the real clock a loaded machine redraws more often
    per delta, and CPU time stops measuring the renderer)."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.ticks = 0

    def tick(self) -> None:
        self.ticks += 1

    def __call__(self) -> float:
        return self.ticks * self.interval  # exact for binary fractions such as 1/64: no drift


def child(lines: int, chunk: int, interval: float, result_file: str) -> None:
    sys.path.insert(0, str(ROOT))
    from rich.console import Console

    from llmcli.render import MarkdownStream

    text = answer(lines)
    clock = StreamClock(interval)
    stream = MarkdownStream(Console(highlight=False, soft_wrap=False),
                            **({"clock": clock} if interval > 0 else {}))
    times_started = os.times()
    started, wall_started = time.process_time(), time.perf_counter()
    for i in range(0, len(text), chunk):
        clock.tick()
        stream.feed(text[i:i + chunk])
    stream.close()
    sys.stdout.flush()
    cpu, wall = time.process_time() - started, time.perf_counter() - wall_started
    times = os.times()
    Path(result_file).write_text(json.dumps({
        "cpu": cpu, "wall": wall, "user": times.user - times_started.user,
        "system": times.system - times_started.system, "chars": len(text), "lines": text.count("\n")}))


def run_once(lines: int, chunk: int, interval: float) -> dict:
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 100, 0, 0))
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "COLUMNS", "LINES")}
    env["TERM"] = "xterm-256color"
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as handle:
        result_file = handle.name
    proc = subprocess.Popen([sys.executable, __file__, "--child", str(lines), "--chunk", str(chunk),
                             "--interval", str(interval), "--result", result_file], stdin=slave, stdout=slave, stderr=slave,
                            env=env, close_fds=True, start_new_session=True)
    os.close(slave)
    received = 0
    try:
        while True:
            ready, _, _ = select.select([master], [], [], 0.5)
            if ready:
                try:
                    data = os.read(master, 1 << 16)
                except OSError:  # EIO: the child closed the terminal
                    break
                if not data:
                    break
                received += len(data)
            elif proc.poll() is not None:
                break
        proc.wait(timeout=60)
    finally:
        os.close(master)
    if proc.returncode != 0:
        raise SystemExit(f"child failed with status {proc.returncode}")
    result = json.loads(Path(result_file).read_text())
    os.unlink(result_file)
    result["terminal_bytes"] = received
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lines", type=int, nargs="+", default=[2000, 4000])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--chunk", type=int, default=6, help="characters per streamed delta")
    parser.add_argument("--interval", type=float, default=1 / 64,
                        help="seconds between deltas on the stream clock (0: the real clock, deltas as fast "
                             "as the renderer takes them)")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.child, args.chunk, args.interval, args.result)
        return 0

    best: dict[int, dict] = {}
    clock = f"stream clock, {args.interval * 1000:.3g} ms per delta" if args.interval > 0 else "real clock"
    print(f"# {args.chunk}-character deltas, {clock}, best of {args.runs} runs")
    print(f"{'lines':>6} {'chars':>8} {'deltas':>7} {'tty bytes':>10} {'cpu s (best)':>13} "
          f"{'user':>6} {'sys':>6} {'all runs':>24}")
    runs: dict[int, list[dict]] = {lines: [] for lines in args.lines}
    for _ in range(args.runs):  # sizes take turns, so a change in the machine's load hits all of them
        for lines in args.lines:
            runs[lines].append(run_once(lines, args.chunk, args.interval))
    for lines in args.lines:
        best[lines] = min(runs[lines], key=lambda r: r["cpu"])
        b = best[lines]
        all_runs = " ".join(f"{r['cpu']:.3f}" for r in runs[lines])
        print(f"{lines:>6} {b['chars']:>8} {-(-b['chars'] // args.chunk):>7} {b['terminal_bytes']:>10} "
              f"{b['cpu']:>13.3f} {b['user']:>6.2f} {b['system']:>6.2f} {all_runs:>24}")
    ok = True
    sizes = sorted(best)
    for small, big in zip(sizes, sizes[1:]):
        ratio = best[big]["cpu"] / best[small]["cpu"]
        limit = LIMIT * big / small / 2
        verdict = "ok" if ratio < limit else "TOO SLOW"
        ok = ok and ratio < limit
        print(f"cpu({big}) / cpu({small}) = {ratio:.2f}  (limit {limit:.2f}: {verdict})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
