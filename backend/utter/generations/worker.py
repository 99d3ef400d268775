"""Worker threads that take generations off the queue and run them through the engine.

They run inside each serving process (settings.workers threads) or in a process of
their own (`utter worker`). Audio is encoded to MP3 as the engine produces it and
stored only when complete; a result that arrives after its task was cancelled or
taken over is deleted again, so no file is ever orphaned.
"""

from __future__ import annotations

import logging
import tempfile
import threading
import time
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager, suppress
from pathlib import Path

import numpy as np
from sqlalchemy import func, select

from ..context import AppContext
from ..design import service as design_service
from ..heap import freeze_long_lived
from ..models import Generation, GenerationKind, GenerationStatus, Voice
from ..services import audio
from ..services.storage import ObjectMissing, StorageError, generated_key, segment_prefix
from ..services.storage.base import STREAMS_PREFIX, preview_key
from ..services.text import chunk_text
from ..services.tts.base import REFERENCE_NEEDED, DesignJob, EngineError, RemoteEngine, SpeechJob, VoiceReference
from .chunked_output import ChunkedOutput
from .prompt_cache import StoragePromptCache
from . import queue

log = logging.getLogger("utter.worker")

REAP_INTERVAL_SECONDS = 5.0
# Leftover stream segments are rare (a process died at one exact moment): look for them seldom.
SEGMENT_SWEEP_SECONDS = 600.0
IDLE_POLL_SECONDS = 1.0
REMOTE_POLL_SECONDS = 1.0  # longest wait on a remote call before the lease is checked again
# How soon a running task notices it was cancelled or deleted.
VERIFY_SECONDS = 1.0


class TaskLost(Exception):
    """The task stopped being ours while we worked on it (cancelled, deleted or taken over)."""


class WorkerPool:
    def __init__(self, ctx: AppContext, threads: int):
        self.ctx = ctx
        self.threads = threads
        self.worker_id = queue.new_worker_id()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._last_reap = 0.0
        self._last_sweep: float | None = None  # None: sweep at the first reap after start-up
        self._reap_lock = threading.Lock()

    def start(self) -> None:
        with self.ctx.sessions() as session:
            released = queue.release_orphans(session)
        if released:
            log.info("queue.orphans_released count=%d", released)
        for index in range(self.threads):
            thread = threading.Thread(target=self._loop, name=f"utter-worker-{index}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        """Let tasks in hand finish for up to `stop_grace_seconds` in all; hand back the rest to the queue."""
        self._stop.set()
        self.ctx.wake.set()
        deadline = time.monotonic() + self.ctx.settings.stop_grace_seconds
        for thread in self._threads:
            thread.join(max(deadline - time.monotonic(), 0))
        if any(thread.is_alive() for thread in self._threads):
            # Left running, a task would wait out its whole lease: a redeployed container has a new
            # host name, so its successor cannot tell that this process is gone.
            with self.ctx.sessions() as session:
                handed = queue.hand_back(session, self.worker_id)
            log.info("queue.handed_back count=%d", handed)

    def _loop(self) -> None:
        try:
            self.ctx.engine.load()
            freeze_long_lived()  # the model's objects live as long as the process
        except EngineError as exc:
            log.error("engine.load_failed code=%s message=%s", exc.code, exc.message)
        while not self._stop.is_set():
            try:
                self._reap_if_due()
                with self.ctx.sessions() as session:
                    generation_id = queue.claim(session, self.worker_id, self.ctx.settings.task_lease_seconds,
                                                self.ctx.settings.task_max_attempts)
                if generation_id is None:
                    self.ctx.wake.wait(IDLE_POLL_SECONDS)
                    self.ctx.wake.clear()
                    continue
                run_generation(self.ctx, generation_id, self.worker_id)
            except Exception:  # a worker thread must survive a bad task or a database blip
                log.exception("worker.loop_error")
                self._stop.wait(IDLE_POLL_SECONDS)

    def _reap_if_due(self) -> None:
        now = time.monotonic()
        with self._reap_lock:
            if now - self._last_reap < REAP_INTERVAL_SECONDS:
                return
            self._last_reap = now
            sweep = self._last_sweep is None or now - self._last_sweep >= SEGMENT_SWEEP_SECONDS
            if sweep:
                self._last_sweep = now
        with self.ctx.sessions() as session:
            queue.release_orphans(session)
            for generation_id in queue.fail_exhausted(session, self.ctx.settings.task_max_attempts):
                log.warning("generation.failed id=%s code=worker_lost", generation_id)
        design_service.expire_previews_if_due(self.ctx)  # old unsaved previews; at most every few minutes
        if sweep:
            swept = sweep_leftover_segments(self.ctx)
            if swept:
                log.info("streams.swept generations=%d", swept)


class _Lease:
    """Renews a task's lease in the background while a long engine call runs."""

    def __init__(self, ctx: AppContext, generation_id: uuid.UUID, worker_id: str):
        self.ctx, self.generation_id, self.worker_id = ctx, generation_id, worker_id
        self.lost = threading.Event()
        self._last_verified = time.monotonic()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="utter-lease")

    def _run(self) -> None:
        interval = max(self.ctx.settings.task_lease_seconds / 3, 0.5)
        while not self._done.wait(interval):
            try:
                with self.ctx.sessions() as session:
                    if not queue.renew(session, self.generation_id, self.worker_id, self.ctx.settings.task_lease_seconds):
                        self.lost.set()
                        return
            except Exception:
                log.exception("lease.renew_failed id=%s", self.generation_id)

    def chunk_done(self, done: int, total: int) -> None:
        with self.ctx.sessions() as session:
            if not queue.set_chunks(session, self.generation_id, self.worker_id, done, total,
                                    self.ctx.settings.task_lease_seconds):
                self.lost.set()
        self.ctx.notify_progress()
        self.check()

    def check(self) -> None:
        """Raise TaskLost if the task stopped being ours; asks the database at most once a second."""
        now = time.monotonic()
        if not self.lost.is_set() and now - self._last_verified >= VERIFY_SECONDS:
            self._last_verified = now
            with self.ctx.sessions() as session:
                if not queue.renew(session, self.generation_id, self.worker_id, self.ctx.settings.task_lease_seconds):
                    self.lost.set()
        if self.lost.is_set():
            raise TaskLost

    def __enter__(self) -> "_Lease":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._done.set()
        self._thread.join(5)


