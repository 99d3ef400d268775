"""The whole flow over real HTTP: clone → generate → poll → download, on SQLite and PostgreSQL."""

from __future__ import annotations

import io

import av
import pytest

from tests.support.app_fixtures import wait_for_generation
from tests.support.audio_fixtures import decoded_duration


def clone(client, path, name="Narrator", **fields):
    with open(path, "rb") as handle:
        return client.post("/api/clone", data={"name": name, **fields},
                           files={"audio": (path.name, handle, "application/octet-stream")})


def test_clone_generate_download(client, speech_clips):
    created = clone(client, speech_clips["wav"], transcript="The quick brown fox.", language="en")
    assert created.status_code == 201, created.text
    voice = created.json()
    assert voice["name"] == "Narrator"
    assert voice["reference_url"] == f"/uploads/references/{voice['id']}.wav"
    assert 12 < voice["reference_seconds"] < 20
    assert voice["transcript"] == "The quick brown fox."

    listed = client.get("/api/voices").json()
    assert [v["id"] for v in listed["voices"]] == [voice["id"]]

    reference = client.get(voice["reference_url"])
    assert reference.status_code == 200
    with av.open(io.BytesIO(reference.content)) as container:
        stream = container.streams.audio[0]
        assert (stream.rate, stream.channels) == (24000, 1)

    text = "Hello from Utter. This sentence should take a couple of seconds to say."
    queued = client.post("/api/generate", json={"voice_id": voice["id"], "text": text})
    assert queued.status_code == 202, queued.text
    body = queued.json()
    assert queued.headers["location"] == body["status_url"]
    assert body["status"] in ("queued", "running", "done")

    done = wait_for_generation(client, body["status_url"])
    assert done["status"] == "done", done
    assert done["progress"] == 1.0
    assert done["engine"] == "piper"
    assert done["voice_cloned"] is False and "cannot clone" in done["notice"]

    audio = client.get(done["audio_url"])
    assert audio.status_code == 200 and audio.headers["content-type"] == "audio/mpeg"
    with av.open(io.BytesIO(audio.content)) as container:
        stream = container.streams.audio[0]
        assert stream.codec_context.name.startswith("mp3")
        assert stream.rate == 44100
    seconds = decoded_duration(audio.content)
    # About 15 characters a second of speech; anything far off means truncated or runaway audio.
    assert 2.5 < seconds < 10, seconds
    assert done["duration_seconds"] == pytest.approx(seconds, abs=0.15)

    download = client.get(done["download_url"])
    assert download.status_code == 200
    disposition = download.headers["content-disposition"]
    assert disposition.startswith("attachment") and "utter-Narrator-Hello-from-Utter" in disposition
    assert download.content == audio.content

    history = client.get("/api/generations").json()
    assert history["total"] == 1 and history["generations"][0]["id"] == done["id"]


@pytest.mark.parametrize("fmt", ["wav", "mp3", "m4a", "webm", "ogg"])
def test_every_accepted_format_clones(client, speech_clips, fmt):
    created = clone(client, speech_clips[fmt], name=f"From {fmt}")
    assert created.status_code == 201, created.text
    assert 12 < created.json()["reference_seconds"] < 20


def test_audio_supports_range_requests_for_seeking(client, speech_clips):
    voice = clone(client, speech_clips["wav"]).json()
    partial = client.get(voice["reference_url"], headers={"Range": "bytes=0-99"})
    assert partial.status_code == 206 and len(partial.content) == 100


def test_history_is_newest_first_and_paginated(client, speech_clips):
    voice = clone(client, speech_clips["wav"]).json()
    ids = []
    for n in range(3):
        ids.append(client.post("/api/generate", json={"voice_id": voice["id"], "text": f"Number {n}."}).json()["id"])
    page = client.get("/api/generations", params={"limit": 2}).json()
    assert page["total"] == 3 and [g["id"] for g in page["generations"]] == ids[::-1][:2]
    rest = client.get("/api/generations", params={"limit": 2, "offset": 2}).json()
    assert [g["id"] for g in rest["generations"]] == ids[:1]


def test_rename_and_delete_voice_removes_its_file(client, server, speech_clips):
    voice = clone(client, speech_clips["wav"]).json()
    renamed = client.patch(f"/api/voices/{voice['id']}", json={"name": "  New   name "})
    assert renamed.json()["name"] == "New name"
    storage = server.ctx.storage
    key = f"references/{voice['id']}.wav"
    assert storage.exists(key)
    assert client.delete(f"/api/voices/{voice['id']}").status_code == 204
    assert not storage.exists(key)
    assert client.get(f"/api/voices/{voice['id']}").json()["error"]["code"] == "voice_not_found"
    assert client.get(voice["reference_url"]).status_code == 404


def test_delete_generation_removes_its_audio(client, server, speech_clips):
    voice = clone(client, speech_clips["wav"]).json()
    queued = client.post("/api/generate", json={"voice_id": voice["id"], "text": "Short."}).json()
    done = wait_for_generation(client, queued["status_url"])
    key = f"generated/{done['id']}.mp3"
    assert server.ctx.storage.exists(key)
    assert client.delete(f"/api/generations/{done['id']}").status_code == 204
    assert not server.ctx.storage.exists(key)
    assert client.get(done["status_url"]).status_code == 404


def test_health_reports_database_storage_and_engine(client):
    health = client.get("/api/health")
    assert health.status_code == 200
    body = health.json()
    assert body["database"]["status"] == "ok" and body["storage"]["status"] == "ok"
    assert body["engine"]["name"] == "piper"
    assert body["engine"]["capabilities"]["can_clone"] is False


def test_openapi_documents_the_api(client):
    spec = client.get("/openapi.json").json()
    for path in ("/api/clone", "/api/voices", "/api/generate", "/api/generations/{generation_id}", "/api/health"):
        assert path in spec["paths"], path


def test_voice_list_follows_every_change_and_supports_etags(client, speech_clips):
    first = clone(client, speech_clips["wav"], name="First").json()
    listed = client.get("/api/voices")
    etag = listed.headers["etag"]
    assert client.get("/api/voices", headers={"If-None-Match": etag}).status_code == 304
    second = clone(client, speech_clips["wav"], name="Second").json()
    assert [v["name"] for v in client.get("/api/voices").json()["voices"]] == ["Second", "First"]
    client.patch(f"/api/voices/{first['id']}", json={"name": "Renamed"})
    assert [v["name"] for v in client.get("/api/voices").json()["voices"]] == ["Second", "Renamed"]
    client.delete(f"/api/voices/{second['id']}")
    after = client.get("/api/voices")
    assert [v["name"] for v in after.json()["voices"]] == ["Renamed"] and after.headers["etag"] != etag
    assert [v["name"] for v in client.get("/api/voices", params={"search": "ren"}).json()["voices"]] == ["Renamed"]
    # Sent compressed to clients that accept it (httpx does, and decompresses), plain to others.
    assert after.headers["content-encoding"] == "gzip"
    plain = client.get("/api/voices", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers and plain.json() == after.json()
