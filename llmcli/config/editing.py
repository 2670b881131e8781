"""Writing config.toml (`llmcli config set KEY VALUE`) and other private (0600) files.

tomlkit edits the document in place, so the user's comments and layout survive a `config set`.
"""

from __future__ import annotations

import datetime
import difflib
import os
import secrets
import sys
from pathlib import Path
from collections.abc import Callable
from typing import Any

from llmcli import config
from llmcli.errors import ConfigError, UsageError
from llmcli.paths import ensure_private_dir, get_paths

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

TABLES = ("defaults", "providers", "aliases", "roles")
# Options the built-in adapters read besides the ProviderConfig fields (for "did you mean").
KNOWN_PROVIDER_OPTIONS = ("scope", "auth_url", "folder_id", "iam_url")


def write_private_file(path: Path, text: str) -> None:
    """Write atomically (temp file + os.replace) as 0600; a missing folder is created 0700."""
    parent = path.parent
    if not parent.exists() or parent == get_paths().config_dir:
        ensure_private_dir(parent)  # never chmod a folder of the user's that LLMCLI_CONFIG points into
    tmp = parent / f".{path.name}.{secrets.token_hex(4)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        if hasattr(os, "fchmod"):  # POSIX: 0600 whatever the umask
            os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def edit_document(change: Callable[[Any], None], *, changed: list[str],
                  check: Callable[[config.Settings], None] | None = None) -> Path:
    """Apply `change` to config.toml as a tomlkit document (comments kept), validate the whole result
    (ConfigError naming `changed`), run `check` on it, then write it; returns the config path."""
    import tomlkit

    path = get_paths().config_file
    target = Path(os.path.realpath(path))  # write through a dotfiles symlink, not over it
    config.read_config_file(target)  # a broken file: ConfigError with its position, nothing written
    document = tomlkit.parse(target.read_text(encoding="utf-8") if target.exists() else "")
    change(document)
    settings = config.validate_file_data(document.unwrap(), path, changed=changed)
    if check is not None:
        check(settings)
    write_private_file(target, tomlkit.dumps(document))
    return path


def set_value(key: str, value: str) -> Path:
    """config_set(): validate the whole resulting document, then write it; returns the config path."""
    parts = parse_key(key)
    check_settable(parts)
    first_error: ConfigError | None = None
    for candidate in value_candidates(value):
        try:
            return edit_document(lambda document: _assign(document, parts, candidate), changed=parts,
                                 check=lambda settings: _check_provider_names(settings, parts, candidate))
        except ConfigError as exc:  # this reading of the value does not fit: try the next one
            first_error = first_error or exc
    assert first_error is not None
    raise first_error


def parse_key(key: str) -> list[str]:
    """`providers."my.host".model` → ["providers", "my.host", "model"] (TOML dotted-key syntax)."""
    try:
        node: Any = tomllib.loads(f"{key} = 0")
    except tomllib.TOMLDecodeError:
        node = None
    parts: list[str] = []
    while isinstance(node, dict) and len(node) == 1:
        name, node = next(iter(node.items()))
        parts.append(name)
    if not parts or node != 0 or isinstance(node, bool) or "\n" in key:
        raise UsageError(
            f"invalid key {key!r}", hint="use a dotted key such as defaults.temperature or providers.NAME.model"
        )
    return parts


def check_settable(parts: list[str]) -> None:
    """Refuse secrets and keys llmcli does not know, suggesting the closest known one."""
    dotted = ".".join(parts)
    if parts[0] != "aliases" and config.is_secret_key(parts[-1]):
        name = parts[1] if parts[0] == "providers" and len(parts) > 1 else "PROVIDER"
        raise UsageError(
            f"refusing to write {dotted} to config.toml: secrets do not belong in the config file",
            hint=f"run `llmcli keys set {name}` (reads the key without echo and keeps it in the OS keyring)",
        )
    top = parts[0]
    fields = list(config.Settings.model_fields)
    if top not in fields:
        _unknown(dotted, top, fields)
    expected_length = {"defaults": 2, "providers": 3, "aliases": 2, "roles": 3}.get(top, 1)
    if len(parts) != expected_length:
        example = {"defaults": "defaults.temperature", "providers": "providers.NAME.model",
                   "aliases": "aliases.NAME", "roles": "roles.NAME.system"}.get(top, top)
        raise UsageError(f"cannot set {dotted}", hint=f"set one value at a time, e.g. {example}")
    if top == "defaults" and parts[1] not in config.GenerationDefaults.model_fields:
        _unknown(dotted, parts[1], list(config.GenerationDefaults.model_fields), "defaults.")
    if top == "roles" and parts[2] not in config.RoleConfig.model_fields:
        _unknown(dotted, parts[2], list(config.RoleConfig.model_fields), f"roles.{parts[1]}.")
    if top == "providers":
        known = list(config.ProviderConfig.model_fields) + list(KNOWN_PROVIDER_OPTIONS)
        close = difflib.get_close_matches(parts[2], known, n=1, cutoff=0.75)
        if close and close[0] != parts[2]:  # a typo would otherwise be a silently unused option
            _unknown(dotted, parts[2], known, f"providers.{parts[1]}.")


def _unknown(dotted: str, name: str, known: list[str], prefix: str = "") -> None:
    close = difflib.get_close_matches(name, known, n=1)
    raise UsageError(
        f"unknown config key {dotted}" + (f"; did you mean {prefix}{close[0]}?" if close else ""),
        hint="known keys: " + ", ".join(prefix + k for k in known),
    )


def parse_value(text: str) -> Any:
    """A TOML value when `text` is one (0.7, true, 1024, ["a", "b"], "quoted"), else the text itself."""
    try:
        parsed = tomllib.loads(f"v = {text}")
    except tomllib.TOMLDecodeError:
        return text
    if set(parsed) != {"v"} or isinstance(parsed["v"], (datetime.date, datetime.time, dict)):
        return text
    return parsed["v"]


def value_candidates(text: str) -> list[Any]:
    # A model or alias called "4" parses as a number; if the number is invalid there, try the text.
    parsed = parse_value(text)
    return [parsed] if isinstance(parsed, str) else [parsed, text]


def _assign(document: Any, parts: list[str], value: Any) -> None:
    import tomlkit

    node = document
    for depth, part in enumerate(parts[:-1]):
        if part not in node:
            node[part] = tomlkit.table(is_super_table=depth == 0 and len(parts) > 2)
        node = node[part]
        if not hasattr(node, "keys"):
            raise ConfigError(f"cannot set {'.'.join(parts)}: {'.'.join(parts[: depth + 1])} is not a table")
    node[parts[-1]] = value


def _check_provider_names(settings: config.Settings, parts: list[str], value: Any) -> None:
    if parts == ["default_provider"] or parts[0] == "roles" and parts[-1] == "provider":
        names = [str(value)]
    elif parts == ["fallback"]:
        names = list(settings.fallback)
    else:
        return
    from llmcli.completion import read_index

    # Providers added with `llmcli providers add` live in the database, which config may not open;
    # completion's index mirrors their names. The rest must be built-in or in the new settings.
    stored = read_index().get("stored_providers") or {}
    for name in names:
        if name not in stored:
            config.require_provider(settings, name)
