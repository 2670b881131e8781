"""Settings with LLMCLI_<FIELD>[__<KEY>] environment variables, read by pydantic-settings.

Imported only when such a variable is set (models.build_settings): pydantic-settings costs ~0.12 s
to import, and most runs have nothing for it to read. Same fields and validators as models.Settings
(this class derives from it), so both paths validate and report errors alike.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Annotated, Any

from pydantic import Field
from pydantic_settings import (
    BaseSettings,
    InitSettingsSource,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from llmcli.config.models import Settings, env_shortcuts

# What the config-file source feeds pydantic-settings while settings_with_env() runs.
_file_data: ContextVar[dict[str, Any] | None] = ContextVar("llmcli_file_data", default=None)


class _EnvShortcuts(PydanticBaseSettingsSource):
    """LLMCLI_PROVIDER, LLMCLI_MODEL and LLMCLI_NO_LOG: the short names of DESIGN.md §7."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        return env_shortcuts()


class EnvSettings(BaseSettings, Settings):
    model_config = SettingsConfigDict(
        env_prefix="LLMCLI_",
        env_nested_delimiter="__",  # LLMCLI_DEFAULTS__TEMPERATURE=0.2
        env_ignore_empty=True,
        extra="ignore",
        hide_input_in_errors=True,
    )
    fallback: Annotated[list[str], NoDecode] = Field(default_factory=list)  # a comma list, not JSON

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        file_settings = InitSettingsSource(settings_cls, init_kwargs=_file_data.get() or {})
        return (init_settings, _EnvShortcuts(settings_cls), env_settings, file_settings)


def settings_with_env(file_values: dict[str, Any], overrides: dict[str, Any]) -> Settings:
    """defaults < config.toml < LLMCLI_* env (short names included) < flags."""
    token = _file_data.set(file_values)
    try:
        return EnvSettings(**overrides)
    finally:
        _file_data.reset(token)
