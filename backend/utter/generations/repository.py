"""Every query and update of the generations table: the task queue, the history, design previews.

The table is also the task queue, so no task is lost when a process stops. Any number of
processes may share one database: a task is claimed with a conditional UPDATE (only a row
still queued, or running under an expired lease, can be taken), so two processes never run
the same generation. Updates made on a worker's behalf name the worker, so a process that
lost its task (cancelled, deleted, taken over) cannot touch it any more.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta

from sqlalchemy import Text, and_, cast, delete, exists, func, or_, select, text, update
from sqlalchemy.orm import Session, aliased

from ..models import Generation, GenerationKind, GenerationStatus, utcnow

_LIVE = (GenerationStatus.QUEUED, GenerationStatus.RUNNING)
_FINISHED = (GenerationStatus.DONE, GenerationStatus.FAILED, GenerationStatus.CANCELLED)


# --- reading ---------------------------------------------------------------------------------


def get(session: Session, generation_id: uuid.UUID) -> Generation | None:
    return session.get(Generation, generation_id)


def snapshot(session: Session, generation_id: uuid.UUID) -> Generation | None:
    """The row as it is now, detached, for a reader that keeps it past the session."""
    generation = session.get(Generation, generation_id)
    if generation is not None:
        session.expunge(generation)
    return generation


def history(session: Session, *, limit: int, offset: int = 0, voice_id: uuid.UUID | None = None,
            after: Generation | None = None, search: str | None = None) -> tuple[list[Generation], int]:
    """Speech generations and dialogues, newest first, and how many there are in all.

    Design previews run through the same queue but are not speech in a voice: /design shows them.
    `after` continues a cursor page (the row the previous page ended with); `search` matches the text.
    """
    where = [Generation.kind.in_((GenerationKind.SPEECH, GenerationKind.DIALOGUE))]
    if voice_id is not None:
        # A dialogue has no one voice: it is listed under each voice one of its lines speaks in (its lines
        # are stored as JSON text, written the same way on both databases).
        speaks = cast(Generation.lines, Text).contains(f'"voice_id": "{voice_id}"', autoescape=True)
        where.append(or_(Generation.voice_id == voice_id,
                         and_(Generation.kind == GenerationKind.DIALOGUE, speaks)))
    if search:
        pattern = "%" + search.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        where.append(func.lower(Generation.text).like(pattern, escape="\\"))
    total = session.scalar(select(func.count()).select_from(Generation).where(*where)) or 0
    if after is not None:
        where.append(or_(Generation.created_at < after.created_at,
                         and_(Generation.created_at == after.created_at, Generation.id > after.id)))
    rows = session.scalars(select(Generation).where(*where)
                           .order_by(Generation.created_at.desc(), Generation.id).limit(limit).offset(offset))
    return list(rows), total


def queued_count(session: Session) -> int:
    return session.scalar(select(func.count()).where(Generation.status == GenerationStatus.QUEUED)) or 0


def live_among(session: Session, generation_ids: Iterable[uuid.UUID]) -> set[uuid.UUID]:
    """Which of these generations are queued or running."""
    return set(session.scalars(select(Generation.id).where(Generation.id.in_(list(generation_ids)),
                                                           Generation.status.in_(_LIVE))))


def held_by_other(session: Session, generation_id: uuid.UUID, worker_id: str) -> bool:
    """True when another process holds the task now, running it or done with it."""
    row = session.get(Generation, generation_id)
    return (row is not None and row.worker_id not in (None, worker_id)
            and row.status in (GenerationStatus.RUNNING, GenerationStatus.DONE))


# --- writing what people ask for ---------------------------------------------------------------


# Any constant: PostgreSQL advisory locks are named by a number.
_ADMIT_LOCK = 0x5574746572  # "Utter"


def admit(session: Session, generations: list[Generation], limit: int) -> bool:
    """Queue new rows unless there would then be more than `limit` waiting; True when committed.

    Atomic across processes, so concurrent requests cannot overfill the queue: on PostgreSQL
    admissions take turns on an advisory lock; on SQLite the INSERT takes the database's write
    lock, which the next admission waits for, and the count runs inside that transaction.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _ADMIT_LOCK})
    session.add_all(generations)
    session.flush()
    if queued_count(session) > limit:
        session.rollback()
        return False
    session.commit()
    return True


