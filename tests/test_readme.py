"""The README cannot rot: its quick-start command runs verbatim in a fresh venv and answers, CI runs
exactly its test command, its links resolve, and the Russian README keeps the same commands."""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
READMES = ("README.md", "README.ru.md")


def marked_command(text: str, marker: str) -> str:
    """The body of the fenced block right after `<!-- marker -->` (what .ci/run's awk reads too)."""
    match = re.search(rf"<!-- {marker} -->\n```[a-z]*\n(.*?)\n```", text, re.DOTALL)
    assert match, f"no fenced block after <!-- {marker} -->"
    return match.group(1)


def readme(name: str = "README.md") -> str:
    return (ROOT / name).read_text(encoding="utf-8")


# --- the quick start, verbatim -----------------------------------------------------------------------------


@pytest.mark.slow
def test_quickstart_command_runs_verbatim_in_a_fresh_checkout(tmp_path: Path) -> None:
    """A newcomer's first minute: a checkout without a venv, the README's one line, a real answer from
    the local model. pip may use its cache; the first run on a machine downloads from PyPI."""
    command = marked_command(readme(), "quickstart-command")
    checkout = tmp_path / "llmcli"
    shutil.copytree(ROOT, checkout, ignore=shutil.ignore_patterns(
        ".git", ".venv", "venv", "__pycache__", ".pytest_cache", ".ruff_cache", "dist", "build", ".bench*"))
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV") and not k.startswith(("LLMCLI_", "PIP_"))}
    env.update(LLMCLI_HOME=str(tmp_path / "home"), PIP_DISABLE_PIP_VERSION_CHECK="1",
               PYTHON_KEYRING_BACKEND="keyring.backends.null.Keyring")
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep)
                                  if not (Path(p) / "activate").exists())  # no venv of ours on PATH
    proc = subprocess.run(["bash", "-c", command], cwd=checkout, env=env, capture_output=True, text=True,
                          timeout=1800, check=False)
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    answer = proc.stdout.strip().splitlines()[-1]
    assert "Москва" in answer, proc.stdout[-2000:]
    assert (checkout / ".venv" / "bin" / "llmcli").exists()


def test_quickstart_is_one_line_that_installs_the_local_model_and_asks_it() -> None:
    command = marked_command(readme(), "quickstart-command")
    assert "\n" not in command
    assert "pip install '.[local]'" in command
    assert command.endswith('llmcli ask -p local "Столица России?"')


# --- CI runs the README's test command -------------------------------------------------------------------


def _run_ci_with_recording_bash(tmp_path: Path, readme_text: str) -> tuple[subprocess.CompletedProcess, Path]:
    """Run a copy of .ci/run next to `readme_text`, with a `bash` on PATH that records its arguments
    instead of running the test suite."""
    project = tmp_path / "project"
    (project / ".ci").mkdir(parents=True)
    shutil.copy2(ROOT / ".ci" / "run", project / ".ci" / "run")
    (project / "README.md").write_text(readme_text, encoding="utf-8")
    stub_dir = tmp_path / "stub"
    stub_dir.mkdir()
    record = tmp_path / "bash-args"
    stub = stub_dir / "bash"
    stub.write_text(f'#!/bin/sh\nfor a in "$@"; do printf "%s\\0" "$a"; done > "{record}"\n',
                    encoding="utf-8")
    stub.chmod(stub.stat().st_mode | stat.S_IXUSR)
    real_bash = shutil.which("bash")
    assert real_bash
    env = dict(os.environ, PATH=str(stub_dir) + os.pathsep + os.environ.get("PATH", ""))
    proc = subprocess.run([real_bash, str(project / ".ci" / "run")], env=env, capture_output=True, text=True,
                          timeout=60, check=False)
    return proc, record


def test_ci_runs_exactly_the_readme_test_command(tmp_path: Path) -> None:
    proc, record = _run_ci_with_recording_bash(tmp_path, readme())
    assert proc.returncode == 0, proc.stderr
    command = marked_command(readme(), "test-command")
    assert record.read_text(encoding="utf-8").split("\0")[:-1] == ["-euo", "pipefail", "-c", command]
    assert proc.stdout.strip() == f"+ {command}"


def test_ci_refuses_a_readme_without_a_test_command(tmp_path: Path) -> None:
    proc, record = _run_ci_with_recording_bash(tmp_path, readme().replace("<!-- test-command -->", ""))
    assert proc.returncode == 2
    assert "no test command" in proc.stderr
    assert not record.exists()


# --- links and the two languages -------------------------------------------------------------------------


LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


@pytest.mark.parametrize("name", [*READMES, "docs/faq.md", "docs/faq.ru.md", "docs/architecture.md",
                                  "docs/examples.md", "CHANGELOG.md"])
def test_relative_links_resolve(name: str) -> None:
    page = ROOT / name
    missing = []
    for target in LINK.findall(page.read_text(encoding="utf-8")):
        if re.match(r"[a-z]+:", target) or target.startswith("#"):
            continue
        path = target.split("#", 1)[0]
        if not (page.parent / path).exists():
            missing.append(target)
    assert not missing, f"{name} links to files that do not exist: {missing}"


def _shell_commands(text: str) -> list[str]:
    """Command lines of the ```sh blocks, comments dropped (they are translated)."""
    lines = []
    for block in re.findall(r"```sh\n(.*?)\n```", text, re.DOTALL):
        for line in block.splitlines():
            command = re.split(r"\s+#\s", line, maxsplit=1)[0].rstrip()
            if command:
                lines.append(command)
    return lines


def test_russian_readme_has_the_same_commands() -> None:
    english, russian = readme(), readme("README.ru.md")
    assert _shell_commands(russian) == _shell_commands(english), "README.ru.md is out of step with README.md"
    for marker in ("quickstart-command", "test-command"):
        assert marked_command(russian, marker) == marked_command(english, marker)


def test_russian_readme_has_the_same_exit_codes_and_sections() -> None:
    def codes(text: str) -> list[str]:
        return re.findall(r"^\| (\d+(?: / \d+)*) \|", text, re.MULTILINE)

    english, russian = readme(), readme("README.ru.md")
    assert codes(russian) == codes(english)
    headings = re.compile(r"^#{2,3} ", re.MULTILINE)
    assert len(headings.findall(russian)) == len(headings.findall(english))
