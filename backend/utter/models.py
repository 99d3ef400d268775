"""Database tables: voices and generations (the seed's schema, plus what the product needs)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from enum import StrEnum

from sqlalchemy import JSON, DateTime, Float, ForeignKey, Index, Integer, String, Text, TypeDecorator, Uuid
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on every backend (SQLite forgets the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value, dialect):
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


class Base(DeclarativeBase):
    pass


class VoiceSource(StrEnum):
    UPLOADED = "uploaded"
    RECORDED = "recorded"
    DESIGNED = "designed"


class TranscriptSource(StrEnum):
    TYPED = "typed"  # given by the person (at clone time or edited since)
    AUTOMATIC = "automatic"  # heard by the speech recogniser


class TranscriptionStatus(StrEnum):
    TRANSCRIBING = "transcribing"  # the recogniser has not finished (long clips finish after the clone returns)
    DONE = "done"
    FAILED = "failed"


class GenerationStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in (GenerationStatus.DONE, GenerationStatus.FAILED, GenerationStatus.CANCELLED)


class GenerationKind(StrEnum):
    SPEECH = "speech"  # text spoken in a voice of the library: the history
    DESIGN = "design"  # a preview of a voice designed from a description (not in the history)
    DIALOGUE = "dialogue"  # a script of lines, each in its voice, spoken as one piece: the history too


class Voice(Base):
    __tablename__ = "voices"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(100))
    reference_key: Mapped[str] = mapped_column(Text)
    reference_seconds: Mapped[float] = mapped_column(Float)
    reference_transcript: Mapped[str | None] = mapped_column(Text)
    transcript_source: Mapped[str | None] = mapped_column(String(16))  # a TranscriptSource; None without transcript
    # A TranscriptionStatus; None when no recogniser ran (off or not installed).
    transcription: Mapped[str | None] = mapped_column(String(16))
    language: Mapped[str] = mapped_column(String(8), default="auto")
    # What the recogniser detected when the person left the language on "auto".
    detected_language: Mapped[str | None] = mapped_column(String(8))
    # reference_check.Measurements plus the recogniser's findings (heard_text, transcript_match, asr_model).
    reference_check: Mapped[dict | None] = mapped_column(JSON)
    source: Mapped[str] = mapped_column(String(16), default=VoiceSource.UPLOADED)
    description: Mapped[str | None] = mapped_column(Text)
    original_filename: Mapped[str | None] = mapped_column(String(255))
    original_format: Mapped[str | None] = mapped_column(String(16))
    # Bumped whenever the reference audio or transcript changes: keys cached clone prompts.
    revision: Mapped[int] = mapped_column(Integer, default=1)
    # The consent recording that authorised this clone (voices made through OpenAI's custom-voice API).
    consent_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("voice_consents.id", ondelete="RESTRICT"))
    # Pronunciation rules every generation in this voice uses (its latest version), besides a request's own.
    pronunciation_dictionary_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("pronunciation_dictionaries.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    generations: Mapped[list[Generation]] = relationship(back_populates="voice", passive_deletes=True)

    __table_args__ = (Index("ix_voices_created_at", "created_at"),)


class Generation(Base):
    __tablename__ = "generations"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    # SET NULL keeps the history row (text, audio) when its voice is deleted.
    voice_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("voices.id", ondelete="SET NULL"))
    voice_name: Mapped[str] = mapped_column(String(100))
    text: Mapped[str] = mapped_column(Text)
    language: Mapped[str] = mapped_column(String(8), default="auto")
    status: Mapped[str] = mapped_column(String(16), default=GenerationStatus.QUEUED)
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    # Long text is spoken in chunks; each finished chunk's audio is stored at once so it can be streamed.
    chunks_total: Mapped[int | None] = mapped_column(Integer)
    chunks_done: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Stream segments stored so far (consecutive parts of the MP3; several per chunk when the engine streams).
    segments: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    output_key: Mapped[str | None] = mapped_column(Text)
    duration_seconds: Mapped[float | None] = mapped_column(Float)
    error_code: Mapped[str | None] = mapped_column(String(64))
    error_message: Mapped[str | None] = mapped_column(Text)
    engine: Mapped[str | None] = mapped_column(String(32))
    # Speaking rate asked for (1.0 normal); None on rows made before it existed.
    speed: Mapped[float | None] = mapped_column(Float)
    voice_cloned: Mapped[bool | None] = mapped_column()
    # Each part heard back: word error, length against the text's, takes, passed (generations/heard_back.py).
    checks: Mapped[dict | None] = mapped_column(JSON)
    # The text as the engine is given it once pronunciation rules are applied; None when no rule applied.
    spoken_text: Mapped[str | None] = mapped_column(Text)
    # When each word of the text is spoken, once done (generations/timings.py): {"words": [...]}, or
    # {"words": null, "error": {...}} saying why no aligner could run; None until done.
    timings: Mapped[dict | None] = mapped_column(JSON)
    # A dialogue's script: each line's voice, text and place in the audio (generations/dialogue.py).
    lines: Mapped[list | None] = mapped_column(JSON)
    # Task bookkeeping: which process holds it, until when, how often it was tried.
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    worker_id: Mapped[str | None] = mapped_column(String(128))
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # A remote engine's call ids, in chunk order, separated by spaces (a design preview has one).
    remote_call_id: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    queue_seconds: Mapped[float | None] = mapped_column(Float)
    synthesis_seconds: Mapped[float | None] = mapped_column(Float)
    # Design previews share the queue and workers with speech; voice_id is NULL until one is saved.
    kind: Mapped[str] = mapped_column(String(16), default=GenerationKind.SPEECH, server_default="speech")
    description: Mapped[str | None] = mapped_column(Text)
    design_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    candidate: Mapped[int | None] = mapped_column(Integer)

    voice: Mapped[Voice | None] = relationship(back_populates="generations")

    __table_args__ = (
        Index("ix_generations_status_created", "status", "created_at"),
        Index("ix_generations_created_at", "created_at"),
        Index("ix_generations_design_id", "design_id"),
    )


class VoiceConsent(Base):
    """A recording of the speaker agreeing to be cloned; voices made from it point here and keep it alive."""

    __tablename__ = "voice_consents"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(100))
    language: Mapped[str] = mapped_column(String(35))  # a BCP 47 tag as given, e.g. en-US
    recording_key: Mapped[str] = mapped_column(Text)
    recording_seconds: Mapped[float] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (Index("ix_voice_consents_created_at", "created_at"),)


class AccessKey(Base):
    """A key that lets a person or a program in once any key exists: only its SHA-256 is kept."""

    __tablename__ = "access_keys"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(16))  # the key's first characters, to tell keys apart in lists
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class PronunciationDictionary(Base):
    """Named rules for how words are said; each change of its rules makes a new version."""

    __tablename__ = "pronunciation_dictionaries"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str | None] = mapped_column(Text)
    # The version its rules are read from unless a request names another.
    latest_version_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    __table_args__ = (Index("ix_pronunciation_dictionaries_created_at", "created_at"),)


class PronunciationDictionaryVersion(Base):
    """A dictionary's rules as they were at one time: never changed, so a version id always means the same rules."""

    __tablename__ = "pronunciation_dictionary_versions"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    dictionary_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("pronunciation_dictionaries.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)  # 1, 2, ... within its dictionary
    rules: Mapped[list] = mapped_column(JSON)  # pronunciation.rules.Rule.to_json() each, in order
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        Index("ix_pronunciation_dictionary_versions_dictionary_number", "dictionary_id", "number", unique=True),
    )
