"""The settings schema (plain pydantic models) and how its sources are merged, in priority order.

Every model hides input values in its errors (`hide_input_in_errors`): a wrong-typed value may be a
pasted key, and it must not be echoed back.

pydantic-settings costs ~0.12 s to import, more than everything else `ask` does before its request
(bench/README.md). It is only needed to read LLMCLI_<FIELD>[__<KEY>] variables, so `build_settings`
imports it (config/env_settings.py) only when the environment holds one; otherwise the same layers
are merged here the way pydantic-settings merges them (deep update, later wins) and validated by
the same model: defaults < config.toml < LLMCLI_PROVIDER/MODEL/NO_LOG < flags.
"""

from __future__ import annotations

import os
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from llmcli import defaults as builtin

MiB = 1024 * 1024

_MODEL_CONFIG = ConfigDict(hide_input_in_errors=True, extra="ignore")


class GenerationDefaults(BaseModel):
    model_config = _MODEL_CONFIG
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, gt=0, le=1)
    max_tokens: int | None = Field(default=None, gt=0)
    system: str | None = None


class ProviderConfig(BaseModel):
    # Extra keys are kind-specific options (scope, auth_url, folder_id, iam_url, ...).
    model_config = ConfigDict(hide_input_in_errors=True, extra="allow")
    kind: str | None = None  # optional for built-in names; provider_config() always fills it
    base_url: str | None = None
    model: str | None = None
    timeout: float = Field(default=120, gt=0)
    connect_timeout: float = Field(default=10, gt=0)
    deadline: float = Field(default=600, gt=0)
    ca_bundle: str | None = None
    verify: bool = True
    needs_key: bool = True

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, kind: str | None) -> str | None:
        if kind is not None and kind not in builtin.KINDS:
            raise ValueError("must be one of " + ", ".join(builtin.KINDS))
        return kind


class RoleConfig(BaseModel):
    model_config = _MODEL_CONFIG
    system: str | None = None
    provider: str | None = None
    model: str | None = None
    temperature: float | None = Field(default=None, ge=0, le=2)
    max_tokens: int | None = Field(default=None, gt=0)
    description: str | None = None


class Settings(BaseModel):
    # validate_default: as BaseSettings does, so both ways of loading (see build_settings) agree
    model_config = ConfigDict(hide_input_in_errors=True, extra="ignore", validate_default=True)
    default_provider: str | None = None
    default_model: str | None = None
    defaults: GenerationDefaults = Field(default_factory=GenerationDefaults)
    providers: dict[str, ProviderConfig] = Field(default_factory=dict)
    aliases: dict[str, str] = Field(default_factory=dict)
    roles: dict[str, RoleConfig] = Field(default_factory=dict)
    fallback: list[str] = Field(default_factory=list)
    models_cache_ttl_hours: float = Field(default=24, ge=0)
    max_input_bytes: int = Field(default=2 * MiB, gt=0)
    history: bool = True
    debug: bool = False

    @field_validator("fallback", mode="before")
    @classmethod
    def _comma_list(cls, value: Any) -> Any:
        # LLMCLI_FALLBACK=gigachat,yandexgpt as well as a TOML array
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("debug", mode="before")
    @classmethod
    def _lenient_debug(cls, value: Any) -> Any:
        # app.py treats any LLMCLI_DEBUG but 0/false/no as on; a typo there must not be a config error
        return _truthy(value) if isinstance(value, str) else value


def build_settings(file_values: dict[str, Any], overrides: dict[str, Any], *, with_env: bool) -> Settings:
    """Validated settings from config.toml values, (optionally) the environment, and flags."""
    if with_env and reads_settings_env():
        from llmcli.config.env_settings import settings_with_env

        return settings_with_env(file_values, overrides)
    file_values, overrides = _by_field_name(file_values), _by_field_name(overrides)
    layers = [file_values, env_shortcuts(), overrides] if with_env else [file_values, overrides]
    return Settings.model_validate(deep_update(*layers))


def _by_field_name(values: dict[str, Any]) -> dict[str, Any]:
    """Top-level keys matched to field names ignoring case, first one winning — as pydantic-settings'
    init source does with `case_sensitive=False` (its default)."""
    fields = {name.lower(): name for name in Settings.model_fields}
    result: dict[str, Any] = {}
    for key, value in values.items():
        name = fields.get(key.lower())
        if name is None:
            result[key] = value  # not a setting: ignored by validation (extra="ignore")
        elif name not in result:
            result[name] = value
    return result


def reads_settings_env() -> bool:
    """Does the environment hold a variable pydantic-settings would read (LLMCLI_<FIELD>[__...])?

    Names are compared case-insensitively, as pydantic-settings does by default."""
    fields = tuple("llmcli_" + name for name in Settings.model_fields)
    for name in os.environ:
        lowered = name.lower()
        if lowered.startswith("llmcli_") and any(lowered == f or lowered.startswith(f + "__") for f in fields):
            return True
    return False


# Settings fields with a short environment name of their own (DESIGN.md §7), besides LLMCLI_<FIELD>.
ENV_SHORTCUTS = {"default_provider": "LLMCLI_PROVIDER", "default_model": "LLMCLI_MODEL"}


def env_shortcuts() -> dict[str, Any]:
    """LLMCLI_PROVIDER, LLMCLI_MODEL and LLMCLI_NO_LOG: the short names of DESIGN.md §7."""
    values: dict[str, Any] = {}
    for field, env in ENV_SHORTCUTS.items():
        if os.environ.get(env):
            values[field] = os.environ[env]
    if _truthy(os.environ.get("LLMCLI_NO_LOG")):
        values["history"] = False
    return values


def deep_update(*layers: dict[str, Any]) -> dict[str, Any]:
    """Merge dicts left to right, tables key by key (what pydantic-settings does with its sources)."""
    merged: dict[str, Any] = {}
    for layer in layers:
        for key, value in layer.items():
            if isinstance(value, dict) and isinstance(merged.get(key), dict):
                merged[key] = deep_update(merged[key], value)
            else:
                merged[key] = value
    return merged


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() not in ("", "0", "false", "no", "off")
