"""Several real processes sharing one PostgreSQL database and one storage; one is killed mid-task.

Whatever happens to a process, every generation must end exactly once — done, or failed
with a reason — and no audio may be left behind without a generation that owns it.
"""

from __future__ import annotations

import time

import pytest

from tests.processes.cluster import (
    Queue, assert_each_ran_once, base_env, clone_voice, sigkill, speech_text, start_worker, stop_all, submit,
    worker_prefix,
)
from tests.support.server import start_process
from utter.models import GenerationStatus
from utter.adapters.storage.local import LocalStorage

GENERATIONS = 24
LEASE_SECONDS = 3

# Real processes on a shared 2-core machine can be slow; allow more than the suite's default 300 s.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


def _storage(kind: str, request, tmp_path):
    """Environment for the processes, and a way to list what they stored."""
    if kind == "local":
        shared = tmp_path / "shared-uploads"
        return {"UTTER_STORAGE": "local", "UTTER_UPLOADS_DIR": str(shared)}, LocalStorage(shared)
    server = request.getfixturevalue("s3_server")
    bucket = request.getfixturevalue("s3_storage")
    env = {"UTTER_STORAGE": "r2", "R2_ENDPOINT": server.endpoint, "R2_ACCESS_KEY": server.access_key,
           "R2_SECRET_KEY": server.secret_key, "R2_BUCKET": bucket.bucket}
    return env, bucket


def _kill_when_freshly_claimed(queue: Queue, victim_proc, min_done: int, timeout: float = 90):
    """SIGKILL `victim_proc` right after it claims a new task, once `min_done` tasks are done.

    Killing just after a claim (not at a random moment) makes sure the task is in flight,
    not about to finish. Returns (the generation it was running, the kill time).
    """
    prefix = worker_prefix(victim_proc)
    seen: set = set()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = queue.rows()
        running = {r.id for r in rows if r.status == GenerationStatus.RUNNING and (r.worker_id or "").startswith(prefix)}
        done = sum(r.status == GenerationStatus.DONE for r in rows)
        fresh = running - seen
        seen |= running
        if fresh and done >= min_done:
            killed_at = sigkill(victim_proc)
            victims = queue.running_under(prefix)
            assert [v.id for v in victims] == list(fresh), "the killed process should hold exactly its fresh task"
            return victims[0], killed_at
        time.sleep(0.03)
    raise TimeoutError(f"{prefix} never claimed a task after {min_done} were done")


@pytest.mark.parametrize("storage_kind", ["local", "s3"])
def test_sigkill_mid_task_every_generation_ends_exactly_once(storage_kind, request, postgres_databases, tmp_path,
                                                             speech_clips, record_property):
    database_url = postgres_databases.create()
    request.addfinalizer(lambda: postgres_databases.drop(database_url))
    storage_env, storage = _storage(storage_kind, request, tmp_path)
    env = base_env(database_url, tmp_path, UTTER_TASK_LEASE_SECONDS=LEASE_SECONDS, **storage_env)
    for name in ("a", "b"):
        (tmp_path / name).mkdir()

    procs = []
    request.addfinalizer(lambda: stop_all(procs))
    a = start_process(env, tmp_path / "a", "serve")
    procs.append(a)
    if storage_kind == "local":
        # Two web replicas, each running tasks in its own worker thread.
        b = start_process(env, tmp_path / "b", "serve")
        entry_points = [a.url, b.url]
    else:
        # A web process and a separate `utter worker`, the layout for GPU work apart from the web tier.
        b = start_worker(env, tmp_path / "b")
        entry_points = [a.url]
    procs.append(b)

    queue = Queue(database_url)
    request.addfinalizer(queue.close)
    voice_id = clone_voice(a.url, speech_clips["wav"])
    ids = [submit(entry_points[i % len(entry_points)], voice_id, speech_text(i, 2 + i % 2)) for i in range(GENERATIONS)]

    victim, killed_at = _kill_when_freshly_claimed(queue, b, min_done=4)
    # The survivor notices the dead owner (same host: at its next reap; elsewhere: when the lease runs out).
    queue.wait(lambda rows: any(r.id == victim.id and r.status != GenerationStatus.RUNNING or
                                r.id == victim.id and not r.worker_id.startswith(worker_prefix(b)) for r in rows),
               timeout=60, what="the killed task taken over")
    reclaimed_after = time.monotonic() - killed_at
    rows = queue.wait_all_finished(timeout=400)
    all_done_after = time.monotonic() - killed_at
    record_property("reclaimed_after_kill_s", round(reclaimed_after, 2))
    record_property("all_finished_after_kill_s", round(all_done_after, 2))
    print(f"\n[{storage_kind}] killed task taken over {reclaimed_after:.2f} s after SIGKILL; "
          f"all {GENERATIONS} finished {all_done_after:.2f} s after it")

    assert {str(r.id) for r in rows} == set(ids)
    assert_each_ran_once(rows, [a, b], storage)
    by_id = {r.id: r for r in rows}
    assert by_id[victim.id].status == GenerationStatus.DONE and by_id[victim.id].attempts == 2
    # Nobody else was run twice: one claim per task, except the one whose process died.
    assert {str(r.id): r.attempts for r in rows if r.id != victim.id and r.attempts != 1} == {}
    assert all(r.status == GenerationStatus.DONE for r in rows), [(r.id, r.error_code) for r in rows]
    # Both processes did real work before the kill, so the test exercised sharing, not one process alone.
    assert len({r.worker_id.split(":")[1] for r in rows}) == 2
    assert a.process.poll() is None, "the surviving process must keep running"
    assert reclaimed_after < 30  # next reap (5 s) after the survivor's current task, even on a busy machine
