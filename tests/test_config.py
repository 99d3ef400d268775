"""Settings and the database engine as Neon (and the seed's .env) hand them over.

Neon gives `postgres://…?sslmode=require&channel_binding=require`; the app must take that
as-is, keep the TLS options for psycopg, check connections before use (Neon closes idle
ones), and keep a small pool (the free tier allows few connections).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from tests.support.postgres import _free_port, _pg_bin
from utter.config import Settings, StorageChoice, normalise_database_url
from utter.database import alembic_config, make_engine

NEON_URL = ("postgres://alex:AbC123dEf@ep-cool-darkness-123456.us-east-2.aws.neon.tech/neondb"
            "?sslmode=require&channel_binding=require")


@pytest.mark.parametrize("given, expected", [
    (NEON_URL, "postgresql+psycopg://" + NEON_URL.removeprefix("postgres://")),
    ("postgresql://u:p@db:5432/utter?sslmode=verify-full&sslrootcert=/etc/ssl/ca.pem",
     "postgresql+psycopg://u:p@db:5432/utter?sslmode=verify-full&sslrootcert=/etc/ssl/ca.pem"),
    ("postgresql+psycopg://u@h/db", "postgresql+psycopg://u@h/db"),
    ("  postgres://u@h/db\n", "postgresql+psycopg://u@h/db"),
    ("sqlite:///data/utter.db", "sqlite:///data/utter.db"),
])
def test_database_urls_are_normalised_for_psycopg(given, expected):
    assert normalise_database_url(given.strip()) == expected
    assert Settings(database_url=given, _env_file=None).database_url == expected


def test_seed_variables_and_utter_prefixed_settings_come_from_the_environment(monkeypatch, tmp_path):
    for name, value in {
        "ENV": "production", "DATABASE_URL": NEON_URL, "R2_ENDPOINT": "https://acc.r2.cloudflarestorage.com",
        "R2_ACCESS_KEY": "ak", "R2_SECRET_KEY": "sk", "R2_BUCKET": "voices", "MODAL_TOKEN_ID": "ak-1",
        "MODAL_TOKEN_SECRET": "as-1", "UTTER_STORAGE": "r2", "UTTER_DB_POOL_SIZE": "3",
        "UTTER_TASK_LEASE_SECONDS": "30", "UTTER_WORKERS": "0", "UTTER_PRESIGN_SECONDS": "300",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)
    settings = Settings(_env_file=None)
    assert settings.env == "production"
    assert settings.database_url.startswith("postgresql+psycopg://alex:") and "sslmode=require" in settings.database_url
    assert (settings.storage, settings.r2_bucket, settings.r2_access_key) == (StorageChoice.R2, "voices", "ak")
    assert settings.modal_configured
    assert (settings.db_pool_size, settings.task_lease_seconds, settings.workers, settings.presign_seconds) == (3, 30, 0, 300)


def test_nothing_set_means_sqlite_and_local_files_in_the_working_directory(monkeypatch, tmp_path):
    for name in list(os.environ):
        if name.startswith("UTTER_") or name in ("DATABASE_URL", "ENV") or name.startswith(("R2_", "MODAL_")):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    settings = Settings(_env_file=None)
    assert settings.database_url == f"sqlite:///{tmp_path.resolve() / 'utter.db'}"
    assert settings.storage == StorageChoice.LOCAL and settings.uploads_dir == Path("uploads")


def test_env_example_is_read_as_a_dotenv_file(monkeypatch, tmp_path):
    """The documented .env.example works when copied to .env unchanged (every line commented or valid)."""
    example = Path(__file__).resolve().parents[1] / ".env.example"
    shutil.copy(example, tmp_path / ".env")
    for name in list(os.environ):
        if name.startswith("UTTER_") or name in ("DATABASE_URL", "ENV") or name.startswith(("R2_", "MODAL_")):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    settings = Settings()
    assert settings.database_url.startswith("sqlite:///"), "the example must default to the embedded database"
    assert settings.storage == StorageChoice.LOCAL


def test_every_setting_is_documented_in_env_example():
    """A new setting must be explained where people look for it (the datasette rule)."""
    example = (Path(__file__).resolve().parents[1] / ".env.example").read_text()
    documented = set(re.findall(r"^# ?([A-Z][A-Z0-9_]+)=", example, flags=re.MULTILINE))
    expected = set()
    for name, field in Settings.model_fields.items():
        alias = field.validation_alias
        # Seed variables are documented under their plain name; the rest as UTTER_<NAME>.
        expected.add(alias.choices[0] if alias is not None else f"UTTER_{name.upper()}")
    assert expected - documented == set(), "add these to .env.example"
    assert documented - expected == set(), ".env.example documents settings that do not exist"


def test_engine_for_neon_keeps_tls_options_and_a_small_checked_pool():
    settings = Settings(database_url=NEON_URL, db_pool_size=3, _env_file=None)
    engine = make_engine(settings)  # builds the pool; connects only on first use
    try:
        assert engine.url.drivername == "postgresql+psycopg"
        assert engine.url.host == "ep-cool-darkness-123456.us-east-2.aws.neon.tech"
        assert dict(engine.url.query) == {"sslmode": "require", "channel_binding": "require"}
        assert engine.pool.size() == 3 and engine.pool._max_overflow == 3
        assert engine.pool._pre_ping is True
        assert 0 < engine.pool._recycle <= 300  # below Neon's idle-connection cut-off
    finally:
        engine.dispose()


def test_percent_encoded_passwords_survive_into_alembic():
    url = normalise_database_url("postgres://user:p%40ss%25word@host/db?sslmode=require")
    assert alembic_config(url).get_main_option("sqlalchemy.url") == url


def test_sslmode_reaches_psycopg(postgres_databases):
    """psycopg honours sslmode from the URL: the test server has no TLS, so `require` must refuse it."""
    url = postgres_databases.create()
    try:
        plain = make_engine(Settings(database_url=url + "?sslmode=prefer", _env_file=None))
        with plain.connect() as conn:
            assert conn.execute(text("SELECT 1")).scalar() == 1
        plain.dispose()
        strict = make_engine(Settings(database_url=url + "?sslmode=require", _env_file=None))
        with pytest.raises(OperationalError, match="SSL"):
            strict.connect().close()
        strict.dispose()
    finally:
        postgres_databases.drop(url)


def test_pre_ping_replaces_a_connection_the_server_closed(postgres_databases):
    """Neon drops idle connections; the next request must get a fresh one, not an error."""
    url = postgres_databases.create()
    engine = make_engine(Settings(database_url=url, db_pool_size=1, _env_file=None))
    try:
        with engine.connect() as conn:
            pid = conn.execute(text("SELECT pg_backend_pid()")).scalar()
        with psycopg.connect(postgres_databases.admin_url, autocommit=True) as admin:
            assert admin.execute("SELECT pg_terminate_backend(%s)", (pid,)).fetchone()[0]
        with engine.connect() as conn:
            assert conn.execute(text("SELECT pg_backend_pid()")).scalar() != pid
    finally:
        engine.dispose()
        postgres_databases.drop(url)


@contextlib.contextmanager
def _tls_cluster():
    """A throwaway PostgreSQL with TLS on and a self-signed certificate, like Neon's endpoint."""
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    if not (initdb and pg_ctl and shutil.which("openssl")):
        pytest.skip("PostgreSQL binaries or openssl missing: cannot start a TLS server")
    base = Path(tempfile.mkdtemp(prefix="utter-pg-tls-"))
    prefix: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(base, "postgres")
        prefix = ["runuser", "-u", "postgres", "--"]
    data = base / "data"
    port = _free_port()
    try:
        subprocess.run(prefix + [initdb, "-D", str(data), "-A", "trust", "-U", "postgres"], check=True,
                       capture_output=True)
        subprocess.run(prefix + ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                                 "-subj", "/CN=127.0.0.1", "-keyout", str(data / "server.key"),
                                 "-out", str(data / "server.crt")], check=True, capture_output=True)
        (data / "server.key").chmod(0o600)
        subprocess.run(prefix + [pg_ctl, "-D", str(data), "-l", str(base / "log"), "-w", "-o",
                                 f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c ssl=on", "start"],
                       check=True, capture_output=True)
        yield f"postgres://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(prefix + [pg_ctl, "-D", str(data), "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


@pytest.mark.slow
def test_sslmode_require_connects_over_tls():
    """With a TLS-enabled server, a Neon-style URL connects, encrypted, and the app migrates it."""
    from utter.database import check_database, migrate

    with _tls_cluster() as url:
        settings = Settings(database_url=url + "?sslmode=require", _env_file=None)
        migrate(settings)
        engine = make_engine(settings)
        try:
            with engine.connect() as conn:
                assert conn.execute(text("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")).scalar()
            assert check_database(engine)["status"] == "ok"
        finally:
            engine.dispose()
