"""Migration 0002 on SQLite (batch mode) and PostgreSQL: up, down and up again, keeping data."""

from __future__ import annotations

import uuid

from alembic import command
from sqlalchemy import create_engine, inspect, text

from utter.database import alembic_config

NEW_COLUMNS = {"transcript_source", "transcription", "detected_language", "reference_check"}


def columns(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        return {c["name"] for c in inspect(engine).get_columns("voices")}
    finally:
        engine.dispose()


def test_0002_downgrades_and_upgrades_keeping_voices(database_url):
    config = alembic_config(database_url)
    assert NEW_COLUMNS <= columns(database_url)

    command.downgrade(config, "0001")
    assert not NEW_COLUMNS & columns(database_url)
    typed, untranscribed = uuid.uuid4(), uuid.uuid4()
    engine = create_engine(database_url)
    try:
        with engine.begin() as connection:
            for voice_id, transcript in ((typed, "Hello there."), (untranscribed, None)):
                connection.execute(text(
                    "INSERT INTO voices (id, name, reference_key, reference_seconds, reference_transcript, language, "
                    "source, revision, created_at, updated_at) VALUES (:id, 'v', 'k', 12.0, :transcript, 'en', "
                    "'uploaded', 1, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"),
                    {"id": voice_id.hex if database_url.startswith("sqlite") else str(voice_id),
                     "transcript": transcript})

        command.upgrade(config, "head")
        assert NEW_COLUMNS <= columns(database_url)
        with engine.connect() as connection:
            rows = dict(connection.execute(text("SELECT reference_transcript, transcript_source FROM voices")).all())
        # Transcripts from before automatic transcription were typed by people.
        assert rows == {"Hello there.": "typed", None: None}
    finally:
        engine.dispose()
