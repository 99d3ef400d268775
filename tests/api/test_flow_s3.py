"""The API flow on the S3 backend (a real SeaweedFS server): clone → generate → poll → download.

Audio leaves through presigned URLs that a browser fetches straight from the bucket;
the app never proxies it. A bucket that is down or missing shows in /api/health and
turns requests that need it into a clear JSON error, not a crash page.
"""

from __future__ import annotations

import io
import socket
from urllib.parse import parse_qs, urlsplit

import av
import httpx
import pytest

from tests.api.test_flow import clone
from tests.support.app_fixtures import wait_for_generation
from tests.support.audio_fixtures import decoded_duration


@pytest.fixture
def s3_server_app(make_server, s3_storage):
    return make_server(storage=s3_storage)


@pytest.fixture
def s3_client(s3_server_app):
    with s3_server_app.client() as client:
        yield client


def assert_presigned(url: str, endpoint: str, bucket: str, key: str) -> dict[str, list[str]]:
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}" == endpoint
    assert parts.path == f"/{bucket}/{key}"
    query = parse_qs(parts.query)
    assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"] and query["X-Amz-Signature"]
    assert query["X-Amz-Expires"] == ["60"]  # the test storage's presign_seconds
    return query


def test_clone_generate_download_through_presigned_urls(s3_client, s3_storage, speech_clips):
    created = clone(s3_client, speech_clips["wav"], transcript="The quick brown fox.", language="en")
    assert created.status_code == 201, created.text
    voice = created.json()
    reference_key = f"references/{voice['id']}.wav"
    assert_presigned(voice["reference_url"], s3_storage.endpoint, s3_storage.bucket, reference_key)
    # Plain HTTP with no credentials: the signature in the URL is the whole authorisation.
    reference = httpx.get(voice["reference_url"])
    assert reference.status_code == 200
    with av.open(io.BytesIO(reference.content)) as container:
        assert container.streams.audio[0].rate == 24000

    queued = s3_client.post("/api/generate", json={"voice_id": voice["id"], "text": "Hello from a bucket."})
    assert queued.status_code == 202, queued.text
    done = wait_for_generation(s3_client, queued.json()["status_url"])
    assert done["status"] == "done", done
    audio_key = f"generated/{done['id']}.mp3"
    assert s3_storage.exists(audio_key)
    assert_presigned(done["audio_url"], s3_storage.endpoint, s3_storage.bucket, audio_key)
    audio = httpx.get(done["audio_url"])
    assert audio.status_code == 200 and audio.headers["content-type"] == "audio/mpeg"
    assert done["duration_seconds"] == pytest.approx(decoded_duration(audio.content), abs=0.15)

    # Download: the app answers with a redirect to a signed URL that makes the bucket send `attachment`.
    redirect = s3_client.get(done["download_url"], follow_redirects=False)
    assert redirect.status_code == 307
    location = redirect.headers["location"]
    query = assert_presigned(location, s3_storage.endpoint, s3_storage.bucket, audio_key)
    assert query["response-content-disposition"][0].startswith("attachment")
    download = httpx.get(location)
    assert download.status_code == 200 and download.content == audio.content
    disposition = download.headers["content-disposition"]
    assert disposition.startswith("attachment") and "utter-Narrator-Hello-from-a-bucket" in disposition

    # Inline playback redirects too, without the attachment header.
    inline = s3_client.get(f"/api/generations/{done['id']}/audio", follow_redirects=False)
    assert inline.status_code == 307 and "response-content-disposition" not in inline.headers["location"]


def test_a_tampered_presigned_url_is_refused(s3_client, speech_clips):
    voice = clone(s3_client, speech_clips["wav"]).json()
    url = voice["reference_url"]
    assert httpx.get(url).status_code == 200
    forged = url.replace(f"references/{voice['id']}.wav", "references/someone-else.wav")
    assert httpx.get(forged).status_code == 403


def test_deleting_removes_the_objects(s3_client, s3_storage, speech_clips):
    voice = clone(s3_client, speech_clips["wav"]).json()
    queued = s3_client.post("/api/generate", json={"voice_id": voice["id"], "text": "Short."}).json()
    done = wait_for_generation(s3_client, queued["status_url"])
    audio_key, reference_key = f"generated/{done['id']}.mp3", f"references/{voice['id']}.wav"
    assert set(s3_storage.list_keys("")) >= {audio_key, reference_key}

    assert s3_client.delete(f"/api/generations/{done['id']}").status_code == 204
    assert not s3_storage.exists(audio_key)
    assert httpx.get(done["audio_url"]).status_code == 404
    assert s3_client.delete(f"/api/voices/{voice['id']}").status_code == 204
    assert not s3_storage.exists(reference_key)
    assert s3_storage.list_keys("") == []


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(params=["unreachable", "missing bucket"])
def broken_storage(request, make_s3_storage):
    if request.param == "unreachable":
        return make_s3_storage(endpoint=f"http://127.0.0.1:{_closed_port()}"), "cannot be reached"
    return make_s3_storage(), "does not exist"  # a bucket name nobody created


def test_broken_bucket_makes_health_503(make_server, broken_storage):
    storage, reason = broken_storage
    server = make_server(storage=storage)
    with server.client() as client:
        health = client.get("/api/health")
    assert health.status_code == 503
    body = health.json()
    assert body["status"] == "error" and body["database"]["status"] == "ok"
    assert body["storage"]["status"] == "error" and reason in body["storage"]["detail"]
    assert storage.bucket in body["storage"]["detail"]


def test_clone_while_storage_is_down_is_a_clear_503(make_server, make_s3_storage, speech_clips):
    # Only "unreachable": SeaweedFS creates a missing bucket on the first upload (R2 would refuse it).
    storage = make_s3_storage(endpoint=f"http://127.0.0.1:{_closed_port()}")
    server = make_server(storage=storage)
    with server.client() as client:
        created = clone(client, speech_clips["wav"])
        assert created.status_code == 503, created.text
        assert created.headers["content-type"] == "application/json"
        assert created.headers["retry-after"]
        error = created.json()["error"]
        assert error["code"] == "storage_unavailable"
        assert storage.bucket in error["message"] and "cannot be reached" in error["message"]
        # A failed clone leaves no voice behind.
        assert client.get("/api/voices").json()["voices"] == []


def test_generation_fails_with_a_reason_when_storage_goes_down(make_server, s3_storage, make_s3_storage,
                                                                 speech_clips):
    # No worker threads until the outage, so the task runs while the bucket cannot be reached.
    server = make_server(storage=s3_storage, workers=0)
    with server.client() as client:
        voice = clone(client, speech_clips["wav"]).json()
        queued = client.post("/api/generate", json={"voice_id": voice["id"], "text": "Nowhere to go."}).json()
        server.ctx.storage = make_s3_storage(endpoint=f"http://127.0.0.1:{_closed_port()}",
                                             bucket=s3_storage.bucket)

        from utter.bootstrap import build_runner
        from utter.generations.runner import running

        with running(build_runner(server.ctx, 1)):
            failed = wait_for_generation(client, queued["status_url"])
        assert failed["status"] == "failed", failed
        assert failed["error"]["code"] == "storage_unavailable"
        assert "cannot be reached" in failed["error"]["message"]
        assert failed["audio_url"] is None
