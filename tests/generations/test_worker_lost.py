"""A task whose process died is retried while it has attempts left, then failed with `worker_lost`.

The processes are played by rows: a task left running by a process on another host (so nobody
can tell it is gone) with its lease run out, exactly what a killed machine leaves behind.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import update

from tests.api.test_flow import clone
from tests.support.app_fixtures import wait_for_generation
from utter.bootstrap import build_runner
from utter.generations.runner import running
from utter.models import Generation, GenerationStatus, utcnow


def _left_running_by_a_dead_process(server, speech_clips, attempts: int) -> dict:
    with server.client() as client:
        voice = clone(client, speech_clips["wav"]).json()
        queued = client.post("/api/generate", json={"voice_id": voice["id"], "text": "Lost and found."}).json()
    with server.ctx.sessions() as session:
        session.execute(update(Generation).where(Generation.id == uuid.UUID(queued["id"])).values(
            status=GenerationStatus.RUNNING, worker_id="another-host:4242:gone", attempts=attempts,
            started_at=utcnow(), lease_expires_at=utcnow() - timedelta(seconds=1)))
        session.commit()
    return queued


def test_a_task_out_of_attempts_fails_as_worker_lost(make_server, speech_clips):
    server = make_server(workers=0, task_max_attempts=2)
    queued = _left_running_by_a_dead_process(server, speech_clips, attempts=2)
    with running(build_runner(server.ctx, 1)), server.client() as client:
        failed = wait_for_generation(client, queued["status_url"], timeout=30)
    assert failed["status"] == "failed" and failed["audio_url"] is None
    assert failed["error"]["code"] == "worker_lost"
    assert "stopped 2 times" in failed["error"]["message"]


def test_a_task_with_attempts_left_is_run_again(make_server, speech_clips):
    server = make_server(workers=0, task_max_attempts=2)
    queued = _left_running_by_a_dead_process(server, speech_clips, attempts=1)
    with running(build_runner(server.ctx, 1)), server.client() as client:
        done = wait_for_generation(client, queued["status_url"], timeout=60)
    assert done["status"] == "done" and done["error"] is None
    with server.ctx.sessions() as session:
        assert session.get(Generation, uuid.UUID(queued["id"])).attempts == 2
