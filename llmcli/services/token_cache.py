"""Short-lived tokens (GigaChat access token, Yandex IAM token) cached between runs.

In the OS keyring when there is a usable one, else 0600 JSON files in paths.token_cache_dir (0700).
A cache failure only ever means "no cached token": the adapter fetches a new one.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import stat
import time
from pathlib import Path

from llmcli.config.editing import write_private_file
from llmcli.paths import get_paths
from llmcli.providers.base import TokenStore
from llmcli.services.keyring_access import SERVICE, KeyringProblem, keyring_call, keyring_status

log = logging.getLogger("llmcli.credentials")


class KeyringTokenStore:
    """Tokens in the OS keyring, username "<provider>:token:<key>"; failures mean "no cached token"."""

    def __init__(self, provider: str | None = None) -> None:
        self._prefix = f"{provider}:token:" if provider else "token:"

    def load(self, key: str) -> tuple[str, float] | None:
        try:
            raw = keyring_call(lambda b: b.get_password(SERVICE, self._prefix + key))
        except KeyringProblem:
            return None
        return _parse_token(raw)

    def save(self, key: str, token: str, expires_at: float) -> None:
        payload = json.dumps({"token": token, "expires_at": expires_at})
        try:
            keyring_call(lambda b: b.set_password(SERVICE, self._prefix + key, payload))
        except KeyringProblem as problem:
            log.debug("token not cached in the keyring: %s", problem.reason)

    def clear(self, key: str) -> None:
        try:
            keyring_call(lambda b: b.delete_password(SERVICE, self._prefix + key))
        except KeyringProblem:
            pass


class FileTokenStore:
    """Tokens as 0600 JSON files in a 0700 folder; the file name is a hash, never the key itself."""

    def __init__(self, folder: Path, provider: str | None = None) -> None:
        self._folder = folder
        self._provider = provider or ""

    def _path(self, key: str) -> Path:
        digest = hashlib.sha256(f"{self._provider}\0{key}".encode()).hexdigest()[:32]
        return self._folder / f"{digest}.json"

    def load(self, key: str) -> tuple[str, float] | None:
        path = self._path(key)
        try:
            if os.name == "posix" and stat.S_IMODE(path.stat().st_mode) & 0o077:
                return None  # someone else could have read or planted it
            return _parse_token(path.read_text(encoding="utf-8"))
        except OSError:
            return None

    def save(self, key: str, token: str, expires_at: float) -> None:
        try:
            write_private_file(self._path(key), json.dumps({"token": token, "expires_at": expires_at}))
        except OSError as exc:
            log.debug("token not cached: %s", type(exc).__name__)

    def clear(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)


def _parse_token(raw: str | None) -> tuple[str, float] | None:
    try:
        data = json.loads(raw) if raw else None
        token, expires_at = str(data["token"]), float(data["expires_at"])
    except (ValueError, TypeError, KeyError):
        return None
    return (token, expires_at) if token and expires_at > time.time() else None


class _LazyTokenStore:
    """Chooses keyring or files on first use, so providers that cache no token never probe the keyring."""

    def __init__(self, provider: str | None) -> None:
        self._provider = provider
        self._store: TokenStore | None = None

    def _target(self) -> TokenStore:
        if self._store is None:
            usable, _ = keyring_status()
            self._store = (
                KeyringTokenStore(self._provider)
                if usable
                else FileTokenStore(get_paths().token_cache_dir, self._provider)
            )
        return self._store

    def load(self, key: str) -> tuple[str, float] | None:
        return self._target().load(key)

    def save(self, key: str, token: str, expires_at: float) -> None:
        self._target().save(key, token, expires_at)

    def clear(self, key: str) -> None:
        self._target().clear(key)


def make_token_store(provider: str | None = None) -> TokenStore:
    """Keyring-backed when there is a usable OS keyring, else 0600 files in paths.token_cache_dir."""
    return _LazyTokenStore(provider)
