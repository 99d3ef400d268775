"""The runner: worker threads that take generations off the queue, and the housekeeping beside them.

It runs inside each serving process (settings.workers threads) or in a process of its
own (`utter worker`). Each kind of generation has a handler (speech here, previews in
design/) that makes the audio into a file; the runner does the rest the same way for
all of them: it holds the task, stores the file when the handler is done, records the
outcome, and discards what a failed or lost task left. Audio is stored only when
complete; a result that arrives after its task was cancelled or taken over is deleted
again, so no file is ever orphaned.

Periodic jobs (reaping tasks of dead processes, sweeping leftover stream segments,
expiring design previews) are registered with the runner and run in one thread of its own.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from .. import scratch
from ..adapters.storage import ObjectMissing, StorageError
from ..adapters.tts.base import EngineError
from ..context import AppContext
from ..heap import freeze_long_lived
from . import repository, streaming
from .task import Task, TaskFailed, TaskLost

log = logging.getLogger("utter.worker")

IDLE_POLL_SECONDS = 1.0
REAP_INTERVAL_SECONDS = 5.0
# Leftover stream segments are rare (a process died at one exact moment): look for them seldom.
SEGMENT_SWEEP_SECONDS = 600.0


@dataclass(frozen=True)
class Outcome:
    """What a handler made: the MP3 to keep, its length, and whether it is in the voice asked for."""

    mp3: Path
    duration: float
    voice_cloned: bool | None = None
    checks: dict | None = None  # what hearing each part back found (generations/heard_back.py)
    # The engine that spoke it: the engine may be switched while a generation runs (cloning switched
    # on in the studio), and the one it started on finishes it.
    engine: str | None = None
    # When each word of the text is spoken, or why that is unknown (generations/timings.py); speech only.
    timings: dict | None = None
    # A dialogue's lines with their place in the audio, and what to store with the MP3 (each line's audio:
    # key, file, content type). Stored before the MP3, so a done generation has all of them.
    lines: list[dict] | None = None
    files: tuple[tuple[str, Path, str], ...] = ()


Handler = Callable[[Task, Path], Outcome]


def new_worker_id() -> str:
    # host:pid lets a restarted process on the same host recognise its dead predecessor's tasks.
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def owner_is_dead_local_process(worker_id: str | None) -> bool:
    if not worker_id:
        return True
    host, _, rest = worker_id.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


class PeriodicJobs:
    """Jobs that run at start-up and then every so often, one after the other, in one thread."""

    @dataclass
    class Job:
        name: str
        seconds: float
        run: Callable[[], object]
        next_at: float = 0.0  # time.monotonic(); 0 runs it at once

        def make_due(self) -> None:
            self.next_at = 0.0

        def due(self, now: float | None = None) -> bool:
            return (time.monotonic() if now is None else now) >= self.next_at

    def __init__(self) -> None:
        self.jobs: dict[str, PeriodicJobs.Job] = {}
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def add(self, name: str, seconds: float, run: Callable[[], object]) -> None:
        self.jobs[name] = self.Job(name, seconds, run)

    def job(self, name: str) -> PeriodicJobs.Job:
        return self.jobs[name]

    def run_due(self) -> None:
        for job in list(self.jobs.values()):
            now = time.monotonic()
            if not job.due(now):
                continue
            job.next_at = now + job.seconds
            try:
                job.run()
            except Exception:  # housekeeping must survive a database blip
                log.exception("housekeeping.failed job=%s", job.name)

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="utter-housekeeping", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(10)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.run_due()
            soonest = min((job.next_at for job in self.jobs.values()), default=time.monotonic() + 60)
            self._wake.wait(min(max(soonest - time.monotonic(), 0.05), IDLE_POLL_SECONDS))
            self._wake.clear()


class Runner:
    def __init__(self, ctx: AppContext, threads: int):
        self.ctx = ctx
        self.threads = threads
        self.worker_id = new_worker_id()
        self.handlers: dict[str, Handler] = {}
        self.housekeeping = PeriodicJobs()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.every(REAP_INTERVAL_SECONDS, "queue.reap", self._reap)
        self.every(SEGMENT_SWEEP_SECONDS, "streams.sweep", self._sweep_segments)

    def handle(self, kind: str, handler: Handler) -> None:
        """Run generations of `kind` with `handler`."""
        self.handlers[kind] = handler

    def every(self, seconds: float, name: str, job: Callable[[], object]) -> None:
        """Run `job` at start-up and then every `seconds`, beside the workers."""
        self.housekeeping.add(name, seconds, job)

    # -- the threads -------------------------------------------------------------------------

    def start(self) -> None:
        with self.ctx.sessions() as session:
            released = repository.release_orphans(session, owner_is_dead_local_process)
        if released:
            log.info("queue.orphans_released count=%d", released)
        self.housekeeping.start()
        for index in range(self.threads):
            thread = threading.Thread(target=self._loop, name=f"utter-worker-{index}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def ensure_threads(self, count: int) -> None:
        """Run at least `count` worker threads (an engine switched in while running serves more at once)."""
        if self._stop.is_set():
            return
        for index in range(len(self._threads), count):
            thread = threading.Thread(target=self._loop, name=f"utter-worker-{index}", daemon=True)
            thread.start()
            self._threads.append(thread)
        self.threads = max(self.threads, count)

    def stop(self) -> None:
        """Let tasks in hand finish for up to `stop_grace_seconds` in all; hand back the rest to the queue."""
        self._stop.set()
        self.ctx.wake.set()
        self.housekeeping.stop()
        deadline = time.monotonic() + self.ctx.settings.stop_grace_seconds
        for thread in self._threads:
            thread.join(max(deadline - time.monotonic(), 0))
        if any(thread.is_alive() for thread in self._threads):
            # Left running, a task would wait out its whole lease: a redeployed container has a new
            # host name, so its successor cannot tell that this process is gone.
            with self.ctx.sessions() as session:
                handed = repository.hand_back(session, self.worker_id)
            log.info("queue.handed_back count=%d", handed)

    def _loop(self) -> None:
        try:
            self.ctx.engine.load()
            freeze_long_lived()  # the model's objects live as long as the process
        except EngineError as exc:
            log.error("engine.load_failed code=%s message=%s", exc.code, exc.message)
        settings = self.ctx.settings
        while not self._stop.is_set():
            try:
                with self.ctx.sessions() as session:
                    generation_id = repository.claim(session, self.worker_id, settings.task_lease_seconds,
                                                     settings.task_max_attempts)
                if generation_id is None:
                    self.ctx.wake.wait(IDLE_POLL_SECONDS)
                    self.ctx.wake.clear()
                    continue
                self.run(generation_id)
            except Exception:  # a worker thread must survive a bad task or a database blip
                log.exception("worker.loop_error")
                self._stop.wait(IDLE_POLL_SECONDS)

    # -- one generation ----------------------------------------------------------------------

    def run(self, generation_id: uuid.UUID, worker_id: str | None = None) -> None:
        """Run a generation this process has claimed (as `worker_id`, by default its own)."""
        ctx = self.ctx
        started = time.perf_counter()
        with ctx.sessions() as session:
            generation = repository.snapshot(session, generation_id)
        if generation is None:
            return
        handler = self.handlers[generation.kind]
        engine_name = ctx.engine.info.name
        with scratch.folder("gen") as workdir, \
                Task(ctx, generation, worker_id or self.worker_id) as task:
            try:
                outcome = handler(task, Path(workdir))
                task.check()
                for key, path, content_type in outcome.files:
                    ctx.storage.put_file(key, path, content_type)
                ctx.storage.put_file(task.output_key, outcome.mp3, "audio/mpeg")
                engine_name = outcome.engine or engine_name
                extra = {"lines": outcome.lines} if outcome.lines is not None else {}
                task.finish(output_key=task.output_key, duration_seconds=outcome.duration, engine=engine_name,
                            voice_cloned=outcome.voice_cloned, checks=outcome.checks, timings=outcome.timings,
                            synthesis_seconds=time.perf_counter() - started, **extra)
                log.info("generation.done id=%s seconds=%.2f engine=%s", task.id, outcome.duration, engine_name)
            except TaskLost:
                task.abandon()
            except (TaskFailed, EngineError) as exc:
                task.discard()
                task.fail(exc.code, exc.message)
            except ObjectMissing:
                task.fail("reference_missing",
                          "The voice's reference recording is missing from storage; clone the voice again.")
            except StorageError as exc:
                # Record the failure first: with the storage down, cleaning up fails too and would leave
                # the task running until its lease ran out, to be retried and then failed as 'worker_lost'.
                task.fail(exc.code, exc.message)
                with suppress(StorageError):
                    task.discard()
            except Exception as exc:
                log.exception("generation.crashed id=%s", task.id)
                task.discard()
                task.fail("engine_failed", f"Speech generation failed unexpectedly ({type(exc).__name__}). Try again.")

    # -- housekeeping ------------------------------------------------------------------------

    def _reap(self) -> None:
        with self.ctx.sessions() as session:
            repository.release_orphans(session, owner_is_dead_local_process)
            for generation_id in repository.fail_exhausted(session, self.ctx.settings.task_max_attempts):
                log.warning("generation.failed id=%s code=worker_lost", generation_id)

    def _sweep_segments(self) -> None:
        swept = streaming.sweep_leftover_segments(self.ctx)
        if swept:
            log.info("streams.swept generations=%d", swept)


@contextmanager
def running(runner: Runner):
    runner.start()
    try:
        yield runner
    finally:
        runner.stop()