def run_generation(ctx: AppContext, generation_id: uuid.UUID, worker_id: str) -> None:
    started = time.perf_counter()
    with ctx.sessions() as session:
        generation = session.get(Generation, generation_id)
        voice = session.get(Voice, generation.voice_id) if generation and generation.voice_id else None
        session.expunge_all()
    if generation is None:
        return
    engine_name = ctx.engine.info.name

    def fail(code: str, message: str) -> None:
        with ctx.sessions() as session:
            queue.finish(session, generation_id, worker_id, status=GenerationStatus.FAILED, error_code=code,
                         error_message=message, engine=engine_name)
        log.warning("generation.failed id=%s code=%s", generation_id, code)

    designing = generation.kind == GenerationKind.DESIGN
    if voice is None and not designing:
        fail("voice_deleted", "The voice was deleted before this generation could run.")
        return

    key = generated_key(str(generation_id))
    try:
        with tempfile.TemporaryDirectory(prefix="utter-gen-") as tmp, _Lease(ctx, generation_id, worker_id) as lease:
            mp3_path = Path(tmp) / "speech.mp3"
            reference = _reference_for(ctx, voice, Path(tmp)) if voice else None
            if designing:
                duration = _run_design(ctx, generation, mp3_path, lease, worker_id)
            elif isinstance(ctx.engine, RemoteEngine):
                duration = _run_remote(ctx, generation, reference, mp3_path, lease, worker_id)
            else:
                duration = _run_local(ctx, generation, reference, mp3_path, lease)
            lease.check()
            ctx.storage.put_file(key, mp3_path, "audio/mpeg")
        with ctx.sessions() as session:
            done = queue.finish(
                session, generation_id, worker_id, status=GenerationStatus.DONE, output_key=key,
                duration_seconds=duration, progress=1.0, chunks_total=func.coalesce(Generation.chunks_total, 1),
                chunks_done=func.coalesce(Generation.chunks_total, 1), engine=engine_name,
                voice_cloned=None if designing else ctx.engine.info.capabilities.can_clone,
                synthesis_seconds=time.perf_counter() - started,
            )
        if not done:
            raise TaskLost
        ctx.notify_progress()
        _drop_segments(ctx, generation_id)
        log.info("generation.done id=%s seconds=%.2f engine=%s", generation_id, duration, engine_name)
    except TaskLost:
        if _taken_over(ctx, generation_id, worker_id):
            # The new owner's files have the same keys as ours: discarding would delete its work.
            log.info("generation.abandoned id=%s (taken over)", generation_id)
        else:
            _discard(ctx, generation_id, key)
            log.info("generation.abandoned id=%s (cancelled or deleted)", generation_id)
    except EngineError as exc:
        _discard(ctx, generation_id, key)
        fail(exc.code, exc.message)
    except ObjectMissing:
        fail("reference_missing", "The voice's reference recording is missing from storage; clone the voice again.")
    except StorageError as exc:
        # Record the failure first: with the storage down, cleaning up fails too and would leave
        # the task running until its lease ran out, to be retried and then failed as 'worker_lost'.
        fail(exc.code, exc.message)
        with suppress(StorageError):
            _discard(ctx, generation_id, key)
    except Exception as exc:
        log.exception("generation.crashed id=%s", generation_id)
        _discard(ctx, generation_id, key)
        fail("engine_failed", f"Speech generation failed unexpectedly ({type(exc).__name__}). Try again.")


