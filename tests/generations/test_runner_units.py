"""The runner without a server: one generation run by a handler and every way it can end, the worker
threads and their stop, the housekeeping jobs, and how a dead process's tasks are recognised."""

from __future__ import annotations

import logging
import os
import re
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

from utter.adapters.storage import ObjectMissing, StorageError, generated_key, preview_key, segment_key
from utter.adapters.tts.base import EngineError
from utter.generations import runner as runner_module
from utter.generations.runner import (
    Outcome,
    PeriodicJobs,
    Runner,
    new_worker_id,
    owner_is_dead_local_process,
    running,
)
from utter.generations.task import TaskFailed
from utter.models import GenerationStatus

from .task_support import (  # noqa: F401 - fixtures
    add_generation,
    ago,
    ctx,
    empty_database_url,
    later,
    make_ctx,
    queue_database_url,
    read,
)

QUEUED, RUNNING, DONE, FAILED = (GenerationStatus.QUEUED, GenerationStatus.RUNNING, GenerationStatus.DONE,
                                 GenerationStatus.FAILED)


@pytest.fixture(autouse=True)
def no_heap_freeze(monkeypatch):
    """The worker loop freezes the heap after loading the model; not in the test process."""
    frozen = []
    monkeypatch.setattr(runner_module, "freeze_long_lived", lambda: frozen.append(1))
    monkeypatch.setattr(runner_module, "IDLE_POLL_SECONDS", 0.05)  # idle workers and a failed loop wait less
    return frozen


def wait_until(condition, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return False


def mp3_outcome(workdir: Path, data=b"\xff\xfbfake mp3", voice_cloned=True) -> Outcome:
    path = workdir / "out.mp3"
    path.write_bytes(data)
    return Outcome(mp3=path, duration=1.5, voice_cloned=voice_cloned)


def claimed(ctx, runner, **values):
    return add_generation(ctx, status=RUNNING, worker_id=runner.worker_id, attempts=1, lease_expires_at=later(60),
                          **values)


# --- who owns a task -------------------------------------------------------------------------


def test_worker_ids_name_the_host_and_process():
    worker_id = new_worker_id()
    assert re.fullmatch(rf"{re.escape(socket.gethostname())}:{os.getpid()}:[0-9a-f]{{8}}", worker_id)
    assert new_worker_id() != worker_id


def test_a_dead_local_owner_is_recognised():
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                              text=True, check=True)
    dead_pid = int(finished.stdout)
    host = socket.gethostname()
    assert owner_is_dead_local_process(None) and owner_is_dead_local_process("")
    assert owner_is_dead_local_process(f"{host}:{dead_pid}:abcd1234")
    assert owner_is_dead_local_process(f"{host}:{dead_pid}")
    assert not owner_is_dead_local_process(f"{host}:{os.getpid()}:abcd1234")  # this very process
    # A process that any signal would end (even one started under nohup), so only signal 0 leaves it alive.
    code = ("import signal, sys, time\n"
            "for s in signal.valid_signals():\n"
            "    try: signal.signal(s, signal.SIG_DFL)\n"
            "    except (OSError, ValueError): pass\n"
            "print('ready', flush=True); time.sleep(30)")
    alive = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert alive.stdout.readline() == "ready\n"
        assert not owner_is_dead_local_process(f"{host}:{alive.pid}:abcd1234")
        with pytest.raises(subprocess.TimeoutExpired):
            alive.wait(timeout=0.3)  # asked whether it lives, not signalled
    finally:
        alive.kill()
        alive.wait()
        alive.stdout.close()
    assert not owner_is_dead_local_process(f"another-host:{dead_pid}:abcd1234")  # cannot tell: not ours to judge
    assert not owner_is_dead_local_process(f"{host}:not-a-pid:abcd1234")
    assert not owner_is_dead_local_process(f"{host}")


def test_a_process_we_may_not_signal_is_alive(monkeypatch):
    def forbidden(pid, signal):
        raise PermissionError

    monkeypatch.setattr(runner_module.os, "kill", forbidden)
    assert not owner_is_dead_local_process(f"{socket.gethostname()}:{os.getpid() + 1}:abcd1234")


