"""The design API end to end: previews through the queue, saving one as a voice, speaking with it."""

from __future__ import annotations

import time
import uuid

import httpx
import pytest
from sqlalchemy import func, select

from tests.support.app_fixtures import wait_for_generation
from utter.models import Generation
from utter.audio import codec as audio
from utter.adapters.storage import prompt_prefix

DESCRIPTION = "A warm, elderly storyteller with a slight rasp, speaking slowly."


def wait_for_design(client: httpx.Client, status_url: str, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = client.get(status_url).json()
        if body["status"] != "running":
            return body
        time.sleep(0.2)
    raise TimeoutError(f"design at {status_url} still running after {timeout} s: {body}")


def error_of(response: httpx.Response) -> tuple[int, str, str | None]:
    error = response.json()["error"]
    return response.status_code, error["code"], error["field"]


def test_design_save_then_generate(qwen_server):
    with qwen_server.client() as client:
        response = client.post("/api/design", json={"description": DESCRIPTION, "text": "Hello there.",
                                                    "language": "en", "candidates": 2})
        assert response.status_code == 202, response.text
        design = response.json()
        assert response.headers["Location"] == design["status_url"] == f"/api/design/{design['id']}"
        assert [p["candidate"] for p in design["previews"]] == [1, 2]
        assert all(p["status_url"] == f"/api/design/previews/{p['id']}" for p in design["previews"])

        design = wait_for_design(client, design["status_url"])
        assert design["status"] == "done", design
        assert (design["description"], design["text"], design["language"]) == (DESCRIPTION, "Hello there.", "en")
        for preview in design["previews"]:
            assert preview["status"] == "done" and preview["voice_id"] is None
            mp3 = client.get(preview["audio_url"])
            assert mp3.status_code == 200
            decoded = audio.decode(mp3.content)
            assert decoded.format == "MP3"
            assert decoded.duration == pytest.approx(preview["duration_seconds"], abs=0.1)
            assert client.get(preview["status_url"]).json()["status"] == "done"
        # Previews are not speech in a voice: the history leaves them out.
        assert client.get("/api/generations").json()["total"] == 0

        first = design["previews"][0]
        saved = client.post(first["save_url"], json={"name": "  Storyteller "})
        assert saved.status_code == 201, saved.text
        voice = saved.json()
        assert (voice["name"], voice["source"], voice["description"]) == ("Storyteller", "designed", DESCRIPTION)
        assert (voice["transcript"], voice["transcript_source"], voice["language"]) == ("Hello there.", "typed", "en")
        assert voice["reference_seconds"] == pytest.approx(first["duration_seconds"], abs=0.05)
        reference = audio.decode(client.get(voice["reference_url"]).content)
        assert reference.format == "WAV" and reference.sample_rate == audio.REFERENCE_SAMPLE_RATE
        assert client.get(first["status_url"]).json()["voice_id"] == voice["id"]
        assert error_of(client.post(first["save_url"], json={"name": "Again"}))[:2] == (409, "preview_already_saved")
        listed = client.get("/api/voices").json()["voices"]
        assert [(v["id"], v["description"]) for v in listed] == [(voice["id"], DESCRIPTION)]

        # The saved voice speaks like a cloned one: the engine builds its clone prompt from the preview.
        response = client.post("/api/generate", json={"voice_id": voice["id"], "text": "Once upon a time."})
        assert response.status_code == 202, response.text
        spoken = wait_for_generation(client, response.json()["status_url"], timeout=120)
        assert spoken["status"] == "done", spoken
        assert (spoken["voice_cloned"], spoken["engine"]) == (True, "qwen")
        assert audio.decode(client.get(spoken["audio_url"]).content).duration > 0
        assert qwen_server.ctx.storage.list_keys(prompt_prefix(voice["id"]))
        assert [g["id"] for g in client.get("/api/generations").json()["generations"]] == [spoken["id"]]

        # Deleting a preview removes both of its files (the MP3 to hear, the WAV to save from).
        second = design["previews"][1]
        storage = qwen_server.ctx.storage
        assert storage.exists(f"previews/{second['id']}.wav") and storage.exists(f"generated/{second['id']}.mp3")
        assert client.delete(f"/api/generations/{second['id']}").status_code == 204
        assert not storage.exists(f"previews/{second['id']}.wav")
        assert not storage.exists(f"generated/{second['id']}.mp3")


BAD_INPUT = [
    ({"description": "   "}, "description_empty", "description"),
    ({}, "description_empty", "description"),
    ({"description": "x" * 1001}, "description_too_long", "description"),
    ({"description": DESCRIPTION, "text": " "}, "text_empty", "text"),
    ({"description": DESCRIPTION, "text": "y" * 501}, "text_too_long", "text"),
    ({"description": DESCRIPTION, "candidates": 4}, "candidates_out_of_range", "candidates"),
    ({"description": DESCRIPTION, "candidates": 0}, "candidates_out_of_range", "candidates"),
    ({"description": DESCRIPTION, "language": "xx"}, "language_unknown", "language"),
]


def test_design_bad_input(qwen_server):
    with qwen_server.client() as client:
        answers = [error_of(client.post("/api/design", json=body)) for body, _, _ in BAD_INPUT]
    assert answers == [(422, code, field) for _, code, field in BAD_INPUT]
    with qwen_server.ctx.sessions() as session:  # nothing was queued
        assert session.scalar(select(func.count()).select_from(Generation)) == 0


def test_unknown_design_and_preview(qwen_server):
    unknown = uuid.uuid4()
    with qwen_server.client() as client:
        assert error_of(client.get(f"/api/design/{unknown}"))[:2] == (404, "design_not_found")
        assert error_of(client.get(f"/api/design/previews/{unknown}"))[:2] == (404, "preview_not_found")
        assert error_of(client.post(f"/api/design/previews/{unknown}/save", json={"name": "X"}))[:2] == (
            404, "preview_not_found")
        assert error_of(client.post("/api/design/previews/nope/save", json={"name": "X"}))[:2] == (
            422, "invalid_preview_id")


def test_piper_cannot_design(server):
    """The CPU default answers with a code clients will not retry, and says how to enable design."""
    with server.client() as client:
        assert client.get("/api/engine").json()["capabilities"]["can_design"] is False
        response = client.post("/api/design", json={"description": DESCRIPTION})
        assert error_of(response) == (409, "design_unsupported", None)
        assert "UTTER_ENGINE=qwen" in response.json()["error"]["message"]
        page = client.get("/design").text
        assert "cannot design voices" in page and "UTTER_ENGINE=qwen" in page
