"""Signals and a closed stdout during a stream, against every provider kind (the `signals` rows of
matrix.py): the partial reply is kept and marked, the exit code says what happened, and a second
Ctrl-C while the partial reply is being saved does not lose the save."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from tests.e2e.faults.matrix import KINDS, case
from tests.e2e.helpers import db_rows, one_error_line

pytestmark = pytest.mark.e2e

LONG_REPLY = " ".join(f"word{i}" for i in range(120))
LONG_FRAMES = {"openai": {}, "gigachat": {"deltas": 120}, "yandexgpt": {"chunks": 120}}


def default_sighup() -> None:
    """Run in the child before exec: SIGHUP back to its default. A test run started under `nohup`
    (or by a CI runner that ignores SIGHUP) would otherwise hand the ignore down, and llmcli rightly
    keeps an inherited ignore (see test_an_ignored_sighup_stays_ignored_as_under_nohup)."""
    if hasattr(signal, "SIGHUP"):
        signal.signal(signal.SIGHUP, signal.SIG_DFL)


def start_long_stream(target_of, kind: str):
    """A reply of 120 frames, 50 ms apart (≈ 6 s), and a running `llmcli ask` that has printed some."""
    target = target_of(kind, reply=LONG_REPLY, pace=0.05, **LONG_FRAMES[kind])
    target.write_config()
    proc = subprocess.Popen([target.exe, "ask", "tell a long story"], env=target.env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=default_sighup)
    first = b""
    while len(first) < 5:  # unbuffered: communicate() later reads the descriptor itself
        data = os.read(proc.stdout.fileno(), 5 - len(first))
        assert data, proc.stderr.read()
        first += data
    assert first == b"word0"
    return target, proc, first


def stored_reply(home: Path):
    (reply,) = db_rows(home, "SELECT * FROM messages WHERE role = 'assistant'")
    return reply


def assert_partial_kept(home: Path, printed: str) -> None:
    reply = stored_reply(home)
    assert reply["complete"] == 0 and reply["finish_reason"] == "interrupted", dict(reply)
    saved = reply["text"]
    assert saved.startswith("word0") and "word119" not in saved
    # what was printed and what was saved differ at most by the chunk in flight when the signal came
    assert saved.startswith(printed.rstrip()) or printed.startswith(saved), (printed, saved)
    (question,) = db_rows(home, "SELECT text FROM messages WHERE role = 'user'")
    assert question["text"] == "tell a long story"


NO_SIGHUP = pytest.mark.skipif(not hasattr(signal, "SIGHUP"), reason="the platform has no SIGHUP")


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("case_id, sig, word, stored_error", [
    ("sigint-mid-stream", signal.SIGINT, "interrupted", "Interrupted: Ctrl-C"),
    ("sigterm-mid-stream", signal.SIGTERM, "terminated", "Terminated: SIGTERM"),
    pytest.param("sighup-mid-stream", getattr(signal, "SIGHUP", 1), "terminated (SIGHUP)", "Terminated: SIGHUP",
                 marks=NO_SIGHUP),
])
def test_signal_mid_stream_keeps_the_partial_reply(target_of, kind, case_id, sig, word, stored_error):
    target, proc, first = start_long_stream(target_of, kind)
    time.sleep(0.3)
    proc.send_signal(sig)
    rest, stderr = proc.communicate(timeout=60)
    assert proc.returncode == case(case_id).exit_code, stderr
    assert word in one_error_line(stderr.decode())
    printed = (first + rest).decode()
    assert "word119" not in printed
    words = printed.split()  # printed once, in order (the last word may be cut mid-chunk)
    assert words[:-1] == [f"word{i}" for i in range(len(words) - 1)], printed
    assert_partial_kept(target.home, printed)
    # the reason, whether the signal came while waiting for the server or while a piece was written
    assert stored_reply(target.home)["error"] == stored_error
    assert len(target.chat_requests()) == 1


@NO_SIGHUP
def test_an_ignored_sighup_stays_ignored_as_under_nohup(target_of):
    """`nohup llmcli ask … &` ignores SIGHUP before llmcli starts: the run must outlive its terminal."""
    target = target_of("openai", reply="word0 word1 word2 word3 word4 word5", pace=0.1)
    target.write_config()
    proc = subprocess.Popen([target.exe, "ask", "tell a story"], env=target.env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_IGN))
    assert os.read(proc.stdout.fileno(), 5) == b"word0"
    proc.send_signal(signal.SIGHUP)
    rest, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, stderr
    assert (b"word0" + rest).decode().split() == [f"word{i}" for i in range(6)]
    assert stored_reply(target.home)["complete"] == 1


@pytest.mark.parametrize("kind", KINDS)
def test_closed_stdout_ends_quietly_and_keeps_the_partial_reply(target_of, kind):
    target, proc, _ = start_long_stream(target_of, kind)
    proc.stdout.close()  # like `| head -c 5`
    stderr = proc.stderr.read()
    proc.wait(timeout=60)
    assert proc.returncode == case("stdout-closed").exit_code
    assert stderr == b""
    reply = stored_reply(target.home)
    assert reply["complete"] == 0 and reply["finish_reason"] == "interrupted"
    assert reply["text"].startswith("word0") and "word119" not in reply["text"]


def _ignores_sigint(pid: int) -> bool:
    """Whether the process ignores SIGINT right now — llmcli does exactly while it saves a reply."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigIgn:"):
            return bool(int(line.split()[1], 16) & (1 << (signal.SIGINT - 1)))
    return False


