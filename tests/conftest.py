"""Isolation for every test: a temp LLMCLI_HOME, an in-memory keyring, no vendor secrets from the
developer's environment, and never a real network call."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import keyring
import keyring.errors
import pytest
from keyring.backend import KeyringBackend

SECRET_ENV_PREFIXES = ("LLMCLI_", "GIGACHAT_", "YC_", "OPENAI_")


class MemoryKeyring(KeyringBackend):
    """A real keyring backend that keeps secrets in a dict."""

    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.store: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.store.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.store[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        try:
            del self.store[(service, username)]
        except KeyError:
            raise keyring.errors.PasswordDeleteError("not found") from None


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    for var in list(os.environ):
        if var.startswith(SECRET_ENV_PREFIXES):
            monkeypatch.delenv(var, raising=False)
    # .ci/run exports PYTHON_KEYRING_BACKEND=fail as a safety net for stray subprocesses; in-process
    # tests get the in-memory keyring below, and "chosen explicitly" must mean what the test sets.
    monkeypatch.delenv("PYTHON_KEYRING_BACKEND", raising=False)
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    home = tmp_path / "home"
    monkeypatch.setenv("LLMCLI_HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    prev = keyring.get_keyring()
    memory = MemoryKeyring()
    keyring.set_keyring(memory)
    yield memory
    keyring.set_keyring(prev)


@pytest.fixture
def memory_keyring(isolated) -> MemoryKeyring:
    return isolated


@pytest.fixture
def store(tmp_path: Path):
    """A real history database in the test's temp dir (tests/storage has its own, on db_path)."""
    from llmcli.storage import open_store

    opened = open_store(f"sqlite:///{tmp_path / 'h.db'}")
    yield opened
    opened.close()


@pytest.fixture
def offline_providers(llmcli_home: Path, monkeypatch: pytest.MonkeyPatch):
    """Write config.toml with OpenAI-compatible providers on a dead port (the test replaces
    providers.open_provider), the first one the default, and keys in the environment for `keyed`
    (all of them unless given). `extra` adds lines to a provider's table, `head` before the tables."""

    def write(*names: str, keyed: tuple[str, ...] | None = None, head: str = "",
              extra: dict[str, str] | None = None) -> Path:
        extra = extra or {}
        tables = "".join(f'[providers.{n}]\nkind = "openai"\nbase_url = "http://127.0.0.1:9/v1"\n'
                         f'model = "{n[0]}-1"\n{extra.get(n, "")}' for n in names)
        llmcli_home.mkdir(parents=True, exist_ok=True)
        path = llmcli_home / "config.toml"
        path.write_text(f'default_provider = "{names[0]}"\n{head}{tables}', encoding="utf-8")
        for name in names if keyed is None else keyed:
            monkeypatch.setenv(f"LLMCLI_{name.upper()}_API_KEY", f"sk-{name}-0123456789")
        return path

    return write


@pytest.fixture
def llmcli_home() -> Path:
    return Path(os.environ["LLMCLI_HOME"])


def _installed_llmcli() -> str:
    exe = Path(sys.executable).parent / "llmcli"
    if exe.exists():
        return str(exe)
    found = shutil.which("llmcli")
    if not found:
        pytest.fail("the llmcli console script is not installed (run: pip install -e '.[test]')")
    return found


@pytest.fixture(scope="session")
def llmcli_exe() -> str:
    """Path of the installed `llmcli` console script, for end-to-end subprocess runs."""
    return _installed_llmcli()


@pytest.fixture
def e2e_env(llmcli_home: Path) -> dict[str, str]:
    """Environment for a subprocess run of the installed llmcli: isolated home, no real keyring."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(SECRET_ENV_PREFIXES)}
    env["LLMCLI_HOME"] = str(llmcli_home)
    env["PYTHON_KEYRING_BACKEND"] = "keyring.backends.null.Keyring"
    env["NO_PROXY"] = "127.0.0.1,localhost"
    env["PYTHONIOENCODING"] = "utf-8"
    return env
