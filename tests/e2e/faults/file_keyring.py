"""A keyring backend for end-to-end runs: a JSON file outside LLMCLI_HOME, so a test can plant a
secret "in the keyring" of a subprocess and then prove it never leaks into llmcli's own files.

    PYTHON_KEYRING_BACKEND=tests.e2e.faults.file_keyring.FileKeyring
    LLMCLI_TEST_KEYRING_FILE=/tmp/.../keyring.json     (PYTHONPATH must reach the repository root)
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import keyring.errors
from keyring.backend import KeyringBackend

ENV = "LLMCLI_TEST_KEYRING_FILE"


class FileKeyring(KeyringBackend):
    priority = 1  # type: ignore[assignment]

    @property
    def _path(self) -> Path:
        return Path(os.environ[ENV])

    def _load(self) -> dict[str, dict[str, str]]:
        try:
            return json.loads(self._path.read_text())
        except FileNotFoundError:
            return {}

    def _dump(self, data: dict[str, dict[str, str]]) -> None:
        self._path.write_text(json.dumps(data))

    def get_password(self, service: str, username: str) -> str | None:
        return self._load().get(service, {}).get(username)

    def set_password(self, service: str, username: str, password: str) -> None:
        data = self._load()
        data.setdefault(service, {})[username] = password
        self._dump(data)

    def delete_password(self, service: str, username: str) -> None:
        data = self._load()
        if username not in data.get(service, {}):
            raise keyring.errors.PasswordDeleteError("not found")
        del data[service][username]
        self._dump(data)