# --- periodic jobs ---------------------------------------------------------------------------


def test_periodic_jobs_run_when_due_and_survive_failures(caplog):
    jobs = PeriodicJobs()
    ran = []

    def broken():
        ran.append("broken")
        raise RuntimeError("database blip")

    jobs.add("first", 60, lambda: ran.append("first"))
    jobs.add("broken", 0.0, broken)
    jobs.add("last", 3600, lambda: ran.append("last"))
    assert jobs.job("first").due() and jobs.job("first").next_at == 0.0
    with caplog.at_level(logging.ERROR, logger="utter.worker"):
        before = time.monotonic()
        jobs.run_due()
    assert ran == ["first", "broken", "last"]
    assert "housekeeping.failed job=broken" in caplog.messages
    first = jobs.job("first")
    assert before + 60 <= first.next_at <= time.monotonic() + 60
    assert not first.due() and first.due(first.next_at) and not first.due(first.next_at - 0.001)
    jobs.run_due()
    assert ran == ["first", "broken", "last", "broken"]  # only the one due again
    first.make_due()
    assert first.due() and first.next_at == 0.0
    jobs.run_due()
    assert ran[-2:] == ["first", "broken"]


def test_periodic_jobs_run_in_their_thread_at_once_and_when_woken(monkeypatch):
    monkeypatch.setattr(runner_module, "IDLE_POLL_SECONDS", 10.0)
    jobs = PeriodicJobs()
    ran = threading.Semaphore(0)
    jobs.add("job", 3600, ran.release)
    jobs.start()
    try:
        assert ran.acquire(timeout=5)  # at start-up
        jobs.job("job").make_due()
        jobs.wake()
        assert ran.acquire(timeout=5)  # at once, not at the next idle poll 10 s on
    finally:
        jobs.stop()
    assert not jobs._thread.is_alive()
    PeriodicJobs().stop()  # stopping what never started is fine


# --- one generation --------------------------------------------------------------------------


def test_a_generation_is_stored_and_recorded_when_its_handler_is_done(ctx, caplog):
    runner = Runner(ctx, threads=0)
    generation_id = claimed(ctx, runner)
    seen = {}

    def handler(task, workdir):
        seen.update(task=task, workdir=workdir)
        assert workdir.is_dir()
        time.sleep(0.01)
        return mp3_outcome(workdir)

    runner.handle("speech", handler)
    stored = []
    put_file = ctx.storage.put_file
    ctx.storage.put_file = lambda key, source, content_type: (stored.append(content_type),
                                                              put_file(key, source, content_type))
    with caplog.at_level(logging.INFO, logger="utter.worker"):
        runner.run(generation_id)
    assert stored == ["audio/mpeg"]
    row = read(ctx, generation_id)
    assert (row.status, row.output_key, row.duration_seconds, row.engine, row.voice_cloned) == (
        DONE, generated_key(str(generation_id)), 1.5, "stand-in", True)
    assert 0.01 <= row.synthesis_seconds < 10
    assert ctx.storage.get_bytes(row.output_key) == b"\xff\xfbfake mp3"
    assert seen["task"].id == generation_id and seen["task"].worker_id == runner.worker_id
    assert not seen["workdir"].exists()  # the scratch folder is gone
    assert seen["workdir"].name.startswith("utter-gen-")  # a leftover one says whose it is
    assert f"generation.done id={generation_id} seconds=1.50 engine=stand-in" in caplog.messages


def test_each_kind_has_its_handler_and_a_run_may_be_on_anothers_behalf(ctx):
    runner = Runner(ctx, threads=0)
    preview = add_generation(ctx, status=RUNNING, worker_id="borrowed", kind="design", lease_expires_at=later(60))
    runner.handle("speech", lambda task, workdir: pytest.fail("the speech handler ran a preview"))
    runner.handle("design", lambda task, workdir: mp3_outcome(workdir, voice_cloned=None))
    runner.run(preview, worker_id="borrowed")
    assert read(ctx, preview).status == DONE and read(ctx, preview).voice_cloned is None
    runner.run(uuid.uuid4())  # gone meanwhile: nothing to do


