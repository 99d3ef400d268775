"""Transcribing reference clips, in the clone request when it is quick and after it when not (issue 8).

Whisper tiny.en takes about 0.1–0.2 s per second of audio on two cores: a 20 s clip is
transcribed while the clone request waits, but a 5-minute one takes most of a minute,
longer than many proxies wait for an answer. So the clone waits up to
`asr_wait_seconds` (20 s by default; on the event loop, holding no thread) and otherwise
answers with the voice in "transcribing"; the transcript lands on the voice when done.
One thread per process transcribes, one clip at a time (two cores gain nothing from two
at once), reading the stored reference when its turn comes, so clips waiting their turn
hold no audio in memory; at most WAITING_LIMIT wait, and a clone beyond that is refused
with queue_full. A process that starts picks up voices a stopped one left "transcribing".
"""

from __future__ import annotations

import asyncio
import logging
import threading
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


# Clips waiting for their transcript, beyond which a clone is refused (about ten minutes of work here).
WAITING_LIMIT = 16


class Transcriptions:
    def __init__(self, transcriber: Transcriber, sessions: sessionmaker[Session], storage: Storage):
        self.transcriber = transcriber
        self.sessions = sessions
        self.storage = storage
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="utter-transcribe")
        self._lock = threading.Lock()
        self._pending: dict[uuid.UUID, Future] = {}

    @property
    def waiting(self) -> int:
        """Clips queued or being transcribed."""
        with self._lock:
            return len(self._pending)

    def has_room(self) -> bool:
        return self.waiting < WAITING_LIMIT

    def submit(self, voice_id: uuid.UUID, language: str) -> Future:
        """Transcribe the voice's stored reference when its turn comes."""
        with self._lock:
            future = self._pending.get(voice_id)
            if future is None:
                future = self._pending[voice_id] = self._pool.submit(self._transcribe, voice_id, language)
                future.add_done_callback(lambda _: self._forget(voice_id))
            return future

    def _forget(self, voice_id: uuid.UUID) -> None:
        with self._lock:
            self._pending.pop(voice_id, None)

    async def settled(self, voice_id: uuid.UUID, timeout: float) -> bool:
        """Wait on the event loop (no thread held) up to `timeout` s for the voice's transcript; True when in."""
        with self._lock:
            future = self._pending.get(voice_id)
        if future is None:
            return True
        try:
            await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(future)), timeout)
        except TimeoutError:
            log.info("voice.transcribing_in_background id=%s", voice_id)
            return False
        except Exception:  # noqa: BLE001 - the voice is saved; the next start retries its transcription
            log.exception("voice.transcript_not_saved id=%s", voice_id)
        return True

    def resume(self) -> int:
        """Queue every voice left "transcribing" (by a process that stopped); returns how many."""
        with session_scope(self.sessions) as session:
            pending = session.execute(
                select(Voice.id, Voice.language).where(Voice.transcription == TranscriptionStatus.TRANSCRIBING)
            ).all()
        for voice_id, language in pending:
            self.submit(voice_id, language)
        if pending:
            log.info("transcribe.resumed voices=%d", len(pending))
        return len(pending)

    def shutdown(self) -> None:
        # Queued work is dropped; the voices stay "transcribing" and the next start resumes them.
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _transcribe(self, voice_id: uuid.UUID, language: str) -> None:
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
