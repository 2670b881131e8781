"""The registry of configured providers: a name becomes a ProviderSpec, then an adapter.

Providers come from three places, in this order: built-in (llmcli.defaults), config.toml, and the
database's `providers` table (`llmcli providers add`). The database is opened only for names the
first two do not know, so `ask` with a built-in or configured provider never pays for sqlmodel.
"""

from __future__ import annotations

import difflib
import os
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Iterator

from llmcli import completion
from llmcli.defaults import BUILTIN_PROVIDERS, DEFAULT_PROVIDER, KINDS, PROVIDER_OPTION_ENV
from llmcli.errors import ConfigError, StorageError, UsageError
from llmcli.providers.base import ProviderSpec

if TYPE_CHECKING:
    from llmcli.config import ProviderConfig, Settings
    from llmcli.providers.base import Provider
    from llmcli.storage import Store
    from llmcli.types import ModelInfo

# A stored option meaning "this endpoint takes no key" (vLLM, LM Studio); `needs_key` itself cannot
# be stored: the store refuses option names that look like secrets.
NO_AUTH_OPTION = ("auth", "none")

SPEC_FIELDS = ("kind", "base_url", "model", "timeout", "connect_timeout", "deadline", "ca_bundle", "verify",
               "needs_key")


def default_provider_name(settings: Settings) -> str:
    return settings.default_provider or DEFAULT_PROVIDER


def known_provider_names(settings: Settings) -> list[str]:
    from llmcli.config import provider_names

    return sorted(set(provider_names(settings)) | set(stored_providers()))


