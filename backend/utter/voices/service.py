"""Creating, listing, changing and deleting voices; keeps rows and stored files in step."""

from __future__ import annotations

import logging
import tempfile
import uuid
from pathlib import Path

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from ..config import Settings
from ..errors import UtterError, not_found
from ..models import Generation, GenerationStatus, Voice, VoiceSource, utcnow
from ..services import audio
from ..services.storage import Storage, prompt_prefix, reference_key
from ..validation import clean_language, clean_name, clean_transcript
from .schemas import VoicePublic, VoiceUpdate

log = logging.getLogger("utter.voices")


def to_public(voice: Voice, storage: Storage) -> VoicePublic:
    return VoicePublic(
        id=voice.id,
        name=voice.name,
        created_at=voice.created_at,
        updated_at=voice.updated_at,
        reference_url=storage.url(voice.reference_key),
        reference_seconds=round(voice.reference_seconds, 2),
        transcript=voice.reference_transcript,
        language=voice.language,
        source=voice.source,
        description=voice.description,
        original_filename=voice.original_filename,
    )


def check_reference(upload: Path, settings: Settings) -> audio.DecodedAudio:
    """Decode an uploaded clip and hold it to the product's limits (10 s – 5 min)."""
    size = upload.stat().st_size
    if size == 0:
        raise UtterError(422, "audio_missing", "The audio file is empty.", field="audio")
    if size > settings.max_upload_bytes:
        raise UtterError(413, "audio_too_large", f"The audio file is too big: the limit is {settings.max_upload_mb} MB.",
                         field="audio")
    try:
        decoded = audio.decode(upload, max_seconds=settings.max_reference_seconds)
    except audio.AudioError as exc:
        raise UtterError(422, exc.code, exc.message, field="audio") from exc
    if decoded.duration < settings.min_reference_seconds:
        raise UtterError(422, "audio_too_short",
                         f"The recording is {decoded.duration:.1f} s long; a voice needs at least "
                         f"{settings.min_reference_seconds:.0f} s of speech.", field="audio")
    if decoded.duration > settings.max_reference_seconds:
        raise UtterError(422, "audio_too_long",
                         f"The recording is longer than the {settings.max_reference_seconds / 60:.0f}-minute limit; "
                         "trim it to the clearest part.", field="audio")
    return decoded


def create_voice(session: Session, storage: Storage, settings: Settings, *, name: str, upload: Path,
                 filename: str | None, transcript: str | None, language: str | None,
                 source: VoiceSource = VoiceSource.UPLOADED, description: str | None = None) -> Voice:
    """Validate, normalise and store a reference clip, then record the voice.

    The file is stored before the row is committed; if anything after that fails
    the file is removed again, so a failed clone leaves neither file nor row.
    """
    name = clean_name(name)
    transcript = clean_transcript(transcript)
    language = clean_language(language)
    decoded = check_reference(upload, settings)

    voice = Voice(
        id=uuid.uuid4(), name=name, reference_seconds=decoded.duration, reference_transcript=transcript,
        language=language, source=source, description=description,
        original_filename=(Path(filename).name[:255] if filename else None), original_format=decoded.format,
    )
    voice.reference_key = reference_key(str(voice.id))
    with tempfile.TemporaryDirectory(prefix="utter-ref-") as tmp:
        normalised = Path(tmp) / "reference.wav"
        audio.write_wav(normalised, decoded.samples, decoded.sample_rate)
        storage.put_file(voice.reference_key, normalised, "audio/wav")
    try:
        session.add(voice)
        session.commit()
    except BaseException:
        session.rollback()
        storage.delete(voice.reference_key)
        raise
    log.info("voice.created id=%s seconds=%.1f format=%s", voice.id, decoded.duration, decoded.format)
    return voice


def list_voices(session: Session, search: str | None = None) -> list[Voice]:
    query = select(Voice).order_by(Voice.created_at.desc())
    if search and search.strip():
        pattern = "%" + search.strip().lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        query = query.where(func.lower(Voice.name).like(pattern, escape="\\"))
    return list(session.scalars(query))


def get_voice(session: Session, voice_id: uuid.UUID) -> Voice:
    voice = session.get(Voice, voice_id)
    if voice is None:
        raise not_found("voice", "voice_not_found")
    return voice


def update_voice(session: Session, storage: Storage, voice_id: uuid.UUID, change: VoiceUpdate) -> Voice:
    voice = get_voice(session, voice_id)
    fields = change.model_fields_set
    if "name" in fields:
        voice.name = clean_name(change.name)
    if "language" in fields:
        voice.language = clean_language(change.language)
    if "transcript" in fields:
        transcript = clean_transcript(change.transcript)
        if transcript != voice.reference_transcript:
            voice.reference_transcript = transcript
            # The cached clone prompt was built from the old transcript.
            voice.revision += 1
            _drop_prompts(storage, voice.id)
    voice.updated_at = utcnow()
    session.commit()
    return voice


def delete_voice(session: Session, storage: Storage, voice_id: uuid.UUID) -> None:
    """Delete a voice and its files. Generations already made keep their audio in the history."""
    voice = get_voice(session, voice_id)
    key = voice.reference_key
    # Waiting generations can no longer run: fail them now with a reason rather than let them vanish.
    session.execute(
        update(Generation)
        .where(Generation.voice_id == voice.id, Generation.status == GenerationStatus.QUEUED)
        .values(status=GenerationStatus.FAILED, error_code="voice_deleted",
                error_message="The voice was deleted before this generation could run.", finished_at=utcnow())
    )
    session.delete(voice)
    session.commit()
    storage.delete(key)
    _drop_prompts(storage, voice.id)
    log.info("voice.deleted id=%s", voice_id)


def _drop_prompts(storage: Storage, voice_id: uuid.UUID) -> None:
    for key in storage.list_keys(prompt_prefix(str(voice_id))):
        storage.delete(key)
