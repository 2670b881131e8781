"""Entry point, root Typer app, and the one error boundary.

`llmcli --version` answers before typer is imported. Command modules import only typer at their top;
services, httpx, sqlmodel, keyring and pydantic-settings are imported inside command bodies, so
`--help` and shell completion stay cheap (tests/test_architecture.py guards this).
"""

from __future__ import annotations

import os
import sys

from llmcli import __version__

TYPE_CHECKING = False  # typing costs ~13 ms to import: half of `--version`
if TYPE_CHECKING:
    import threading
    from typing import Any

    import typer

# name -> module exposing either `app` (a Typer group) or `command` (a single command function)
COMMANDS: dict[str, str] = {
    "ask": "llmcli.commands.ask",
    "chat": "llmcli.commands.chat",
    "keys": "llmcli.commands.keys",
    "config": "llmcli.commands.config",
    "providers": "llmcli.commands.providers",
    "models": "llmcli.commands.models",
    "history": "llmcli.commands.history",
    "doctor": "llmcli.commands.doctor",
    "roles": "llmcli.commands.roles",
}

EXIT_SIGPIPE = 141
_ROOT_FLAGS_DEFAULT_NONE = ("help", "install_completion", "show_completion")

_app: Any = None


def _report(exc: BaseException) -> int:
    """Turn an exception into one `error:` line (+ `hint:`) and an exit code."""
    from llmcli import console
    from llmcli.errors import LlmcliError, TerminateRequested

    if isinstance(exc, LlmcliError):
        console.traceback_if_debug()
        console.error(exc.message, exc.hint)
        return exc.exit_code
    if isinstance(exc, TerminateRequested):
        console.error("terminated" if exc.exit_code == 143 else f"terminated ({exc.signal_name})")
        return exc.exit_code
    if isinstance(exc, KeyboardInterrupt):
        console.error("interrupted")
        return 130
    if isinstance(exc, BrokenPipeError):
        _silence_stdout()
        return EXIT_SIGPIPE
    console.bug(exc)
    return 1


def _silence_stdout() -> None:
    """After a closed pipe, point stdout at /dev/null so the final flush cannot raise again."""
    from llmcli import console

    console.to_devnull([sys.stdout])


