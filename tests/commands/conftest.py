"""The in-process CLI for command tests: `run("keys", "list")` → typer's CliRunner result."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from llmcli.app import build_app


@pytest.fixture
def run():
    app = build_app()

    def invoke(*args: str, input: str | None = None):
        return CliRunner().invoke(app, list(args), input=input)

    return invoke
