"""Head starts for `llmcli chat`, run in background threads while the user types: open the history
database (sqlmodel takes ~0.4 s to import) and import the provider's adapter (httpx), so the first
answer waits for neither. A failure here is only a lost head start: the turn reports real problems.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from llmcli.errors import LlmcliError

if TYPE_CHECKING:
    from llmcli.storage import Store


class StoreOpener:
    """Opens the history database in a thread (sqlmodel takes ~0.4 s to import) while the user types."""

    def __init__(self) -> None:
        self._store: Store | None = None
        self._error: LlmcliError | None = None
        self._thread = threading.Thread(target=self._open, daemon=True)
        self._thread.start()

    def _open(self) -> None:
        from llmcli.services.recorder import open_store_now

        try:
            self._store = open_store_now()
        except LlmcliError as exc:
            self._error = exc
        except Exception as exc:  # noqa: BLE001 - history must never cost the session
            self._error = LlmcliError(f"{type(exc).__name__}: {exc}")

    def ready(self) -> bool:
        return not self._thread.is_alive()

    def get(self) -> Store:
        """The store, waiting for it if needed; the opening error (StorageError) if it failed."""
        self._thread.join()
        if self._error is not None:
            raise self._error
        assert self._store is not None
        return self._store


def import_adapter_in_background(kind: str) -> None:
    """Import the adapter module of provider kind `kind` in a daemon thread."""
    threading.Thread(target=_import_adapter, args=(kind,), daemon=True).start()


def _import_adapter(kind: str) -> None:
    import importlib

    from llmcli.providers import ADAPTERS

    try:
        importlib.import_module(ADAPTERS.get(kind, "").partition(":")[0])
    except Exception:  # noqa: BLE001 - only a head start: the turn reports any real problem
        pass
