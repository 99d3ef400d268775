"""A stalled owner that comes back after its task was taken over must not touch the new owner's audio.

The real race needs a process frozen for longer than its lease (a long GC pause, a database
outage); here the two owners are played in turn, in one process, against one database.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update

from tests.api.test_flow import clone
from utter.bootstrap import build_runner
from utter.generations import repository
from utter.models import Generation, GenerationStatus, utcnow
from utter.adapters.storage import generated_key


def test_stalled_owner_leaves_the_new_owners_audio_alone(make_server, speech_clips):
    server = make_server(workers=0)
    ctx = server.ctx
    with server.client() as client:
        voice = clone(client, speech_clips["wav"]).json()
        generation_id = client.post("/api/generate", json={"voice_id": voice["id"], "text": "Taken over."}).json()["id"]

    stalled, successor = "elsewhere:1:stalled", "elsewhere:2:successor"
    with ctx.sessions() as session:
        claimed = repository.claim(session, stalled, lease_seconds=120, max_attempts=2)
        # The stalled owner's lease runs out while it is frozen; another process takes the task.
        session.execute(update(Generation).where(Generation.id == claimed)
                        .values(lease_expires_at=utcnow() - timedelta(seconds=1)))
        session.commit()
        assert repository.claim(session, successor, lease_seconds=120, max_attempts=2) == claimed

    runner = build_runner(ctx, threads=0)
    runner.run(claimed, successor)
    key = generated_key(str(claimed))
    assert ctx.storage.exists(key)

    runner.run(claimed, stalled)  # wakes up, finds the task is no longer its own

    with ctx.sessions() as session:
        row = session.get(Generation, claimed)
    assert (row.status, row.worker_id, row.attempts) == (GenerationStatus.DONE, successor, 2)
    assert str(row.id) == generation_id
    assert ctx.storage.exists(key), "the stalled owner deleted the audio of a finished generation"
