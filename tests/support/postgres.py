"""Finding a real PostgreSQL server for the tests, or starting a throwaway one.

Order: UTTER_TEST_POSTGRES_URL; the server CI provides at 127.0.0.1:5432 (trust auth);
a temporary cluster started with the PostgreSQL binaries if they are installed. When
none works, the PostgreSQL leg is skipped with a reason — except under CI, where it
must run, so the session fails instead.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg

DEFAULT_URLS = (
    "postgresql://postgres@127.0.0.1:5432/test",
    "postgresql://postgres@127.0.0.1:5432/postgres",
)


def can_connect(url: str) -> bool:
    try:
        with psycopg.connect(url, connect_timeout=3):
            return True
    except psycopg.Error:
        return False


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _pg_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return candidates[-1] if candidates else None


@contextlib.contextmanager
def throwaway_cluster() -> Iterator[str]:
    """initdb + pg_ctl in a temporary directory; as root, run them as the postgres user."""
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    if not (initdb and pg_ctl):
        raise RuntimeError("PostgreSQL binaries (initdb, pg_ctl) are not installed")
    base = Path(tempfile.mkdtemp(prefix="utter-pg-"))
    data = base / "data"
    prefix: list[str] = []
    if os.geteuid() == 0:
        # PostgreSQL refuses to run as root.
        shutil.chown(base, "postgres")
        prefix = ["runuser", "-u", "postgres", "--"]
    port = _free_port()
    subprocess.run(prefix + [initdb, "-D", str(data), "-A", "trust", "-U", "postgres"], check=True,
                   capture_output=True)
    subprocess.run(prefix + [pg_ctl, "-D", str(data), "-l", str(base / "log"), "-w", "-o",
                             f"-p {port} -k {base} -c listen_addresses=127.0.0.1", "start"],
                   check=True, capture_output=True)
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(prefix + [pg_ctl, "-D", str(data), "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


class PostgresDatabases:
    """Creates one fresh database per test, cloned from a migrated template (fast)."""

    def __init__(self, admin_url: str):
        self.admin_url = admin_url
        self.template = f"utter_tpl_{os.getpid()}_{int(time.time())}"
        self._created: list[str] = []

    def url_for(self, database: str) -> str:
        return self.admin_url.rsplit("/", 1)[0] + "/" + database

    def _admin(self, sql: str) -> None:
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(sql)

    def prepare_template(self, migrate) -> None:
        self._admin(f'CREATE DATABASE "{self.template}"')
        migrate(self.url_for(self.template))

    def create(self) -> str:
        name = f"utter_t_{os.getpid()}_{len(self._created)}_{int(time.time() * 1000) % 100000}"
        self._admin(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"')
        self._created.append(name)
        return self.url_for(name)

    def drop(self, url: str) -> None:
        name = url.rsplit("/", 1)[1]
        self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def close(self) -> None:
        for name in self._created:
            with contextlib.suppress(psycopg.Error):
                self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        with contextlib.suppress(psycopg.Error):
            self._admin(f'DROP DATABASE IF EXISTS "{self.template}" WITH (FORCE)')
