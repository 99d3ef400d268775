"""The Alembic migrations, on SQLite and on a real PostgreSQL: up from empty, down to base, up again,
and the models agreeing with what the migrations build."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

import psycopg
import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect, text

from utter.config import Settings
from utter.database import alembic_config, migrate
from utter.models import Base

APP_TABLES = set(Base.metadata.tables)


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database(request, tmp_path) -> str:
    """A database with nothing in it (the shared fixture's databases are already migrated)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    databases = request.getfixturevalue("postgres_databases")
    name = f"utter_mig_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(databases.admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = databases.url_for(name)
    yield url
    databases.drop(url)


def utter_migrate(database_url: str, *args: str) -> subprocess.CompletedProcess:
    """`utter migrate` as a person (or a release step) runs it."""
    env = {**os.environ, "DATABASE_URL": database_url}
    return subprocess.run([sys.executable, "-m", "utter.cli", "migrate", *args], env=env, capture_output=True,
                          text=True, timeout=120)


def head_revision() -> str:
    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def state(database_url: str) -> tuple[set[str], str | None]:
    """The app's tables present, and the revision recorded in alembic_version."""
    engine = create_engine(Settings(database_url=database_url, _env_file=None).database_url)
    try:
        tables = set(inspect(engine).get_table_names())
        revision = None
        if "alembic_version" in tables:
            with engine.connect() as conn:
                revision = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
        return tables & APP_TABLES, revision
    finally:
        engine.dispose()


def test_upgrade_from_empty_downgrade_to_base_and_up_again(empty_database):
    assert state(empty_database) == (set(), None)

    result = utter_migrate(empty_database)
    assert result.returncode == 0, result.stderr
    assert "Database migrated to head" in result.stdout
    assert state(empty_database) == (APP_TABLES, head_revision())

    url = Settings(database_url=empty_database, _env_file=None).database_url
    command.downgrade(alembic_config(url), "base")
    assert state(empty_database) == (set(), None)

    result = utter_migrate(empty_database)
    assert result.returncode == 0, result.stderr
    assert state(empty_database) == (APP_TABLES, head_revision())


def test_every_revision_steps_down_and_up(empty_database):
    """Each downgrade undoes exactly its upgrade: walk down one revision at a time, then back up."""
    settings = Settings(database_url=empty_database, _env_file=None)
    migrate(settings)
    config = alembic_config(settings.database_url)
    revisions = [rev.revision for rev in ScriptDirectory.from_config(config).walk_revisions()]  # newest first
    for expected_after in revisions[1:] + [None]:
        command.downgrade(config, "-1")
        assert state(empty_database)[1] == expected_after
    for revision in reversed(revisions):
        command.upgrade(config, "+1")
        assert state(empty_database)[1] == revision


def test_models_and_migrations_agree(empty_database):
    settings = Settings(database_url=empty_database, _env_file=None)
    migrate(settings)
    engine = create_engine(settings.database_url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": False})
            diffs = compare_metadata(context, Base.metadata)
    finally:
        engine.dispose()
    assert diffs == [], "models.py and the migrations differ; write a migration:\n" + "\n".join(map(str, diffs))


def test_replicas_migrating_at_once_on_postgresql(postgres_databases):
    """Several replicas starting together all run migrations; the advisory lock lets them all succeed."""
    name = f"utter_mig_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_databases.admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = postgres_databases.url_for(name)
    try:
        env = {**os.environ, "DATABASE_URL": url}
        procs = [subprocess.Popen([sys.executable, "-m", "utter.cli", "migrate"], env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True) for _ in range(3)]
        outcomes = [(p.wait(120), p.stderr.read()) for p in procs]
        for code, stderr in outcomes:
            assert code == 0, stderr
        assert state(url) == (APP_TABLES, head_revision())
    finally:
        postgres_databases.drop(url)
