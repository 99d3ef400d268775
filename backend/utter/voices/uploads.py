"""Uploaded recordings on their way to becoming voices: on disk, decoded, several samples joined into one clip."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from fastapi import UploadFile
from sqlalchemy.orm import Session

from .. import scratch
from ..audio import codec
from ..context import AppContext
from ..errors import UtterError
from ..models import Voice, VoiceConsent, VoiceSource
from . import service

# A quarter second of silence between samples, so one sample's last word does not run into the next.
SAMPLE_GAP_SECONDS = 0.25
# Samples one voice is made from: ElevenLabs takes up to 25.
MAX_SAMPLE_FILES = 25


@contextmanager
def saved_upload(upload: UploadFile) -> Iterator[Path]:
    """The uploaded file on disk, for as long as the block runs."""
    with scratch.folder("upload") as tmp:
        path = Path(tmp) / "upload"
        with open(path, "wb") as out:
            shutil.copyfileobj(upload.file, out, 1024 * 1024)
        yield path


def decode_upload(path: Path, ctx: AppContext, what: str, field: str,
                  max_seconds: float | None = None) -> codec.DecodedAudio:
    """The upload decoded, no more than `max_seconds` of it (by default the longest reference)."""
    if path.stat().st_size == 0:
        raise UtterError(422, "audio_missing", f"{what} is empty.", field=field)
    try:
        return codec.decode(path, max_seconds=ctx.settings.max_reference_seconds if max_seconds is None else max_seconds)
    except codec.AudioError as exc:
        raise UtterError(422, exc.code, f"{what}: {exc.message}", field=field) from exc


def clone_upload(session: Session, ctx: AppContext, upload: UploadFile, *, name: str | None,
                 transcript: str | None = None, language: str | None = None,
                 source: VoiceSource = VoiceSource.UPLOADED, description: str | None = None) -> Voice:
    with saved_upload(upload) as path:
        return service.create_voice(session, ctx, name=name, upload=path, filename=upload.filename,
                                    transcript=transcript, language=language, source=source, description=description)


def clone_from_samples(session: Session, ctx: AppContext, *, name: str, samples: list[UploadFile],
                       description: str | None = None, language: str | None = None,
                       consent: VoiceConsent | None = None) -> Voice:
    """One voice from one or several samples: several are decoded and joined into one reference clip."""
    samples = [s for s in samples if s is not None and (s.filename or s.size)]
    if not samples:
        raise UtterError(422, "audio_missing", "Send at least one audio sample of the voice.", field="files")
    if len(samples) > MAX_SAMPLE_FILES:
        raise UtterError(422, "too_many_files", f"{len(samples)} samples were sent; a voice is made from at most "
                                                f"{MAX_SAMPLE_FILES}.", field="files")
    if len(samples) == 1:
        voice = clone_upload(session, ctx, samples[0], name=name, language=language, description=description)
    else:
        with scratch.folder("samples") as tmp:
            joined = Path(tmp) / "samples.wav"
            pieces: list[np.ndarray] = []
            gap = np.zeros(int(SAMPLE_GAP_SECONDS * codec.REFERENCE_SAMPLE_RATE), np.float32)
            limit, total = ctx.settings.max_reference_seconds, 0.0
            too_long = UtterError(422, "audio_too_long", f"The samples together are longer than the "
                                                         f"{limit / 60:.0f}-minute limit; send fewer or shorter ones.",
                                  field="files")
            for index, sample in enumerate(samples):
                if total >= limit:
                    raise too_long
                with saved_upload(sample) as path:
                    # Decoded only as far as the limit still allows: the samples together make one clip.
                    decoded = decode_upload(path, ctx, f"Sample {index + 1} ({sample.filename or 'unnamed'})",
                                            "files", max_seconds=limit - total)
                total += decoded.duration
                if total > limit:
                    raise too_long
                total += SAMPLE_GAP_SECONDS
                pieces += [decoded.samples, gap] if index < len(samples) - 1 else [decoded.samples]
            codec.write_wav(joined, np.concatenate(pieces), codec.REFERENCE_SAMPLE_RATE)
            filename = ", ".join(s.filename or "sample" for s in samples)
            voice = service.create_voice(session, ctx, name=name, upload=joined, filename=filename, transcript=None,
                                         language=language, description=description)
    if consent is not None:
        voice.consent_id = consent.id
        session.commit()
    return voice
