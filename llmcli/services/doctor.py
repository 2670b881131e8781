"""`llmcli doctor`: check the configuration, the history database, file modes, the keyring and each
configured provider's credentials — without touching the network and without writing anything.

Returns data (a list of Check); never prints. A failed check keeps the LlmcliError that describes
it, so the command can end with that error's message and exit code (2 config, 8 storage).
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmcli.errors import LlmcliError, StorageError
from llmcli.paths import Paths, get_paths

if TYPE_CHECKING:
    from llmcli.config import Settings

OK, INFO, WARN, FAIL = "ok", "info", "warn", "fail"


@dataclass(frozen=True)
class Check:
    name: str
    status: str  # ok | info | warn | fail
    detail: str
    hint: str | None = None
    error: LlmcliError | None = field(default=None, compare=False)  # set when status is fail

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "status": self.status, "detail": self.detail, "hint": self.hint}


def run_checks() -> list[Check]:
    paths = get_paths()
    config, settings = check_config(paths)
    checks = [config, check_database(paths.database_url), *check_modes(paths)]
    checks.append(check_keyring())
    if settings is not None:
        checks.extend(check_providers(settings))
    return checks


def first_failure(checks: list[Check]) -> Check | None:
    return next((c for c in checks if c.status == FAIL), None)


# --- configuration --------------------------------------------------------------------------------


def check_config(paths: Paths) -> tuple[Check, Settings | None]:
    """The check, and the settings it loaded (None when they are broken) for the provider checks."""
    from llmcli.config import load_settings

    try:
        settings = load_settings()
    except LlmcliError as exc:
        return Check("config", FAIL, exc.message, exc.hint, error=exc), None
    path = paths.config_file
    if not path.exists():
        return Check("config", OK, f"{path} does not exist; built-in defaults apply"), settings
    return Check("config", OK, f"{path} is valid"), settings


# --- history database -----------------------------------------------------------------------------


def check_database(url: str) -> Check:
    """Open without migrating or creating anything; SQLite's integrity check where there is one."""
    from llmcli.storage.health import inspect_database

    try:
        health = inspect_database(url)
    except LlmcliError as exc:
        return Check("database", FAIL, exc.message, exc.hint, error=exc)
    if not health.exists:
        return Check("database", OK, f"{health.location} not created yet (made on first use)")
    schema = f"schema {health.version} of {health.latest}"
    if health.version < health.latest:
        schema += " (the rest is applied on next use)"
    problems = health.problems
    if problems:
        shown = "; ".join(problems[:3]) + (f"; … {len(problems) - 3} more" if len(problems) > 3 else "")
        error = StorageError(f"{health.location}: the integrity check found {len(problems)} problem(s): {shown}",
                             hint="copy the file aside, then try `sqlite3 FILE .recover` or start afresh")
        return Check("database", FAIL, error.message, error.hint, error=error)
    checked = "integrity ok" if health.dialect == "sqlite" else f"no integrity check on {health.dialect}"
    return Check("database", OK, f"{health.location}: {checked}, {schema}")


# --- file modes ----------------------------------------------------------------------------------


def _private_files(paths: Paths) -> list[Path]:
    """Files that hold history or secrets (the config file holds neither)."""
    db = paths.database_file
    files = [db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm"), paths.credentials_file,
             paths.repl_history_file]
    if paths.token_cache_dir.is_dir():
        files.extend(sorted(p for p in paths.token_cache_dir.iterdir() if p.is_file()))
    return [f for f in files if f.exists()]


def check_modes(paths: Paths) -> list[Check]:
    """History and secrets must be 0600 in 0700 folders (other local users could read them)."""
    if os.name != "posix":
        return [Check("files", INFO, "file modes are not checked on this system")]
    loose = []
    files = _private_files(paths)
    for item in files + sorted({f.parent for f in files}):
        mode = stat.S_IMODE(item.stat().st_mode)
        if mode & 0o077:
            wanted = "700" if item.is_dir() else "600"
            loose.append(Check("files", WARN, f"{item} is {mode:04o}: other users may read it",
                               hint=f"chmod {wanted} {item}"))
    if loose:
        return loose
    return [Check("files", OK, f"{len(files)} file(s) with history or secrets are private")]


# --- keyring and providers -------------------------------------------------------------------------


def check_keyring() -> Check:
    from llmcli.services.credentials import keyring_status

    usable, reason = keyring_status()
    if usable:
        return Check("keyring", OK, f"OS keyring: {reason}")
    return Check("keyring", INFO, reason, "keys come from the environment, or `llmcli keys set NAME "
                 "--insecure-storage` (a 0600 file)")


def check_providers(settings: Settings) -> list[Check]:
    """Where each configured provider's key comes from (never the key); no network."""
    from llmcli.errors import UsageError
    from llmcli.services.credentials import resolve_secrets, suggested_env_variable
    from llmcli.services.providers import find_provider_config

    default = settings.default_provider
    names = sorted(set(settings.providers) | ({default} if default else set()))
    checks = []
    for name in names:
        try:  # built-in, config.toml, or added with `providers add`
            config = find_provider_config(settings, name)
        except UsageError:
            checks.append(Check(f"provider {name}", WARN, "is the default provider but is not configured",
                                hint="llmcli providers list"))
            continue
        kind = config.kind or ""
        resolved = resolve_secrets(name, kind)
        if resolved.source != "none" or not config.needs_key or kind == "local":
            where = f"key from {resolved.source}" + (f" ({resolved.detail})" if resolved.detail else "")
            checks.append(Check(f"provider {name}", OK, f"{kind}, {where if config.needs_key else 'no key needed'}"))
        else:
            checks.append(Check(f"provider {name}", WARN, f"{kind}, no key found",
                                hint=f"export {suggested_env_variable(name, kind)}=… or `llmcli keys set {name}`"))
    return checks
