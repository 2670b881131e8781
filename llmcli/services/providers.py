"""The registry of configured providers: a name becomes a ProviderSpec, then an adapter."""

from __future__ import annotations

import difflib
from typing import TYPE_CHECKING

from llmcli.defaults import DEFAULT_PROVIDER
from llmcli.errors import UsageError
from llmcli.providers.base import ProviderSpec

if TYPE_CHECKING:
    from llmcli.config import ProviderConfig, Settings
    from llmcli.providers.base import Provider

SPEC_FIELDS = ("kind", "base_url", "model", "timeout", "connect_timeout", "deadline", "ca_bundle", "verify",
               "needs_key")


def default_provider_name(settings: Settings) -> str:
    return settings.default_provider or DEFAULT_PROVIDER


def known_provider_names(settings: Settings) -> list[str]:
    from llmcli.config import provider_names

    return provider_names(settings)


def find_provider_config(settings: Settings, name: str) -> ProviderConfig:
    """The merged configuration of provider `name`, or a UsageError with a suggestion."""
    from llmcli.config import provider_config

    config = provider_config(settings, name)
    if config is not None:
        return config
    names = known_provider_names(settings)
    close = difflib.get_close_matches(name, names, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    raise UsageError(
        f"unknown provider {name!r}",
        hint=hint + "known providers: " + ", ".join(names)
        + "; add one with `llmcli providers add NAME --kind openai --base-url URL`",
    )


def resolve_model(settings: Settings, provider_name: str, config: ProviderConfig, model: str | None) -> str:
    """-m wins; LLMCLI_MODEL / default_model applies to the default provider; then the provider's own."""
    if not model and settings.default_model and provider_name == default_provider_name(settings):
        model = settings.default_model
    model = model or config.model
    if not model:
        raise UsageError(
            f"no model chosen for provider {provider_name!r}",
            hint=f"pass -m MODEL or run `llmcli config set providers.{provider_name}.model MODEL`",
        )
    return settings.aliases.get(model, model)


def provider_spec(settings: Settings, name: str) -> ProviderSpec:
    """Everything the adapter needs, with credentials resolved (CredentialsError if missing)."""
    from llmcli.logs import register_secret
    from llmcli.services import credentials

    config = find_provider_config(settings, name)
    resolved = credentials.resolve_secrets(name, config.kind)
    if config.needs_key and not resolved.secrets:
        raise credentials.missing_credentials_error(name, config.kind)
    for secret in resolved.secrets.values():
        register_secret(secret.reveal())
    options = dict(config.model_extra or {})
    return ProviderSpec(
        name=name,
        kind=config.kind,
        base_url=(config.base_url or "").rstrip("/"),
        model=config.model,
        secrets=resolved.secrets,
        timeout=config.timeout,
        connect_timeout=config.connect_timeout,
        deadline=config.deadline,
        ca_bundle=config.ca_bundle,
        verify=config.verify,
        options=options,
        token_store=credentials.make_token_store(),
    )


def open_provider(spec: ProviderSpec) -> Provider:
    from llmcli.providers import create_provider

    return create_provider(spec)
