"""Where secrets come from: env → OS keyring → the opt-in 0600 file (reliability.md §1.3, DESIGN.md §4).

Values are wrapped in `Secret` at once and never reach an exception, a log line or the output. The
keyring is reached only through services.keyring_access (real OS backends, timeout, no exceptions).
"""

from __future__ import annotations

import os
import stat
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llmcli import defaults as builtin
from llmcli.config.editing import write_private_file
from llmcli.errors import CredentialsError, UsageError
from llmcli.logs import register_secret
from llmcli.paths import get_paths
from llmcli.services.keyring_access import SERVICE, KeyringProblem, keyring_call, keyring_status
from llmcli.services.token_cache import make_token_store
from llmcli.types import Secret

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

__all__ = [
    "ResolvedSecrets",
    "credential_source",
    "keyring_status",
    "make_token_store",
    "missing_credentials_error",
    "remove_secret",
    "resolve_secrets",
    "store_secret",
    "suggested_env_variable",
]

FILE_KEY = "api_key"  # the primary secret's name in credentials.toml, whatever the kind calls it


@dataclass(frozen=True)
class ResolvedSecrets:
    secrets: dict[str, Secret]
    source: str  # "env" | "keyring" | "file" | "none"
    detail: str = ""  # which variables, or the file path — never a value
    problems: tuple[str, ...] = field(default=())  # why the keyring was skipped, if it was


# --- resolving ------------------------------------------------------------------------------------


def _secret_names(kind: str) -> list[str]:
    return list(builtin.KIND_SECRETS.get(kind, {}))


def _env_variables(name: str, kind: str, secret: str, primary: str) -> list[str]:
    own = [builtin.provider_env_prefix(name) + "API_KEY"] if secret == primary else []
    by_name = list(builtin.PROVIDER_SECRET_ENV.get(name, {}).get(secret, ()))
    return own + by_name + list(builtin.KIND_SECRETS.get(kind, {}).get(secret, ()))


def _from_env(name: str, kind: str) -> tuple[dict[str, Secret], list[str]]:
    names = _secret_names(kind)
    found: dict[str, Secret] = {}
    used: list[str] = []
    for secret in names:
        for variable in _env_variables(name, kind, secret, names[0]):
            if os.environ.get(variable):
                found[secret] = Secret(os.environ[variable])
                used.append(variable)
                break
    return found, used


def _enough(found: dict[str, Secret]) -> bool:
    # Any env credential means "use the environment" (env wins as a whole: CI overrides, no keyring
    # delay) — except a lone GIGACHAT_USER or GIGACHAT_PASSWORD, which authenticates nothing.
    names = set(found)
    return bool(names - {"user", "password"}) or {"user", "password"} <= names


def resolve_secrets(name: str, kind: str) -> ResolvedSecrets:
    """The secrets of provider `name`; env first, and the keyring is not touched when env has them."""
    names = _secret_names(kind)
    if not names:
        return ResolvedSecrets({}, "none")
    found, used = _from_env(name, kind)
    if _enough(found):
        return _remember(ResolvedSecrets(found, "env", ", ".join(used)))
    problems: list[str] = []
    try:
        value = keyring_call(lambda b: b.get_password(SERVICE, name))
    except KeyringProblem as problem:
        value = None
        problems.append(problem.reason)
    if value:
        return _remember(ResolvedSecrets({**found, names[0]: Secret(value)}, "keyring", f"service {SERVICE}"))
    from_file = _from_file(name, kind)
    if from_file:
        path = str(get_paths().credentials_file)
        return _remember(ResolvedSecrets({**found, **from_file}, "file", path))
    if found:
        return _remember(ResolvedSecrets(found, "env", ", ".join(used)))
    return ResolvedSecrets({}, "none", problems=tuple(problems))


def credential_source(name: str, kind: str) -> str:
    """Where the key of `name` comes from: env, keyring, file or none (never the value)."""
    return resolve_secrets(name, kind).source


def _remember(resolved: ResolvedSecrets) -> ResolvedSecrets:
    """Let the log formatter redact these values wherever they might appear."""
    for secret in resolved.secrets.values():
        register_secret(secret.reveal())
    return resolved


