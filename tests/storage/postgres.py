"""A throwaway PostgreSQL server for the portability tests: started by the suite, never assumed running.

Needs the server binaries (initdb, pg_ctl) and the psycopg driver; without them the tests skip and
say why. Listens on a Unix socket inside its own temporary folder only (no TCP port), fsync off.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

_BIN_DIRS = [f"/usr/lib/postgresql/{v}/bin" for v in range(20, 11, -1)]


def _tool(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    for folder in _BIN_DIRS:
        if os.access(os.path.join(folder, name), os.X_OK):
            return os.path.join(folder, name)
    return None


def postgres_server() -> Iterator[str]:
    """Yield a SQLAlchemy URL of a fresh server's `postgres` database; stop and delete it afterwards."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        pytest.skip("the psycopg driver is not installed (pip install 'psycopg[binary]')")
    initdb, pg_ctl = _tool("initdb"), _tool("pg_ctl")
    if not (initdb and pg_ctl):
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) are not installed")
    as_user: list[str] = []
    folder = Path(tempfile.mkdtemp(prefix="llmcli-pg-"))
    if os.geteuid() == 0:  # the server refuses to run as root
        if not shutil.which("runuser"):
            pytest.skip("running as root without runuser: cannot start PostgreSQL")
        import pwd

        try:
            owner = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and there is no `postgres` user to start the server as")
        os.chown(folder, owner.pw_uid, owner.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
    data = folder / "data"

    def run(*args: str) -> None:
        subprocess.run([*as_user, *args], check=True, capture_output=True, timeout=120)

    try:
        run(initdb, "-D", str(data), "-A", "trust", "-U", "llmcli", "--no-sync", "-E", "UTF8",
            "--locale=C.UTF-8")
        run(pg_ctl, "-D", str(data), "-w", "-l", str(folder / "server.log"), "-o",
            f"-k {folder} -c listen_addresses='' -F -c max_connections=60", "start")
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        shutil.rmtree(folder, ignore_errors=True)
        output = getattr(exc, "stderr", b"") or b""
        pytest.skip(f"could not start PostgreSQL: {output.decode(errors='replace')[-300:]}")
    try:
        yield f"postgresql+psycopg://llmcli@/postgres?host={folder}"
    finally:
        subprocess.run([*as_user, pg_ctl, "-D", str(data), "-m", "immediate", "stop"],
                       check=False, capture_output=True, timeout=60)
        shutil.rmtree(folder, ignore_errors=True)


def fresh_database(server_url: str) -> str:
    """CREATE DATABASE a new one on the server; return its URL."""
    import sqlalchemy as sa

    name = "t_" + uuid.uuid4().hex[:12]
    engine = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name}")
    engine.dispose()
    return server_url.replace("/postgres?", f"/{name}?")
