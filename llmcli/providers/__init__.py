"""Adapter registry: kind -> import string, so listing kinds imports no adapter (or httpx)."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from llmcli.errors import UsageError

if TYPE_CHECKING:
    from llmcli.providers.base import Provider, ProviderSpec

ADAPTERS: dict[str, str] = {
    "openai": "llmcli.providers.openai_compat:OpenAICompatProvider",
    "gigachat": "llmcli.providers.gigachat:GigaChatProvider",
    "yandexgpt": "llmcli.providers.yandexgpt:YandexGPTProvider",
    "local": "llmcli.providers.local:LocalProvider",
}


def create_provider(spec: ProviderSpec) -> Provider:
    """Import the adapter for spec.kind and build it."""
    target = ADAPTERS.get(spec.kind)
    if target is None:
        raise UsageError(
            f"unknown provider kind {spec.kind!r} for provider {spec.name!r}",
            hint="kinds: " + ", ".join(sorted(ADAPTERS)),
        )
    module_name, _, class_name = target.partition(":")
    module = importlib.import_module(module_name)
    return getattr(module, class_name)(spec)
