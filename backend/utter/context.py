"""Everything a running Utter process holds, built once from Settings by bootstrap (no import-time globals)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from .adapters.storage import Storage
from .adapters.tts.base import SpeechEngine
from .config import Settings
from .voices.listing import VoiceListCache
from .voices.transcription import Transcriptions


@dataclass
class AppContext:
    settings: Settings
    db: Engine
    sessions: sessionmaker[Session]
    storage: Storage
    engine: SpeechEngine
    transcriptions: Transcriptions | None = None  # None: no speech recognition (off or not installed)
    # Set when a task is submitted so idle worker threads wake at once instead of at their next poll.
    wake: threading.Event = field(default_factory=threading.Event)
    voice_list: VoiceListCache = field(default_factory=VoiceListCache)
    # Notified when a generation in this process stores a chunk or finishes, so a listener on
    # /stream hears it at once; listeners still poll the database for work done by other processes.
    progress: threading.Condition = field(default_factory=threading.Condition)

    def notify_progress(self) -> None:
        with self.progress:
            self.progress.notify_all()