def stored_then(error):
    """A handler that stores what a task stores on its way, then fails with `error`."""

    def handler(task, workdir):
        for key in (segment_key(str(task.id), 0), preview_key(str(task.id))):
            task.ctx.storage.put_bytes(key, b"part", "audio/mpeg")
        raise error

    return handler


@pytest.mark.parametrize("error", [TaskFailed("voice_deleted", "The voice was deleted."),
                                   EngineError("engine_oom", "The GPU ran out of memory.")])
def test_a_failure_with_a_reason_is_shown_as_it_is_and_leaves_no_file(ctx, error):
    runner = Runner(ctx, threads=0)
    generation_id = claimed(ctx, runner)
    runner.handle("speech", stored_then(error))
    runner.run(generation_id)
    row = read(ctx, generation_id)
    assert (row.status, row.error_code, row.error_message) == (FAILED, error.code, error.message)
    assert ctx.storage.list_keys("") == []


def test_a_missing_reference_says_to_clone_again(ctx):
    runner = Runner(ctx, threads=0)
    generation_id = claimed(ctx, runner)
    runner.handle("speech", stored_then(ObjectMissing("references/v.wav")))
    runner.run(generation_id)
    row = read(ctx, generation_id)
    assert (row.status, row.error_code) == (FAILED, "reference_missing")
    assert row.error_message == "The voice's reference recording is missing from storage; clone the voice again."


def test_storage_down_is_recorded_first_and_cleaning_up_may_fail(ctx, monkeypatch):
    runner = Runner(ctx, threads=0)
    generation_id = claimed(ctx, runner)
    runner.handle("speech", stored_then(StorageError("storage_unavailable", "The bucket cannot be reached.")))
    deletes = []

    def down(key):
        deletes.append(key)
        raise StorageError("storage_unavailable", "still down")

    monkeypatch.setattr(ctx.storage, "delete", down)
    runner.run(generation_id)
    row = read(ctx, generation_id)
    assert (row.status, row.error_code, row.error_message) == (FAILED, "storage_unavailable",
                                                               "The bucket cannot be reached.")
    assert deletes == [generated_key(str(generation_id))]  # cleaning up was tried


def test_storage_down_still_cleans_up_when_it_can(ctx):
    runner = Runner(ctx, threads=0)
    generation_id = claimed(ctx, runner)
    runner.handle("speech", stored_then(StorageError("storage_unavailable", "Flaky.")))
    runner.run(generation_id)
    assert read(ctx, generation_id).error_code == "storage_unavailable"
    assert ctx.storage.list_keys("") == []


def test_a_crash_is_reported_plainly_and_logged(ctx, caplog):
    runner = Runner(ctx, threads=0)
    generation_id = claimed(ctx, runner)
    runner.handle("speech", stored_then(MemoryError()))
    with caplog.at_level(logging.ERROR, logger="utter.worker"):
        runner.run(generation_id)
    row = read(ctx, generation_id)
    assert (row.status, row.error_code) == (FAILED, "engine_failed")
    assert row.error_message == "Speech generation failed unexpectedly (MemoryError). Try again."
    assert ctx.storage.list_keys("") == []
    assert f"generation.crashed id={generation_id}" in caplog.messages


def test_a_task_cancelled_while_its_handler_ran_is_abandoned_and_its_audio_dropped(ctx):
    from utter.generations import repository

    runner = Runner(ctx, threads=0)
    generation_id = claimed(ctx, runner)

    def cancelled_meanwhile(task, workdir):
        task.ctx.storage.put_bytes(segment_key(str(task.id), 0), b"part", "audio/mpeg")
        with ctx.sessions() as session:
            repository.cancel(session, task.id)
        task._last_verified -= 10  # the next check asks the database
        return mp3_outcome(workdir)

    runner.handle("speech", cancelled_meanwhile)
    runner.run(generation_id)
    assert read(ctx, generation_id).status == GenerationStatus.CANCELLED
    assert ctx.storage.list_keys("") == []


# --- the threads -----------------------------------------------------------------------------


