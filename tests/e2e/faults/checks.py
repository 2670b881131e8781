"""The checks every fault case makes: exit code, one clear stderr line, stdout, history, requests."""

from __future__ import annotations

import subprocess

from tests.e2e.faults.matrix import Case
from tests.e2e.faults.targets import REPLY, Target
from tests.e2e.helpers import db_rows, one_error_line

PARTIAL_FRAMES = 5


def check_stderr(case: Case, stderr: str) -> None:
    assert "Traceback" not in stderr, stderr
    lowered = stderr.lower()
    assert "<html" not in lowered and "<title" not in lowered and "<body" not in lowered, stderr  # no HTML dump
    if case.exit_code == 0:
        assert "error:" not in stderr, stderr
    else:
        one_error_line(stderr)
        assert len(stderr.splitlines()) <= 3, stderr  # error + hint (+ one warning at most)
    for piece in case.says:
        assert piece in lowered, f"{piece!r} not in stderr: {stderr}"


def check_stdout(case: Case, target: Target, stdout: str) -> None:
    if case.stdout == "none":
        assert stdout == "", stdout
    elif case.stdout == "reply":
        assert stdout == REPLY + "\n"  # once: a retry never replays what was printed
    else:
        printed = target.printed_after(PARTIAL_FRAMES)
        assert printed and stdout.rstrip("\n") == printed, (stdout, printed)
        assert stdout.count(printed) == 1


def stored_turn(target: Target, prompt: str) -> tuple[list, list]:
    """(user rows with this prompt, assistant rows of that conversation)."""
    users = db_rows(target.home, "SELECT * FROM messages WHERE role = 'user' AND text = ?", [prompt])
    if not users:
        return [], []
    replies = db_rows(target.home, "SELECT * FROM messages WHERE role = 'assistant' AND conversation_id = ?",
                      [users[0]["conversation_id"]])
    return users, replies


def check_history(case: Case, target: Target, prompt: str, stdout: str) -> None:
    users, replies = stored_turn(target, prompt)
    assert len(users) == 1, users
    assert len(replies) == 1, [dict(r) for r in replies]
    (reply,) = replies
    if case.saved == "complete":
        assert (reply["text"], reply["complete"], reply["finish_reason"]) == (REPLY, 1, "stop")
    elif case.saved == "partial":
        assert reply["complete"] == 0 and reply["finish_reason"] == "error", dict(reply)
        assert reply["text"] == stdout.rstrip("\n") and reply["error"], dict(reply)
    else:
        assert reply["complete"] == 0 and reply["finish_reason"] == "error", dict(reply)
        assert reply["text"] == "" and reply["error"], dict(reply)


def check_requests(case: Case, target: Target) -> None:
    if case.requests is None:
        return
    expected = case.requests(target)
    seen = len(target.chat_requests())
    if isinstance(expected, tuple):
        low, high = expected
        assert low <= seen <= high, (seen, expected)
    else:
        assert seen == expected, (seen, expected)


def execute(case: Case, target: Target) -> tuple[str, subprocess.CompletedProcess[str]]:
    """Arrange the fault and run `llmcli ask`; (prompt, finished process)."""
    target.write_config()
    overrides = case.arrange(target) if case.arrange else None
    if overrides:
        target.write_config(**overrides)
    prompt = f"fault case {case.id}"
    return prompt, target.ask(prompt)


def verify(case: Case, target: Target, prompt: str, proc: subprocess.CompletedProcess[str]) -> None:
    """Everything the matrix row promises: exit code, stderr, stdout, history, requests."""
    assert proc.returncode == case.exit_code, (proc.returncode, proc.stderr)
    check_stderr(case, proc.stderr)
    check_stdout(case, target, proc.stdout)
    check_history(case, target, prompt, proc.stdout)
    check_requests(case, target)
