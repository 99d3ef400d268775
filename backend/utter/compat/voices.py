"""Voices made through the compatible APIs: uploads to disk, consent recordings, several samples as one clip.

Cloning itself is Utter's voices.service.create_voice, so these voices get the same
checks, transcripts and storage as voices cloned on the pages.
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from fastapi import UploadFile
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..context import AppContext
from ..errors import UtterError
from ..models import Voice, VoiceConsent
from ..services import audio
from ..voices import service as voices

# A quarter second of silence between samples, so one sample's last word does not run into the next.
SAMPLE_GAP_SECONDS = 0.25


@contextmanager
def saved_upload(upload: UploadFile) -> Iterator[Path]:
    """The uploaded file on disk, for as long as the block runs."""
    with tempfile.TemporaryDirectory(prefix="utter-compat-") as tmp:
        path = Path(tmp) / "upload"
        with open(path, "wb") as out:
            shutil.copyfileobj(upload.file, out, 1024 * 1024)
        yield path


def _decode(path: Path, ctx: AppContext, what: str, field: str) -> audio.DecodedAudio:
    if path.stat().st_size == 0:
        raise UtterError(422, "audio_missing", f"{what} is empty.", field=field)
    try:
        return audio.decode(path, max_seconds=ctx.settings.max_reference_seconds)
    except audio.AudioError as exc:
        raise UtterError(422, exc.code, f"{what}: {exc.message}", field=field) from exc


def create_consent(session: Session, ctx: AppContext, *, name: str, language: str,
                   recording: UploadFile) -> VoiceConsent:
    """Keep the consent recording (decoded, so it is known to be audio) as a mono WAV in storage."""
    name = " ".join((name or "").split())[:100]
    if not name:
        raise UtterError(422, "name_missing", "Give the consent recording a name.", field="name")
    consent = VoiceConsent(id=uuid.uuid4(), name=name, language=(language or "").strip()[:35] or "und",
                           recording_key="", recording_seconds=0.0)
    consent.recording_key = f"consents/{consent.id}.wav"
    with saved_upload(recording) as path:
        decoded = _decode(path, ctx, "The consent recording", "recording")
        with tempfile.TemporaryDirectory(prefix="utter-consent-") as tmp:
            wav = Path(tmp) / "consent.wav"
            audio.write_wav(wav, decoded.samples, decoded.sample_rate)
            ctx.storage.put_file(consent.recording_key, wav, "audio/wav")
    consent.recording_seconds = decoded.duration
    try:
        session.add(consent)
        session.commit()
    except BaseException:
        session.rollback()
        ctx.storage.delete(consent.recording_key)
        raise
    return consent


def get_consent(session: Session, consent_id: str) -> VoiceConsent:
    try:
        consent = session.get(VoiceConsent, uuid.UUID(str(consent_id)))
    except ValueError:
        consent = None
    if consent is None:
        raise UtterError(404, "consent_not_found", f"No voice consent {consent_id!r} exists.", field="consent")
    return consent


def delete_consent(session: Session, ctx: AppContext, consent_id: str) -> VoiceConsent:
    """Refused while a voice it authorises exists: the consent is kept with the voice."""
    consent = get_consent(session, consent_id)
    user = session.scalars(select(Voice).where(Voice.consent_id == consent.id).limit(1)).first()
    if user is not None:
        raise UtterError(422, "consent_in_use",
                         f"This consent authorises the voice {user.name!r} ({user.id}); delete the voice first.")
    session.delete(consent)
    session.commit()
    ctx.storage.delete(consent.recording_key)
    return consent


def clone_from_samples(session: Session, ctx: AppContext, *, name: str, samples: list[UploadFile],
                       description: str | None = None, language: str | None = None,
                       consent: VoiceConsent | None = None) -> Voice:
    """One voice from one or several samples: several are decoded and joined into one reference clip."""
    samples = [s for s in samples if s is not None and (s.filename or s.size)]
    if not samples:
        raise UtterError(422, "audio_missing", "Send at least one audio sample of the voice.", field="files")
    with tempfile.TemporaryDirectory(prefix="utter-samples-") as tmp:
        if len(samples) == 1:
            with saved_upload(samples[0]) as path:
                voice = _create(session, ctx, name, path, samples[0].filename, description, language)
        else:
            joined = Path(tmp) / "samples.wav"
            pieces: list[np.ndarray] = []
            gap = np.zeros(int(SAMPLE_GAP_SECONDS * audio.REFERENCE_SAMPLE_RATE), np.float32)
            for index, sample in enumerate(samples):
                with saved_upload(sample) as path:
                    decoded = _decode(path, ctx, f"Sample {index + 1} ({sample.filename or 'unnamed'})", "files")
                pieces += [decoded.samples, gap] if index < len(samples) - 1 else [decoded.samples]
            audio.write_wav(joined, np.concatenate(pieces), audio.REFERENCE_SAMPLE_RATE)
            filename = ", ".join(s.filename or "sample" for s in samples)
            voice = _create(session, ctx, name, joined, filename, description, language)
    if consent is not None:
        voice.consent_id = consent.id
        session.commit()
    return voice


def _create(session: Session, ctx: AppContext, name: str, path: Path, filename: str | None,
            description: str | None, language: str | None) -> Voice:
    return voices.create_voice(session, ctx.storage, ctx.settings, name=name, upload=path, filename=filename,
                               transcript=None, language=language, description=description,
                               transcriptions=ctx.transcriptions)
