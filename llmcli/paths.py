"""Where llmcli keeps its files. Stdlib + platformdirs only (cheap to import).

LLMCLI_HOME puts everything under one folder; otherwise the platform's user config, data and
cache folders are used.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Paths:
    config_dir: Path
    data_dir: Path
    cache_dir: Path

    @property
    def config_file(self) -> Path:
        override = os.environ.get("LLMCLI_CONFIG")
        return Path(override).expanduser() if override else self.config_dir / "config.toml"

    @property
    def database_file(self) -> Path:
        return self.data_dir / "history.db"

    @property
    def database_url(self) -> str:
        return os.environ.get("LLMCLI_DATABASE_URL") or f"sqlite:///{self.database_file}"

    @property
    def credentials_file(self) -> Path:
        """Secrets stored with `keys set --insecure-storage` (0600) when there is no keyring."""
        return self.config_dir / "credentials.toml"

    @property
    def token_cache_dir(self) -> Path:
        """Short-lived access tokens when there is no keyring (0600 files in a 0700 folder)."""
        return self.cache_dir / "tokens"

    @property
    def repl_history_file(self) -> Path:
        return self.data_dir / "repl_history"


def get_paths() -> Paths:
    home = os.environ.get("LLMCLI_HOME")
    if home:
        root = Path(home).expanduser()
        return Paths(config_dir=root, data_dir=root, cache_dir=root / "cache")
    import platformdirs

    return Paths(
        config_dir=Path(platformdirs.user_config_dir("llmcli", appauthor=False)),
        data_dir=Path(platformdirs.user_data_dir("llmcli", appauthor=False)),
        cache_dir=Path(platformdirs.user_cache_dir("llmcli", appauthor=False)),
    )


def ensure_private_dir(path: Path) -> Path:
    """Create a folder (and parents) readable by the owner only."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        os.chmod(path, 0o700)
    except OSError:
        pass
    return path
