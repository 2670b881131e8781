"""Bad input never reaches a provider (the `input` rows of tests/e2e/faults/matrix.py): invalid UTF-8
and 50 MB on stdin, an empty prompt, an unknown provider or model, a malformed config.toml, a config
key of the wrong type, an invalid --temperature. Each is one clear message and exit 2, and the fake
server — of every provider kind, token endpoints included — sees no request at all.

tests/e2e/test_ask_e2e.py covers some of these for the OpenAI-compatible kind; here they run
against GigaChat and YandexGPT too (which would otherwise fetch a token first), plus what it lacks.
"""

from __future__ import annotations

import os
import subprocess
import threading

import pytest

from tests.e2e.faults.matrix import KINDS, case
from tests.e2e.helpers import one_error_line, run

pytestmark = pytest.mark.e2e

SENTINEL = "sk-SENTINEL-in-a-broken-config-7d1f"


@pytest.fixture(params=KINDS)
def target(request, target_of):
    t = target_of(request.param)
    t.write_config()
    return t


def assert_refused(target, proc, case_id: str, *pieces: str) -> None:
    assert proc.returncode == case(case_id).exit_code, proc.stderr
    assert "Traceback" not in proc.stderr and proc.stdout == ""
    for piece in pieces:
        assert piece in proc.stderr, proc.stderr
    assert target.server.requests == []  # not even a token request


def test_invalid_utf8_on_stdin(target):
    proc = target.ask("translate", stdin=b"caf\xe9 au lait")
    assert_refused(target, proc, "stdin-invalid-utf8", "not valid UTF-8 (byte 0xe9 at offset 3)")
    one_error_line(proc.stderr)


def test_empty_prompt(target):
    proc = target.ask(stdin=b" \n\t\n")
    assert_refused(target, proc, "empty-prompt", "empty prompt")
    one_error_line(proc.stderr)


def test_invalid_temperature(target):
    proc = target.ask("-t", "7", "hi")
    assert_refused(target, proc, "bad-temperature", "Invalid value for '-t' / '--temperature'",
                   "less than or equal to 2")


def test_unknown_model_from_the_cached_list(target):
    listed = run(target.exe, ["models", "list", "-p", target.name], target.env)
    assert listed.returncode == 0, listed.stderr
    before = len(target.server.requests)
    proc = target.ask("-m", "no-such-model-9", "hi")
    assert proc.returncode == case("unknown-model").exit_code, proc.stderr
    assert f"no such model no-such-model-9 for {target.name}" in one_error_line(proc.stderr)
    assert "--refresh" in proc.stderr and proc.stdout == ""
    assert len(target.server.requests) == before  # refused from the cache, without a request


def test_unknown_provider(target_of):
    target = target_of("openai")
    target.write_config()
    proc = target.ask("-p", "gigachta", "hi")
    assert_refused(target, proc, "unknown-provider", "unknown provider 'gigachta'", "gigachat")
    one_error_line(proc.stderr)


def test_malformed_config_names_the_place_but_never_echoes_the_line(target_of):
    target = target_of("openai")
    (target.home / "config.toml").parent.mkdir(parents=True, exist_ok=True)
    (target.home / "config.toml").write_text(f'default_provider = "fake"\napi_key = "{SENTINEL}\n')
    proc = target.ask("hi")
    assert_refused(target, proc, "config-malformed", "config error in", "line 2")
    one_error_line(proc.stderr)
    assert SENTINEL not in proc.stderr


def test_config_key_of_the_wrong_type(target_of):
    target = target_of("openai")
    target.write_config(timeout=SENTINEL)  # a pasted key where a number belongs
    proc = target.ask("hi")
    assert_refused(target, proc, "config-wrong-type", "timeout")
    one_error_line(proc.stderr)
    assert SENTINEL not in proc.stderr


def feed_and_wait(target, megabytes: int) -> tuple[int, bytes, str, float]:
    """Run `ask` with `megabytes` MiB on stdin; (exit code, stdout, stderr, peak RSS in MiB)."""
    proc = subprocess.Popen([target.exe, "ask", "summarize"], env=target.env, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def feed() -> None:
        block = b"x" * (1 << 20)
        try:
            for _ in range(megabytes):
                proc.stdin.write(block)
            proc.stdin.close()
        except (BrokenPipeError, OSError):
            pass  # llmcli stopped reading at the cap, as it should

    writer = threading.Thread(target=feed, daemon=True)
    writer.start()
    stdout, stderr = proc.stdout.read(), proc.stderr.read().decode()
    _, status, usage = os.wait4(proc.pid, 0)  # this child's own peak, not every child's
    proc.returncode = os.waitstatus_to_exitcode(status)
    writer.join(10)
    return proc.returncode, stdout, stderr, usage.ru_maxrss / 1024  # KiB on Linux


def test_50_mb_on_stdin_is_refused_early_with_bounded_memory(target_of):
    target = target_of("openai")
    target.write_config()
    code, stdout, stderr, peak = feed_and_wait(target, 50)
    assert code == case("stdin-50mb").exit_code, stderr
    assert "input is larger than 2 MiB" in one_error_line(stderr) and stdout == b""
    assert target.server.requests == []
    _, _, _, baseline = feed_and_wait(target, 3)  # refused the same way, just over the cap
    # reading the whole input would cost 50 MiB more (measured: +50 for the bytes alone)
    assert peak - baseline < 16, f"peak RSS {peak:.0f} MiB vs {baseline:.0f} MiB for 3 MiB of input"