def find_provider_config(settings: Settings, name: str) -> ProviderConfig:
    """The merged configuration of provider `name`, or a UsageError with a suggestion."""
    from llmcli.config import provider_config

    config = provider_config(settings, name)
    if config is not None:
        return config
    row = stored_providers().get(name)
    if row is not None:
        return stored_provider_config(row)
    names = sorted(set(known_provider_names(settings)) - {name})
    close = difflib.get_close_matches(name, names, n=1)
    raise UsageError(
        f"unknown provider {name!r}" + (f"; did you mean {close[0]!r}?" if close else ""),
        hint="known providers: " + ", ".join(names)
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


def provider_spec(settings: Settings, name: str, config: ProviderConfig | None = None) -> ProviderSpec:
    """Everything the adapter needs, with credentials resolved (CredentialsError if missing).
    Pass `config` when it was just looked up: for a provider added with `providers add` every lookup
    opens the history database."""
    from llmcli.logs import register_secret
    from llmcli.services import credentials

    config = config or find_provider_config(settings, name)
    resolved = credentials.resolve_secrets(name, config.kind)
    # A Yandex service-account key file is a credential that lives in a file, not in a secret store.
    key_file = (config.model_extra or {}).get("service_account_key_file")
    if config.needs_key and not resolved.secrets and not key_file:
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


def fetch_models(settings: Settings, name: str, *, timeout: float | None = None) -> list[ModelInfo]:
    """Ask the provider for its models (network). `timeout` caps connect, read and the whole call."""
    spec = provider_spec(settings, name)
    if timeout is not None:
        spec = replace(spec, timeout=timeout, connect_timeout=timeout, deadline=timeout)
    provider = open_provider(spec)
    try:
        return provider.list_models()
    finally:
        close = getattr(provider, "close", None)
        if close is not None:
            close()


# --- providers stored in the database -----------------------------------------------------------------


def stored_providers(store: Store | None = None) -> dict[str, dict[str, Any]]:
    """name -> {name, kind, base_url, model, options} from the database; {} when it is unusable
    (a broken history database must not break `ask -p` for configured providers)."""
    try:
        if store is not None:
            rows = store.list_providers()
        else:
            from llmcli.storage import open_store

            with open_store() as opened:
                rows = opened.list_providers()
    except StorageError:
        return {}
    return {row["name"]: row for row in rows}


def stored_provider_config(row: dict[str, Any]) -> ProviderConfig:
    """A stored provider's configuration: the built-in provider of its kind gives the defaults
    (auth_url, scope, iam_url…; its model only when the endpoint is the built-in one)."""
    from llmcli.config import ProviderConfig

    kind = row["kind"]
    base = dict(BUILTIN_PROVIDERS.get(kind, {}))
    if row.get("base_url") and row["base_url"].rstrip("/") != str(base.get("base_url", "")).rstrip("/"):
        base.pop("model", None)
    options = dict(row.get("options") or {})
    if options.pop(NO_AUTH_OPTION[0], None) == NO_AUTH_OPTION[1]:
        options["needs_key"] = False
    merged = {**base, **options, "kind": kind}
    merged.update({k: row[k] for k in ("base_url", "model") if row.get(k)})
    for option, env in PROVIDER_OPTION_ENV.get(kind, {}).items():
        if os.environ.get(env) and not merged.get(option):
            merged[option] = os.environ[env]
    try:
        return ProviderConfig.model_validate(merged)
    except ValueError as exc:  # pydantic's ValidationError: name the settings, never echo values
        bad = ", ".join(".".join(str(p) for p in e["loc"]) for e in exc.errors(include_input=False))
        raise ConfigError(f"invalid settings for provider {row.get('name') or kind}: {bad}",
                          hint="`llmcli providers add NAME …` again replaces the entry") from None


def provider_origin(settings: Settings, name: str) -> str:
    """"built-in", "config" or "database"."""
    if name in settings.providers:
        return "config"
    return "built-in" if name in BUILTIN_PROVIDERS else "database"


def add_provider(settings: Settings, name: str, kind: str, *, base_url: str | None = None,
                 model: str | None = None, options: dict[str, Any] | None = None,
                 needs_key: bool = True, store: Store | None = None) -> bool:
    """Store a user-defined provider (replacing one of the same name); True if it was new."""
    from llmcli.config import PROVIDER_NAME

    if not PROVIDER_NAME.match(name):
        raise UsageError(f"bad provider name {name!r}: use letters, digits, '.', '_' and '-'")
    if name in BUILTIN_PROVIDERS:
        raise UsageError(f"{name} is a built-in provider and cannot be redefined",
                         hint=f"configure it with `llmcli providers setup {name}`, or pick another name")
    if name in settings.providers:
        raise UsageError(f"{name} is already defined in config.toml",
                         hint=f"edit it with `llmcli config set providers.{name}.KEY VALUE`")
    if kind not in KINDS:
        raise UsageError(f"unknown provider kind {kind!r}", hint="kinds: " + ", ".join(KINDS))
    if base_url and not base_url.startswith(("http://", "https://")):
        raise UsageError(f"bad base URL {base_url!r}: it must start with http:// or https://")
    options = dict(options or {})
    if not needs_key:
        options[NO_AUTH_OPTION[0]] = NO_AUTH_OPTION[1]
    stored_provider_config({"name": name, "kind": kind, "base_url": base_url, "model": model,
                            "options": options})  # refuse what could not be used later
    with _store(store) as db:
        is_new = name not in stored_providers(db)
        db.save_provider(name, kind, base_url.rstrip("/") if base_url else None, model, options)
        _reindex(stored_providers(db))
    _forget_models(name)
    return is_new


def remove_provider(settings: Settings, name: str, *, store: Store | None = None) -> None:
    """Remove a user-defined provider; built-in and config.toml providers are refused."""
    if name in BUILTIN_PROVIDERS:
        raise UsageError(f"{name} is a built-in provider and cannot be removed")
    if name in settings.providers:
        raise UsageError(f"{name} is defined in config.toml, not by `providers add`",
                         hint=f"delete its [providers.{name}] table from `llmcli config path`")
    with _store(store) as db:
        if not db.remove_provider(name):
            close = difflib.get_close_matches(name, list(stored_providers(db)), n=1)
            raise UsageError(f"no provider {name!r} was added with `providers add`"
                             + (f"; did you mean {close[0]!r}?" if close else ""),
                             hint="see `llmcli providers list`")
        _reindex(stored_providers(db))
    _forget_models(name)


@contextmanager
def _store(store: Store | None) -> Iterator[Store]:
    """The given store, or one opened (and closed) here."""
    if store is not None:
        yield store
        return
    from llmcli.storage import open_store

    with open_store() as opened:
        yield opened


def _reindex(stored: dict[str, dict[str, Any]]) -> None:
    """Keep the completion index's list of stored providers in step with the database."""
    try:
        completion.index_stored_providers({n: r["kind"] for n, r in stored.items()})
    except OSError:
        pass  # only tab completion would miss the name


def _forget_models(name: str) -> None:
    try:
        completion.forget_models(name)
    except OSError:
        pass


# --- listing ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProviderEntry:
    name: str
    kind: str
    base_url: str
    model: str | None
    credentials: str  # env | keyring | file | none | not needed
    origin: str  # built-in | config | database
    needs_key: bool = True

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "base_url": self.base_url, "model": self.model,
                "credentials": self.credentials, "origin": self.origin}


def all_provider_configs(settings: Settings, stored: dict | None = None) -> dict[str, ProviderConfig]:
    """Built-in, config.toml and `providers add` providers by name, reading the database once."""
    from llmcli.config import provider_config, provider_names

    stored = stored_providers() if stored is None else stored
    configs = {name: provider_config(settings, name) for name in provider_names(settings)}
    configs.update({n: stored_provider_config(r) for n, r in stored.items() if n not in configs})
    return configs


def describe_providers(settings: Settings) -> list[ProviderEntry]:
    """Every configured provider with where its credentials come from (never the value)."""
    from concurrent.futures import ThreadPoolExecutor

    from llmcli.services import credentials

    stored = stored_providers()
    _reindex(stored)
    configs = all_provider_configs(settings, stored)

    def entry(name: str) -> ProviderEntry:
        config = configs[name]
        kind = config.kind or ""
        source = credentials.credential_source(name, kind) if config.needs_key else "not needed"
        return ProviderEntry(name, kind, (config.base_url or "").rstrip("/"), config.model, source,
                             provider_origin(settings, name), config.needs_key)

    # Keyring look-ups may each take a moment (or time out): do them side by side.
    with ThreadPoolExecutor(max_workers=8) as pool:
        return list(pool.map(entry, sorted(configs)))
