"""The settings schema: pydantic models and the sources pydantic-settings reads, in priority order.

Every model hides input values in its errors (`hide_input_in_errors`): a wrong-typed value may be a
pasted key, and it must not be echoed back.
"""

from __future__ import annotations

import os
from contextvars import ContextVar
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_settings import (
    BaseSettings,
    InitSettingsSource,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

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


# What the config-file source feeds pydantic-settings (set by load_settings), and whether the
# environment counts (config set validates the file on its own).
file_data: ContextVar[dict[str, Any] | None] = ContextVar("llmcli_file_data", default=None)
env_enabled: ContextVar[bool] = ContextVar("llmcli_env_enabled", default=True)


class _EnvShortcuts(PydanticBaseSettingsSource):
    """LLMCLI_PROVIDER, LLMCLI_MODEL and LLMCLI_NO_LOG: the short names of DESIGN.md §7."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for env, field in (("LLMCLI_PROVIDER", "default_provider"), ("LLMCLI_MODEL", "default_model")):
            if os.environ.get(env):
                values[field] = os.environ[env]
        if _truthy(os.environ.get("LLMCLI_NO_LOG")):
            values["history"] = False
        return values


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="LLMCLI_",
        env_nested_delimiter="__",  # LLMCLI_DEFAULTS__TEMPERATURE=0.2
        env_ignore_empty=True,
        extra="ignore",
        hide_input_in_errors=True,
    )
    default_provider: str | None = None
    default_model: str | None = None
    defaults: GenerationDefaults = Field(default_factory=GenerationDefaults)
    providers: dict[str, ProviderConfig] = Field(default_factory=dict)
    aliases: dict[str, str] = Field(default_factory=dict)
    roles: dict[str, RoleConfig] = Field(default_factory=dict)
    fallback: Annotated[list[str], NoDecode] = Field(default_factory=list)
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

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        file_settings = InitSettingsSource(settings_cls, init_kwargs=file_data.get() or {})
        if not env_enabled.get():
            return (init_settings, file_settings)
        return (init_settings, _EnvShortcuts(settings_cls), env_settings, file_settings)


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() not in ("", "0", "false", "no", "off")
