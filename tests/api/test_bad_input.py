"""Every bad input gets a clear JSON error with a stable code, and leaves nothing behind."""

from __future__ import annotations

import socket
import uuid
from urllib.parse import urlparse

import av
import numpy as np
import pytest
from sqlalchemy import func, select

from tests.support.audio_fixtures import make_clip
from tests.support.app_fixtures import wait_for_generation
from utter.models import Voice


def post_clone(client, path=None, *, content=None, filename="clip.wav", **fields):
    data = {"name": "Voice", **fields}
    if path is not None:
        content = path.read_bytes()
        filename = path.name
    files = {"audio": (filename, content, "application/octet-stream")} if content is not None else None
    return client.post("/api/clone", data={k: v for k, v in data.items() if v is not None}, files=files)


def assert_error(response, status, code, field=None):
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code, error
    assert len(error["message"]) > 10
    if field:
        assert error["field"] == field
    return error


def assert_nothing_stored(server):
    with server.ctx.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Voice)) == 0
    assert server.ctx.storage.list_keys("references") == []


@pytest.fixture
def aiff_file(speech, tmp_path):
    """Real audio in a container Utter does not accept."""
    samples, rate = speech
    path = tmp_path / "clip.aiff"
    with av.open(str(path), "w", format="aiff") as out:
        stream = out.add_stream("pcm_s16be", rate=rate, layout="mono")
        frame = av.AudioFrame.from_ndarray((samples * 32767).astype(np.int16).reshape(1, -1), format="s16",
                                           layout="mono")
        frame.sample_rate = rate
        for packet in stream.encode(frame):
            out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return path


def test_corrupt_audio(client, server):
    error = assert_error(post_clone(client, content=b"RIFF\x00\x00garbage" * 500), 422, "audio_unreadable", "audio")
    assert "WAV" in error["message"]
    assert_nothing_stored(server)


def test_text_file_named_wav(client, server):
    assert_error(post_clone(client, content=b"just some text\n" * 100, filename="notes.wav"), 422,
                 "audio_unreadable", "audio")
    assert_nothing_stored(server)


def test_unsupported_format(client, server, aiff_file):
    assert_error(post_clone(client, aiff_file), 422, "audio_unsupported_format", "audio")
    assert_nothing_stored(server)


def test_too_short(client, server, speech, tmp_path):
    error = assert_error(post_clone(client, make_clip(tmp_path / "short.mp3", speech, 4, "mp3")), 422,
                         "audio_too_short", "audio")
    assert "10 s" in error["message"]
    assert_nothing_stored(server)


def test_too_long(client, server, speech, tmp_path):
    assert_error(post_clone(client, make_clip(tmp_path / "long.wav", speech, 310)), 422, "audio_too_long", "audio")
    assert_nothing_stored(server)


def test_missing_name_and_missing_audio(client, server, speech_clips):
    assert_error(post_clone(client, speech_clips["wav"], name="   "), 422, "name_missing", "name")
    assert_error(post_clone(client, speech_clips["wav"], name="x" * 101), 422, "name_too_long", "name")
    assert_error(post_clone(client, None), 422, "audio_missing", "audio")
    assert_error(post_clone(client, content=b""), 422, "audio_missing", "audio")
    assert_nothing_stored(server)


def test_unknown_language(client, server, speech_clips):
    assert_error(post_clone(client, speech_clips["wav"], language="klingon"), 422, "language_unknown", "language")
    assert_nothing_stored(server)


def test_too_big_upload_refused_while_streaming(client, server, tmp_path):
    big = tmp_path / "big.wav"
    big.write_bytes(b"\0" * (51 * 1024 * 1024))
    assert_error(post_clone(client, big), 413, "audio_too_large", "audio")
    assert_nothing_stored(server)


def _read_response(sock: socket.socket) -> str:
    """A whole HTTP response (head and body, by its Content-Length), however the bytes arrive."""
    data = b""
    while b"\r\n\r\n" not in data or len(data) < _response_length(data):
        received = sock.recv(4096)
        if not received:
            break
        data += received
    return data.decode()


def _response_length(data: bytes) -> int:
    head, _, _ = data.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(head) + 4 + int(value)
    return 0


def test_two_gigabyte_upload_is_refused_before_it_is_sent(server):
    """A 2 GB Content-Length gets 413 at once: nothing is buffered in memory or on disk."""
    url = urlparse(server.url)
    with socket.create_connection((url.hostname, url.port), timeout=10) as sock:
        sock.sendall(
            b"POST /api/clone HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: multipart/form-data; boundary=xyz\r\n"
            b"Content-Length: 2147483648\r\n\r\n--xyz\r\n"
        )
        reply = _read_response(sock)
    assert reply.startswith("HTTP/1.1 413"), reply
    assert "audio_too_large" in reply


def test_chunked_upload_over_the_limit_is_cut_off(server):
    """Without a Content-Length, reading stops once the body passes the limit."""
    sent = 0

    def body():
        nonlocal sent
        yield b"--xyz\r\nContent-Disposition: form-data; name=\"audio\"; filename=\"a.wav\"\r\n\r\n"
        chunk = b"\0" * (1024 * 1024)
        for _ in range(200):
            sent += len(chunk)
            yield chunk

    with server.client() as client:
        response = client.post("/api/clone", content=body(),
                               headers={"Content-Type": "multipart/form-data; boundary=xyz"})
    assert_error(response, 413, "audio_too_large", "audio")
    assert sent < 200 * 1024 * 1024