def missing_credentials_error(name: str, kind: str, reason: str | None = None) -> CredentialsError:
    """The error for a missing key, with the exact fix for this machine (keyring or --insecure-storage)."""
    variable = suggested_env_variable(name, kind)
    usable, why = keyring_status()
    if usable:
        how = f"run `llmcli keys set {name}`"
    else:
        how = (
            f"run `llmcli keys set {name} --insecure-storage` ({why}; "
            f"the key is then kept in a 0600 file)"
        )
    return CredentialsError(
        f"no API key for {name}" + (f" ({reason})" if reason else ""),
        hint=f"export {variable}=… or {how}",
    )


def suggested_env_variable(name: str, kind: str) -> str:
    """The vendor's own variable for the primary secret when there is one, else LLMCLI_<NAME>_API_KEY."""
    names = _secret_names(kind) or ["api_key"]
    variables = _env_variables(name, kind, names[0], names[0])
    return variables[1] if len(variables) > 1 else variables[0]


# --- the opt-in plain-text file ---------------------------------------------------------------------


def _read_credentials_file(path: Path) -> dict[str, Any]:
    try:
        st = path.stat()
    except FileNotFoundError:
        return {}
    mode = stat.S_IMODE(st.st_mode)
    if os.name == "posix" and (mode & 0o077 or st.st_uid != os.getuid()):
        raise CredentialsError(
            f"refusing to read {path}: other users can read it or it is not yours (mode {mode:04o})",
            hint=f"chmod 600 {path}",
        )
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:  # position only, never the content
        raise CredentialsError(f"cannot read {path}: {exc}", hint=f"fix or delete {path}") from None


def _from_file(name: str, kind: str) -> dict[str, Secret]:
    table = _read_credentials_file(get_paths().credentials_file).get(name)
    if not isinstance(table, dict):
        return {}
    names = _secret_names(kind)
    found = {s: Secret(table[s]) for s in names if isinstance(table.get(s), str) and table[s]}
    if isinstance(table.get(FILE_KEY), str) and table[FILE_KEY]:
        found[names[0]] = Secret(table[FILE_KEY])
    return found


def _write_credentials_file(data: dict[str, Any]) -> Path:
    import tomlkit

    path = get_paths().credentials_file
    header = "# Written by `llmcli keys set --insecure-storage`: plain text, keep it 0600.\n"
    write_private_file(path, header + tomlkit.dumps(data))
    return path


def _remove_from_file(name: str) -> bool:
    path = get_paths().credentials_file
    data = _read_credentials_file(path)
    if name not in data:
        return False
    del data[name]
    if data:
        _write_credentials_file(data)
    else:
        path.unlink(missing_ok=True)
    return True


# --- storing and removing ---------------------------------------------------------------------------


def store_secret(name: str, value: str, *, insecure: bool = False) -> str:
    """Store the primary secret of `name`: "keyring", or the path of the 0600 file when insecure."""
    if not value:
        raise UsageError("empty key: nothing stored")
    if insecure:
        path = get_paths().credentials_file
        data = _read_credentials_file(path) if path.exists() else {}
        data.setdefault(name, {})[FILE_KEY] = value
        return str(_write_credentials_file(data))
    try:
        keyring_call(lambda b: b.set_password(SERVICE, name, value))
    except KeyringProblem as problem:
        raise CredentialsError(
            f"cannot store the key for {name} in the OS keyring: {problem.reason}",
            hint=f"run `llmcli keys set {name} --insecure-storage` to keep it in a 0600 file "
            f"({get_paths().credentials_file}), or use the environment variable instead",
        ) from None
    try:
        _remove_from_file(name)  # the keyring copy wins; leave no plain-text copy behind
    except CredentialsError:
        pass  # an unreadable file is reported when it is next read, not here
    return "keyring"


def remove_secret(name: str) -> list[str]:
    """Remove the stored secret of `name` everywhere; returns where it was found ("keyring", a path)."""
    removed = [str(get_paths().credentials_file)] if _remove_from_file(name) else []

    def delete(backend: Any) -> bool:
        import keyring.errors

        try:
            backend.delete_password(SERVICE, name)
        except keyring.errors.PasswordDeleteError:
            return False
        return True

    try:
        if keyring_call(delete):
            removed.insert(0, "keyring")
    except KeyringProblem as problem:
        if problem.failed:
            raise CredentialsError(
                f"could not remove the key for {name} from the OS keyring: {problem.reason}",
                hint="unlock the keyring and try again",
            ) from None
    return removed
