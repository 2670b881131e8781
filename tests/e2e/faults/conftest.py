"""Fixtures for the fault matrix.

Most of a fault run is waiting (backoff, a stall, a trickle, a deadline), so the matrix runs are made
up front, a few at a time, each with its own fake server and its own LLMCLI_HOME; every test then
checks its own run. Only the runs of the tests selected in this session are made.
"""

from __future__ import annotations

import subprocess
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.faults.checks import execute
from tests.e2e.faults.matrix import Case
from tests.e2e.faults.targets import Target, base_env, make_target, start_server
from tests.fakes.tls import session_ca, wrong_ca

WORKERS = 4  # two cores: most runs wait on the network, a few more than the cores keeps them busy


@dataclass
class Outcome:
    target: Target
    prompt: str = ""
    proc: subprocess.CompletedProcess[str] | None = None
    error: BaseException | None = None  # an arrange/run failure, re-raised in the test that owns it


class MatrixRuns:
    def __init__(self, root: Path, exe: str) -> None:
        self.root = root
        self.exe = exe
        self.servers: list[Any] = []
        self.results: dict[tuple[str, str], Outcome] = {}
        self._lock = threading.Lock()

    def run_one(self, case: Case, kind: str) -> Outcome:
        home = self.root / f"{case.id.replace('/', '_')}-{kind}"
        server = start_server(kind)
        with self._lock:
            self.servers.append(server)
        outcome = Outcome(make_target(kind, server, home, base_env(home), self.exe))
        try:
            outcome.prompt, outcome.proc = execute(case, outcome.target)
        except BaseException as exc:  # noqa: BLE001 - reported by the test of this case
            outcome.error = exc
        return outcome

    def run_all(self, pairs: list[tuple[Case, str]]) -> None:
        todo = [(c, k) for c, k in pairs if (c.id, k) not in self.results]
        session_ca(), wrong_ca()  # made here: functools.cache would let two threads make two CAs
        with ThreadPoolExecutor(WORKERS) as pool:
            for (case, kind), outcome in zip(todo, pool.map(lambda p: self.run_one(*p), todo)):
                self.results[(case.id, kind)] = outcome

    def stop(self) -> None:
        for server in self.servers:
            server.stop()


@pytest.fixture(scope="session")
def matrix_runs(request, tmp_path_factory, llmcli_exe) -> MatrixRuns:
    runs = MatrixRuns(tmp_path_factory.mktemp("matrix"), llmcli_exe)
    yield runs
    runs.stop()


@pytest.fixture
def outcome(request, matrix_runs: MatrixRuns) -> Outcome:
    """The run of this test's (case, kind); the first request runs every selected one concurrently."""
    case, kind = request.node.callspec.params["case"], request.node.callspec.params["kind"]
    if (case.id, kind) not in matrix_runs.results:
        selected = [(item.callspec.params["case"], item.callspec.params["kind"])
                    for item in request.session.items
                    if hasattr(item, "callspec") and isinstance(item.callspec.params.get("case"), Case)
                    and "outcome" in getattr(item, "fixturenames", ())]
        matrix_runs.run_all(selected)
    result = matrix_runs.results[(case.id, kind)]
    if result.error is not None:
        raise result.error
    return result
