"""History storage: SQLModel tables over SQLite (or any SQLAlchemy database), migrations, the Store.

Importing this package imports sqlmodel (heavy): import it inside functions, off the --help path.
"""

from __future__ import annotations

from llmcli.storage.search import SearchHit
from llmcli.storage.store import Store, open_store

__all__ = ["SearchHit", "Store", "open_store"]
