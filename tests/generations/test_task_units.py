"""A claimed task as its worker sees it: every write is conditional on the task still being ours,
a lost task is noticed within a second, and a lost task's files go unless another process owns it."""

from __future__ import annotations

import logging
import time

import pytest

from utter.adapters.storage import generated_key, line_key, preview_key, segment_key
from utter.generations import repository
from utter.generations import task as task_module
from utter.generations.task import Task, TaskFailed, TaskLost
from utter.models import GenerationKind, GenerationStatus

from .task_support import (  # noqa: F401 - fixtures
    add_generation,
    ctx,
    empty_database_url,
    later,
    make_ctx,
    queue_database_url,
    read,
)

RUNNING = GenerationStatus.RUNNING


class Clock:
    """time.monotonic for the task module only, moved by hand."""

    def __init__(self):
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(task_module, "time", clock)
    return clock


@pytest.fixture
def notified(ctx) -> list[int]:
    calls: list[int] = []
    ctx.notify_progress = lambda: calls.append(1)
    return calls


def claimed(ctx, worker="me", **values) -> Task:
    generation_id = add_generation(ctx, status=RUNNING, worker_id=worker, attempts=1,
                                   lease_expires_at=values.pop("lease_expires_at", later(60)), **values)
    with ctx.sessions() as session:
        return Task(ctx, repository.snapshot(session, generation_id), worker)


def take_over(ctx, generation_id, worker="other"):
    with ctx.sessions() as session:
        from utter.models import Generation

        session.get(Generation, generation_id).worker_id = worker
        session.commit()


def cancel(ctx, generation_id):
    with ctx.sessions() as session:
        repository.cancel(session, generation_id)


def store_everything(ctx, generation_id):
    keys = [generated_key(str(generation_id)), preview_key(str(generation_id)),
            segment_key(str(generation_id), 0), segment_key(str(generation_id), 1)]
    for key in keys:
        ctx.storage.put_bytes(key, b"audio", "audio/mpeg")
    ctx.storage.put_bytes("generated/someone-else.mp3", b"audio", "audio/mpeg")
    return keys


def test_a_task_knows_its_output_and_earlier_remote_calls(ctx):
    task = claimed(ctx, remote_call_id="fc-1 fc-2")
    ctx.storage.put_bytes("prompts/v1/r1.bin", b"prompt", "application/octet-stream")
    assert task.prompts.load("v1", "r1") == b"prompt"  # cached prompts live in the process's storage
    assert task._renewer.name == "utter-lease" and task._renewer.daemon
    assert task.output_key == f"generated/{task.id}.mp3"
    assert task.remote_calls == ["fc-1", "fc-2"]
    assert task.worker_id == "me" and task.generation.id == task.id
    assert claimed(ctx).remote_calls == []


def test_check_asks_the_database_at_most_once_a_second(ctx, clock):
    task = claimed(ctx, lease_expires_at=later(5))
    cancel(ctx, task.id)
    clock.now += 0.99
    task.check()  # not asked yet: still believed ours
    clock.now += 0.01
    with pytest.raises(TaskLost):
        task.check()
    take_over(ctx, task.id, "me")  # even were it ours again, lost stays lost
    with pytest.raises(TaskLost):
        task.check()


def test_check_renews_the_lease_while_the_task_is_ours(ctx, clock, monkeypatch):
    monkeypatch.setattr(ctx.settings, "task_lease_seconds", 300)
    task = claimed(ctx, lease_expires_at=later(5))
    clock.now += 1.0
    task.check()
    assert read(ctx, task.id).lease_expires_at > later(250)
    renewed = read(ctx, task.id).lease_expires_at
    clock.now += 0.5
    task.check()  # too soon to ask again
    assert read(ctx, task.id).lease_expires_at == renewed


def test_progress_is_recorded_and_told(ctx, clock, notified):
    task = claimed(ctx, chunks_total=4)
    task.progress(1, 4)
    row = read(ctx, task.id)
    assert (row.chunks_done, row.chunks_total, row.progress) == (1, 4, 0.25)
    assert notified == [1]
    task.segments_stored(3)
    assert read(ctx, task.id).segments == 3
    assert notified == [1, 1]


def test_progress_on_a_lost_task_raises_at_once(ctx, clock, notified):
    task = claimed(ctx, chunks_total=4)
    cancel(ctx, task.id)
    with pytest.raises(TaskLost):
        task.progress(1, 4)
    assert notified == [1]
    other = claimed(ctx, chunks_total=4)
    take_over(ctx, other.id)
    with pytest.raises(TaskLost):
        other.segments_stored(1)
    assert read(ctx, other.id).segments == 0


def test_remote_calls_are_recorded_in_chunk_order(ctx):
    task = claimed(ctx)
    calls = ["fc-a", "fc-b"]
    task.record_remote_calls(calls)
    calls.append("fc-c")  # the task keeps its own copy
    assert task.remote_calls == ["fc-a", "fc-b"]
    assert read(ctx, task.id).remote_call_id == "fc-a fc-b"


def test_finish_records_success_and_drops_the_stream_segments(ctx, notified):
    task = claimed(ctx, chunks_total=2)
    keys = store_everything(ctx, task.id)
    task.finish(output_key=task.output_key, duration_seconds=2.5)
    row = read(ctx, task.id)
    assert (row.status, row.output_key, row.duration_seconds, row.chunks_done) == ("done", task.output_key, 2.5, 2)
    assert notified == [1]
    assert ctx.storage.exists(keys[0]) and not ctx.storage.exists(keys[2]) and not ctx.storage.exists(keys[3])


