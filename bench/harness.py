"""Measuring one command run from the outside: wall time, time to the first stdout byte, CPU, peak RSS.

Plain standard library. Each run is a fresh process; `os.wait4` gives that child's own CPU time and
peak resident memory (not the benchmark's, not the fake server's). Cases are measured in rounds that
interleave the tools (llmcli, llm, shell-gpt, llmcli, llm, ...), after one warm-up run of each, so
that a burst of load from elsewhere hits every tool alike; ratios are taken per round (paired), then
their median is reported.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Sample:
    wall: float  # seconds from just before the spawn to the exit
    first_byte: float | None  # seconds from just before the spawn to the first byte on stdout
    cpu: float  # user + system seconds of the child (and of any helper process it waited for)
    max_rss_mib: float  # the largest peak resident set size of the child or a helper it waited for
    tree_rss_mib: float  # the peaks of every process in the child's tree, added up (/proc sampling)
    returncode: int
    stdout: bytes
    stderr: bytes


@dataclass
class Invocation:
    """What to run for one tool in one case."""

    argv: Sequence[str]
    env: dict[str, str]
    stdin: bytes | None = None
    ok_codes: tuple[int, ...] = (0,)
    check: Callable[[bytes], bool] | None = None  # does stdout look right? (a failing tool is not fast)


def run_once(inv: Invocation, timeout: float = 300.0) -> Sample:
    start = time.perf_counter()
    proc = subprocess.Popen(
        list(inv.argv), env=inv.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        stdin=subprocess.PIPE if inv.stdin is not None else subprocess.DEVNULL,
    )
    errors: list[bytes] = []
    err_reader = threading.Thread(target=lambda: errors.append(proc.stderr.read()), daemon=True)
    err_reader.start()
    if inv.stdin is not None:
        feeder = threading.Thread(target=_feed, args=(proc.stdin, inv.stdin), daemon=True)
        feeder.start()
    tree = _TreeSampler(proc.pid)
    out = bytearray()
    first_byte = None
    fd = proc.stdout.fileno()
    while True:
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        if first_byte is None:
            first_byte = time.perf_counter() - start
        out += chunk
    tree_peak = tree.stop()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)  # tell Popen not to wait again
    proc.stdout.close()
    err_reader.join(timeout)
    proc.stderr.close()
    return Sample(wall=wall, first_byte=first_byte, cpu=usage.ru_utime + usage.ru_stime,
                  max_rss_mib=usage.ru_maxrss / 1024, tree_rss_mib=max(tree_peak, usage.ru_maxrss / 1024),
                  returncode=proc.returncode, stdout=bytes(out),
                  stderr=errors[0] if errors else b"")


class _TreeSampler:
    """Every 10 ms, the peak RSS (VmHWM) of the process and all its descendants: a helper process
    (llmcli's history writer) is memory the user pays for too. Linux only; 0 elsewhere."""

    def __init__(self, pid: int) -> None:
        self._root = pid
        self._peaks: dict[int, int] = {}
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._done.wait(0.01):
            self._sample()

    def _sample(self) -> None:
        pending = [self._root]
        while pending:
            pid = pending.pop()
            try:
                with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as handle:
                    for line in handle:
                        if line.startswith("VmHWM:"):
                            self._peaks[pid] = max(self._peaks.get(pid, 0), int(line.split()[1]))
                            break
                for task in os.listdir(f"/proc/{pid}/task"):
                    with open(f"/proc/{pid}/task/{task}/children", encoding="ascii") as handle:
                        pending += [int(child) for child in handle.read().split()]
            except (OSError, ValueError):
                continue

    def stop(self) -> float:
        """Sum of the peaks seen, in MiB (call before reaping the process)."""
        self._sample()
        self._done.set()
        self._thread.join()
        return sum(self._peaks.values()) / 1024


def _feed(pipe, data: bytes) -> None:
    try:
        pipe.write(data)
    except BrokenPipeError:
        pass
    finally:
        try:
            pipe.close()
        except BrokenPipeError:
            pass


class RunFailed(RuntimeError):
    pass


def checked(inv: Invocation, sample: Sample, label: str) -> Sample:
    if sample.returncode not in inv.ok_codes or (inv.check is not None and not inv.check(sample.stdout)):
        raise RunFailed(
            f"{label}: exit {sample.returncode}; stdout {sample.stdout[:200]!r}; "
            f"stderr {sample.stderr[-600:]!r}"
        )
    return sample


@dataclass
class CaseResult:
    samples: dict[str, list[Sample]] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    def values(self, tool: str, metric: str) -> list[float]:
        return [getattr(s, metric) for s in self.samples.get(tool, []) if getattr(s, metric) is not None]

    def median(self, tool: str, metric: str) -> float | None:
        values = self.values(tool, metric)
        return statistics.median(values) if values else None

    def paired_ratio(self, tool: str, base: str, metric: str,
                     transform: Callable[[float], float] = lambda v: v) -> float | None:
        """Median over rounds of tool/base (each round ran both back to back)."""
        ours, theirs = self.values(base, metric), self.values(tool, metric)
        pairs = [transform(t) / transform(o) for t, o in zip(theirs, ours) if transform(o) > 0]
        return statistics.median(pairs) if pairs else None


def measure(invocations: dict[str, Invocation | None], rounds: int, label: str,
            log: Callable[[str], None] = print) -> CaseResult:
    """One warm-up run per tool, then `rounds` interleaved rounds. A tool that fails is reported, not timed."""
    result = CaseResult()
    active = {tool: inv for tool, inv in invocations.items() if inv is not None}
    for tool, inv in list(active.items()):
        try:
            checked(inv, run_once(inv), f"{label} [{tool}] warm-up")
        except RunFailed as exc:
            result.errors[tool] = str(exc)
            log(f"  ! {exc}")
            del active[tool]
    for number in range(rounds):
        order = list(active.items())
        order = order[number % len(order):] + order[: number % len(order)] if order else order
        for tool, inv in order:
            try:
                sample = checked(inv, run_once(inv), f"{label} [{tool}] round {number + 1}")
            except RunFailed as exc:
                result.errors[tool] = str(exc)
                log(f"  ! {exc}")
                del active[tool]
                result.samples.pop(tool, None)
                continue
            result.samples.setdefault(tool, []).append(sample)
    return result


def load_average() -> tuple[float, float, float]:
    return os.getloadavg()
