"""The runner's side of design: rendering a preview, and expiring the ones nobody saved.

`register(runner)` adds both to a generations runner; generations knows nothing of design.
"""

from __future__ import annotations

import logging
from contextlib import closing
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
from sqlalchemy.orm import Session

from ..adapters.storage import preview_key
from ..adapters.tts.base import DesignJob
from ..audio import codec
from ..context import AppContext
from ..generations import repository
from ..generations.runner import Outcome, Runner
from ..generations.task import Task
from ..models import GenerationKind, utcnow
from .service import preview_keys

log = logging.getLogger("utter.design")

# Old previews are looked for at most this often per process.
EXPIRY_SECONDS = 300.0


def register(runner: Runner) -> None:
    runner.handle(GenerationKind.DESIGN, render)
    runner.every(EXPIRY_SECONDS, "design.expire_previews", lambda: _expire(runner.ctx))


def render(task: Task, workdir: Path) -> Outcome:
    """A preview: the MP3 to listen to, and a normalised WAV stored for saving it as a voice."""
    ctx, generation = task.ctx, task.generation
    job = DesignJob(text=generation.text, language=generation.language, description=generation.description or "")
    parts: list[np.ndarray] = []
    engine = ctx.engine  # read once: a switch of engines meanwhile leaves this preview on this one
    sample_rate = engine.info.capabilities.sample_rate
    with closing(engine.speak_design(job, task)) as pieces:
        for piece in pieces:
            task.check()
            parts.append(piece.samples)
            sample_rate = piece.sample_rate
    samples = np.concatenate(parts)
    wav_path, mp3_path = workdir / "preview.wav", workdir / "preview.mp3"
    codec.write_wav(wav_path, samples, sample_rate)
    if sample_rate != codec.REFERENCE_SAMPLE_RATE:
        codec.write_wav(wav_path, codec.decode(wav_path).samples, codec.REFERENCE_SAMPLE_RATE)
    ctx.storage.put_file(preview_key(str(generation.id)), wav_path, "audio/wav")
    with codec.Mp3Writer(mp3_path, sample_rate) as writer:
        writer.write(samples)
    return Outcome(mp3_path, writer.samples_in / sample_rate, engine=engine.info.name)


def _expire(ctx: AppContext) -> int:
    with ctx.sessions() as session:
        return expire(session, ctx)


def expire(session: Session, ctx: AppContext, *, now: datetime | None = None, batch: int = 200) -> int:
    """Delete unsaved previews (rows and files) of designs that finished over settings.preview_ttl_hours ago.

    Safe to run in several processes at once: each DELETE checks the conditions again, and
    a file deleted twice is no error. Returns how many rows went.
    """
    cutoff = (now or utcnow()) - timedelta(hours=ctx.settings.preview_ttl_hours)
    removed = 0
    while True:
        gone = repository.expire_previews(session, cutoff, batch)
        for preview_id, output_key in gone:
            for key in preview_keys(preview_id, output_key):
                ctx.storage.delete(key)
        removed += len(gone)
        if len(gone) < batch:
            break
    if removed:
        log.info("design.previews_expired count=%d ttl_hours=%s", removed, ctx.settings.preview_ttl_hours)
    return removed
