"""The one error boundary: every error class becomes one `error:` line, a hint, and its exit code."""

from __future__ import annotations

import errno
import sys

import pytest
import typer
from typer.testing import CliRunner

from llmcli import app as app_module
from llmcli import errors
from llmcli.logs import redact, register_secret


def _app_raising(exc: BaseException) -> typer.Typer:
    app = app_module.build_app()

    @app.command("boom")
    def boom() -> None:
        raise exc

    return app


@pytest.mark.parametrize("exc, code", [
    (errors.UsageError("bad flag", hint="try --help"), 2),
    (errors.ConfigError("config error in /x/config.toml, line 1, column 9: Invalid value"), 2),
    (errors.CredentialsError("no API key for gigachat", hint="llmcli keys set gigachat"), 3),
    (errors.AuthError("key rejected", provider="openai", status_code=401), 3),
    (errors.RequestRejected("no such model", status_code=404), 4),
    (errors.RateLimited("too many requests", retry_after=3), 5),
    (errors.ProviderUnavailable("cannot connect to 127.0.0.1:9"), 6),
    (errors.StreamBroken("connection reset after 5 chunks"), 7),
    (errors.StorageError("history.db is not a database", hint="move it aside"), 8),
])
def test_errors_map_to_exit_codes(exc: errors.LlmcliError, code: int) -> None:
    result = CliRunner().invoke(_app_raising(exc), ["boom"])
    assert result.exit_code == code
    lines = result.stderr.splitlines()
    assert lines[0] == f"error: {exc.message}"
    assert lines[1:] == ([f"hint: {exc.hint}"] if exc.hint else [])
    assert "Traceback" not in result.stderr and result.stdout == ""


def test_ctrl_c_and_sigterm_exit_codes() -> None:
    assert CliRunner().invoke(_app_raising(KeyboardInterrupt()), ["boom"]).exit_code == 130
    assert CliRunner().invoke(_app_raising(errors.TerminateRequested()), ["boom"]).exit_code == 143


def test_sighup_exits_129_even_when_stderr_is_a_terminal_that_hung_up(monkeypatch) -> None:
    class HungUpTerminal:
        def write(self, text: str) -> int:
            raise OSError(errno.EIO, "Input/output error")

        def flush(self) -> None:
            raise OSError(errno.EIO, "Input/output error")

    result = CliRunner().invoke(_app_raising(errors.TerminateRequested(1)), ["boom"])
    assert (result.exit_code, result.stderr) == (129, "error: terminated (SIGHUP)\n")
    monkeypatch.setattr(sys, "stderr", HungUpTerminal())
    assert app_module._report(errors.TerminateRequested(1)) == 129


def test_unexpected_error_is_one_line_and_points_at_debug(monkeypatch) -> None:
    monkeypatch.delenv("LLMCLI_DEBUG", raising=False)
    result = CliRunner().invoke(_app_raising(ZeroDivisionError("division by zero")), ["boom"])
    assert result.exit_code == 1
    assert result.stderr.splitlines()[0] == "error: unexpected error: ZeroDivisionError: division by zero"
    assert "--debug" in result.stderr and "Traceback" not in result.stderr


def test_debug_shows_traceback_without_locals(monkeypatch) -> None:
    secret = "sk-local-variable-SENTINEL"

    def failing() -> None:
        api_key = secret  # noqa: F841 - a local that must not be printed
        raise RuntimeError("boom")

    app = app_module.build_app()
    app.command("boom")(failing)
    result = CliRunner().invoke(app, ["--debug", "boom"])
    assert result.exit_code == 1
    assert "Traceback" in result.stderr and secret not in result.stderr


def test_usage_errors_from_typer_keep_exit_2() -> None:
    result = CliRunner().invoke(app_module.build_app(), ["ask", "--temperature", "hot"])
    assert result.exit_code == 2


def test_redaction_of_known_secrets_and_header_shapes() -> None:
    register_secret("my-very-secret-value")
    line = "Authorization: Bearer abc.def and key my-very-secret-value in ?key=zzz&x=1"
    cleaned = redact(line)
    assert "abc.def" not in cleaned and "my-very-secret-value" not in cleaned and "zzz" not in cleaned
    assert "x=1" in cleaned