def _reference_for(ctx: AppContext, voice: Voice, tmp: Path) -> VoiceReference | None:
    if not ctx.engine.info.capabilities.can_clone:
        return None
    path = tmp / "reference.wav"
    ctx.storage.download(voice.reference_key, path)
    return VoiceReference(voice_id=str(voice.id), audio_path=path, transcript=voice.reference_transcript,
                          version=f"r{voice.revision}")


FIRST_CHUNK_CHARS = 120


def _run_local(ctx: AppContext, generation: Generation, reference: VoiceReference | None, mp3_path: Path,
               lease: _Lease) -> float:
    """Speak the text chunk by chunk; each chunk is encoded and stored while the next is spoken."""
    engine = ctx.engine
    engine.load()
    caps = engine.info.capabilities
    chunks = chunk_text(generation.text, caps.max_chars_per_call, FIRST_CHUNK_CHARS)
    cache = StoragePromptCache(ctx.storage)
    speed = generation.speed or 1.0
    lease.chunk_done(0, len(chunks))
    # An engine that cannot change its rate speaks at 1; its audio is stretched on the way out.
    with ChunkedOutput(ctx, str(generation.id), mp3_path, caps.sample_rate, chunks=len(chunks),
                       speed=1.0 if caps.controls_speed else speed, chunk_done=lease.chunk_done) as output:
        # Encoding and storing one chunk overlaps speaking the next; at most one waits at a time.
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="utter-encode") as encoder:
            emitted: Future | None = None
            for index, chunk in enumerate(chunks):
                job = SpeechJob(text=chunk, language=generation.language, voice=reference,
                                speed=speed if caps.controls_speed else 1.0)
                pieces: list[np.ndarray] = []
                with _closing(engine.synthesize(job, cache)) as produced:
                    for piece in produced:
                        lease.check()
                        pieces.append(piece)
                if emitted is not None:
                    emitted.result()  # raises what the encoder raised (e.g. TaskLost)
                emitted = encoder.submit(output.add, index, np.concatenate(pieces) if pieces else np.zeros(0, np.float32))
            emitted.result()
    return output.duration


@contextmanager
def _closing(produced):
    """Close an engine's output when done with it; a generator stops early, a plain iterator has nothing to close."""
    try:
        yield produced
    finally:
        close = getattr(produced, "close", None)
        if close is not None:
            close()


def _run_design(ctx: AppContext, generation: Generation, mp3_path: Path, lease: _Lease, worker_id: str) -> float:
    """Render a design preview: the MP3 to listen to, and a normalised WAV stored for saving it as a voice."""
    engine = ctx.engine
    job = DesignJob(text=generation.text, language=generation.language, description=generation.description or "")
    if isinstance(engine, RemoteEngine):
        call_id = generation.remote_call_id
        if call_id is None:
            call_id = engine.spawn_design(job)
            with ctx.sessions() as session:
                queue.record_remote_call(session, generation.id, worker_id, call_id)
        while (result := engine.poll(call_id, wait=REMOTE_POLL_SECONDS)) is None:
            lease.check()
        samples, sample_rate = np.asarray(result[0], dtype=np.float32), result[1]
    else:
        samples, sample_rate = engine.design(job), engine.info.capabilities.sample_rate
    lease.check()
    wav_path = mp3_path.with_suffix(".wav")
    audio.write_wav(wav_path, samples, sample_rate)
    if sample_rate != audio.REFERENCE_SAMPLE_RATE:
        audio.write_wav(wav_path, audio.decode(wav_path).samples, audio.REFERENCE_SAMPLE_RATE)
    ctx.storage.put_file(preview_key(str(generation.id)), wav_path, "audio/wav")
    with audio.Mp3Writer(mp3_path, sample_rate) as writer:
        writer.write(samples)
    return writer.samples_in / sample_rate


def _taken_over(ctx: AppContext, generation_id: uuid.UUID, worker_id: str) -> bool:
    """True when another process holds the task now, running it or done with it."""
    with ctx.sessions() as session:
        row = session.get(Generation, generation_id)
        return (row is not None and row.worker_id not in (None, worker_id)
                and row.status in (GenerationStatus.RUNNING, GenerationStatus.DONE))


