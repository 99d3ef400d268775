"""Transcribing reference clips, in the clone request when it is quick and after it when not (issue 8).

Whisper tiny.en takes about 0.1–0.2 s per second of audio on two cores: a 20 s clip is
transcribed while the clone request waits, but a 5-minute one takes most of a minute,
longer than many proxies wait for an answer. So the clone waits up to
`asr_wait_seconds` (20 s by default) and otherwise answers with the voice in
"transcribing"; the transcript lands on the voice when done. One thread per process
transcribes, one clip at a time (two cores gain nothing from two at once), and a process
that starts picks up voices a stopped one left "transcribing".
"""

from __future__ import annotations

import logging
import uuid
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from ..database import session_scope
from ..models import TranscriptionStatus, Voice
from ..audio import codec as audio
from ..adapters.storage import Storage
from ..adapters.asr import Transcriber, Transcript
from .service import apply_heard

log = logging.getLogger("utter.transcribe")


class Transcriptions:
    def __init__(self, transcriber: Transcriber, sessions: sessionmaker[Session], storage: Storage):
        self.transcriber = transcriber
        self.sessions = sessions
        self.storage = storage
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="utter-transcribe")

    def submit(self, voice_id: uuid.UUID, samples: np.ndarray, sample_rate: int, language: str) -> Future:
        return self._pool.submit(self._run, voice_id, samples, sample_rate, language)

    def resume(self) -> int:
        """Queue every voice left "transcribing" (by a process that stopped); returns how many."""
        with session_scope(self.sessions) as session:
            pending = session.execute(
                select(Voice.id, Voice.language).where(Voice.transcription == TranscriptionStatus.TRANSCRIBING)
            ).all()
        for voice_id, language in pending:
            self._pool.submit(self._resume_one, voice_id, language)
        if pending:
            log.info("transcribe.resumed voices=%d", len(pending))
        return len(pending)

    def shutdown(self) -> None:
        # Queued work is dropped; the voices stay "transcribing" and the next start resumes them.
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _resume_one(self, voice_id: uuid.UUID, language: str) -> None:
        with session_scope(self.sessions) as session:
            voice = session.get(Voice, voice_id)
            key = voice.reference_key if voice else None
        if key is None:
            return
        try:
            decoded = audio.decode(self.storage.get_bytes(key))
        except Exception:  # noqa: BLE001 - a lost reference must not stop the others
            log.exception("transcribe.reference_unreadable voice=%s", voice_id)
            self._store(voice_id, None)
            return
        self._run(voice_id, decoded.samples, decoded.sample_rate, language)

    def _run(self, voice_id: uuid.UUID, samples: np.ndarray, sample_rate: int, language: str) -> None:
        try:
            heard = self.transcriber.transcribe(samples, sample_rate, language=language)
        except Exception:  # noqa: BLE001 - a missing transcript is a warning, not a broken voice
            log.exception("transcribe.failed voice=%s model=%s", voice_id, getattr(self.transcriber, "name", "?"))
            heard = None
        self._store(voice_id, heard)

    def _store(self, voice_id: uuid.UUID, heard: Transcript | None) -> None:
        with session_scope(self.sessions) as session:
            # Locked, so a transcript typed in the meantime is not overwritten (PostgreSQL; SQLite writes serially).
            voice = session.get(Voice, voice_id, with_for_update=True)
            if voice is None:  # deleted while it was being transcribed
                return
            apply_heard(voice, heard, self.storage)
