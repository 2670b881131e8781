"""Reading config.toml and explaining what is wrong with it — by key and position, never by value."""

from __future__ import annotations

import difflib
import os
import re
import sys
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from llmcli import defaults as builtin
from llmcli.config.models import ENV_SHORTCUTS, GenerationDefaults, RoleConfig, Settings
from llmcli.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

# Option names that hold secrets: they belong in the keyring (`llmcli keys set`), never in config.toml.
_SECRET_NAME = re.compile(
    r"(^|_)((api|secret|private|access)_?key|credentials?|((access|iam|oauth|auth|refresh|id)_?)?token"
    r"|password|passwd|secret)$",
    re.IGNORECASE,
)
SECRET_OPTION_NAMES = frozenset({"key"} | {n for kind in builtin.KIND_SECRETS.values() for n in kind})


def read_config_file(path: Path) -> dict[str, Any]:
    """The TOML document at `path` ({} if missing), or a ConfigError that never echoes its text."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror or type(exc).__name__}") from None
    try:
        return tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(f"config error in {path}: not UTF-8 text (byte {exc.start})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            _toml_error_message(path, str(exc)), hint=f"fix the file or move it aside: {path}"
        ) from None


def _toml_error_message(path: Path, text: str) -> str:
    # tomllib: "Invalid value (at line 2, column 5)" — position only, never the offending line
    match = re.match(r"(?s)(.*?) \(at line (\d+), column (\d+)\)$", text)
    if match:
        reason, line, column = match.groups()
        return f"config error in {path}, line {line}, column {column}: {reason}"
    return f"config error in {path}: {text.replace('(at ', '(')}"


_EXPECTED = {
    "float_parsing": "a number", "float_type": "a number", "finite_number": "a number",
    "int_parsing": "a whole number", "int_type": "a whole number", "int_from_float": "a whole number",
    "bool_parsing": "true or false", "bool_type": "true or false",
    "string_type": "a string", "list_type": "a list", "dict_type": "a table",
    "model_type": "a table", "model_attributes_type": "a table",
}


def config_error(
    exc: ValidationError, overrides: dict, path: Path, *, with_env: bool, changed: list[str]
) -> ConfigError:
    """Name the key, the expected type and where the value came from — never the value itself."""
    first = exc.errors(include_input=False, include_url=False)[0]
    loc = [str(part) for part in first["loc"]]
    key = ".".join(loc)
    expected = _EXPECTED.get(first["type"])
    if expected:
        problem = f"{key} must be {expected}"
    else:
        problem = f"{key}: " + re.sub(r"^(Value error, |Input )", "", first["msg"])
    if changed and loc[: len(changed)] == changed:
        return ConfigError(f"invalid value: {problem}")
    if _lookup(overrides, loc):
        where = "on the command line"
    elif with_env and (env := _env_name_for(loc)):
        where = f"in {env}"
    else:
        where = f"in {path}"
    return ConfigError(f"config error {where}: {problem}")


def _lookup(data: dict, loc: list[str]) -> bool:
    node: Any = data
    for part in loc:
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


def _env_name_for(loc: list[str]) -> str | None:
    candidates = [ENV_SHORTCUTS.get(loc[0], ""), "LLMCLI_" + "__".join(loc).upper(), "LLMCLI_" + loc[0].upper()]
    upper_env = {name.upper() for name in os.environ}
    return next((name for name in candidates if name and name in upper_env), None)


def unknown_key_warnings(data: dict[str, Any], path: Path) -> list[str]:
    """Keys of config.toml that llmcli does not know or will not use, with a suggestion."""
    found: list[str] = []
    found += _unknown(data, Settings.model_fields, "", path)
    if isinstance(data.get("defaults"), dict):
        found += _unknown(data["defaults"], GenerationDefaults.model_fields, "defaults.", path)
    for role, table in _tables(data.get("roles")):
        found += _unknown(table, RoleConfig.model_fields, f"roles.{role}.", path)
    for name, table in _tables(data.get("providers")):
        for option in table:
            if is_secret_key(option):
                found.append(
                    f"{path}: providers.{name}.{option} looks like a secret and is ignored; "
                    f"config.toml is not a secret store: run `llmcli keys set {name}` and delete the line"
                )
    return found


def _tables(value: Any) -> list[tuple[str, dict]]:
    return [(k, v) for k, v in value.items() if isinstance(v, dict)] if isinstance(value, dict) else []


def _unknown(table: dict[str, Any], known: dict[str, Any], prefix: str, path: Path) -> list[str]:
    messages = []
    for key in table:
        if key not in known:
            suggestion = _suggest(key, [prefix + k for k in known], prefix)
            if not suggestion and not prefix:  # `temperature = 0.2` at the top belongs in [defaults]
                suggestion = _suggest(key, ["defaults." + k for k in GenerationDefaults.model_fields], "defaults.")
            hint = f" (did you mean {suggestion}?)" if suggestion else ""
            messages.append(f"{path}: unknown key {prefix}{key} is ignored{hint}")
    return messages


def _suggest(key: str, candidates: list[str], prefix: str) -> str | None:
    by_name = {c[len(prefix):]: c for c in candidates}
    close = difflib.get_close_matches(key, list(by_name), n=1)
    return by_name[close[0]] if close else None


def without_secrets(data: dict[str, Any]) -> dict[str, Any]:
    """Drop secret-looking provider options so they can never reach an adapter, a dump or an error."""
    providers = data.get("providers")
    if not isinstance(providers, dict):
        return data
    cleaned = {
        name: {k: v for k, v in table.items() if not is_secret_key(k)} if isinstance(table, dict) else table
        for name, table in providers.items()
    }
    return {**data, "providers": cleaned}


def is_secret_key(name: str) -> bool:
    return name in SECRET_OPTION_NAMES or bool(_SECRET_NAME.search(name))