def test_finishing_a_task_that_is_no_longer_ours_raises_and_keeps_its_segments(ctx, notified):
    task = claimed(ctx)
    keys = store_everything(ctx, task.id)
    take_over(ctx, task.id)
    with pytest.raises(TaskLost):
        task.finish(output_key=task.output_key)
    assert notified == [] and ctx.storage.exists(keys[2])
    assert read(ctx, task.id).status == RUNNING


def test_fail_records_the_reason_and_the_engine(ctx, notified, caplog):
    task = claimed(ctx)
    with caplog.at_level(logging.WARNING, logger="utter.worker"):
        task.fail("voice_deleted", "The voice was deleted.")
    row = read(ctx, task.id)
    assert (row.status, row.error_code, row.error_message, row.engine) == (
        "failed", "voice_deleted", "The voice was deleted.", "stand-in")
    assert row.lease_expires_at is None
    assert notified == [1]
    assert f"generation.failed id={task.id} code=voice_deleted" in caplog.messages


def test_a_cancelled_task_is_abandoned_with_its_files(ctx, caplog):
    task = claimed(ctx)
    keys = store_everything(ctx, task.id)
    cancel(ctx, task.id)
    with caplog.at_level(logging.INFO, logger="utter.worker"):
        task.abandon()
    assert not any(ctx.storage.exists(key) for key in keys)
    assert ctx.storage.exists("generated/someone-else.mp3")
    assert f"generation.abandoned id={task.id} (cancelled or deleted)" in caplog.messages


def test_a_task_taken_over_keeps_its_files_for_the_new_owner(ctx, caplog):
    task = claimed(ctx)
    keys = store_everything(ctx, task.id)
    take_over(ctx, task.id)
    with caplog.at_level(logging.INFO, logger="utter.worker"):
        task.abandon()
    assert all(ctx.storage.exists(key) for key in keys)
    assert f"generation.abandoned id={task.id} (taken over)" in caplog.messages


def wait_until(condition, timeout=5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return False


def test_the_lease_is_renewed_in_the_background(make_ctx):
    ctx = make_ctx(task_lease_seconds=1)  # renewed every 0.5 s
    task = claimed(ctx, lease_expires_at=later(1))
    first = read(ctx, task.id).lease_expires_at
    with task:
        assert wait_until(lambda: read(ctx, task.id).lease_expires_at > first)
        assert task._renewer.is_alive()
    assert not task._renewer.is_alive()
    task.check()


def test_background_renewal_notices_a_lost_task(make_ctx, monkeypatch):
    ctx = make_ctx(task_lease_seconds=1)
    task = claimed(ctx, lease_expires_at=later(1))
    cancel(ctx, task.id)
    monkeypatch.setattr(task_module, "VERIFY_SECONDS", 3600.0)  # only the renewer can notice
    with task:
        task._renewer.join(2)
        assert not task._renewer.is_alive()  # it stopped by itself
        with pytest.raises(TaskLost):
            task.check()


def test_background_renewal_survives_a_database_blip(make_ctx, caplog):
    ctx = make_ctx(task_lease_seconds=1)
    task = claimed(ctx, lease_expires_at=later(1))
    real_sessions = ctx.sessions
    blips = []

    def flaky():
        if not blips:
            blips.append(1)
            raise ConnectionError("database restarting")
        return real_sessions()

    first = read(ctx, task.id).lease_expires_at
    ctx.sessions = flaky
    with caplog.at_level(logging.ERROR, logger="utter.worker"), task:
        assert wait_until(lambda: blips and read(ctx, task.id).lease_expires_at > first)  # renewed after the blip
        assert task._renewer.is_alive()
    ctx.sessions = real_sessions
    assert f"lease.renew_failed id={task.id}" in caplog.messages


def test_task_failed_carries_its_code():
    error = TaskFailed("voice_deleted", "The voice was deleted.")
    assert (error.code, error.message, str(error)) == ("voice_deleted", "The voice was deleted.",
                                                       "The voice was deleted.")


def test_abandoning_a_task_that_is_still_ours_discards_its_files(ctx):
    task = claimed(ctx)
    keys = store_everything(ctx, task.id)
    task.abandon()
    assert not any(ctx.storage.exists(key) for key in keys)


def test_a_lost_dialogue_discards_each_lines_audio_and_only_its_own(ctx):
    task = claimed(ctx, kind=GenerationKind.DIALOGUE)
    keys = store_everything(ctx, task.id) + [line_key(str(task.id), line) for line in range(3)]
    for key in keys[-3:]:
        ctx.storage.put_bytes(key, b"audio", "audio/wav")
    other = line_key("someone-else", 0)
    ctx.storage.put_bytes(other, b"audio", "audio/wav")
    cancel(ctx, task.id)
    task.abandon()
    assert not any(ctx.storage.exists(key) for key in keys)
    assert ctx.storage.exists(other)


@pytest.mark.parametrize(("lease", "interval"), [(1, 0.5), (3, 1.0), (30, 10.0)])
def test_the_lease_is_renewed_three_times_a_lease_but_not_more_than_twice_a_second(make_ctx, lease, interval):
    ctx = make_ctx(task_lease_seconds=lease)
    task = claimed(ctx)
    waits = []

    class Done:
        def wait(self, seconds):
            waits.append(seconds)
            return True  # done at once

        def set(self):
            pass

    task._done = Done()
    with task:
        task._renewer.join(5)
    assert waits == [interval]
