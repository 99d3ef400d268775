"""Restarting the embedded default (SQLite, one `utter serve`): nothing queued is lost.

The lease stays at its default (120 s) on purpose: a restarted process must resume the
task its predecessor was running at once, because it can tell that predecessor is dead
(release_orphans), not after the lease runs out.
"""

from __future__ import annotations

import signal
import time

import httpx
import pytest

from tests.processes.cluster import (
    Queue, assert_each_ran_once, base_env, clone_voice, sigkill, speech_text, stop_all, submit, worker_prefix,
)
from tests.support.server import start_process
from utter.models import GenerationStatus
from utter.adapters.storage.local import LocalStorage

# Real processes on a shared 2-core machine can be slow; allow more than the suite's default 300 s.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


def _first_fresh_claim(queue: Queue, prefix: str, timeout: float = 60):
    """The first task `prefix` claims, seen within one poll of the claim."""
    return queue.wait(lambda rows: next((r for r in rows if r.status == GenerationStatus.RUNNING
                                         and (r.worker_id or "").startswith(prefix)), None),
                      timeout, f"a task claimed by {prefix}", interval=0.02)


@pytest.fixture
def embedded(tmp_path, request):
    """Environment, queue reader and storage of a default install in tmp_path (no DATABASE_URL set)."""
    env = base_env("", tmp_path)  # empty DATABASE_URL: the default SQLite file in the data dir
    queue = Queue(f"sqlite:///{tmp_path / 'utter.db'}")
    request.addfinalizer(queue.close)
    return env, queue, LocalStorage(tmp_path / "uploads")


def test_sigkill_then_restart_resumes_the_interrupted_task_at_once(embedded, tmp_path, request, speech_clips,
                                                                   record_property):
    env, queue, storage = embedded
    procs = []
    request.addfinalizer(lambda: stop_all(procs))
    first = start_process(env, tmp_path, "serve", log_name="first.log")
    procs.append(first)
    voice_id = clone_voice(first.url, speech_clips["wav"])
    # About a second of work each, so the kill lands mid-task even on an idle machine.
    ids = [submit(first.url, voice_id, speech_text(i, 6)) for i in range(4)]

    victim = _first_fresh_claim(queue, worker_prefix(first))
    sigkill(first)
    assert queue.running_under(worker_prefix(first)), "the task should still be marked running after the kill"

    restarted_at = time.monotonic()
    second = start_process(env, tmp_path, "serve", log_name="second.log")
    procs.append(second)
    up_after = time.monotonic() - restarted_at
    queue.wait(lambda rows: any(r.id == victim.id and (r.worker_id or "").startswith(worker_prefix(second))
                                for r in rows), timeout=60, what="the interrupted task resumed")
    resumed_after = time.monotonic() - restarted_at
    rows = queue.wait_all_finished(timeout=400)
    record_property("restart_up_s", round(up_after, 2))
    record_property("resumed_after_restart_s", round(resumed_after, 2))
    print(f"\n[sqlite restart] server up {up_after:.2f} s after restart; interrupted task resumed "
          f"{resumed_after:.2f} s after restart (lease is {120} s)")

    assert {str(r.id) for r in rows} == set(ids)
    assert all(r.status == GenerationStatus.DONE for r in rows)
    assert {r.id: r.attempts for r in rows} == {r.id: 2 if r.id == victim.id else 1 for r in rows}
    assert_each_ran_once(rows, [first, second], storage)
    assert "queue.orphans_released count=1" in second.log()
    # The restart recognised its dead predecessor: the task resumed as soon as the server was up
    # (start-up itself is slow on a busy machine), far sooner than the 120 s lease would allow.
    assert resumed_after - up_after < 10 and resumed_after < 60


def test_sigterm_hands_back_a_long_task_and_the_restart_resumes_it(embedded, tmp_path, request,
                                                                           speech_clips, record_property):
    env, queue, storage = embedded
    procs = []
    request.addfinalizer(lambda: stop_all(procs))
    # A fast machine speaks the longest text in under the default 10 s of grace; with 1 s the
    # task in hand is surely still running when the grace runs out.
    first = start_process({**env, "UTTER_STOP_GRACE_SECONDS": "1"}, tmp_path, "serve", log_name="first.log")
    procs.append(first)
    voice_id = clone_voice(first.url, speech_clips["wav"])
    # ~4,800 characters (several seconds of work on any machine, the most one generation may hold).
    ids = [submit(first.url, voice_id, speech_text(0, 57))]
    ids += [submit(first.url, voice_id, speech_text(i, 1)) for i in range(1, 3)]

    in_flight = _first_fresh_claim(queue, worker_prefix(first))
    assert str(in_flight.id) == ids[0]
    asked_at = time.monotonic()
    first.process.send_signal(signal.SIGTERM)
    # uvicorn re-raises the signal once its graceful shutdown is complete, so -SIGTERM is a clean exit.
    assert first.process.wait(60) in (0, -signal.SIGTERM)
    stopped_after = time.monotonic() - asked_at
    assert "Application shutdown complete" in first.log()
    record_property("graceful_stop_s", round(stopped_after, 2))
    print(f"\n[sqlite SIGTERM] stopped {stopped_after:.2f} s after SIGTERM")
    # The 1 s of grace was honoured (the default 10 s would still be waiting on a slow machine).
    assert stopped_after < 8

    # The unfinished task went back to the queue at once, its attempt not counted; nothing is left running.
    after_stop = {str(r.id): r for r in queue.rows()}
    handed = after_stop[ids[0]]
    assert (handed.status, handed.attempts, handed.worker_id) == (GenerationStatus.QUEUED, 0, None)
    assert "queue.handed_back count=1" in first.log()
    assert not [r for r in after_stop.values() if r.status == GenerationStatus.RUNNING]

    second = start_process(env, tmp_path, "serve", log_name="second.log")
    procs.append(second)
    # The restarted server takes the handed-back task first, as its first attempt. Speaking it all
    # again would only make the test slow: cancel it once resumed, and let the short ones finish.
    resumed = queue.wait(lambda rows: next((r for r in rows if str(r.id) == ids[0]
                                            and r.status == GenerationStatus.RUNNING), None),
                         timeout=60, what="the handed-back task resumed")
    assert resumed.attempts == 1 and resumed.worker_id.startswith(worker_prefix(second))
    with httpx.Client(base_url=second.url, timeout=30) as client:
        assert client.post(f"/api/generations/{ids[0]}/cancel").status_code == 200
    rows = queue.wait_all_finished(timeout=400)
    assert {str(r.id) for r in rows} == set(ids)
    assert [r.status for r in sorted(rows, key=lambda r: ids.index(str(r.id)))] == [
        GenerationStatus.CANCELLED, GenerationStatus.DONE, GenerationStatus.DONE]
    assert {r.attempts for r in rows} == {1}
    assert_each_ran_once(rows, [first, second], storage)