def _question_saved(home: Path) -> bool:
    try:
        return bool(db_rows(home, "SELECT id FROM messages WHERE role = 'user'"))
    except (AssertionError, sqlite3.Error):  # not created or not migrated yet
        return False


def _wait_for(condition, timeout: float = 20.0) -> None:
    end = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < end, "timed out waiting"
        time.sleep(0.05)


@pytest.mark.skipif(not Path("/proc/self/status").is_file(), reason="needs Linux /proc to see the save start")
def test_a_second_ctrl_c_while_saving_does_not_lose_the_save(target_of):
    target, proc, first = start_long_stream(target_of, "openai")
    db = target.home / "history.db"
    _wait_for(lambda: _question_saved(target.home))
    blocker = sqlite3.connect(db, timeout=5, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # the reply's save will wait for this lock
    try:
        proc.send_signal(signal.SIGINT)
        _wait_for(lambda: _ignores_sigint(proc.pid))  # the save has begun (and waits for our lock)
        time.sleep(0.2)
        proc.send_signal(signal.SIGINT)  # the impatient second Ctrl-C
        time.sleep(0.5)
        assert proc.poll() is None, "the second Ctrl-C killed the process while it was saving"
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    rest, stderr = proc.communicate(timeout=60)
    assert proc.returncode == case("second-ctrl-c-while-saving").exit_code, stderr
    assert b"Traceback" not in stderr
    assert_partial_kept(target.home, (first + rest).decode())


@NO_SIGHUP
@pytest.mark.skipif(not Path("/dev/ptmx").exists(), reason="needs a pseudo-terminal")
def test_ask_on_a_terminal_that_is_closed_mid_reply_saves_it_and_exits_129(target_of):
    """A real hang-up, not just the signal: after the kernel's SIGHUP every write to the terminal fails
    (EIO), and the reply's last piece, `error: terminated` and the final flush must not fail over it."""
    import pexpect

    target = target_of("openai", reply=LONG_REPLY, pace=0.05)
    target.write_config()
    child = pexpect.spawn(target.exe, ["ask", "tell a long story"], env=target.env, encoding="utf-8",
                          dimensions=(24, 80), timeout=20, preexec_fn=default_sighup)
    child.expect("word5")
    child.ptyproc.fileobj.close()  # the terminal goes away: ssh dropped, tab closed
    child.ptyproc.wait()
    assert (child.ptyproc.signalstatus, child.ptyproc.exitstatus) == (None, 129)
    reply = stored_reply(target.home)
    assert reply["complete"] == 0 and reply["finish_reason"] == "interrupted", dict(reply)
    assert reply["text"].startswith("word0 word1") and "word119" not in reply["text"]
