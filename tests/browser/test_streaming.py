"""/generate plays a long text's first part while the rest is still being spoken."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.generations.test_worker import SteppingEngine

from .conftest import api_clone, api_get, wait_for

pytestmark = pytest.mark.browser


def test_first_part_plays_before_the_whole_text_is_done(make_server, piper_engine, page, speech_clips):
    # Each part waits for the test's go-ahead. Parts of ~100 characters, as in production: Chromium
    # starts an MP3 stream once it holds a few seconds of it, not on a one-second first part.
    engine = SteppingEngine(piper_engine, max_chars=120)
    server = make_server(engine=engine, asr="off")
    voice = api_clone(server, speech_clips["wav"], "Narrator")
    page.goto(f"{server.url}/generate?voice={voice['id']}")
    page.get_by_label("Text", exact=True).fill(
        "The first part of this text is a long sentence, so that a few seconds of speech come before the rest. "
        "The second part follows it, and it is also rather long, to give the listener something to hear. "
        "The third part ends the text, with a final sentence about nothing in particular at all.")
    page.get_by_role("button", name="Generate").click()

    assert engine.entered.acquire(timeout=30)
    engine.go.release()  # part 1 is spoken; part 2 waits
    assert engine.entered.acquire(timeout=30)
    expect(page.locator("#task-status")).to_contain_text("1 of 3 parts done", timeout=15_000)

    live = page.locator("#live-audio")
    expect(live).to_be_visible()
    # It really plays, while the generation is still running.
    wait_for(live, "a => !a.paused && a.currentTime > 0.2", timeout=20)
    assert api_get(server, "/api/generations")["generations"][0]["status"] == "running"

    for _ in range(2):
        engine.go.release()
        engine.entered.acquire(timeout=0.1)
    expect(page.locator("#result")).to_be_visible(timeout=30_000)
    assert api_get(server, "/api/generations")["generations"][0]["status"] == "done"
