"""A process's context without a server, for unit tests of the queue, the runner and tasks.

A real database (SQLite and PostgreSQL, as the `database_url` fixture gives), a real local storage folder;
the engine is a stand-in with a name, since these tests never speak.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pytest

from utter.adapters.storage.local import LocalStorage
from utter.config import Settings
from utter.access.keys import AccessKeys
from utter.context import AppContext
from sqlalchemy import create_engine

from utter.database import make_engine, make_sessionmaker, migrate
from utter.models import Base, Generation, utcnow


@dataclass
class NamedEngine:
    """Just enough of a SpeechEngine for the runner: a name, and a load() that is counted."""

    name: str = "stand-in"
    loads: int = 0
    fail_load: Exception | None = None
    info: object = field(init=False)

    def __post_init__(self):
        self.info = type("Info", (), {"name": self.name})()

    def load(self) -> None:
        self.loads += 1
        if self.fail_load is not None:
            raise self.fail_load


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def queue_database_url(request, tmp_path_factory) -> str:
    """One migrated database per module and backend (like `database_url`, which migrates one per test:
    these tests are many and small, so they share it and each starts from empty tables)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('queue') / 'utter.db'}"
        migrate(Settings(database_url=url, _env_file=None))
        yield url
        return
    databases = request.getfixturevalue("postgres_databases")
    url = databases.create()
    yield url
    databases.drop(url)


@pytest.fixture
def empty_database_url(queue_database_url) -> str:
    engine = create_engine(queue_database_url)
    try:
        with engine.begin() as connection:
            for table in reversed(Base.metadata.sorted_tables):
                connection.execute(table.delete())
    finally:
        engine.dispose()
    return queue_database_url


@pytest.fixture
def make_ctx(empty_database_url, tmp_path):
    contexts: list[AppContext] = []

    def make(**overrides) -> AppContext:
        values = {"database_url": empty_database_url, "data_dir": tmp_path, "_env_file": None, "workers": 0,
                  "task_lease_seconds": 60, "task_max_attempts": 2, "stop_grace_seconds": 2}
        values.update(overrides)
        settings = Settings(**values)
        db = make_engine(settings)
        sessions = make_sessionmaker(db)
        ctx = AppContext(settings=settings, db=db, sessions=sessions, storage=LocalStorage(tmp_path / "uploads"),
                         engine=NamedEngine(), access=AccessKeys(sessions))
        contexts.append(ctx)
        return ctx

    yield make
    for ctx in contexts:
        ctx.db.dispose()


@pytest.fixture
def ctx(make_ctx) -> AppContext:
    return make_ctx()


def add_generation(ctx: AppContext, **values) -> uuid.UUID:
    """A committed row (queued speech by default); returns its id."""
    row = Generation(id=values.pop("id", None) or uuid.uuid4(), voice_name=values.pop("voice_name", "Ada"),
                     text=values.pop("text", "Hello there."), **values)
    with ctx.sessions() as session:
        session.add(row)
        session.commit()
    return row.id


def read(ctx: AppContext, generation_id: uuid.UUID) -> Generation | None:
    with ctx.sessions() as session:
        return session.get(Generation, generation_id)


def ago(seconds: float) -> datetime:
    return utcnow() - timedelta(seconds=seconds)


def later(seconds: float) -> datetime:
    return utcnow() + timedelta(seconds=seconds)

