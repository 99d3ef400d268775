"""The SQLAlchemy engine, sessions and migrations.

SQLite is the embedded default; PostgreSQL (Neon in production) comes through DATABASE_URL.
Everything is built from Settings by the app's lifespan or a CLI command, never at import.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.orm import Session, sessionmaker

from .config import Settings

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def make_engine(settings: Settings) -> Engine:
    url = settings.database_url
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(
        url,
        # Neon closes idle connections; pre-ping replaces dead ones instead of failing a request.
        pool_pre_ping=True,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_pool_size,
        pool_recycle=300,
    )


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets the worker threads write while requests read; foreign keys are off by default in SQLite.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()
    # SQLite's own lower() folds only ASCII letters, so a search for "Élodie" found nothing there while
    # PostgreSQL found it: searches compare lower(column) with Python's lower-cased term.
    dbapi_connection.create_function("lower", 1, lambda value: None if value is None else value.lower(),
                                     deterministic=True)


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A unit of work: commit on success, roll back on any error."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def alembic_config(database_url: str):
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # ConfigParser interpolation would choke on % in URL-encoded passwords.
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def migrate(settings: Settings, revision: str = "head") -> None:
    """Bring the schema up to `revision`. Safe to run from several processes at once on PostgreSQL."""
    from alembic import command

    if settings.is_sqlite:
        Path(settings.database_url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        command.upgrade(alembic_config(settings.database_url), revision)
        return
    engine = make_engine(settings)
    try:
        with engine.connect() as connection:
            # Replicas starting together would race on CREATE TABLE; an advisory lock serialises them.
            connection.execute(text("SELECT pg_advisory_lock(727271)"))
            try:
                config = alembic_config(settings.database_url)
                config.attributes["connection"] = connection
                command.upgrade(config, revision)
                connection.commit()
            finally:
                connection.execute(text("SELECT pg_advisory_unlock(727271)"))
                connection.commit()
    finally:
        engine.dispose()


def check_database(engine: Engine) -> dict[str, str]:
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as exc:  # health must report, never raise
        return {"status": "error", "backend": engine.dialect.name, "detail": str(exc).splitlines()[0]}
    return {"status": "ok", "backend": engine.dialect.name, "detail": engine.url.render_as_string(hide_password=True)}