def cancel(session: Session, generation_id: uuid.UUID) -> bool:
    """Stop a queued or running generation; False when it had already finished."""
    result = session.execute(
        update(Generation)
        .where(Generation.id == generation_id, Generation.status.in_(_LIVE))
        .values(status=GenerationStatus.CANCELLED, finished_at=utcnow(), lease_expires_at=None)
        .execution_options(synchronize_session=False)
    )
    session.commit()
    return result.rowcount == 1


def delete_rows(session: Session, generation_ids: list[uuid.UUID]) -> None:
    """Remove rows; a worker still running one notices and discards its own output."""
    session.execute(delete(Generation).where(Generation.id.in_(generation_ids))
                    .execution_options(synchronize_session=False))
    session.commit()


def fail_queued_for_voice(session: Session, voice_id: uuid.UUID, code: str, message: str) -> None:
    """Fail, with a reason, the generations still waiting for a voice; the caller commits."""
    session.execute(
        update(Generation)
        .where(Generation.voice_id == voice_id, Generation.status == GenerationStatus.QUEUED)
        .values(status=GenerationStatus.FAILED, error_code=code, error_message=message, finished_at=utcnow())
        .execution_options(synchronize_session=False)
    )


# --- design previews ---------------------------------------------------------------------------


def design_previews(session: Session, design_id: uuid.UUID) -> list[Generation]:
    return list(session.scalars(
        select(Generation).where(Generation.kind == GenerationKind.DESIGN, Generation.design_id == design_id)
        .order_by(Generation.candidate)
    ))


def claim_preview_for_voice(session: Session, preview_id: uuid.UUID, voice_id: uuid.UUID) -> bool:
    """Mark a preview as saved as `voice_id`; of two saves racing, only one finds it unsaved. Not committed."""
    return session.execute(
        update(Generation).where(Generation.id == preview_id, Generation.voice_id.is_(None))
        .values(voice_id=voice_id).execution_options(synchronize_session=False)
    ).rowcount == 1


def expire_previews(session: Session, cutoff: datetime, batch: int) -> list[tuple[uuid.UUID, str | None]]:
    """Delete up to `batch` unsaved previews of designs that all finished before `cutoff`.

    A design has finished when all of its previews have; one still queued or running keeps
    the whole design. Returns (id, output_key) of the rows now gone, whether this call or a
    concurrent one in another process deleted them: either way their files should go too.
    """
    other = aliased(Generation)
    keeps_design = exists(select(other.id).where(
        other.kind == GenerationKind.DESIGN, other.design_id == Generation.design_id,
        or_(other.status.not_in(_FINISHED), other.finished_at.is_(None), other.finished_at >= cutoff),
    ))
    expired = and_(
        Generation.kind == GenerationKind.DESIGN, Generation.voice_id.is_(None),
        Generation.status.in_(_FINISHED), Generation.finished_at < cutoff, ~keeps_design,
    )
    rows = list(session.execute(select(Generation.id, Generation.output_key).where(expired).limit(batch)))
    if not rows:
        return []
    ids = [row.id for row in rows]
    session.execute(delete(Generation).where(Generation.id.in_(ids), expired)
                    .execution_options(synchronize_session=False))
    session.commit()
    remaining = set(session.scalars(select(Generation.id).where(Generation.id.in_(ids))))
    return [(row.id, row.output_key) for row in rows if row.id not in remaining]