def _setup_logging(debug: bool) -> None:
    import logging

    from llmcli.logs import RedactingFormatter

    logger = logging.getLogger("llmcli")
    if not any(getattr(h, "_llmcli", False) for h in logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(RedactingFormatter())
        handler._llmcli = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
        logger.propagate = False
    logger.setLevel(logging.DEBUG if debug else logging.WARNING)
    if debug:
        for name in ("httpx", "httpcore"):
            lib = logging.getLogger(name)
            lib.setLevel(logging.INFO)
            lib.handlers = logger.handlers
            lib.propagate = False


def _install_terminate_handlers() -> None:
    """SIGTERM, and SIGHUP (a closed terminal) where there is one, end the run like Ctrl-C does:
    the partial reply is saved, then the boundary exits 143 / 129."""
    import signal

    from llmcli import console
    from llmcli.errors import terminating_signals

    def on_terminate(signum: int, frame: object) -> None:
        raise console.terminated_by(signum)

    try:
        for sig in terminating_signals():
            # An ignored signal stays ignored: `nohup llmcli ask …` must outlive its terminal.
            if signal.getsignal(sig) is not signal.SIG_IGN:
                signal.signal(sig, on_terminate)
    except ValueError:  # not the main thread (e.g. some test runners)
        pass


def _version_callback(value: bool) -> None:
    if value:
        import typer

        typer.echo(f"llmcli {__version__}")
        raise typer.Exit()


def build_app(only: str | None = None) -> typer.Typer:
    """The root app with every command, or with command `only` (see `_command_of`)."""
    import importlib

    import typer
    from typer.core import TyperGroup
    from typer.exceptions import TyperException

    class BoundaryGroup(TyperGroup):
        """The one error boundary: every command's errors end here."""

        def parse_args(self, ctx, args):  # type: ignore[no-untyped-def]
            # typer gives --help, --install-completion and --show-completion a None default;
            # coercing that None builds a pydantic TypeAdapter, so every TAB press imported pydantic
            # (~0.06 s). False means the same to their callbacks and is a bool, which typer passes
            # through untouched.
            for param in self.get_params(ctx):
                if param.name in _ROOT_FLAGS_DEFAULT_NONE and param.default is None:
                    param.default = False
            return super().parse_args(ctx, args)

        def invoke(self, ctx):  # type: ignore[no-untyped-def]
            try:
                return super().invoke(ctx)
            except (typer.Exit, typer.Abort, TyperException):
                raise  # typer's own exits and usage errors print their own message
            except BaseException as exc:  # noqa: BLE001 - this *is* the boundary
                raise typer.Exit(_report(exc)) from None

    app = typer.Typer(
        cls=BoundaryGroup,
        name="llmcli",
        help="A fast terminal client for LLMs: GigaChat, YandexGPT and any OpenAI-compatible API.\n\n"
        'Example: git diff | llmcli ask "write a commit message"',
        no_args_is_help=True,
        add_completion=True,
        pretty_exceptions_enable=False,
        pretty_exceptions_show_locals=False,
        context_settings={"help_option_names": ["-h", "--help"]},
        rich_markup_mode=None,
    )

    @app.callback()
    def root(
        debug: bool = typer.Option(
            False, "--debug", help="Show debug logs and tracebacks (never secrets).", envvar="LLMCLI_DEBUG"
        ),
        version: bool = typer.Option(
            False, "--version", "-V", help="Print the version and exit.", callback=_version_callback,
            is_eager=True,
        ),
    ) -> None:
        if debug:
            os.environ["LLMCLI_DEBUG"] = "1"
        _setup_logging(debug)

    for name, module_name in COMMANDS.items():
        if only is not None and name != only:
            continue
        module = importlib.import_module(module_name)
        if hasattr(module, "app"):
            app.add_typer(module.app, name=name)
        else:
            app.command(name, **getattr(module, "COMMAND_SETTINGS", {}))(module.command)
    return app


def get_app() -> typer.Typer:
    global _app
    if _app is None:
        _app = build_app()
    return _app


def __getattr__(name: str) -> Any:  # `from llmcli.app import app` builds the app on first use
    if name == "app":
        return get_app()
    raise AttributeError(name)


GC_PAUSE_SECONDS = 2.0


def _pause_gc() -> threading.Timer:
    """No cyclic garbage collection for the first seconds of a run.

    A short run mostly imports (typer, pydantic, httpx, SQLAlchemy): hundreds of thousands of
    long-lived objects that the collector walks again and again and cannot free (~0.07 s of a 0.6 s
    `ask`). Reference counting still frees almost everything else. A run that lasts longer (chat, a
    long stream, `history import`) gets the collector back after GC_PAUSE_SECONDS."""
    import gc
    import threading

    gc.disable()
    resume = threading.Timer(GC_PAUSE_SECONDS, gc.enable)
    resume.daemon = True
    resume.start()
    return resume


def _command_of(argv: list[str]) -> str | None:
    """The one command this run invokes, when argv says so for sure; None means build them all.

    typer converts every registered command's signature into parameters at start-up (~10 ms for
    all of them); a run of `ask` needs `ask` only. The root --help, shell completion and anything
    unexpected (a typo gets "did you mean") still see every command."""
    if any(name.endswith("_COMPLETE") for name in os.environ if name.startswith("_LLMCLI")):
        return None
    words = [arg for arg in argv if arg != "--debug"]  # the one root option that may come first
    return words[0] if words and words[0] in COMMANDS else None


def main() -> None:
    argv = sys.argv[1:]
    if argv in (["--version"], ["-V"]):
        sys.stdout.write(f"llmcli {__version__}\n")
        return
    _pause_gc()
    _install_terminate_handlers()
    try:
        build_app(_command_of(argv))(prog_name="llmcli")
    except SystemExit as exc:
        code = exc.code
        try:
            sys.stdout.flush()
        except BrokenPipeError:
            _silence_stdout()
            code = EXIT_SIGPIPE
        raise SystemExit(code) from None
    except BaseException as exc:  # failures outside a command (e.g. while building the app)
        raise SystemExit(_report(exc)) from None
    finally:
        # Whatever exists now lives until exit anyway. Freezing it spares the interpreter's last
        # garbage collection a walk over every object typer, pydantic and SQLAlchemy created:
        # ~0.15 s of CPU for `history list`, ~0.02 s for `--help` (atexit handlers still run).
        import gc

        gc.freeze()
