"""Removing previews: DELETE /api/design/{id}, and the periodic cleanup of old unsaved previews."""

from __future__ import annotations

import time
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from tests.design.test_api import DESCRIPTION, error_of, wait_for_design
from utter.config import Settings
from utter.design import previews
from utter.models import Generation, GenerationKind, GenerationStatus, utcnow
from utter.audio import codec as audio
from utter.adapters.storage import generated_key, preview_key


def design_and_wait(client, candidates: int) -> dict:
    response = client.post("/api/design", json={"description": DESCRIPTION, "text": "Hello there.",
                                                "language": "en", "candidates": candidates})
    assert response.status_code == 202, response.text
    return response.json()


def finished(client, design: dict) -> dict:
    design = wait_for_design(client, design["status_url"])
    assert design["status"] == "done", design
    return design


def preview_files(storage, preview_id: str) -> list[bool]:
    return [storage.exists(generated_key(preview_id)), storage.exists(preview_key(preview_id))]


def preview_ids_in_db(ctx) -> set[str]:
    with ctx.sessions() as session:
        return {str(i) for i in session.scalars(select(Generation.id).where(Generation.kind == GenerationKind.DESIGN))}


def test_delete_design_keeps_saved_voice(qwen_server):
    storage = qwen_server.ctx.storage
    with qwen_server.client() as client:
        design = finished(client, design_and_wait(client, 2))
        ids = [p["id"] for p in design["previews"]]
        assert all(preview_files(storage, i) == [True, True] for i in ids)
        voice = client.post(design["previews"][0]["save_url"], json={"name": "Kept"}).json()

        assert client.delete(design["status_url"]).status_code == 204
        assert preview_ids_in_db(qwen_server.ctx) == set()
        assert all(preview_files(storage, i) == [False, False] for i in ids)
        assert error_of(client.get(design["status_url"]))[:2] == (404, "design_not_found")
        assert error_of(client.get(design["previews"][0]["status_url"]))[:2] == (404, "preview_not_found")

        # The saved voice has its own copy of the preview's audio.
        listed = client.get("/api/voices").json()["voices"]
        assert [v["id"] for v in listed] == [voice["id"]]
        fetched = client.get(client.get(f"/api/voices/{voice['id']}").json()["reference_url"])
        assert fetched.status_code == 200
        assert audio.decode(fetched.content).duration == pytest.approx(voice["reference_seconds"], abs=0.05)

        assert error_of(client.delete(design["status_url"]))[:2] == (404, "design_not_found")
        assert error_of(client.delete(f"/api/design/{uuid.uuid4()}"))[:2] == (404, "design_not_found")
        assert error_of(client.delete("/api/design/nope"))[:2] == (422, "invalid_design_id")


def test_old_unsaved_previews_are_cleaned_up(qwen_server):
    ctx = qwen_server.ctx
    storage = ctx.storage
    long_ago = utcnow() - timedelta(hours=ctx.settings.preview_ttl_hours + 1)
    with qwen_server.client() as client:
        old, recent = design_and_wait(client, 2), design_and_wait(client, 1)
        old, recent = finished(client, old), finished(client, recent)
        saved_id, unsaved_id = (p["id"] for p in old["previews"])
        recent_id = recent["previews"][0]["id"]
        voice = client.post(old["previews"][0]["save_url"], json={"name": "Kept"}).json()

        # A design finished long ago but for one preview still running elsewhere: none of it goes.
        busy_design = uuid.uuid4()
        busy_done, busy_running = uuid.uuid4(), uuid.uuid4()
        common = dict(kind=GenerationKind.DESIGN, design_id=busy_design, description=DESCRIPTION, text="Hi.",
                      language="en", engine="qwen")
        storage.put_bytes(preview_key(str(busy_done)), b"RIFF", "audio/wav")
        with ctx.sessions() as session:
            session.add_all([
                Generation(id=busy_done, candidate=1, voice_name="Design candidate 1", status=GenerationStatus.DONE,
                           finished_at=long_ago, **common),
                Generation(id=busy_running, candidate=2, voice_name="Design candidate 2",
                           status=GenerationStatus.RUNNING, worker_id="elsewhere:1:test", attempts=1,
                           lease_expires_at=utcnow() + timedelta(hours=1), **common),
            ])
            session.execute(update(Generation).where(Generation.design_id == uuid.UUID(old["id"]))
                            .values(finished_at=long_ago))
            session.commit()

        # The runner's housekeeping runs the cleanup (made due at once here rather than in minutes).
        expiry = qwen_server.runner.housekeeping.job("design.expire_previews")
        expiry.make_due()
        qwen_server.runner.housekeeping.wake()
        deadline = time.monotonic() + 60
        # The row goes first, its files right after: wait for both.
        while unsaved_id in preview_ids_in_db(ctx) or any(preview_files(storage, unsaved_id)):
            assert time.monotonic() < deadline, "the reaper did not remove the old unsaved preview"
            time.sleep(0.2)
        assert preview_files(storage, unsaved_id) == [False, False]
        assert preview_ids_in_db(ctx) == {saved_id, recent_id, str(busy_done), str(busy_running)}
        assert preview_files(storage, saved_id) == preview_files(storage, recent_id) == [True, True]
        assert storage.exists(preview_key(str(busy_done)))
        # Throttled: not due again for minutes.
        assert not expiry.due() and expiry.seconds >= 60

        # The saved preview stays, and its voice works.
        assert client.get(old["previews"][0]["status_url"]).json()["voice_id"] == voice["id"]
        assert client.get(voice["reference_url"]).status_code == 200

        # Once the last preview of the busy design has finished long ago, the design goes.
        with ctx.sessions() as session:
            session.execute(update(Generation).where(Generation.id == busy_running)
                            .values(status=GenerationStatus.CANCELLED, finished_at=long_ago, worker_id=None,
                                    lease_expires_at=None))
            session.commit()
            assert previews.expire(session, ctx) == 2
            assert previews.expire(session, ctx) == 0  # a second run finds nothing, and fails on nothing
        assert not storage.exists(preview_key(str(busy_done)))
        assert preview_ids_in_db(ctx) == {saved_id, recent_id}

        # A day later the recent design is old too; the saved preview still stays.
        with ctx.sessions() as session:
            later = utcnow() + timedelta(hours=ctx.settings.preview_ttl_hours + 1)
            assert previews.expire(session, ctx, now=later) == 1
        assert preview_ids_in_db(ctx) == {saved_id}
        assert preview_files(storage, recent_id) == [False, False]
        assert client.get(old["status_url"]).json()["previews"][0]["voice_id"] == voice["id"]


def test_preview_ttl_setting(monkeypatch):
    assert Settings(_env_file=None).preview_ttl_hours == 24
    monkeypatch.setenv("UTTER_PREVIEW_TTL_HOURS", "2")
    assert Settings(_env_file=None).preview_ttl_hours == 2
