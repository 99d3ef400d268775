"""The pages tell the expected wait: /api/engine's measured speed, carried into /generate (whose script
turns it into the wait for the typed text) and stated on the home page, with a notice when speech is
made slower than it plays (Qwen3-TTS on a CPU).

Over HTTP: a second Playwright instance in this process would clash with tests/browser's (a session
fixture of that folder); the script's arithmetic was checked in Chromium by hand (docs/qwen.md).
"""

from __future__ import annotations

import re

import pytest

pytest.importorskip("qwen_tts")

# What a 2-core CPU measures for the int8 path (docs/qwen.md): 2.5 s of work per second of speech.
SLOW = {"real_time_factor": 2.5, "ms_per_frame": 200.0, "first_audio_seconds": 1.5,
        "seconds_per_char": round(0.2 * 12.5 / 14, 4), "source": "median of the last 3 generations"}


@pytest.fixture
def database_url(tmp_path) -> str:
    """Pages on SQLite only, as tests/browser: the API behind them is tested on both databases."""
    return f"sqlite:///{tmp_path / 'utter.db'}"


def test_engine_api_reports_the_measured_speed(qwen_server):
    qwen_server.ctx.engine.load()  # the runner loads it at start; make sure it has
    with qwen_server.client() as client:
        speed = client.get("/api/engine").json()["expected_speed"]
    assert speed["source"] == "measured at start-up" or speed["source"].startswith("median of the last")
    assert speed["real_time_factor"] > 0 and speed["seconds_per_char"] > 0 and speed["first_audio_seconds"] > 0
    assert speed["path"].startswith("fast core: static KV cache, eager") and "CPU: float32 (exact)" in speed["path"]


def test_generate_page_carries_the_speed_and_says_when_it_is_slow(qwen_server, qwen_engine, monkeypatch):
    monkeypatch.setattr(qwen_engine, "expected_speed", lambda: dict(SLOW))
    with qwen_server.client() as client:
        html = client.get("/generate").text
    hint = re.search(r'<p id="expected-wait"[^>]*>', html).group(0)
    assert 'data-seconds-per-char="0.1786"' in hint and 'data-first-audio="1.5"' in hint and 'data-rtf="2.5"' in hint
    notice = re.search(r'<aside class="notice" id="speed-notice".*?</aside>', html, re.S).group(0)
    assert "about 2.5 s to make on this machine" in notice and "median of the last 3 generations" in notice
    assert "after about 2 s" in notice


def test_no_slow_notice_when_speech_is_made_faster_than_it_plays(qwen_server, qwen_engine, monkeypatch):
    monkeypatch.setattr(qwen_engine, "expected_speed", lambda: dict(SLOW, real_time_factor=0.6))
    with qwen_server.client() as client:
        assert 'id="speed-notice"' not in client.get("/generate").text
        home = client.get("/").text
    said = re.sub(r"\s+", " ", re.search(r'<p id="engine-speed">(.*?)</p>', home, re.S).group(1))
    assert "0.60 s of work per second of speech" in said and "first audio after about 1.5 s" in said


def test_pages_without_a_measurement_show_no_figures(qwen_server, qwen_engine, monkeypatch):
    monkeypatch.setattr(qwen_engine, "expected_speed", lambda: None)
    with qwen_server.client() as client:
        html = client.get("/generate").text
        home = client.get("/").text
    assert 'data-seconds-per-char=""' in html and 'id="speed-notice"' not in html
    assert 'id="engine-speed"' not in home
