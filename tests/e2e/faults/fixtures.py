"""Fixtures shared by the fault matrix and the other reliability tests (import them by name)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.faults.targets import Target, make_target, start_server


@pytest.fixture
def target_of(llmcli_exe: str, e2e_env: dict[str, str], llmcli_home: Path) -> Callable[..., Target]:
    """target_of(kind, **server_state) → a Target whose fake server stops with the test."""
    servers = []

    def make(kind: str, **state: Any) -> Target:
        server = start_server(kind, **state)
        servers.append(server)
        return make_target(kind, server, llmcli_home, e2e_env, llmcli_exe)

    yield make
    for server in servers:
        server.stop()