@pytest.fixture
def voice(client, speech_clips):
    return post_clone(client, speech_clips["wav"]).json()


@pytest.mark.parametrize(("payload", "status", "code", "field"), [
    ({"text": "Hello"}, 422, "invalid_request", "voice_id"),
    ({"voice_id": "not-a-uuid", "text": "Hello"}, 422, "invalid_voice_id", "voice_id"),
    ({"voice_id": str(uuid.uuid4()), "text": "Hello"}, 404, "voice_not_found", "voice_id"),
    ({"voice_id": "VOICE", "text": "   "}, 422, "text_empty", "text"),
    ({"voice_id": "VOICE", "text": "x" * 5001}, 422, "text_too_long", "text"),
    ({"voice_id": "VOICE", "text": "Hi", "language": "zz"}, 422, "language_unknown", "language"),
    ({"voice_id": "VOICE", "text": "Hi", "language": "de"}, 422, "language_unsupported", "language"),
    ({"voice_id": "VOICE", "text": "Hi", "speed": 5}, 422, "speed_out_of_range", "speed"),
    ({"voice_id": "VOICE", "text": "Hi", "speed": 0}, 422, "speed_out_of_range", "speed"),
    ({"voice_id": "VOICE", "text": "Hi", "speed": "fast"}, 422, "invalid_request", "speed"),
])
def test_bad_generate_requests(client, voice, payload, status, code, field):
    if payload.get("voice_id") == "VOICE":
        payload = {**payload, "voice_id": voice["id"]}
    assert_error(client.post("/api/generate", json=payload), status, code, field)
    assert client.get("/api/generations").json()["total"] == 0


def test_body_that_is_not_json(client):
    response = client.post("/api/generate", content=b"{not json", headers={"Content-Type": "application/json"})
    assert_error(response, 422, "invalid_request")


def test_unknown_and_malformed_ids(client):
    assert_error(client.get("/api/voices/nope"), 422, "invalid_voice_id")
    assert_error(client.get(f"/api/voices/{uuid.uuid4()}"), 404, "voice_not_found")
    assert_error(client.delete(f"/api/voices/{uuid.uuid4()}"), 404, "voice_not_found")
    assert_error(client.get("/api/generations/nope"), 422, "invalid_generation_id")
    assert_error(client.get(f"/api/generations/{uuid.uuid4()}"), 404, "generation_not_found")
    assert_error(client.get("/api/nothing-here"), 404, "not_found")


def test_stored_files_cannot_escape_the_uploads_folder(client, server):
    (server.settings.data_dir / "secret.txt").write_text("secret")
    for path in ("/uploads/../secret.txt", "/uploads/%2e%2e/secret.txt", "/uploads/references/..%2f..%2fsecret.txt",
                 "/uploads/utter.db", "/uploads/prompts/x.bin"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert b"secret" not in response.content


def test_voice_deleted_while_generation_waits(make_server, speech_clips):
    server = make_server(workers=0)  # nothing runs, so the generation is still waiting
    with server.client() as client:
        voice = post_clone(client, speech_clips["wav"]).json()
        queued = client.post("/api/generate", json={"voice_id": voice["id"], "text": "Hello."}).json()
        assert client.delete(f"/api/voices/{voice['id']}").status_code == 204
        failed = client.get(queued["status_url"]).json()
        assert failed["status"] == "failed"
        assert failed["error"]["code"] == "voice_deleted"
        assert failed["voice_id"] is None and failed["voice_name"] == "Voice"
        assert_error(client.get(f"/api/generations/{failed['id']}/audio"), 409, "generation_not_ready")


def test_queue_full_is_a_clear_503(make_server, speech_clips):
    server = make_server(workers=0, max_queue=2)
    with server.client() as client:
        voice = post_clone(client, speech_clips["wav"]).json()
        for _ in range(2):
            assert client.post("/api/generate", json={"voice_id": voice["id"], "text": "Hi."}).status_code == 202
        response = client.post("/api/generate", json={"voice_id": voice["id"], "text": "Hi."})
        assert_error(response, 503, "queue_full")
        assert response.headers["retry-after"]
        assert client.get("/api/generations").json()["total"] == 2


def test_cancel_a_waiting_generation(make_server, speech_clips):
    server = make_server(workers=0)
    with server.client() as client:
        voice = post_clone(client, speech_clips["wav"]).json()
        queued = client.post("/api/generate", json={"voice_id": voice["id"], "text": "Hi."}).json()
        cancelled = client.post(f"/api/generations/{queued['id']}/cancel")
        assert cancelled.json()["status"] == "cancelled"
        assert_error(client.post(f"/api/generations/{queued['id']}/cancel"), 409, "generation_finished")


def test_tasks_survive_a_restart(make_server, speech_clips):
    """Generations queued by a process that stopped are run by the next one."""
    first = make_server(workers=0)
    with first.client() as client:
        voice = post_clone(client, speech_clips["wav"]).json()
        ids = [client.post("/api/generate", json={"voice_id": voice["id"], "text": f"Task {n}."}).json()["id"]
               for n in range(3)]
    first.stop()
    second = make_server(workers=1)
    with second.client() as client:
        for generation_id in ids:
            assert wait_for_generation(client, f"/api/generations/{generation_id}")["status"] == "done"
