"""The task queue, kept in the generations table so no task is lost when a process stops.

Any number of processes may share one database. A task is claimed with a conditional
UPDATE (only a row still queued, or running under an expired lease, can be taken), so
two processes never run the same generation. The claiming process renews its lease
while it works; if it dies, the lease runs out and another process retries the task,
or fails it with a reason once its attempts are used up.
"""

from __future__ import annotations

import os
import socket
import uuid
from datetime import datetime, timedelta

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session

from ..models import Generation, GenerationStatus, utcnow


def new_worker_id() -> str:
    # host:pid lets a restarted process on the same host recognise its dead predecessor's tasks.
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _owner_is_dead_local_process(worker_id: str | None) -> bool:
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


def queued_count(session: Session) -> int:
    return session.scalar(select(func.count()).where(Generation.status == GenerationStatus.QUEUED)) or 0


def release_orphans(session: Session, now: datetime | None = None) -> int:
    """Expire at once the leases of tasks whose owner was a process on this host that no longer exists.

    Without this, a restarted single-process install would wait a whole lease before
    resuming the task it was running when it stopped.
    """
    now = now or utcnow()
    running = session.execute(
        select(Generation.id, Generation.worker_id).where(Generation.status == GenerationStatus.RUNNING)
    ).all()
    released = 0
    for generation_id, worker_id in running:
        if _owner_is_dead_local_process(worker_id):
            result = session.execute(
                update(Generation)
                .where(Generation.id == generation_id, Generation.worker_id == worker_id,
                       Generation.status == GenerationStatus.RUNNING)
                .values(lease_expires_at=now)
            )
            released += result.rowcount
    session.commit()
    return released


def hand_back(session: Session, worker_id: str) -> int:
    """Put a stopping process's unfinished tasks back in the queue, without using up an attempt."""
    result = session.execute(
        update(Generation)
        .where(Generation.worker_id == worker_id, Generation.status == GenerationStatus.RUNNING)
        .values(status=GenerationStatus.QUEUED, worker_id=None, lease_expires_at=None,
                attempts=Generation.attempts - 1)
        .execution_options(synchronize_session=False)
    )
    session.commit()
    return result.rowcount


def fail_exhausted(session: Session, max_attempts: int, now: datetime | None = None) -> list[uuid.UUID]:
    """Fail tasks whose lease ran out after their last allowed attempt."""
    now = now or utcnow()
    ids = list(session.scalars(
        select(Generation.id).where(
            Generation.status == GenerationStatus.RUNNING,
            Generation.lease_expires_at <= now,
            Generation.attempts >= max_attempts,
        )
    ))
    failed = []
    for generation_id in ids:
        result = session.execute(
            update(Generation)
            .where(Generation.id == generation_id, Generation.status == GenerationStatus.RUNNING,
                   Generation.lease_expires_at <= now)
            .values(status=GenerationStatus.FAILED, error_code="worker_lost",
                    error_message=f"The process running this generation stopped {max_attempts} times; "
                                  "it was given up. Try generating again.",
                    finished_at=now, worker_id=None, lease_expires_at=None)
        )
        if result.rowcount:
            failed.append(generation_id)
    session.commit()
    return failed


def claim(session: Session, worker_id: str, lease_seconds: int, max_attempts: int) -> uuid.UUID | None:
    """Take the oldest runnable task for `worker_id`, or None. Atomic across processes."""
    now = utcnow()
    runnable = or_(
        Generation.status == GenerationStatus.QUEUED,
        and_(Generation.status == GenerationStatus.RUNNING, Generation.lease_expires_at <= now,
             Generation.attempts < max_attempts),
    )
    candidates = list(session.scalars(select(Generation.id).where(runnable).order_by(Generation.created_at).limit(8)))
    for generation_id in candidates:
        # The WHERE is evaluated again under the row lock, so of two racing processes only one matches.
        result = session.execute(
            update(Generation)
            .where(Generation.id == generation_id, runnable)
            .values(status=GenerationStatus.RUNNING, worker_id=worker_id, attempts=Generation.attempts + 1,
                    chunks_done=0, progress=0.0,
                    lease_expires_at=now + timedelta(seconds=lease_seconds),
                    started_at=func.coalesce(Generation.started_at, now))
            .execution_options(synchronize_session=False)
        )
        session.commit()
        if result.rowcount == 1:
            return generation_id
    return None


def renew(session: Session, generation_id: uuid.UUID, worker_id: str, lease_seconds: int) -> bool:
    """Extend our lease; False when the task is no longer ours (cancelled, or taken over)."""
    result = session.execute(
        update(Generation)
        .where(Generation.id == generation_id, Generation.worker_id == worker_id,
               Generation.status == GenerationStatus.RUNNING)
        .values(lease_expires_at=utcnow() + timedelta(seconds=lease_seconds))
        .execution_options(synchronize_session=False)
    )
    session.commit()
    return result.rowcount == 1


def finish(session: Session, generation_id: uuid.UUID, worker_id: str, **values) -> bool:
    """Record the outcome, but only if the task is still ours; False means someone else owns it now."""
    result = session.execute(
        update(Generation)
        .where(Generation.id == generation_id, Generation.worker_id == worker_id,
               Generation.status == GenerationStatus.RUNNING)
        .values(finished_at=utcnow(), lease_expires_at=None, **values)
        .execution_options(synchronize_session=False)
    )
    session.commit()
    return result.rowcount == 1


def set_chunks(session: Session, generation_id: uuid.UUID, worker_id: str, done: int, total: int,
               lease_seconds: int) -> bool:
    """Record that `done` of `total` chunks are spoken and stored (this also renews the lease)."""
    result = session.execute(
        update(Generation)
        .where(Generation.id == generation_id, Generation.worker_id == worker_id,
               Generation.status == GenerationStatus.RUNNING)
        .values(chunks_done=done, chunks_total=total, progress=done / total,
                lease_expires_at=utcnow() + timedelta(seconds=lease_seconds))
        .execution_options(synchronize_session=False)
    )
    session.commit()
    return result.rowcount == 1


def record_remote_call(session: Session, generation_id: uuid.UUID, worker_id: str, call_id: str) -> bool:
    result = session.execute(
        update(Generation)
        .where(Generation.id == generation_id, Generation.worker_id == worker_id)
        .values(remote_call_id=call_id)
        .execution_options(synchronize_session=False)
    )
    session.commit()
    return result.rowcount == 1
