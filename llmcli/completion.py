"""Dynamic shell completion of provider and model names, and the small index it reads.

Tab completion runs a fresh `llmcli` per key press, so this module is stdlib-only: it never imports
sqlmodel, httpx or pydantic, and never touches the network. Names come from the built-in table,
config.toml (read with tomllib) and `models.json` in the cache folder — a copy of the model cache
and of the providers stored in the database, written by services.models / services.providers
whenever those change. The same index lets `ask` reject an unknown model before any request without
opening the database.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from llmcli.defaults import BUILTIN_PROVIDERS, DEFAULT_PROVIDER
from llmcli.paths import ensure_private_dir, get_paths

INDEX_FILE = "models.json"
INDEX_VERSION = 1


# --- the index ------------------------------------------------------------------------------------


def index_path() -> Path:
    return get_paths().cache_dir / INDEX_FILE


def read_index() -> dict[str, Any]:
    """The index, or an empty one when it is missing or unreadable (it is only ever a hint)."""
    try:
        data = json.loads(index_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("version") != INDEX_VERSION:
        return {}
    return data


def cached_model_entry(provider: str) -> dict[str, Any] | None:
    """{"models": [ids], "fetched_at": iso, "base_url": url} for one provider, if indexed."""
    entry = read_index().get("models", {}).get(provider)
    if isinstance(entry, dict) and isinstance(entry.get("models"), list):
        return entry
    return None


def index_models(provider: str, model_ids: list[str], fetched_at: str, base_url: str | None) -> None:
    def change(data: dict[str, Any]) -> None:
        data.setdefault("models", {})[provider] = {
            "models": list(model_ids), "fetched_at": fetched_at, "base_url": (base_url or "").rstrip("/"),
        }

    _update(change)


def forget_models(provider: str) -> None:
    _update(lambda data: data.setdefault("models", {}).pop(provider, None))


def index_stored_providers(names: dict[str, str]) -> None:
    """Providers kept in the database, name -> kind (config.toml ones are read directly)."""
    _update(lambda data: data.__setitem__("stored_providers", dict(names)))


def _update(change: Any) -> None:
    """Read, change, write atomically (tmp + rename). A lost race only costs a stale hint."""
    data = read_index() or {"version": INDEX_VERSION}
    change(data)
    folder = ensure_private_dir(index_path().parent)
    fd, tmp = tempfile.mkstemp(prefix=".models-", suffix=".json", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, ensure_ascii=False)
        os.replace(tmp, index_path())
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# --- config.toml, read cheaply ----------------------------------------------------------------------


def _config_document() -> dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib
    try:
        with open(get_paths().config_file, "rb") as handle:
            data = tomllib.load(handle)
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def provider_kinds() -> dict[str, str]:
    """Every provider name llmcli would accept, with its kind: built-in ⊕ config.toml ⊕ database."""
    names = {name: str(spec.get("kind", "")) for name, spec in BUILTIN_PROVIDERS.items()}
    configured = _config_document().get("providers")
    if isinstance(configured, dict):
        for name, table in configured.items():
            kind = table.get("kind") if isinstance(table, dict) else None
            names[name] = str(kind or names.get(name, ""))
    stored = read_index().get("stored_providers")
    if isinstance(stored, dict):
        for name, kind in stored.items():
            names.setdefault(name, str(kind))
    return names


def default_provider() -> str:
    return (os.environ.get("LLMCLI_PROVIDER") or str(_config_document().get("default_provider") or "")
            or DEFAULT_PROVIDER)


# --- typer autocompletion callbacks -----------------------------------------------------------------


def complete_provider(incomplete: str) -> list[tuple[str, str]]:
    """`-p <TAB>`: provider names with their kind as the description; in a comma-separated list
    (`ask -p gigachat,ya<TAB>`) the last name is completed."""
    head, comma, last = incomplete.rpartition(",")
    return [(head + comma + name, kind) for name, kind in sorted(provider_kinds().items())
            if name.startswith(last)]


def complete_model(ctx: Any, incomplete: str) -> list[tuple[str, str]]:
    """`-m <TAB>`: cached models of the chosen (or default) provider, and aliases from config.toml."""
    params = getattr(ctx, "params", None) or {}
    # `-p a,b` compares providers and `-p NAME:MODEL` picks a model: the first name counts here.
    provider = (params.get("provider") or "").split(",")[0].split(":")[0] or default_provider()
    found: dict[str, str] = {}
    aliases = _config_document().get("aliases")
    if isinstance(aliases, dict):
        found.update({alias: f"alias of {target}" for alias, target in aliases.items()})
    entry = cached_model_entry(provider)
    for model_id in entry["models"] if entry else []:
        found.setdefault(str(model_id), provider)
    return [(name, help_text) for name, help_text in sorted(found.items()) if name.startswith(incomplete)]
