"""Work a command starts before typer is even imported (app.main calls `prestart(argv)`).

`llmcli ask` saves to history by default, and the storage stack takes ~0.3 s to import: starting
the history writer process (services/history_writer.py) here, ~0.03 s into the run, lets it load on
another core while typer parses the flags, the config is read and the request runs. A guess from
argv is enough: when the turn turns out not to need it (history off in config.toml, `-c` hidden in
combined short flags), the writer is dropped without having touched the database.

Stdlib only: this runs on every `ask` before anything else is imported.
"""

from __future__ import annotations

import os

# Root options that take no value and may come before the command name.
_ROOT_FLAGS = {"--debug"}
# With these, `ask` either saves nothing or reads history in the main thread first.
_NO_WRITER = {"--no-log", "-c", "--continue", "--conversation", "--help", "-h"}


def prestart(argv: list[str]) -> None:
    i = 0
    while i < len(argv) and argv[i] in _ROOT_FLAGS:
        i += 1
    if i >= len(argv) or argv[i] != "ask":
        return
    if any(arg in _NO_WRITER or arg.startswith("--conversation=") for arg in argv[i + 1:]):
        return
    if os.environ.get("LLMCLI_NO_LOG", "").strip().lower() not in ("", "0", "false", "no", "off"):
        return
    if _usable_cpus() < 2:  # one core: a second interpreter only adds work; the thread is cheaper
        return
    from llmcli.services import history_writer

    history_writer.prestart()


def _usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        return os.cpu_count() or 1