# --- the task queue ----------------------------------------------------------------------------


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
                    chunks_done=0, segments=0, progress=0.0,
                    lease_expires_at=now + timedelta(seconds=lease_seconds),
                    started_at=func.coalesce(Generation.started_at, now))
            .execution_options(synchronize_session=False)
        )
        session.commit()
        if result.rowcount == 1:
            return generation_id
    return None


def _ours(generation_id: uuid.UUID, worker_id: str):
    return and_(Generation.id == generation_id, Generation.worker_id == worker_id,
                Generation.status == GenerationStatus.RUNNING)


def _update_ours(session: Session, generation_id: uuid.UUID, worker_id: str, **values) -> bool:
    result = session.execute(update(Generation).where(_ours(generation_id, worker_id)).values(**values)
                             .execution_options(synchronize_session=False))
    session.commit()
    return result.rowcount == 1


def renew(session: Session, generation_id: uuid.UUID, worker_id: str, lease_seconds: int) -> bool:
    """Extend our lease; False when the task is no longer ours (cancelled, deleted or taken over)."""
    return _update_ours(session, generation_id, worker_id,
                        lease_expires_at=utcnow() + timedelta(seconds=lease_seconds))


def set_chunks(session: Session, generation_id: uuid.UUID, worker_id: str, done: int, total: int,
               lease_seconds: int) -> bool:
    """Record that `done` of `total` chunks are spoken and stored (this also renews the lease)."""
    return _update_ours(session, generation_id, worker_id, chunks_done=done, chunks_total=total,
                        progress=done / total, lease_expires_at=utcnow() + timedelta(seconds=lease_seconds))


def set_segments(session: Session, generation_id: uuid.UUID, worker_id: str, segments: int,
                 lease_seconds: int) -> bool:
    """Record that `segments` stream segments are stored (this also renews the lease)."""
    return _update_ours(session, generation_id, worker_id, segments=segments,
                        lease_expires_at=utcnow() + timedelta(seconds=lease_seconds))


def record_remote_calls(session: Session, generation_id: uuid.UUID, worker_id: str, call_ids: str) -> bool:
    """Keep the remote calls made for this task, so a retry collects them instead of paying again."""
    return _update_ours(session, generation_id, worker_id, remote_call_id=call_ids)


def finish(session: Session, generation_id: uuid.UUID, worker_id: str, **values) -> bool:
    """Record the outcome, but only if the task is still ours; False means someone else owns it now."""
    return _update_ours(session, generation_id, worker_id, finished_at=utcnow(), lease_expires_at=None, **values)


def finish_done(session: Session, generation_id: uuid.UUID, worker_id: str, **values) -> bool:
    """Record success: every chunk counted done (a design preview is one chunk)."""
    chunks = func.coalesce(Generation.chunks_total, 1)
    return finish(session, generation_id, worker_id, status=GenerationStatus.DONE, progress=1.0,
                  chunks_total=chunks, chunks_done=chunks, **values)


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


def release_orphans(session: Session, owner_is_gone: Callable[[str | None], bool],
                    now: datetime | None = None) -> int:
    """Expire at once the leases of running tasks whose owner `owner_is_gone` says no longer exists.

    Without this, a restarted single-process install would wait a whole lease before
    resuming the task it was running when it stopped.
    """
    now = now or utcnow()
    running = session.execute(
        select(Generation.id, Generation.worker_id).where(Generation.status == GenerationStatus.RUNNING)
    ).all()
    released = 0
    for generation_id, worker_id in running:
        if owner_is_gone(worker_id):
            result = session.execute(
                update(Generation)
                .where(Generation.id == generation_id, Generation.worker_id == worker_id,
                       Generation.status == GenerationStatus.RUNNING)
                .values(lease_expires_at=now)
            )
            released += result.rowcount
    session.commit()
    return released


def fail_exhausted(session: Session, max_attempts: int, now: datetime | None = None) -> list[uuid.UUID]:
    """Fail, as `worker_lost`, tasks whose lease ran out after their last allowed attempt."""
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
