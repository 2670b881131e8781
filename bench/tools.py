"""The three tools under test, each in its own isolated home, pointed at the same local fake servers.

- llmcli: the checkout's own venv (`.venv/bin/llmcli`), LLMCLI_HOME under bench/.work/llmcli,
  three providers of kind "openai" (bench-instant, bench-slow, bench-flood), key in the environment.
- simonw/llm: `pip install llm` into bench/.venvs/llm; LLM_USER_PATH with an extra-openai-models.yaml
  naming the same three endpoints as models; OPENAI_API_KEY in the environment; logging on (its default).
- shell-gpt: `pip install shell-gpt==1.5.1` into bench/.venvs/sgpt; HOME with ~/.config/shell_gpt/.sgptrc;
  the endpoint comes from API_BASE_URL in the environment (sgpt lets env override .sgptrc).

Nothing here is committed but this file: venvs and homes live under git-ignored bench/.venvs, bench/.work.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from harness import Invocation

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
VENVS = BENCH / ".venvs"
WORK = BENCH / ".work"
KEY = "sk-bench-not-a-secret"
MODEL = "gpt-fake"
SERVERS = ("instant", "slow", "flood")  # the fake servers every tool is pointed at

# name -> (pip requirements, console script). shell-gpt 1.5.1 imports `click`, which typer stopped
# depending on in 0.26 (it vendors it since), so a plain install today fails to start: pin the last
# typer that brings click along.
PEERS = {"llm": (["llm"], "llm"), "shell-gpt": (["shell-gpt==1.5.1", "typer==0.25.1"], "sgpt")}


@dataclass
class Tool:
    name: str
    exe: str
    env: dict[str, str]
    version: str = ""
    server_env: Callable[[str], dict[str, str]] = field(default=lambda server: {})

    def run(self, *args: str, stdin: bytes | None = None, env: dict[str, str] | None = None,
            server: str | None = None, check: Callable[[bytes], bool] | None = None) -> Invocation:
        full_env = dict(self.env)
        if server:
            full_env.update(self.server_env(server))
        full_env.update(env or {})
        return Invocation([self.exe, *args], full_env, stdin=stdin, check=check)


def base_env(home: Path) -> dict[str, str]:
    """A clean environment: no developer keys, proxies or LLMCLI_* settings leak into a run."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "TERM": "dumb",
        "NO_PROXY": "127.0.0.1,localhost",
        "PYTHONIOENCODING": "utf-8",
    }
    for keep in ("TMPDIR",):
        if keep in os.environ:
            env[keep] = os.environ[keep]
    return env


def ensure_peer_venvs(log: Callable[[str], None] = print) -> None:
    """Create bench/.venvs/<peer> and pip-install the peer there, once."""
    for name, (requirements, script) in PEERS.items():
        venv = VENVS / name.replace("shell-gpt", "sgpt")
        if (venv / "bin" / script).exists():
            continue
        log(f"installing {' '.join(requirements)} into {venv} ...")
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", *requirements], check=True)


def llmcli_exe() -> str:
    local = ROOT / ".venv" / "bin" / "llmcli"
    found = str(local) if local.exists() else shutil.which("llmcli")
    if not found:
        raise SystemExit("llmcli is not installed: run `pip install -e '.[test]'` in the checkout's venv")
    return found


def snapshot(commit: str = "HEAD") -> tuple[Path, str]:
    """The llmcli package as committed (git archive), so a run measures exactly one commit even while
    the working tree changes; returns the folder to put first on PYTHONPATH and the commit id."""
    sha = subprocess.run(["git", "rev-parse", "--short", commit], cwd=ROOT, check=True, capture_output=True,
                         text=True).stdout.strip()
    target = WORK / f"snapshot-{sha}"
    if not (target / "llmcli" / "app.py").exists():
        target.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(["git", "archive", sha, "llmcli", "bench/render_bench.py"], cwd=ROOT, check=True,
                                 capture_output=True)
        subprocess.run(["tar", "-x", "-C", str(target)], input=archive.stdout, check=True)
    return target, sha


def make_tools(urls: dict[str, str], source: Path | None = None) -> dict[str, Tool]:
    """Configure every tool against the fake servers at `urls` (server name -> root URL). llmcli runs
    the checkout's console script with `source` (a snapshot) first on PYTHONPATH, if given."""
    ensure_peer_venvs()
    tools = {"llmcli": _llmcli(urls, source), "llm": _llm(urls), "shell-gpt": _sgpt(urls)}
    for tool in tools.values():
        out = subprocess.run([tool.exe, "--version"], env=tool.env, capture_output=True, text=True,
                             check=False)
        tool.version = (out.stdout or out.stderr).strip().splitlines()[-1] if (out.stdout or out.stderr) else "?"
    return tools


def _llmcli(urls: dict[str, str], source: Path | None) -> Tool:
    home = WORK / "llmcli"
    home.mkdir(parents=True, exist_ok=True)
    lines = ['default_provider = "bench-instant"', ""]
    for server in SERVERS:
        lines += [f'[providers.bench-{server}]', 'kind = "openai"', f'base_url = "{urls[server]}/v1"',
                  f'model = "{MODEL}"', ""]
    (home / "config.toml").write_text("\n".join(lines), encoding="utf-8")
    env = base_env(home)
    env["LLMCLI_HOME"] = str(home)
    if source is not None:
        env["PYTHONPATH"] = str(source)
    for server in SERVERS:  # the key comes from the environment: no keyring lookup is needed
        env[f"LLMCLI_BENCH_{server.upper()}_API_KEY"] = KEY
    return Tool("llmcli", llmcli_exe(), env)


def _llm(urls: dict[str, str]) -> Tool:
    home = WORK / "llm"
    user_dir = home / "llm-user"
    user_dir.mkdir(parents=True, exist_ok=True)
    models = [{"model_id": f"bench-{server}", "model_name": MODEL, "api_base": f"{urls[server]}/v1",
               "api_key_name": "openai"} for server in SERVERS]
    (user_dir / "extra-openai-models.yaml").write_text(json.dumps(models, indent=1), encoding="utf-8")
    env = base_env(home)
    env.update({"LLM_USER_PATH": str(user_dir), "OPENAI_API_KEY": KEY})
    return Tool("llm", str(VENVS / "llm" / "bin" / "llm"), env)


def _sgpt(urls: dict[str, str]) -> Tool:
    home = WORK / "sgpt"
    config_dir = home / ".config" / "shell_gpt"
    config_dir.mkdir(parents=True, exist_ok=True)
    rc = config_dir / ".sgptrc"
    if not rc.exists():  # sgpt fills in its own defaults on the first run
        rc.write_text(f"OPENAI_API_KEY={KEY}\nDEFAULT_MODEL={MODEL}\nAPI_BASE_URL={urls['instant']}/v1\n"
                      f"CACHE_PATH={home / 'cache'}\nCHAT_CACHE_PATH={home / 'chat_cache'}\n", encoding="utf-8")
    env = base_env(home)
    env.update({"OPENAI_API_KEY": KEY, "DEFAULT_MODEL": MODEL})
    tool = Tool("shell-gpt", str(VENVS / "sgpt" / "bin" / "sgpt"), env)
    tool.server_env = lambda server: {"API_BASE_URL": f"{urls[server]}/v1"}
    return tool