def test_the_runner_registers_its_housekeeping(ctx):
    runner = Runner(ctx, threads=3)
    assert runner.threads == 3 and runner.ctx is ctx
    reap, sweep = runner.housekeeping.job("queue.reap"), runner.housekeeping.job("streams.sweep")
    assert (reap.seconds, sweep.seconds) == (5.0, 600.0)
    assert reap.run == runner._reap and sweep.run == runner._sweep_segments
    assert re.fullmatch(rf"{re.escape(socket.gethostname())}:{os.getpid()}:[0-9a-f]{{8}}", runner.worker_id)
    extra = []
    runner.every(42, "extra", lambda: extra.append(1))
    assert runner.housekeeping.job("extra").seconds == 42
    runner.housekeeping.run_due()
    assert extra == [1]


def test_workers_take_queued_tasks_until_stopped(ctx, caplog):
    ctx.engine.fail_load = EngineError("engine_not_installed", "No engine.")  # logged; the loop goes on
    runner = Runner(ctx, threads=2)
    done = []
    runner.handle("speech", lambda task, workdir: (done.append(task.id), mp3_outcome(workdir))[1])
    dead_owner = f"{socket.gethostname()}:999999999:deadbeef"
    orphan = add_generation(ctx, status=RUNNING, worker_id=dead_owner, attempts=1, lease_expires_at=later(600),
                            created_at=ago(60))
    with caplog.at_level(logging.INFO, logger="utter.worker"), running(runner):
        assert [t.name for t in runner._threads] == ["utter-worker-0", "utter-worker-1"]
        assert all(t.is_alive() and t.daemon for t in runner._threads)  # never keep a stopping process alive
        housekeeping = runner.housekeeping._thread
        assert housekeeping.name == "utter-housekeeping" and housekeeping.daemon
        queued = [add_generation(ctx) for _ in range(3)]
        ctx.wake.set()
        assert wait_until(lambda: all(read(ctx, g).status == DONE for g in [orphan, *queued]))
        unannounced = add_generation(ctx)  # nobody wakes the workers: they look by themselves
        assert wait_until(lambda: read(ctx, unannounced).status == DONE)
    assert not any(t.is_alive() for t in runner._threads)
    assert sorted(done) == sorted([orphan, *queued, unannounced])
    assert "engine.load_failed code=engine_not_installed message=No engine." in caplog.messages
    assert ctx.engine.loads == 2
    assert read(ctx, orphan).worker_id == runner.worker_id and read(ctx, orphan).attempts == 2


def test_a_bad_task_does_not_stop_a_worker(ctx, caplog):
    runner = Runner(ctx, threads=1)
    runner.handle("speech", lambda task, workdir: mp3_outcome(workdir))
    unknown = add_generation(ctx, kind="unknown-kind", created_at=ago(10))  # no handler: the loop must go on
    good = add_generation(ctx)
    with caplog.at_level(logging.ERROR, logger="utter.worker"), running(runner):
        assert wait_until(lambda: read(ctx, good).status == DONE)
    assert "worker.loop_error" in caplog.messages
    assert read(ctx, unknown).status == RUNNING  # left to its lease


def test_stopping_hands_back_a_task_that_outlives_the_grace(make_ctx, caplog):
    ctx = make_ctx(stop_grace_seconds=0.3)
    runner = Runner(ctx, threads=1)
    started, release = threading.Event(), threading.Event()

    def slow(task, workdir):
        started.set()
        release.wait(10)
        return mp3_outcome(workdir)

    runner.handle("speech", slow)
    generation_id = add_generation(ctx)
    runner.start()
    try:
        assert started.wait(10)
        begun = time.monotonic()
        with caplog.at_level(logging.INFO, logger="utter.worker"):
            runner.stop()
        assert time.monotonic() - begun < 0.9
        row = read(ctx, generation_id)
        assert (row.status, row.worker_id, row.attempts) == (QUEUED, None, 0)
        assert "queue.handed_back count=1" in caplog.messages
    finally:
        release.set()
        runner._threads[0].join(10)


