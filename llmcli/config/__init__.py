"""Settings: built-in defaults < config.toml < LLMCLI_* env < command-line flags (overrides).

Only services and commands (inside their functions) import this module: it pulls in pydantic, which
stays off the --help/completion path (and pydantic-settings only when an LLMCLI_<FIELD> variable is
set: config/models.build_settings). Secrets never live here; they are resolved by
services.credentials (env → keyring → 0600 file).

Unknown keys in config.toml are ignored with a warning (logged once per process, shown on stderr as
`warning: …`), never an error: a config written for a newer llmcli, or one typo, must not break every
`ask` in a script, yet a silently ignored `temprature = 0.2` would be worse. `config set` is strict.
"""

from __future__ import annotations

import difflib
import logging
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from llmcli import defaults as builtin
from llmcli.config.checks import (
    config_error,
    is_secret_key,
    read_config_file,
    unknown_key_warnings,
    without_secrets,
)
from llmcli.config.models import (
    GenerationDefaults,
    ProviderConfig,
    RoleConfig,
    Settings,
    build_settings,
)
from llmcli.errors import ConfigError, UsageError
from llmcli.paths import get_paths

__all__ = [
    "GenerationDefaults",
    "ProviderConfig",
    "RoleConfig",
    "Settings",
    "config_dump",
    "config_set",
    "is_secret_key",
    "load_settings",
    "provider_config",
    "provider_names",
    "read_config_file",
    "require_provider",
    "validate_file_data",
]

log = logging.getLogger("llmcli.config")

PROVIDER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def load_settings(**overrides: Any) -> Settings:
    """Effective settings. `overrides` are flags (Settings field names; None means "not given")."""
    path = get_paths().config_file
    data = read_config_file(path)
    _warn_once(unknown_key_warnings(data, path))
    settings = _validate(without_secrets(data), _drop_none(overrides), path, with_env=True)
    return settings


def _validate(
    data: dict[str, Any], overrides: dict[str, Any], path: Path, *, with_env: bool, changed: Sequence[str] = ()
) -> Settings:
    try:
        settings = build_settings(data, overrides, with_env=with_env)
    except ValidationError as exc:
        raise config_error(exc, overrides, path, with_env=with_env, changed=list(changed)) from None
    _check_providers(settings, path)
    return settings


def _check_providers(settings: Settings, path: Path) -> None:
    for name, config in settings.providers.items():
        if not PROVIDER_NAME.match(name):
            raise ConfigError(
                f"config error in {path}: provider name {name!r} may hold only letters, digits, '.', '_', '-'"
            )
        if config.kind is None and name not in builtin.BUILTIN_PROVIDERS:
            raise ConfigError(
                f"config error in {path}: providers.{name}.kind is missing",
                hint=f"llmcli config set providers.{name}.kind openai  (kinds: {', '.join(builtin.KINDS)})",
            )


def _drop_none(overrides: dict[str, Any]) -> dict[str, Any]:
    result = {}
    for key, value in overrides.items():
        if isinstance(value, dict):
            value = _drop_none(value)
        if value is not None and value != {}:
            result[key] = value
    return result


# --- warnings about the file ---------------------------------------------------------------------

_warned: set[str] = set()


def _warn_once(messages: list[str]) -> None:
    for message in messages:
        if message not in _warned:
            _warned.add(message)
            log.warning("%s", message)


# --- providers -----------------------------------------------------------------------------------


def provider_config(settings: Settings, name: str) -> ProviderConfig | None:
    """Built-in defaults ⊕ [providers.NAME] (config wins) ⊕ vendor env options; None if unknown."""
    configured = settings.providers.get(name)
    base = builtin.BUILTIN_PROVIDERS.get(name)
    if configured is None and base is None:
        return None
    merged: dict[str, Any] = dict(base or {})
    if configured is not None:
        merged.update(configured.model_dump(exclude_unset=True))
    kind = str(merged.get("kind") or "")
    # Vendor variables (YC_FOLDER_ID) belong to the built-in provider of that name and beat config
    # there, like any env; other providers of the same kind only fall back to them.
    for option, env in builtin.PROVIDER_OPTION_ENV.get(name, {}).items():
        if os.environ.get(env):
            merged[option] = os.environ[env]
    for option, env in builtin.PROVIDER_OPTION_ENV.get(kind, {}).items():
        if os.environ.get(env) and not merged.get(option):
            merged[option] = os.environ[env]
    return ProviderConfig.model_validate(merged)


def provider_names(settings: Settings) -> list[str]:
    return sorted(set(builtin.BUILTIN_PROVIDERS) | set(settings.providers))


def require_provider(settings: Settings, name: str) -> ProviderConfig:
    """provider_config(), or a UsageError that suggests the closest known name."""
    config = provider_config(settings, name)
    if config is not None:
        return config
    names = provider_names(settings)
    close = difflib.get_close_matches(name, names, n=1)
    raise UsageError(
        f"unknown provider {name!r}" + (f"; did you mean {close[0]!r}?" if close else ""),
        hint="known providers: " + ", ".join(names),
    )


def config_dump(settings: Settings) -> dict[str, Any]:
    """Effective settings for `config show`: providers fully merged, no secrets, no empty values."""
    data = settings.model_dump(mode="json", exclude_none=True)
    providers = {}
    for name in provider_names(settings):
        config = provider_config(settings, name)
        if config is not None:
            options = config.model_dump(mode="json", exclude_none=True)
            providers[name] = {k: v for k, v in options.items() if not is_secret_key(k)}
    data["providers"] = providers
    return data


def config_set(key: str, value: str) -> Path:
    """Set one dotted key in config.toml (validated, atomic, 0600); returns the file written."""
    from llmcli.config.editing import set_value

    return set_value(key, value)


def validate_file_data(data: dict[str, Any], path: Path, *, changed: Sequence[str] = ()) -> Settings:
    """Validate a config document on its own (no env, no flags); ConfigError if it is invalid.

    An error in the `changed` key (the one `config set` writes) is reported without the file name.
    """
    return _validate(without_secrets(data), {}, path, with_env=False, changed=changed)
