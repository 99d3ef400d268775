"""Database fixtures: every test that asks for `database_url` runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import contextlib
import os

import pytest

from utter.config import Settings
from utter.database import migrate

from .postgres import DEFAULT_URLS, PostgresDatabases, can_connect, throwaway_cluster

_skip_reason: list[str] = []


def _migrate_url(url: str) -> None:
    migrate(Settings(database_url=url))


@pytest.fixture(scope="session")
def postgres_databases() -> PostgresDatabases:
    with contextlib.ExitStack() as stack:
        url = os.environ.get("UTTER_TEST_POSTGRES_URL") or next((u for u in DEFAULT_URLS if can_connect(u)), None)
        if url is None:
            try:
                url = stack.enter_context(throwaway_cluster())
            except Exception as exc:  # noqa: BLE001 - any failure means "no PostgreSQL here"
                reason = (f"PostgreSQL leg SKIPPED: no server at 127.0.0.1:5432 and none could be started ({exc}). "
                          "Install PostgreSQL (apt-get install postgresql) or set UTTER_TEST_POSTGRES_URL.")
                if os.environ.get("CI"):
                    pytest.fail("CI must run the PostgreSQL leg. " + reason, pytrace=False)
                _skip_reason.append(reason)
                pytest.skip(reason)
        databases = PostgresDatabases(url)
        databases.prepare_template(_migrate_url)
        try:
            yield databases
        finally:
            databases.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path) -> str:
    """A fresh, migrated database: a SQLite file, or a new PostgreSQL database."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'utter.db'}"
        _migrate_url(url)
        yield url
        return
    databases: PostgresDatabases = request.getfixturevalue("postgres_databases")
    url = databases.create()
    yield url
    databases.drop(url)


def pytest_terminal_summary(terminalreporter) -> None:
    if _skip_reason:
        terminalreporter.write_line(_skip_reason[0], yellow=True, bold=True)
