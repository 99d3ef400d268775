"""/dialogue: write a script, pick a voice per speaker, generate, play, see each line's place, speak one again."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from .conftest import api_clone, api_get, screenshot, wait_for

pytestmark = pytest.mark.browser

# The name on a line of its own, and words going on over two lines, are one line each.
SCRIPT = """Host: Welcome back to the show, everyone.
Guest:
Thank you, it is good
to be here.

Host: Let us begin with your new book."""


def test_write_pick_generate_play_and_speak_a_line_again(make_server, page, speech_clips):
    server = make_server()  # speech recognition on: the words are timed, so there are subtitles
    ann = api_clone(server, speech_clips["wav"], "Ann", transcript="A reference clip.")
    ben = api_clone(server, speech_clips["wav"], "Ben", transcript="A reference clip.")
    page.goto(f"{server.url}/dialogue")
    expect(page.locator("#dialogue-form")).to_have_attribute("data-ready", "true")
    expect(page.locator("nav[aria-label='Main'] a[aria-current='page']")).to_have_text("Dialogue")

    # Text before any speaker is refused in place, before anything is sent.
    page.get_by_label("Script").fill("Just some words without a speaker.")
    page.get_by_role("button", name="Generate dialogue").click()
    expect(page.locator("#script-error")).to_contain_text("speaker's name and a colon")

    page.get_by_label("Script").fill(SCRIPT)
    # The speakers are found in the script, each with a voice to pick.
    expect(page.locator("#speakers li")).to_have_count(2)
    page.get_by_role("button", name="Generate dialogue").click()
    expect(page.locator("#speakers-error")).to_contain_text("Choose a voice for Host")
    page.get_by_label("Host").select_option(label="Ann")
    page.get_by_label("Guest").select_option(label="Ben")
    page.get_by_role("button", name="Generate dialogue").click()

    expect(page.locator("#result")).to_be_visible(timeout=60_000)
    lines = page.locator("#lines li")
    expect(lines).to_have_count(3)
    expect(lines.nth(0).locator(".line-speaker")).to_have_text("Ann")
    expect(lines.nth(1).locator(".line-speaker")).to_have_text("Ben")
    expect(lines.nth(1).locator(".line-text")).to_have_value("Thank you, it is good to be here.")
    expect(lines.nth(2).locator(".line-place")).to_contain_text(" s")
    first = api_get(server, "/api/generations")["generations"][0]
    assert [line["voice_id"] for line in first["lines"]] == [ann["id"], ben["id"], ann["id"]]
    assert page.url.endswith(f"/dialogue?id={first['id']}")
    # Its subtitles, a cue per speaker's turn, a click away.
    expect(page.locator("#result-subtitles a")).to_have_count(2)
    vtt = page.request.get(server.url + page.locator("#result-subtitles a").nth(1).get_attribute("href")).text()
    assert vtt.startswith("WEBVTT") and "<v Ann>" in vtt and "<v Ben>" in vtt

    # A line's play button plays the dialogue from that line, and that line is marked while heard.
    page.get_by_role("button", name="Play line 2").click()
    audio = page.locator("#result-audio")
    wait_for(audio, "a => !a.paused && a.currentTime > 0.2", timeout=20)
    assert audio.evaluate("a => a.currentTime") >= first["lines"][1]["start"]
    expect(lines.nth(1)).to_have_class("dialogue-line playing")
    audio.evaluate("a => a.pause()")

    # Line 2 with new words, spoken again alone: a new take, the earlier one kept.
    lines.nth(1).locator(".line-text").fill("Thanks, I am glad to be here today.")
    page.get_by_role("button", name="Speak line 2 again").click()
    expect(page.locator("#result-meta")).to_contain_text("line 2 spoken again", timeout=60_000)
    screenshot(page, "dialogue-result")
    expect(page.locator("#lines li").nth(1).locator(".line-text")).to_have_value("Thanks, I am glad to be here today.")
    history = api_get(server, "/api/generations")
    assert history["total"] == 2
    take = history["generations"][0]
    assert take["respoken_from"] == first["id"]
    assert [line["reused"] for line in take["lines"]] == [True, False, True]
    assert page.url.endswith(f"/dialogue?id={take['id']}")

    # The history shows both takes with their lines.
    page.goto(f"{server.url}/history")
    expect(page.locator("#history-list")).to_have_attribute("data-loaded", "true")
    expect(page.locator(".generation").first.locator(".item-title")).to_have_text("Dialogue: Ann, Ben")
    expect(page.locator(".generation").first.locator(".dialogue-lines li")).to_have_count(3)
    expect(page.locator(".generation").nth(1)).to_contain_text("Ben: Thank you, it is good to be here.")
    page.locator(".generation").first.get_by_role("link", name="Open in Dialogue").click()
    expect(page.locator("#lines li")).to_have_count(3)
    expect(page.get_by_label("Script")).to_have_value(
        "Ann: Welcome back to the show, everyone.\nBen: Thanks, I am glad to be here today.\n"
        "Ann: Let us begin with your new book.")
