"""Consent recordings: a speaker agreeing to be cloned, kept with the voices made under it (OpenAI's custom voices)."""

from __future__ import annotations

import uuid
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from .. import scratch
from ..audio import codec
from ..context import AppContext
from ..errors import UtterError
from ..models import Voice, VoiceConsent
from ..validation import printable
from .uploads import decode_upload, saved_upload

MAX_NAME_CHARS = 100


def clean_consent_name(name: str | None) -> str:
    cleaned = printable(name, "name")[:MAX_NAME_CHARS]
    if not cleaned:
        raise UtterError(422, "name_missing", "Give the consent recording a name.", field="name")
    return cleaned


def create_consent(session: Session, ctx: AppContext, *, name: str, language: str, recording) -> VoiceConsent:
    """Keep the consent recording (an UploadFile; decoded, so it is known to be audio) as a mono WAV in storage."""
    name = clean_consent_name(name)
    consent = VoiceConsent(id=uuid.uuid4(), name=name, language=(language or "").strip()[:35] or "und",
                           recording_key="", recording_seconds=0.0)
    consent.recording_key = f"consents/{consent.id}.wav"
    with saved_upload(recording) as path:
        decoded = decode_upload(path, ctx, "The consent recording", "recording")
        with scratch.folder("consent") as tmp:
            wav = Path(tmp) / "consent.wav"
            codec.write_wav(wav, decoded.samples, decoded.sample_rate)
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


def list_consents(session: Session, *, limit: int, after: str | None = None) -> list[VoiceConsent]:
    """Consent recordings, newest first; `after` (a consent id) continues a cursor page."""
    query = select(VoiceConsent).order_by(VoiceConsent.created_at.desc(), VoiceConsent.id)
    if after:
        cursor = get_consent(session, after)
        query = query.where((VoiceConsent.created_at < cursor.created_at)
                            | ((VoiceConsent.created_at == cursor.created_at) & (VoiceConsent.id > cursor.id)))
    return list(session.scalars(query.limit(limit)))


def rename_consent(session: Session, consent_id: str, name: str) -> VoiceConsent:
    consent = get_consent(session, consent_id)
    consent.name = clean_consent_name(name)
    session.commit()
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
