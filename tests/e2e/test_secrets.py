"""Secrets never leak. Sentinel secrets are planted in the environment (an OpenAI-compatible key, a
GigaChat authorization key, a Yandex OAuth token) and in the keyring (a second OpenAI-compatible
provider's key, stored with `keys set`); then every command runs — successes, failures, `--debug`,
`--json`, `config show`, `providers list/status`, `models list`, `history` listing/showing/exporting,
`keys list`, `doctor`, `chat` — and stdout, stderr, the database, the config and the cache folders
are scanned for them: zero hits. Files holding history or secrets are 0600 in 0700 folders.
"""

from __future__ import annotations

import base64
import os
import stat
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.e2e.faults.targets import REPLY, start_server
from tests.e2e.helpers import run
from tests.fakes.base import Fault
from tests.fakes.gigachat_server import API_PREFIX, OAUTH_PATH
from tests.fakes.tls import session_ca, wrong_ca
from tests.fakes.yandex_server import IAM

pytestmark = pytest.mark.e2e

ENV_KEY = "sk-ENVSENTINEL-5c2e9a7b41d3"
KEYRING_KEY = "sk-KEYRINGSENTINEL-83f0d6c2a9"
GIGA_KEY = base64.b64encode(b"giga-client-id:GIGASENTINEL-secret-7a1c").decode()
YANDEX_OAUTH = "y0_YANDEXSENTINEL-oauth-2b9e4f"
SENTINELS = (ENV_KEY, KEYRING_KEY, GIGA_KEY, "GIGASENTINEL", YANDEX_OAUTH)
REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def world(tmp_path, e2e_env, llmcli_home):
    """Three fake servers, a config naming four providers, env and keyring holding sentinels."""
    servers = {
        "fake": start_server("openai", api_key=ENV_KEY),
        "vault": start_server("openai", api_key=KEYRING_KEY),
        "gigachat": start_server("gigachat", authorization_key=GIGA_KEY),
        "yandexgpt": start_server("yandexgpt", oauth_tokens={YANDEX_OAUTH}),
    }
    ca = session_ca().ca_pem_path
    lines = ['default_provider = "fake"']
    for name in ("fake", "vault"):
        lines += [f"[providers.{name}]", 'kind = "openai"', f'base_url = "{servers[name].url}/v1"',
                  'model = "gpt-fake"', f'ca_bundle = "{ca}"']
    giga, yandex = servers["gigachat"].url, servers["yandexgpt"].url
    lines += ["[providers.gigachat]", f'base_url = "{giga}{API_PREFIX}"', f'auth_url = "{giga}{OAUTH_PATH}"',
              'model = "GigaChat-2"', f'ca_bundle = "{ca}"',
              "[providers.yandexgpt]", f'base_url = "{yandex}"', f'iam_url = "{yandex}{IAM}"',
              'folder_id = "b1gfakefolder"', 'model = "yandexgpt-lite"', f'ca_bundle = "{ca}"']
    llmcli_home.mkdir(mode=0o755)  # as a user's umask 022 would leave it
    config = llmcli_home / "config.toml"
    config.write_text("\n".join(lines) + "\n")
    config.chmod(0o644)
    env = dict(e2e_env, LLMCLI_FAKE_API_KEY=ENV_KEY, GIGACHAT_CREDENTIALS=GIGA_KEY, YC_OAUTH_TOKEN=YANDEX_OAUTH,
               PYTHON_KEYRING_BACKEND="tests.e2e.faults.file_keyring.FileKeyring",
               LLMCLI_TEST_KEYRING_FILE=str(tmp_path / "keyring.json"),  # outside LLMCLI_HOME
               PYTHONPATH=os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")]))
    yield servers, env
    for server in servers.values():
        server.stop()


def test_no_command_ever_shows_or_stores_a_secret(world, llmcli_exe, llmcli_home, tmp_path):
    servers, env = world
    outputs: list[str] = []

    def llmcli(*args: str, stdin: str = "", expect: int | None = 0, **extra_env: str) -> str:
        proc = run(llmcli_exe, list(args), {**env, **extra_env}, stdin=stdin, timeout=120)
        outputs.extend([proc.stdout, proc.stderr])
        if expect is not None:
            assert proc.returncode == expect, (args, proc.returncode, proc.stderr)
        return proc.stdout

    def together(*calls) -> None:  # independent commands, a few at a time
        with ThreadPoolExecutor(4) as pool:
            for future in [pool.submit(call) for call in calls]:
                future.result()

    # the keyring provider's key goes in the way a user would put it there
    llmcli("keys", "set", "vault", stdin=KEYRING_KEY + "\n")
    assert KEYRING_KEY in (tmp_path / "keyring.json").read_text()  # planted where it belongs
    llmcli("config", "set", "defaults.temperature", "0.5")  # llmcli rewrites config.toml

    def turns(name: str) -> None:
        assert llmcli("--debug", "ask", "-p", name, "-u", f"hello {name}") == REPLY + "\n"
        llmcli("ask", "-p", name, "--json", "--no-stream", "again")
        llmcli("--debug", "models", "list", "-p", name, "--json")

    together(*(lambda n=name: turns(n) for name in ("fake", "vault", "gigachat", "yandexgpt")),
             lambda: llmcli("chat", "-p", "gigachat", stdin="one turn of chat\n"), lambda: llmcli("keys", "list"))
    llmcli("ask", "-c", "-p", "vault", "a follow-up")

    # failures, with --debug: a rejected key, an HTML 500, a rejected token, a stream cut short, a wrong CA
    servers["fake"].inject(Fault.json(401, {"error": {"message": f"Incorrect API key provided: {ENV_KEY[:8]}…"}}))
    servers["vault"].inject(*[Fault.html(500, "Internal Server Error", headers={"Retry-After": "0"})] * 4)
    rejected = Fault.json(401, {"status": 401, "message": "Token has expired"}, path="/chat/completions")
    servers["gigachat"].inject(rejected, rejected)
    servers["yandexgpt"].inject(Fault.reset_after(3, path="/completion"))
    together(lambda: llmcli("--debug", "ask", "-p", "fake", "rejected", expect=3),
             lambda: llmcli("--debug", "ask", "-p", "vault", "server error", expect=6),
             lambda: llmcli("--debug", "ask", "-p", "gigachat", "rejected token", expect=3),
             lambda: llmcli("--debug", "ask", "-p", "yandexgpt", "cut short", expect=7))
    llmcli("--debug", "ask", "-p", "fake", "wrong ca", expect=6,
           LLMCLI_PROVIDERS__FAKE__CA_BUNDLE=wrong_ca().ca_pem_path)

    together(*(lambda a=args: llmcli(*a, expect=None) for args in (
        ["config", "show"], ["config", "show", "--json"], ["config", "path"], ["providers", "list"],
        ["providers", "list", "--json"], ["providers", "status", "--json"], ["history", "list", "--json"],
        ["history", "stats", "--json"], ["history", "export"], ["history", "export", "--format", "markdown"],
        ["doctor"], ["doctor", "--json"], ["keys", "list"], ["--debug", "history", "search", "hello"])))
    assert '"id"' in llmcli("history", "list", "--json")
    assert "debug:" in "".join(outputs)  # --debug really logged

    leaks = [(s, text[:200]) for text in outputs for s in SENTINELS if s in text]
    assert leaks == []
    for path in llmcli_home.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert not [s for s in SENTINELS if s.encode() in data], path
    assert (llmcli_home / "history.db").exists()

    # history and secrets: 0600 files in 0700 folders (config.toml too, once llmcli wrote it)
    private = [p for p in llmcli_home.rglob("*") if p.is_file()]
    assert any(p.name == "history.db" for p in private)
    for path in private:
        assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, f"{path} is {stat.S_IMODE(path.stat().st_mode):o}"
    for folder in {p.parent for p in private}:
        assert stat.S_IMODE(folder.stat().st_mode) & 0o077 == 0, f"{folder} is {stat.S_IMODE(folder.stat().st_mode):o}"


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX file modes")
def test_insecure_storage_file_is_0600_in_a_0700_folder(llmcli_exe, e2e_env, llmcli_home):
    llmcli_home.mkdir(mode=0o755)
    proc = run(llmcli_exe, ["keys", "set", "openai", "--insecure-storage"], e2e_env, stdin="sk-not-a-sentinel\n")
    assert proc.returncode == 0, proc.stderr
    (stored,) = [p for p in llmcli_home.rglob("credentials.toml")]
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600
    assert stat.S_IMODE(stored.parent.stat().st_mode) == 0o700
    assert "sk-not-a-sentinel" not in proc.stdout + proc.stderr



def _process_tree(root: int) -> list[int]:
    """`root` and its descendants, from /proc (Linux)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat_line = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat_line.rsplit(")", 1)[1].split()[1])
    tree, frontier = [root], [root]
    while frontier:
        children = [pid for pid, parent in parents.items() if parent in frontier]
        tree += children
        frontier = children
    return tree


@pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="needs Linux /proc")
def test_no_secret_on_any_command_line_while_asking(target_of, llmcli_exe):
    """`ps` shows every local user each process's arguments: llmcli and any helper it starts."""
    target = target_of("openai", api_key=ENV_KEY, reply=" ".join(f"w{i}" for i in range(60)), pace=0.05)
    target.write_config()
    env = dict(target.env, LLMCLI_FAKE_API_KEY=ENV_KEY)
    proc = subprocess.Popen([llmcli_exe, "ask", "a slow answer"], env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert proc.stdout.read(2) == b"w0"  # streaming: every helper process is up by now
        tree = _process_tree(proc.pid)
        lines = [Path(f"/proc/{pid}/cmdline").read_bytes() for pid in tree if Path(f"/proc/{pid}").exists()]
    finally:
        proc.communicate(timeout=60)
    assert proc.returncode == 0
    assert lines and not [line for line in lines if ENV_KEY.encode() in line]
