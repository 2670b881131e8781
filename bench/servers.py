"""The local fake OpenAI-compatible servers every tool talks to (tests/fakes/openai_server.py as processes).

- instant: a short reply, one delta per word, no delay;
- slow: 300 ms to the first byte, then 50 deltas 10 ms apart (≈ 0.8 s of the server's own time);
- flood: 10,000 deltas of 4 characters, as fast as the server can write them.

`server_floor()` measures the server's own time for a request with a bare stdlib HTTP client inside
this process (no interpreter start-up, no imports), so "overhead" = a tool's wall time minus that.
"""

from __future__ import annotations

import http.client
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

from tools import KEY, MODEL, ROOT

INSTANT_REPLY = "Paris is the capital of France."
SLOW_DELAY, SLOW_CHUNKS, SLOW_INTERVAL = 0.3, 50, 0.01
SLOW_REPLY = "".join(f"word{i:05d} " for i in range(SLOW_CHUNKS))  # 500 characters → 50 deltas of 10
FLOOD_CHUNKS = 10_000
FLOOD_REPLY = "abc " * FLOOD_CHUNKS  # 40,000 characters → 10,000 deltas of 4

SERVER_ARGS = {
    "instant": ["--reply", INSTANT_REPLY],
    "slow": ["--reply", SLOW_REPLY, "--delay-first-byte", str(SLOW_DELAY), "--chunks", str(SLOW_CHUNKS),
             "--chunk-interval", str(SLOW_INTERVAL)],
    "flood": ["--reply", FLOOD_REPLY, "--chunks", str(FLOOD_CHUNKS)],
}
EXPECTED = {"instant": INSTANT_REPLY, "slow": SLOW_REPLY.strip(), "flood": FLOOD_REPLY.strip()}


@contextmanager
def fake_servers() -> Iterator[dict[str, str]]:
    procs: list[subprocess.Popen] = []
    urls: dict[str, str] = {}
    try:
        for name, args in SERVER_ARGS.items():
            proc = subprocess.Popen([sys.executable, "-m", "tests.fakes.openai_server", "--port", "0", *args],
                                    cwd=ROOT, stdout=subprocess.PIPE, text=True)
            procs.append(proc)
            urls[name] = proc.stdout.readline().strip()
            if not urls[name].startswith("http"):
                raise SystemExit(f"fake server {name} did not start")
        yield urls
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()


def stream_once(url: str) -> tuple[float, float]:
    """(first byte, total) seconds for one streamed chat completion read with http.client."""
    parts = urlsplit(url)
    body = json.dumps({"model": MODEL, "stream": True, "messages": [{"role": "user", "content": "hi"}]})
    started = time.perf_counter()
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    conn.request("POST", "/v1/chat/completions", body=body,
                 headers={"Content-Type": "application/json", "Authorization": f"Bearer {KEY}"})
    response = conn.getresponse()
    first = None
    while True:
        data = response.read1(65536)
        if not data:
            break
        if first is None:
            first = time.perf_counter() - started  # headers and the first delta follow the delay
    total = time.perf_counter() - started
    conn.close()
    return first or total, total


def server_floor(url: str, runs: int) -> tuple[float, float]:
    """Median (first byte, total) of the server alone, after a warm-up."""
    stream_once(url)
    results = [stream_once(url) for _ in range(runs)]
    firsts = sorted(r[0] for r in results)
    totals = sorted(r[1] for r in results)
    return firsts[len(firsts) // 2], totals[len(totals) // 2]