def _discard(ctx: AppContext, generation_id: uuid.UUID, key: str) -> None:
    """Remove whatever a task that did not finish may have stored."""
    ctx.storage.delete(key)
    ctx.storage.delete(preview_key(str(generation_id)))
    _drop_segments(ctx, generation_id)


def _drop_segments(ctx: AppContext, generation_id: uuid.UUID) -> None:
    for key in ctx.storage.list_keys(segment_prefix(str(generation_id))):
        ctx.storage.delete(key)


def sweep_leftover_segments(ctx: AppContext) -> int:
    """Delete the stream segments of generations that are over or gone; returns how many generations had some.

    A generation drops its segments as soon as its final file is stored, so they are
    left only when a process died between the two. Segments of a queued or running
    generation are kept: a queued one may be claimed while we look, and its new
    attempt writes the same keys.
    """
    owners: set[uuid.UUID] = set()
    for key in ctx.storage.list_keys(STREAMS_PREFIX):
        with suppress(ValueError):  # a name that is not a generation id was not put there by Utter
            owners.add(uuid.UUID(key.removeprefix(STREAMS_PREFIX).split("/", 1)[0]))
    if not owners:
        return 0
    with ctx.sessions() as session:
        live = set(session.scalars(select(Generation.id).where(
            Generation.id.in_(owners), Generation.status.in_((GenerationStatus.QUEUED, GenerationStatus.RUNNING)))))
    leftover = owners - live
    for owner in leftover:
        _drop_segments(ctx, owner)
    return len(leftover)


def _run_remote(ctx: AppContext, generation: Generation, reference: VoiceReference | None, mp3_path: Path,
                lease: _Lease, worker_id: str) -> float:
    """Speak through a remote engine one call per chunk, so audio streams as the calls finish.

    Calls are made one after the other: one ahead would overlap the round trip, but a waiting
    call makes Modal start another GPU container, which costs more than the round trip saves.
    Each call id is recorded as it is made, so a retry (after a restart) collects the calls
    already paid for instead of making them again. The reference recording (up to 14 MB)
    goes with the first call only; the container keeps the voice's prompt for the others,
    and a call that lands on a container without it is made again with the recording.
    """
    engine = ctx.engine
    chunks = chunk_text(generation.text, engine.info.capabilities.max_chars_per_call, FIRST_CHUNK_CHARS)
    call_ids = (generation.remote_call_id or "").split()
    if len(call_ids) > len(chunks):  # recorded for other chunks (a changed setting): start afresh
        call_ids = []
    reference_audio = reference.audio_path.read_bytes() if reference else None

    def call(index: int, send_reference: bool) -> None:
        job = SpeechJob(text=chunks[index], language=generation.language, voice=reference)
        call_ids[index:index + 1] = [engine.spawn_speech(job, reference_audio if send_reference else None)]
        with ctx.sessions() as session:
            queue.record_remote_call(session, generation.id, worker_id, " ".join(call_ids))

    def spoken(index: int) -> tuple[np.ndarray, int]:
        """Chunk `index`'s audio and sample rate, from its recorded call or a new one."""
        sent_reference = index == 0
        if index == len(call_ids):
            call(index, sent_reference)
        while True:
            try:
                result = engine.poll(call_ids[index], wait=REMOTE_POLL_SECONDS)
            except EngineError as exc:
                if exc.code != REFERENCE_NEEDED or sent_reference:
                    raise
                sent_reference = True
                call(index, sent_reference)
                continue
            if result is not None:
                lease.check()
                return np.asarray(result[0], dtype=np.float32), result[1]
            lease.check()

    lease.chunk_done(0, len(chunks))
    first, sample_rate = spoken(0)
    # The remote model speaks at one rate: the change of speed is made here.
    with ChunkedOutput(ctx, str(generation.id), mp3_path, sample_rate, chunks=len(chunks),
                       speed=generation.speed or 1.0, chunk_done=lease.chunk_done) as output:
        output.add(0, first)
        for index in range(1, len(chunks)):
            samples, rate = spoken(index)
            if rate != sample_rate:
                raise EngineError("remote_failed", f"The remote engine changed its sample rate mid-text "
                                                   f"({sample_rate} then {rate} Hz).")
            output.add(index, samples)
    return output.duration


@contextmanager
def running_workers(ctx: AppContext, threads: int):
    pool = WorkerPool(ctx, threads)
    pool.start()
    try:
        yield pool
    finally:
        pool.stop()
