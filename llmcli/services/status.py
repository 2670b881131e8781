"""Health checks: is each provider configured, authenticated, reachable — and how fast.

Every check asks for the model list (cheap, authenticated, no tokens billed) in its own daemon
thread with a short timeout, so one dead endpoint costs the whole run no more than that timeout.
The database (model-cache age, last error in history) is read meanwhile, off the critical path.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

from llmcli.errors import (
    CredentialsError,
    LlmcliError,
    ProviderUnavailable,
    RateLimited,
    RequestRejected,
    StorageError,
)
from llmcli.providers.yandex_wire import CATALOGUE_OWNER
from llmcli.services import providers as registry

if TYPE_CHECKING:
    from llmcli.config import Settings
    from llmcli.storage import Store
    from llmcli.types import ModelInfo

DEFAULT_TIMEOUT = 5.0
RECENT_CONVERSATIONS = 10  # how far back `last error` looks


@dataclass
class ProviderHealth:
    name: str
    kind: str
    credentials: str  # env | keyring | file | none | not needed
    ok: bool = False
    auth_ok: bool | None = None  # None: the server was not reached, so nobody knows
    reachable: bool | None = None
    latency_ms: int | None = None
    models: int | None = None
    error: str | None = None
    error_kind: str | None = None
    exit_code: int = 0
    cache_age_s: float | None = None
    last_error: str | None = None
    last_error_at: str | None = None
    fetched: list[ModelInfo] = field(default_factory=list, repr=False)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name, "kind": self.kind, "ok": self.ok, "auth_ok": self.auth_ok,
            "latency_ms": self.latency_ms, "models": self.models, "error": self.error,
            "reachable": self.reachable, "credentials": self.credentials,
            "model_cache_age_s": None if self.cache_age_s is None else round(self.cache_age_s),
            "last_error": ({"at": self.last_error_at, "error": self.last_error}
                           if self.last_error else None),
        }


@dataclass
class StatusReport:
    results: list[ProviderHealth]
    warnings: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        """0 when every checked provider is up; 3 when every failure is about credentials; else 6."""
        failed = [r for r in self.results if not r.ok]
        if not failed:
            return 0
        return 3 if all(r.exit_code == 3 for r in failed) else 6


def default_targets(settings: Settings) -> tuple[list[str], list[tuple[str, str]]]:
    """The default provider, and every provider with credentials or needing none."""
    default = registry.default_provider_name(settings)
    checked, skipped = [], []
    for entry in registry.describe_providers(settings):
        if entry.name == default or entry.credentials != "none":
            checked.append(entry.name)
        else:
            skipped.append((entry.name, "no credentials"))
    # The default first, checked even without a key (an unknown default is reported, not hidden).
    return [default] + [name for name in checked if name != default], skipped


def check_providers(settings: Settings, names: list[str], *, timeout: float = DEFAULT_TIMEOUT,
                    fetch: Callable[..., list[ModelInfo]] | None = None,
                    store: Store | None = None, grace: float = 2.0) -> StatusReport:
    """Check `names` side by side; results in the order given. A check still running `grace`
    seconds after its timeout (a token exchange first, slow DNS) is reported as unreachable."""
    fetch = fetch or registry.fetch_models
    slots: list[ProviderHealth | None] = [None] * len(names)

    def run(index: int) -> None:
        slots[index] = check_one(settings, names[index], timeout, fetch)

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(len(names))]
    for thread in threads:
        thread.start()
    warnings: list[str] = []
    history = _history_facts(store, names, warnings)  # while the requests are in flight
    deadline = time.monotonic() + timeout + grace
    results = []
    for index, (name, thread) in enumerate(zip(names, threads)):
        thread.join(max(0.0, deadline - time.monotonic()))
        result = slots[index]  # read once: a late thread cannot change what is reported
        if result is None:
            result = ProviderHealth(name, _kind_of(settings, name), "")
            _fail(result, ProviderUnavailable(f"no answer within {timeout:g} s"))
        result.cache_age_s, result.last_error_at, result.last_error = history.get(name, (None,) * 3)
        results.append(result)
    _cache_fetched(settings, results, store, warnings)
    return StatusReport(results, warnings)


def check_one(settings: Settings, name: str, timeout: float,
              fetch: Callable[..., list[ModelInfo]]) -> ProviderHealth:
    from llmcli.services import credentials

    result = ProviderHealth(name, "", "")
    try:
        config = registry.find_provider_config(settings, name)
        result.kind = config.kind or ""
        result.credentials = (credentials.credential_source(name, result.kind)
                              if config.needs_key else "not needed")
        started = time.monotonic()
        models = fetch(settings, name, timeout=timeout)
        result.latency_ms = int((time.monotonic() - started) * 1000)
    except LlmcliError as exc:
        _fail(result, exc)
        return result
    except Exception as exc:  # noqa: BLE001 - one broken adapter must not hide the others' results
        _fail(result, LlmcliError(f"unexpected {type(exc).__name__}"))
        return result
    if models and all(m.owned_by == CATALOGUE_OWNER for m in models):
        # the adapter fell back to what it knows offline: the server itself was not reached
        _fail(result, ProviderUnavailable(
            "the model list could not be fetched; only the built-in catalogue is known", provider=name))
        return result
    result.ok = result.auth_ok = result.reachable = True
    result.models = len(models)
    result.fetched = list(models)
    return result


def _kind_of(settings: Settings, name: str) -> str:
    try:
        return registry.find_provider_config(settings, name).kind or ""
    except LlmcliError:
        return ""


def _fail(result: ProviderHealth, exc: LlmcliError) -> None:
    result.error = exc.message
    result.error_kind = type(exc).__name__
    result.exit_code = exc.exit_code
    if isinstance(exc, CredentialsError):  # missing key, or 401/403 (AuthError is both)
        result.auth_ok = False
        result.reachable = getattr(exc, "status_code", None) is not None or None
    elif isinstance(exc, (RateLimited, RequestRejected)):
        result.auth_ok = result.reachable = True  # the server answered and accepted the key
    elif isinstance(exc, ProviderUnavailable):
        result.reachable = False


def _history_facts(store: Store | None, names: list[str],
                   warnings: list[str]) -> dict[str, tuple[float | None, str | None, str | None]]:
    """name -> (model-cache age in seconds, when the last error happened, what it was)."""
    from llmcli.services.models import age_seconds

    try:
        db = store or _open_store()
    except StorageError as exc:
        warnings.append(f"history not consulted: {exc.message}")
        return {}
    facts = {}
    try:
        for name in names:
            cached = db.cached_models(name)
            age = age_seconds(cached[1]) if cached else None
            facts[name] = (age, *last_error(db, name))
    except StorageError as exc:
        warnings.append(f"history not consulted: {exc.message}")
    finally:
        if store is None:
            db.close()
    return facts


def last_error(store: Store, provider: str) -> tuple[str | None, str | None]:
    """(when, what) of the newest failed reply from `provider` in recent conversations."""
    for conversation in store.list_conversations(limit=RECENT_CONVERSATIONS, provider=provider):
        for message in reversed(store.messages(conversation.id)):
            if message.provider == provider and message.error:
                return message.created_at, message.error
    return None, None


def _cache_fetched(settings: Settings, results: list[ProviderHealth], store: Store | None,
                   warnings: list[str]) -> None:
    """A check fetched the model list anyway: keep it, so `models list` need not ask again."""
    from llmcli.services.models import ModelService

    fresh = [r for r in results if r.ok and r.fetched]
    if not fresh:
        return
    service = ModelService(settings, store=store)
    try:
        for result in fresh:
            config = registry.find_provider_config(settings, result.name)
            service.save(result.name, result.fetched, config.base_url)
            result.cache_age_s = 0.0
    finally:
        service.close()
    warnings.extend(service.warnings)


def _open_store() -> Store:
    from llmcli.storage import open_store

    return open_store()
