"""Creating, listing, changing and deleting voices; keeps rows and stored files in step."""

from __future__ import annotations

import logging
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from .. import scratch
from ..adapters.asr import Transcript
from ..adapters.storage import Storage, prompt_prefix, reference_key
from ..audio import codec as audio
from ..audio import reference_check
from ..config import Settings
from ..errors import UtterError, not_found
from ..generations import repository as generations
from ..models import TranscriptionStatus, TranscriptSource, Voice, VoiceSource, utcnow
from ..pronunciation import repository as dictionaries
from ..validation import clean_language, clean_name, clean_transcript, parse_id
from .schemas import CheckWarning, ReferenceCheckPublic, VoicePublic, VoiceUpdate

if TYPE_CHECKING:
    from ..context import AppContext

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
        transcript_source=voice.transcript_source,
        transcription=voice.transcription,
        language=voice.language,
        detected_language=voice.detected_language,
        check=_check_public(voice),
        source=voice.source,
        description=voice.description,
        original_filename=voice.original_filename,
        pronunciation_dictionary_id=voice.pronunciation_dictionary_id,
    )


def _check_public(voice: Voice) -> ReferenceCheckPublic | None:
    check = voice.reference_check
    if check is None:
        return None
    warnings = reference_check.advice(check, transcript=voice.reference_transcript,
                                      transcript_source=voice.transcript_source, transcription=voice.transcription)
    return ReferenceCheckPublic(
        **{name: check.get(name) for name in ReferenceCheckPublic.model_fields if name not in (
            "trimmed_seconds", "warnings")},
        trimmed_seconds=round(check["original_seconds"] - (check["end_seconds"] - check["start_seconds"]), 2),
        warnings=[CheckWarning(**w) for w in warnings],
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


def trim_reference(decoded: audio.DecodedAudio, settings: Settings) -> tuple[np.ndarray, reference_check.Measurements]:
    """Measure the clip, refuse it if nobody speaks, and cut the silence off its ends.

    The 10-second minimum applies to what is kept: a 12 s upload with 4 s of silence
    around the speech is too short to clone from.
    """
    try:
        measured = reference_check.measure(decoded.samples, decoded.sample_rate)
    except audio.AudioError as exc:
        raise UtterError(422, exc.code, exc.message, field="audio") from exc
    samples = reference_check.trim(decoded.samples, decoded.sample_rate, measured)
    seconds = len(samples) / decoded.sample_rate
    if seconds < settings.min_reference_seconds:
        raise UtterError(422, "audio_too_short",
                         f"After trimming the silence at its start and end, the recording is {seconds:.1f} s long; "
                         f"a voice needs at least {settings.min_reference_seconds:.0f} s of speech.", field="audio")
    return samples, measured


def measure_or_none(decoded: audio.DecodedAudio) -> dict | None:
    """A clip's check as stored on a voice (not yet heard by the recogniser); None when no speech is heard."""
    try:
        return _unheard(reference_check.measure(decoded.samples, decoded.sample_rate))
    except audio.AudioError:
        return None


def _unheard(measured: reference_check.Measurements) -> dict:
    return measured.to_json() | {"asr_model": None, "heard_text": None, "transcribe_seconds": None,
                                 "transcript_match": None}


def create_voice(session: Session, ctx: AppContext, *, name: str, upload: Path, filename: str | None,
                 transcript: str | None, language: str | None, source: VoiceSource = VoiceSource.UPLOADED,
                 description: str | None = None) -> Voice:
    """Validate, check, trim and store a reference clip, record the voice, then transcribe it.

    A typed transcript wins over the automatic one; the recogniser still runs, to say how
    well the typed words match the clip; `settled` waits for the transcript (see
    voices.transcription).
    The file is stored before the row is committed; if anything after that fails the file
    is removed again, so a failed clone leaves neither file nor row.
    """
    settings, storage, transcriptions = ctx.settings, ctx.storage, ctx.transcriptions
    if transcriptions is not None and not transcriptions.has_room():
        raise UtterError(503, "queue_full", "Many recordings are waiting to be transcribed. Try again in a minute.",
                         headers={"Retry-After": "30"})
    name = clean_name(name)
    transcript = clean_transcript(transcript)
    language = clean_language(language)
    decoded = check_reference(upload, settings)
    samples, measured = trim_reference(decoded, settings)
    check = _unheard(measured)

    voice = Voice(
        id=uuid.uuid4(), name=name, reference_seconds=len(samples) / decoded.sample_rate,
        reference_transcript=transcript, transcript_source=TranscriptSource.TYPED if transcript else None,
        transcription=TranscriptionStatus.TRANSCRIBING if transcriptions else None, language=language,
        reference_check=check, source=source, description=description,
        original_filename=(Path(filename).name[:255] if filename else None), original_format=decoded.format,
    )
    voice.reference_key = reference_key(str(voice.id))
    with scratch.folder("ref") as tmp:
        normalised = Path(tmp) / "reference.wav"
        audio.write_wav(normalised, samples, decoded.sample_rate)
        storage.put_file(voice.reference_key, normalised, "audio/wav")
    try:
        session.add(voice)
        session.commit()
    except BaseException:
        session.rollback()
        storage.delete(voice.reference_key)
        raise
    log.info("voice.created id=%s seconds=%.1f format=%s", voice.id, voice.reference_seconds, decoded.format)
    if transcriptions is not None:
        transcriptions.submit(voice.id, language)
    return voice


async def settled(ctx: AppContext, voice_id: uuid.UUID) -> Voice:
    """The voice once its transcript is in, or after `asr_wait_seconds` with it still "transcribing".

    Waits on the event loop: a clone of a long clip holds no request thread while Whisper works.
    """
    if ctx.transcriptions is not None:
        await ctx.transcriptions.settled(voice_id, ctx.settings.asr_wait_seconds)

    def reload() -> Voice:
        with ctx.sessions() as session:
            voice = get_voice(session, voice_id)
            session.expunge(voice)
            return voice

    return await run_in_threadpool(reload)


def apply_heard(voice: Voice, heard: Transcript | None, storage: Storage) -> None:
    """Record what the recogniser heard (None: it failed). A typed transcript is kept, and compared."""
    voice.updated_at = utcnow()  # also the voice list's cache key
    if heard is None:
        voice.transcription = TranscriptionStatus.FAILED
        return
    heard_text = " ".join(heard.text.split())
    # A new dict, so the JSON column sees the change.
    voice.reference_check = {**(voice.reference_check or {}), "asr_model": heard.model, "heard_text": heard_text,
                             "transcribe_seconds": round(heard.seconds, 2)}
    voice.transcription = TranscriptionStatus.DONE
    if voice.language == "auto":
        voice.detected_language = heard.language
    if voice.reference_transcript is None and heard_text:
        voice.reference_transcript = heard_text
        voice.transcript_source = TranscriptSource.AUTOMATIC
        # A generation may have run without a transcript meanwhile: its cached prompt is stale.
        voice.revision += 1
        _drop_prompts(storage, voice.id)
    _rematch(voice)
    log.info("voice.transcribed id=%s source=%s seconds=%.2f", voice.id, voice.transcript_source, heard.seconds)


def find_by_name(session: Session, name: str) -> Voice | None:
    """The newest voice of that name (case-insensitive)."""
    return session.scalars(select(Voice).where(func.lower(Voice.name) == name.lower())
                           .order_by(Voice.created_at.desc()).limit(1)).first()


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


def update_voice(session: Session, ctx: AppContext, voice_id: uuid.UUID, change: VoiceUpdate) -> Voice:
    storage = ctx.storage
    voice = get_voice(session, voice_id)
    fields = change.model_fields_set
    if "name" in fields:
        voice.name = clean_name(change.name)
    if "language" in fields:
        voice.language = clean_language(change.language)
    if "pronunciation_dictionary_id" in fields:
        voice.pronunciation_dictionary_id = _dictionary(session, change.pronunciation_dictionary_id)
    if "transcript" in fields:
        transcript = clean_transcript(change.transcript)
        if transcript != voice.reference_transcript:
            voice.reference_transcript = transcript
            voice.transcript_source = TranscriptSource.TYPED if transcript else None
            _rematch(voice)
            # The cached clone prompt was built from the old transcript.
            voice.revision += 1
            _drop_prompts(storage, voice.id)
        elif transcript and voice.transcript_source == TranscriptSource.AUTOMATIC:
            # Saved unchanged: the person has confirmed what the recogniser heard.
            voice.transcript_source = TranscriptSource.TYPED
            _rematch(voice)
    voice.updated_at = utcnow()
    session.commit()
    return voice


def _dictionary(session: Session, dictionary_id: str | None) -> uuid.UUID | None:
    """The pronunciation dictionary a voice is to use by default (it must exist), or None for none."""
    if not dictionary_id:
        return None
    parsed = parse_id(dictionary_id, "pronunciation dictionary", "invalid_pronunciation_dictionary_id",
                      field="pronunciation_dictionary_id")
    if dictionaries.get(session, parsed) is None:
        raise UtterError(404, "pronunciation_dictionary_not_found",
                         f"No pronunciation dictionary {dictionary_id!r} exists (it may have been deleted).",
                         field="pronunciation_dictionary_id")
    return parsed


def detach_dictionary(session: Session, dictionary_id: uuid.UUID) -> None:
    """Voices that used a dictionary about to be deleted use none from now on (and say so in cached lists)."""
    for voice in session.scalars(select(Voice).where(Voice.pronunciation_dictionary_id == dictionary_id)):
        voice.pronunciation_dictionary_id = None
        voice.updated_at = utcnow()


def _rematch(voice: Voice) -> None:
    """Compare a typed transcript with what the recogniser heard."""
    check = voice.reference_check
    if check is None:
        return
    heard = check.get("heard_text")
    match = None
    if voice.reference_transcript and voice.transcript_source == TranscriptSource.TYPED and check.get("asr_model"):
        match = reference_check.transcript_match(voice.reference_transcript, heard or "")
    # A new dict, so the JSON column sees the change.
    voice.reference_check = {**check, "transcript_match": match}


def delete_voice(session: Session, ctx: AppContext, voice_id: uuid.UUID) -> None:
    """Delete a voice and its files. Generations already made keep their audio in the history."""
    voice = get_voice(session, voice_id)
    key = voice.reference_key
    # Waiting generations can no longer run: fail them now with a reason rather than let them vanish.
    generations.fail_queued_for_voice(session, voice.id, "voice_deleted",
                                      "The voice was deleted before this generation could run.")
    session.delete(voice)
    session.commit()
    ctx.storage.delete(key)
    _drop_prompts(ctx.storage, voice.id)
    log.info("voice.deleted id=%s", voice_id)


def _drop_prompts(storage: Storage, voice_id: uuid.UUID) -> None:
    for key in storage.list_keys(prompt_prefix(str(voice_id))):
        storage.delete(key)
