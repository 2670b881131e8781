"""The model catalogue: a TTL cache in the database, refreshed from the provider when stale.

The cache is mirrored into a small JSON index (llmcli.completion) so that tab completion and the
model check before a request need neither sqlmodel nor the network.
"""

from __future__ import annotations

import dataclasses
import difflib
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Callable

from llmcli import completion
from llmcli.errors import ProviderUnavailable, StorageError, UsageError
from llmcli.types import ModelInfo

if TYPE_CHECKING:
    from llmcli.config import Settings
    from llmcli.storage import Store

# Branch suffixes YandexGPT accepts after a model name (yandexgpt/rc); Ollama's implicit tag.
_BRANCHES = ("latest", "rc", "deprecated")


@dataclass
class ModelCatalogue:
    provider: str
    models: list[ModelInfo]
    fetched_at: str | None  # ISO 8601 UTC
    source: str  # "cache" | "provider" | "stale cache"
    notices: list[str] = dataclasses.field(default_factory=list)

    def to_json(self, aliases: dict[str, str] | None = None) -> list[dict]:
        by_target = aliases_by_target(aliases or {})
        return [{"id": m.id, "provider": self.provider, "type": m.type, "context_window": m.context_window,
                 "cached_at": self.fetched_at, "owned_by": m.owned_by, "aliases": by_target.get(m.id, [])}
                for m in self.models]


def aliases_by_target(aliases: dict[str, str]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for alias, target in sorted(aliases.items()):
        found.setdefault(target, []).append(alias)
    return found


def age_seconds(iso: str, now: float | None = None) -> float:
    moment = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return max(0.0, (now if now is not None else time.time()) - moment.timestamp())


def describe_age(seconds: float) -> str:
    if seconds < 120:
        return f"{int(seconds)} s"
    if seconds < 7200:
        return f"{int(seconds // 60)} min"
    if seconds < 172800:
        return f"{seconds / 3600:.0f} h"
    return f"{seconds / 86400:.0f} days"


class ModelService:
    """`models list`: cached when fresh, fetched when stale or asked, stale cache when offline."""

    def __init__(self, settings: Settings, *, store: Store | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self._store = store
        self._owns_store = store is None
        self._clock = clock
        self.warnings: list[str] = []

    def list_models(self, provider: str | None = None, *, refresh: bool = False) -> ModelCatalogue:
        from llmcli.services import providers as registry

        name = provider or registry.default_provider_name(self.settings)
        config = registry.find_provider_config(self.settings, name)
        cached = self._cached(name)
        if cached is not None and not refresh and self._fresh(cached[1]):
            if completion.cached_model_entry(name) is None:
                write_index(name, cached[0], cached[1], config.base_url)
            return ModelCatalogue(name, cached[0], cached[1], "cache", list(self.warnings))
        try:
            models = registry.fetch_models(self.settings, name)
        except ProviderUnavailable as exc:
            if cached is None:
                raise
            age = describe_age(age_seconds(cached[1], self._clock()))
            notice = (f"{name} is unreachable ({exc.message}); showing the model list cached {age} ago "
                      f"({cached[1]})")
            return ModelCatalogue(name, cached[0], cached[1], "stale cache", [notice])
        fetched_at = self.save(name, models, config.base_url)
        return ModelCatalogue(name, models, fetched_at, "provider", list(self.warnings))

    def save(self, provider: str, models: list[ModelInfo], base_url: str | None) -> str:
        """Cache a fresh list (database and index); a storage failure only costs a warning."""
        fetched_at = datetime.fromtimestamp(self._clock(), timezone.utc).isoformat(timespec="microseconds")
        store = self._open()
        if store is not None:
            try:
                store.cache_models(provider, models)
                cached = store.cached_models(provider)
                fetched_at = cached[1] if cached else fetched_at
            except StorageError as exc:
                self.warnings.append(f"model list not cached: {exc.message}")
        write_index(provider, models, fetched_at, base_url)
        return fetched_at

    def _cached(self, name: str) -> tuple[list[ModelInfo], str] | None:
        store = self._open()
        if store is None:
            return None
        try:
            return store.cached_models(name)
        except StorageError as exc:
            self.warnings.append(f"model cache unreadable: {exc.message}")
            return None

    def _fresh(self, fetched_at: str) -> bool:
        ttl = self.settings.models_cache_ttl_hours * 3600
        return age_seconds(fetched_at, self._clock()) < ttl

    def close(self) -> None:
        if self._owns_store and self._store is not None:
            self._store.close()
            self._store = None

    def _open(self) -> Store | None:
        if self._store is None:
            from llmcli.storage import open_store

            try:
                self._store = open_store()
            except StorageError as exc:
                self.warnings.append(f"model cache unavailable: {exc.message}")
                return None
        return self._store


def write_index(provider: str, models: list[ModelInfo], fetched_at: str, base_url: str | None) -> None:
    try:
        completion.index_models(provider, [m.id for m in models], fetched_at, base_url)
    except OSError:
        pass  # the index is a hint for completion and validation; the database has the cache


# --- the check before a request ---------------------------------------------------------------------


def check_model(provider: str, model: str, base_url: str | None) -> None:
    """UsageError when the cached list of `provider` does not know `model` — no network, no database.

    Skipped when nothing is cached, when the cache was filled from another base URL (the endpoint
    changed since), and for full URIs and model files, which no list enumerates.
    """
    entry = completion.cached_model_entry(provider)
    if entry is None or (entry.get("base_url") or "") != (base_url or "").rstrip("/"):
        return
    known = [str(m) for m in entry["models"]]
    if not known or "://" in model or model.endswith(".gguf") or model_matches(model, known):
        return
    raise UsageError(
        f"no such model {model} for {provider}" + did_you_mean(model, known),
        hint=f"see `llmcli models list -p {provider}`; if {model} is new, refresh the list with "
        f"`llmcli models list -p {provider} --refresh`",
    )


def model_matches(model: str, known: list[str]) -> bool:
    if model in known or f"{model}:latest" in known:
        return True
    base, _, branch = model.rpartition("/")
    return branch in _BRANCHES and base in known


def did_you_mean(model: str, known: list[str]) -> str:
    by_lower = {k.lower(): k for k in known}
    if model.lower() in by_lower:
        return f"; did you mean {by_lower[model.lower()]}?"
    close = difflib.get_close_matches(model.lower(), list(by_lower), n=1, cutoff=0.6)
    if close:
        return f"; did you mean {by_lower[close[0]]}?"
    shown = ", ".join(known[:8]) + (", …" if len(known) > 8 else "")
    return f" (known: {shown})"
