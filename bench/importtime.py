"""Where does a command's start-up go? `python -X importtime`, summarised, best of N runs.

    .venv/bin/python bench/importtime.py -- llmcli --help
    .venv/bin/python bench/importtime.py --runs 7 --top 25 -- llmcli history list -n 20
    echo hi | .venv/bin/python bench/importtime.py --stdin -- llmcli ask -p bench-instant hello

Runs the command N times with PYTHONPROFILEIMPORTTIME=1 (so console scripts work as they are),
keeps each module's smallest self time (the least disturbed by other load), and prints the total,
the CPU time of the whole run (user + sys, best of N), and the heaviest packages by self time.
Uses the environment as it is: point LLMCLI_HOME at bench/.work/llmcli to use the bench setup.
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import subprocess
import sys

LINE = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \| (\s*)(\S+)")


def one_run(command: list[str], stdin: bytes | None) -> dict[str, int]:
    env = dict(os.environ, PYTHONPROFILEIMPORTTIME="1")
    proc = subprocess.Popen(command, env=env, stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, err = proc.communicate(stdin)
    selfs: dict[str, int] = {}
    for match in LINE.finditer(err.decode(errors="replace")):
        selfs[match.group(4)] = selfs.get(match.group(4), 0) + int(match.group(1))
    return selfs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--top", type=int, default=20)
    parser.add_argument("--depth", type=int, default=1, help="package name parts to group by")
    parser.add_argument("--stdin", action="store_true", help="pipe this script's stdin to every run")
    parser.add_argument("command", nargs="+")
    args = parser.parse_args(argv)
    stdin = sys.stdin.buffer.read() if args.stdin else None

    best: dict[str, int] = {}
    cpus = []
    for _ in range(args.runs):
        before = os.times()
        selfs = one_run(args.command, stdin)
        after = os.times()
        cpus.append((after.children_user - before.children_user) + (after.children_system - before.children_system))
        for module, micros in selfs.items():
            best[module] = min(best.get(module, micros), micros)
    groups: collections.Counter[str] = collections.Counter()
    for module, micros in best.items():
        groups[".".join(module.split(".")[: args.depth])] += micros
    print(f"{len(best)} modules, {sum(best.values()) / 1000:.1f} ms of import self time (best of {args.runs}); "
          f"whole run CPU {min(cpus):.3f} s (best)")
    for name, micros in groups.most_common(args.top):
        print(f"{micros / 1000:9.1f} ms  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
