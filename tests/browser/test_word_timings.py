"""The player marks the word being spoken and plays from a word clicked (issue 18), on /history and
/generate, in headless Chromium with real Piper speech and its real word timings."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.support.app_fixtures import wait_for_generation

from .conftest import api_clone, api_generate, api_get, wait_for

pytestmark = pytest.mark.browser

TEXT = ('Good morning, everyone. <break time="1s"/> The library opens at nine on weekdays, '
        "and closes at six. Please return your books before the end of the month.")
STATE = """a => {
  const marked = document.querySelectorAll('.quote .word-current');
  return {time: a.currentTime, paused: a.paused, marked: [...marked].map(m => Number(m.dataset.index))};
}"""


def word_at(words: list[dict], seconds: float) -> int:
    return max((i for i, w in enumerate(words) if w["start"] <= seconds), default=-1)


@pytest.fixture
def spoken(make_server, speech_clips):
    server = make_server()  # speech recognition on: it aligns the words
    voice = api_clone(server, speech_clips["wav"], "Reader", transcript="A reference clip.")
    generation = api_generate(server, voice["id"], TEXT)
    assert generation["status"] == "done", generation
    words = api_get(server, generation["timings_url"])["words"]
    return server, generation, words


def test_history_marks_the_spoken_word_and_plays_from_a_clicked_one(spoken, page):
    server, generation, words = spoken
    page.goto(server.url + "/history")
    item = page.locator(f'[data-generation-id="{generation["id"]}"]')
    quote = item.locator(".quote")
    expect(quote).to_have_attribute("data-timed", "true")
    spans = quote.locator(".word")
    expect(spans).to_have_count(len(words))
    # The page shows the words as typed, without the break tag.
    assert spans.all_inner_texts() == [w["text"] for w in words]
    assert "<break" not in quote.inner_text() and "Good morning, everyone." in quote.inner_text()
    audio = item.locator("audio")
    wait_for(audio, "a => a.readyState >= 1")

    target = next(i for i, w in enumerate(words) if w["text"] == "library")
    spans.nth(target).click()
    state = wait_for(audio, f"a => !a.paused && ({STATE})(a)", timeout=2)
    # Playback jumped to the clicked word (it is seconds into the audio: from the start it would take that
    # long to get there), and that word, or one after it, is marked.
    assert words[target]["start"] > 2.0
    assert words[target]["start"] - 0.01 <= state["time"] < words[target]["end"] + 0.5, state
    assert len(state["marked"]) == 1 and state["marked"][0] >= target

    # While it plays, the marked word is the one being spoken (checked at several moments).
    seen = set()
    for _ in range(12):
        state = audio.evaluate(STATE)
        if state["paused"]:
            break
        # The mark follows on the next animation frame: the word at this time or at a moment before.
        assert state["marked"][0] in {word_at(words, state["time"]), word_at(words, state["time"] - 0.1)}, state
        seen.add(state["marked"][0])
        page.wait_for_timeout(150)
    assert len(seen) >= 3, "the mark did not move along the words"

    # Seeking with the player's own controls moves the mark too.
    audio.evaluate("a => a.pause()")
    audio.evaluate(f"a => {{ a.currentTime = {words[1]['start'] + 0.01}; }}")
    state = wait_for(audio, f"a => ({STATE})(a).marked[0] === 1 && ({STATE})(a)")
    assert state["marked"] == [1]


    # Its subtitles are a click away, as SubRip and WebVTT files whose cues hold the words.
    links = item.locator(".subtitle-links a")
    expect(links).to_have_count(2)
    for link, first_line in zip(links.all(), ("1", "WEBVTT")):
        with page.expect_download() as download:
            link.click()
        body = open(download.value.path(), encoding="utf-8").read()
        assert body.splitlines()[0] == first_line and words[-1]["text"] in body


def test_generate_page_shows_the_result_word_by_word(spoken, page):
    server, generation, words = spoken
    page.goto(server.url + f"/generate?task={generation['id']}")
    quote = page.locator("#result-text")
    expect(quote).to_have_attribute("data-timed", "true")
    expect(quote.locator(".word")).to_have_count(len(words))
    last = len(words) - 1
    quote.locator(".word").nth(last).click()
    audio = page.locator("#result-audio")
    state = wait_for(audio, f"a => a.currentTime >= {words[last]['start']} && ({STATE})(a)")
    assert state["marked"] == [last]
    expect(page.locator("#result-subtitles a")).to_have_count(2)


def test_without_timings_the_text_is_shown_plain(make_server, speech_clips, page):
    server = make_server(asr="off")
    voice = api_clone(server, speech_clips["wav"], "Reader", transcript="A reference clip.")
    generation = api_generate(server, voice["id"], "Plain words only.")
    page.goto(server.url + "/history")
    quote = page.locator(f'[data-generation-id="{generation["id"]}"] .quote')
    expect(quote).to_have_text("Plain words only.")
    expect(quote.locator(".word")).to_have_count(0)
    expect(page.locator(f'[data-generation-id="{generation["id"]}"] .subtitle-links')).to_be_hidden()


def test_words_after_an_emoji_sit_where_they_were_typed(make_server, speech_clips, page):
    """The server counts offsets in characters and JavaScript in UTF-16 units, in which 👋 takes two: the
    words after it, in a text and in a dialogue whose speaker's name holds one, stay in their places."""
    server = make_server()
    text = "Hello 👋 friends. The museum opens at ten, 🎉 and closes at six."
    solo = api_clone(server, speech_clips["wav"], "Reader", transcript="A reference clip.")
    speech = api_generate(server, solo["id"], text)
    host = api_clone(server, speech_clips["wav"], "Zoë 🎙️", transcript="A reference clip.")
    with server.client() as client:
        response = client.post("/api/dialogue", json={"inputs": [
            {"voice_id": host["id"], "text": "Wave 👋 to the crowd, please."},
            {"voice_id": solo["id"], "text": "Then we all go home."}]})
        assert response.status_code == 202, response.text
        dialogue = wait_for_generation(client, response.json()["status_url"])
    assert speech["status"] == "done" and dialogue["status"] == "done"

    page.goto(server.url + "/history")
    quote = page.locator(f'[data-generation-id="{speech["id"]}"] .quote')
    expect(quote).to_have_attribute("data-timed", "true")
    words = api_get(server, speech["timings_url"])["words"]
    assert "museum" in [w["text"] for w in words]
    assert quote.locator(".word").all_inner_texts() == [w["text"] for w in words]
    expect(quote).to_have_text(text)

    lines = page.locator(f'[data-generation-id="{dialogue["id"]}"] .quote .line-words')
    expect(page.locator(f'[data-generation-id="{dialogue["id"]}"] .quote')).to_have_attribute("data-timed", "true")
    expect(lines.nth(0)).to_have_text("Wave 👋 to the crowd, please.")
    expect(lines.nth(1)).to_have_text("Then we all go home.")
    said = [w["text"] for w in api_get(server, dialogue["timings_url"])["words"] if w["line"] == 1]
    assert lines.nth(1).locator(".word").all_inner_texts() == said == ["Then", "we", "all", "go", "home."]
