"""Everything a running Utter process holds, built once from Settings by bootstrap (no import-time globals)."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from .access.keys import AccessKeys
from .adapters.storage import Storage
from .adapters.tts.base import SpeechEngine
from .config import Settings
from .voices.listing import VoiceListCache
from .voices.transcription import Transcriptions

if TYPE_CHECKING:
    from .adapters.asr import Transcriber
    from .cloning_setup import CloningSetup


class ProgressSignal:
    """Wakes whoever in this process waits for a generation to move on: listeners on the event loop
    (each waits on an asyncio.Event of its own, so no thread is held while it waits)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiters: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = set()

    def notify(self) -> None:
        with self._lock:
            waiters = list(self._waiters)
        for loop, event in waiters:
            try:
                loop.call_soon_threadsafe(event.set)
            except RuntimeError:  # that loop has closed
                pass

    async def wait(self, timeout: float) -> None:
        """Until the next notify, or `timeout` seconds."""
        waiter = (asyncio.get_running_loop(), asyncio.Event())
        with self._lock:
            self._waiters.add(waiter)
        try:
            await asyncio.wait_for(waiter[1].wait(), timeout)
        except TimeoutError:
            pass
        finally:
            with self._lock:
                self._waiters.discard(waiter)


@dataclass
class AppContext:
    settings: Settings
    db: Engine
    sessions: sessionmaker[Session]
    storage: Storage
    engine: SpeechEngine
    access: AccessKeys
    transcriptions: Transcriptions | None = None  # None: no speech recognition (off or not installed)
    # The speech recogniser generations are heard back with (generations/heard_back.py), and the
    # multilingual one for other languages when its model is on disk (`utter download-models asr`).
    recogniser: Transcriber | None = None
    multilingual_recogniser: Transcriber | None = None
    # Switching voice cloning on while serving (None in a process that serves no pages: `utter worker`).
    # `engine` above is replaced when it finishes.
    cloning: CloningSetup | None = None
    # Set when a task is submitted so idle worker threads wake at once instead of at their next poll.
    wake: threading.Event = field(default_factory=threading.Event)
    voice_list: VoiceListCache = field(default_factory=VoiceListCache)
    # Notified when a generation in this process stores a segment or finishes, so a listener on
    # /stream hears it at once; listeners still poll the database for work done by other processes.
    progress: ProgressSignal = field(default_factory=ProgressSignal)

    def notify_progress(self) -> None:
        self.progress.notify()
