"""A claimed generation, as the worker running it sees it: its lease, progress, remote calls and outcome.

Everything a worker does to its row goes through its Task, and every such write is
conditional on the task still being this worker's. A task that stops being ours
(cancelled, deleted, or taken over by another process after our lease ran out) raises
TaskLost at the next check, and whatever it stored is discarded, unless another process
now owns it: that owner's files have the same keys.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid

from ..adapters.storage import generated_key, line_prefix, preview_key
from ..context import AppContext
from ..models import Generation, GenerationKind, GenerationStatus
from . import repository, streaming
from .prompt_cache import StoragePromptCache

log = logging.getLogger("utter.worker")

# How soon a running task notices it was cancelled or deleted.
VERIFY_SECONDS = 1.0


class TaskLost(Exception):
    """The task stopped being ours while we worked on it (cancelled, deleted or taken over)."""


class TaskFailed(Exception):
    """The generation cannot be made, for a reason to show as it is (e.g. its voice was deleted)."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


class Task:
    """One claimed generation. Use as a context manager: the lease is renewed in the background inside it."""

    def __init__(self, ctx: AppContext, generation: Generation, worker_id: str):
        self.ctx = ctx
        self.generation = generation
        self.id: uuid.UUID = generation.id
        self.worker_id = worker_id
        self.prompts = StoragePromptCache(ctx.storage)
        self.remote_calls: list[str] = (generation.remote_call_id or "").split()
        self._lease_seconds = ctx.settings.task_lease_seconds
        self._lost = threading.Event()
        self._last_verified = time.monotonic()
        self._done = threading.Event()
        self._renewer = threading.Thread(target=self._renew_in_background, daemon=True, name="utter-lease")

    @property
    def output_key(self) -> str:
        return generated_key(str(self.id))

    # -- while it runs ---------------------------------------------------------------------

    def check(self) -> None:
        """Raise TaskLost if the task stopped being ours; asks the database at most once a second."""
        now = time.monotonic()
        if not self._lost.is_set() and now - self._last_verified >= VERIFY_SECONDS:
            self._last_verified = now
            with self.ctx.sessions() as session:
                if not repository.renew(session, self.id, self.worker_id, self._lease_seconds):
                    self._lost.set()
        if self._lost.is_set():
            raise TaskLost

    def progress(self, done: int, total: int) -> None:
        """`done` of `total` chunks are spoken and stored: tell the database and this process's listeners."""
        with self.ctx.sessions() as session:
            if not repository.set_chunks(session, self.id, self.worker_id, done, total, self._lease_seconds):
                self._lost.set()
        self.ctx.notify_progress()
        self.check()

    def segments_stored(self, count: int) -> None:
        """`count` stream segments are stored: tell the database and this process's listeners."""
        with self.ctx.sessions() as session:
            if not repository.set_segments(session, self.id, self.worker_id, count, self._lease_seconds):
                self._lost.set()
        self.ctx.notify_progress()
        self.check()

    def record_remote_calls(self, call_ids: list[str]) -> None:
        """Keep the ids of the remote calls made for this task (in chunk order) before waiting on them."""
        self.remote_calls = list(call_ids)
        with self.ctx.sessions() as session:
            repository.record_remote_calls(session, self.id, self.worker_id, " ".join(call_ids))

    # -- how it ends -----------------------------------------------------------------------

    def finish(self, **values) -> None:
        """Record success; raises TaskLost if the task is no longer ours."""
        with self.ctx.sessions() as session:
            if not repository.finish_done(session, self.id, self.worker_id, **values):
                raise TaskLost
        self.ctx.notify_progress()
        streaming.drop_segments(self.ctx.storage, self.id)

    def fail(self, code: str, message: str) -> None:
        with self.ctx.sessions() as session:
            repository.finish(session, self.id, self.worker_id, status=GenerationStatus.FAILED, error_code=code,
                              error_message=message, engine=self.ctx.engine.info.name)
        self.ctx.notify_progress()
        log.warning("generation.failed id=%s code=%s", self.id, code)

    def abandon(self) -> None:
        """We lost the task: discard what we stored, unless another process owns it now."""
        with self.ctx.sessions() as session:
            taken_over = repository.held_by_other(session, self.id, self.worker_id)
        if taken_over:
            log.info("generation.abandoned id=%s (taken over)", self.id)
        else:
            self.discard()
            log.info("generation.abandoned id=%s (cancelled or deleted)", self.id)

    def discard(self) -> None:
        """Remove whatever this task may have stored."""
        storage = self.ctx.storage
        storage.delete(self.output_key)
        storage.delete(preview_key(str(self.id)))
        if self.generation.kind == GenerationKind.DIALOGUE:
            for key in storage.list_keys(line_prefix(str(self.id))):
                storage.delete(key)
        streaming.drop_segments(storage, self.id)

    # -- the lease -------------------------------------------------------------------------

    def _renew_in_background(self) -> None:
        interval = max(self._lease_seconds / 3, 0.5)
        while not self._done.wait(interval):
            try:
                with self.ctx.sessions() as session:
                    if not repository.renew(session, self.id, self.worker_id, self._lease_seconds):
                        self._lost.set()
                        return
            except Exception:
                log.exception("lease.renew_failed id=%s", self.id)

    def __enter__(self) -> Task:
        self._renewer.start()
        return self

    def __exit__(self, *exc) -> None:
        self._done.set()
        self._renewer.join(5)
