"""The path a newcomer runs: `scripts/serve` starts `utter serve` with nothing configured, in the
project folder. Here the same command runs in an empty folder with no Utter setting in its
environment, so everything it does (SQLite file, uploads folder, `auto` choosing the engine,
transcripts) is the default, and a voice is cloned, spoken, streamed and downloaded through it."""

from __future__ import annotations

import re
import time
from pathlib import Path

import httpx
import pytest

from tests.api.test_flow import clone
from tests.support.app_fixtures import wait_for_generation
from tests.support.audio_fixtures import decoded_duration
from tests.support.server import start_process

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "serve"


def test_scripts_serve_runs_utter_serve_with_nothing_configured():
    """What the test below starts is what the script starts (no setting passed along)."""
    command = [line for line in SCRIPT.read_text().splitlines() if re.search(r"\butter serve\b", line)]
    assert command == ['exec .venv/bin/utter serve --host "${HOST:-127.0.0.1}" --port "${PORT:-8000}"']


def test_a_server_with_nothing_configured_clones_speaks_and_streams(tmp_path, speech_clips, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.modal.toml either
    server = start_process({"PYTHONUNBUFFERED": "1"}, tmp_path, "serve", configured=False)
    try:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            health = client.get("/api/health").json()
            assert health["status"] == "ok"
            assert health["database"]["backend"] == "sqlite"
            assert health["database"]["detail"].endswith(f"{tmp_path}/utter.db")
            assert health["storage"] == {"status": "ok", "backend": "local", "detail": str(tmp_path / "uploads")}
            engine = health["engine"]
            assert engine["name"] == "piper" and engine["reason"].startswith("auto: no Modal token")
            assert engine["capabilities"]["can_clone"] is False

            voice = clone(client, speech_clips["wav"]).json()
            deadline = time.monotonic() + 60
            while voice["transcription"] == "transcribing" and time.monotonic() < deadline:
                time.sleep(0.2)
                voice = client.get(f"/api/voices/{voice['id']}").json()
            assert voice["transcription"] == "done" and voice["transcript"]  # automatic transcripts are on
            queued = client.post("/api/generate", json={"voice_id": voice["id"], "text": "Hello from a fresh install."})
            assert queued.status_code == 202, queued.text
            with client.stream("GET", queued.json()["stream_url"]) as streamed:
                heard = b"".join(streamed.iter_bytes())
            done = wait_for_generation(client, queued.json()["status_url"])
            assert done["status"] == "done" and done["engine"] == "piper" and done["voice_cloned"] is False
            downloaded = client.get(done["download_url"])
        assert downloaded.status_code == 200 and downloaded.content == heard
        assert decoded_duration(heard) == pytest.approx(done["duration_seconds"], abs=0.1)
        assert (tmp_path / "utter.db").is_file()
        assert list((tmp_path / "uploads" / "generated").glob("*.mp3"))
        assert "asr=whisper tiny.en" in server.log()
    finally:
        server.stop()