def test_stopping_waits_for_a_task_that_finishes_within_the_grace(make_ctx):
    ctx = make_ctx(stop_grace_seconds=5)
    runner = Runner(ctx, threads=1)
    started = threading.Event()

    def short(task, workdir):
        started.set()
        time.sleep(0.3)
        return mp3_outcome(workdir)

    runner.handle("speech", short)
    generation_id = add_generation(ctx)
    runner.start()
    assert started.wait(10)
    runner.stop()
    assert read(ctx, generation_id).status == DONE


def test_reaping_releases_dead_owners_and_gives_up_exhausted_tasks(ctx, caplog):
    runner = Runner(ctx, threads=0)
    dead_owner = f"{socket.gethostname()}:999999999:deadbeef"
    orphan = add_generation(ctx, status=RUNNING, worker_id=dead_owner, attempts=1, lease_expires_at=later(600))
    exhausted = add_generation(ctx, status=RUNNING, worker_id="elsewhere:1:x", attempts=2, lease_expires_at=ago(5))
    with caplog.at_level(logging.WARNING, logger="utter.worker"):
        runner._reap()
    assert read(ctx, orphan).lease_expires_at <= later(0)
    assert read(ctx, exhausted).error_code == "worker_lost"
    assert f"generation.failed id={exhausted} code=worker_lost" in caplog.messages


def test_sweeping_drops_segments_of_finished_generations(ctx, caplog):
    runner = Runner(ctx, threads=0)
    finished = add_generation(ctx, status=DONE)
    live = add_generation(ctx, status=RUNNING, worker_id="w")
    for generation_id in (finished, live):
        ctx.storage.put_bytes(segment_key(str(generation_id), 0), b"part", "audio/mpeg")
    with caplog.at_level(logging.INFO, logger="utter.worker"):
        runner._sweep_segments()
        runner._sweep_segments()  # nothing left: says nothing
    assert ctx.storage.list_keys("streams/") == [segment_key(str(live), 0)]
    assert [m for m in caplog.messages if m.startswith("streams.swept")] == ["streams.swept generations=1"]


def test_starting_releases_the_tasks_of_dead_local_processes_at_once(ctx, caplog):
    runner = Runner(ctx, threads=0)
    del runner.housekeeping.jobs["queue.reap"]  # only start() itself may release them here
    dead_owner = f"{socket.gethostname()}:999999999:deadbeef"
    orphan = add_generation(ctx, status=RUNNING, worker_id=dead_owner, attempts=1, lease_expires_at=later(600))
    with caplog.at_level(logging.INFO, logger="utter.worker"):
        runner.start()
    try:
        assert read(ctx, orphan).lease_expires_at <= later(0)
        assert "queue.orphans_released count=1" in caplog.messages
    finally:
        runner.stop()


def test_housekeeping_keeps_its_own_time(monkeypatch):
    monkeypatch.setattr(runner_module, "IDLE_POLL_SECONDS", 5.0)
    idle = PeriodicJobs()
    idle.start()  # no jobs at all: it just waits
    jobs = PeriodicJobs()
    ran = []
    jobs.add("often", 0.1, lambda: ran.append(time.monotonic()))
    jobs.start()
    try:
        assert wait_until(lambda: len(ran) >= 4, timeout=2)  # every 0.1 s, without being woken
        assert idle._thread.is_alive()
    finally:
        jobs.stop()
        idle.stop()
    assert not idle._thread.is_alive()


def test_an_idle_worker_keeps_looking_without_being_woken(ctx):
    class CountingWake(threading.Event):
        def __init__(self):
            super().__init__()
            self.waits = 0

        def wait(self, timeout=None):
            self.waits += 1
            return super().wait(timeout)

    ctx.wake = wake = CountingWake()
    runner = Runner(ctx, threads=1)
    runner.handle("speech", lambda task, workdir: mp3_outcome(workdir))
    with running(runner):
        assert wait_until(lambda: wake.waits >= 2)  # it polled, found nothing, and polled again
        generation_id = add_generation(ctx)  # nobody sets the wake event
        assert wait_until(lambda: read(ctx, generation_id).status == DONE)
