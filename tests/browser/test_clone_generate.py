"""The seed's checklist in a real browser: upload on /clone, validation, the voice in /generate's
dropdown, generate, play in the page, download an MP3 that decodes; and a reload mid-task."""

from __future__ import annotations

import base64
import re

import av
import pytest
from playwright.sync_api import expect

from tests.support.audio_fixtures import decoded_duration, make_clip

from .conftest import PHONE, api_clone, api_get, screenshot, wait_for

pytestmark = pytest.mark.browser


def test_clone_generate_play_download(make_server, page, speech_clips, tmp_path):
    server = make_server()  # with speech recognition on, as deployed
    page.goto(server.url + "/clone")
    expect(page.get_by_role("heading", name="This server cannot clone voices yet")).to_be_visible()
    page.get_by_label("Name").fill("Narrator")
    page.locator("#audio").set_input_files(speech_clips["mp3"])
    expect(page.locator("#chosen")).to_be_visible()
    expect(page.locator("#chosen-name")).to_have_text("speech.mp3")
    page.get_by_label("Transcript (optional)").fill("The quick brown fox jumps over the lazy dog.")
    page.get_by_label("Language of the clip").select_option("en")
    page.get_by_role("button", name="Clone voice").click()

    result = page.locator("#clone-result")
    expect(result).to_be_visible(timeout=60_000)
    expect(page.locator("#result-name")).to_have_text("Narrator")
    voice = api_get(server, "/api/voices")["voices"][0]
    assert voice["name"] == "Narrator" and voice["source"] == "uploaded"
    assert voice["transcript"] == "The quick brown fox jumps over the lazy dog."
    # The reference plays in the page.
    reference = page.locator("#result-audio")
    assert 12 < wait_for(reference, "a => a.readyState >= 1 && a.duration") < 20

    page.get_by_role("link", name="Generate with this voice").click()
    page.wait_for_url(f"**/generate?voice={voice['id']}")
    expect(page.get_by_label("Voice", exact=True)).to_have_value(voice["id"])
    expect(page.locator("#voice option", has_text="Narrator")).to_have_count(1)

    text = "Hello from Utter. This is speech generated in a real browser test."
    page.get_by_label("Text", exact=True).fill(text)
    expect(page.locator("#text-count")).to_have_text(f"{len(text)} / {server.settings.max_text_chars}")
    page.get_by_role("button", name="Generate").click()

    expect(page.locator("#result")).to_be_visible(timeout=60_000)
    notice = page.locator("#result-notice")
    expect(notice).to_be_visible()
    expect(notice).to_contain_text("built-in Piper voice")
    expect(page.locator("#result-text")).to_have_text(text)

    audio = page.locator("#result-audio")
    duration = wait_for(audio, "a => a.readyState >= 1 && a.duration")
    assert duration == pytest.approx(api_get(server, "/api/generations")["generations"][0]["duration_seconds"],
                                     abs=0.2)
    assert 2 < duration < 10
    audio.evaluate("a => a.play()")
    wait_for(audio, "a => a.currentTime > 0.5", timeout=10)
    audio.evaluate("a => a.pause()")

    # The waveform was drawn from the decoded audio: some pixels are painted.
    expect(page.locator("#result-waveform")).to_have_attribute("data-drawn", "true")
    painted = page.locator("#result-waveform").evaluate(
        "c => { const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
        " let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i]) n++; return n / (c.width * c.height); }")
    assert 0.05 < painted < 0.95
    screenshot(page, "generate-result-desktop")

    with page.expect_download() as info:
        page.get_by_role("link", name="Download MP3").click()
    download = info.value
    assert download.suggested_filename.startswith("utter-Narrator-Hello-from-Utter")
    assert download.suggested_filename.endswith(".mp3")
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    with av.open(str(saved)) as container:
        stream = container.streams.audio[0]
        assert stream.codec_context.name.startswith("mp3") and stream.rate == 44100
    assert decoded_duration(saved) == pytest.approx(duration, abs=0.2)

    # History lists it.
    page.get_by_role("link", name="History").first.click()
    item = page.locator("#history-list li")
    expect(item).to_have_count(1)
    expect(item.locator(".quote")).to_have_text(text)
    expect(item.locator(".item-title")).to_have_text("Narrator")
    expect(item.get_by_role("link", name="Download")).to_be_visible()


def test_bad_files_are_refused_next_to_the_audio_field(server, page, speech, tmp_path):
    not_audio = tmp_path / "notes.wav"
    not_audio.write_text("These are my notes, not a recording.\n" * 50)
    short = make_clip(tmp_path / "short.wav", speech, 3.0)
    wrong_type = tmp_path / "voice.txt"
    wrong_type.write_text("hello")

    page.goto(server.url + "/clone")
    page.get_by_label("Name").fill("Nope")
    audio_error = page.locator("#audio-error")
    field = page.locator("#audio")

    field.set_input_files(not_audio)
    expect(audio_error).to_contain_text("could not be read as audio")
    expect(field).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#chosen")).to_be_hidden()

    field.set_input_files(short)
    expect(audio_error).to_contain_text("The recording is 3.0 s long; a voice needs at least 10 s")

    field.set_input_files(wrong_type)
    expect(audio_error).to_contain_text("is not a supported audio file")
    screenshot(page, "clone-error-desktop")

    # Submitting without a usable clip says so next to the field, and sends nothing.
    page.get_by_role("button", name="Clone voice").click()
    expect(audio_error).to_contain_text("Choose an audio file")
    assert api_get(server, "/api/voices")["total"] == 0


def test_server_errors_appear_next_to_their_field(server, page, watch, speech_clips):
    # A name of spaces passes the browser's `required` check; the server refuses it and names the field.
    watch.allow(r"status of 422")
    page.goto(server.url + "/clone")
    page.get_by_label("Name").fill("   ")
    page.locator("#audio").set_input_files(speech_clips["wav"])
    expect(page.locator("#chosen")).to_be_visible()
    page.get_by_role("button", name="Clone voice").click()
    expect(page.locator("#name-error")).to_have_text("Give the voice a name.", timeout=30_000)
    expect(page.get_by_label("Name")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("Name")).to_be_focused()
    expect(page.locator("#audio-error")).to_be_empty()


def test_drag_and_drop_a_file(server, page, speech_clips):
    page.goto(server.url + "/clone")
    page.get_by_label("Name").fill("Dropped")
    data = base64.b64encode(speech_clips["webm"].read_bytes()).decode()
    transfer = page.evaluate_handle(
        "b64 => { const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0)); const t = new DataTransfer();"
        " t.items.add(new File([bytes], 'dropped.webm', { type: 'audio/webm' })); return t; }", data)
    page.dispatch_event("#dropzone", "drop", {"dataTransfer": transfer})
    expect(page.locator("#chosen-name")).to_have_text("dropped.webm")
    page.get_by_role("button", name="Clone voice").click()
    expect(page.locator("#clone-result")).to_be_visible(timeout=30_000)
    expect(page.locator("#clone-result")).to_be_focused()
    expect(page.get_by_role("link", name="Generate with this voice")).to_be_visible()
    screenshot(page, "clone-result-desktop")
    voice = api_get(server, "/api/voices")["voices"][0]
    assert voice["original_filename"] == "dropped.webm" and 12 < voice["reference_seconds"] < 20


def test_microphone_recording_makes_a_voice(make_server, page):
    # The page takes its limits from the server's settings; a 4-second minimum keeps the test short.
    server = make_server(min_reference_seconds=4, asr="off")
    page.goto(server.url + "/clone")
    page.get_by_label("Name").fill("Recorded me")
    page.get_by_role("button", name="Record from microphone").click()
    stop = page.get_by_role("button", name="Stop recording")
    expect(stop).to_be_focused()
    # The fake device plays real speech: the level meter moves and the timer runs.
    wait_for(page.locator("#record-level"), "m => m.value > 0.05", timeout=5)
    expect(page.locator("#record-timer")).to_have_text("0:05", timeout=10_000)
    screenshot(page, "clone-recording-desktop")
    stop.click()
    expect(page.locator("#chosen")).to_be_visible()
    expect(page.locator("#chosen-name")).to_have_text(re.compile(r"^recording-.*\.webm$"))
    page.get_by_role("button", name="Clone voice").click()
    expect(page.locator("#clone-result")).to_be_visible(timeout=30_000)
    voice = api_get(server, "/api/voices")["voices"][0]
    assert voice["source"] == "recorded"
    assert 4 <= voice["reference_seconds"] < 8


def test_reload_during_a_task_picks_it_up(make_server, new_page, speech_clips):
    from utter.bootstrap import build_runner

    server = make_server(workers=0, asr="off")  # nothing runs the task until the test starts a worker
    voice = api_clone(server, speech_clips["wav"], "Patient")
    page = new_page(viewport=PHONE)
    page.goto(f"{server.url}/generate?voice={voice['id']}")
    page.get_by_label("Text", exact=True).fill("A task that waits for a worker.")
    page.get_by_role("button", name="Generate").click()
    status = page.locator("#task-status")
    expect(status).to_have_text("Queued — waiting for a free worker.")
    expect(page.get_by_role("button", name="Cancel")).to_be_visible()
    task_id = page.locator("#task").get_attribute("data-generation-id")
    assert f"task={task_id}" in page.url
    screenshot(page, "generate-queued-phone")

    page.reload()
    expect(status).to_have_text("Queued — waiting for a free worker.")
    assert page.locator("#task").get_attribute("data-generation-id") == task_id
    expect(page.get_by_label("Text", exact=True)).to_have_value("A task that waits for a worker.")
    expect(page.locator("#task-elapsed")).not_to_have_text("0 s", timeout=5_000)
    # Coming back to /generate without the id in the address finds it in this tab's session.
    page.goto(server.url + "/generate")
    expect(status).to_have_text("Queued — waiting for a free worker.")
    assert page.locator("#task").get_attribute("data-generation-id") == task_id

    pool = build_runner(server.ctx, 1)
    pool.start()
    try:
        expect(page.locator("#result")).to_be_visible(timeout=30_000)
        assert page.locator("#result").get_attribute("data-generation-id") == task_id
        expect(page.locator("#result-waveform")).to_have_attribute("data-drawn", "true")
        screenshot(page, "generate-result-phone")
    finally:
        pool.stop()


def test_speed_slider_speaks_faster_and_is_remembered(make_server, page, speech_clips):
    server = make_server(asr="off")
    voice = api_clone(server, speech_clips["wav"], "Quick")
    page.goto(f"{server.url}/generate?voice={voice['id']}")
    text = "The same sentence, spoken twice: once at its natural pace and once much faster."
    page.get_by_label("Text", exact=True).fill(text)
    page.get_by_role("button", name="Generate").click()
    expect(page.locator("#result")).to_be_visible(timeout=60_000)

    slider = page.get_by_role("slider", name="Speed")
    slider.fill("1.5")
    expect(page.locator("#speed-value")).to_have_text("1.50×")
    expect(slider).to_have_attribute("aria-valuetext", "1.5 times normal speed")
    page.get_by_role("button", name="Generate").click()
    expect(page.locator("#result-meta")).to_contain_text("1.5× speed", timeout=60_000)
    screenshot(page, "generate-speed-desktop")

    fast, normal = api_get(server, "/api/generations")["generations"]
    assert (fast["speed"], normal["speed"]) == (1.5, 1.0)
    # Piper speeds up its phonemes, not its fixed silences, and its takes differ by a few per cent:
    # at 1.5 it measured 1.33-1.44 times shorter over 20 takes.
    assert 1.2 < normal["duration_seconds"] / fast["duration_seconds"] < 1.7

    # Following the task again (a reload) restores its speed on the slider.
    page.goto(f"{server.url}/generate?task={fast['id']}")
    expect(page.locator("#speed-value")).to_have_text("1.50×")
    page.goto(server.url + "/history")
    expect(page.locator("#history-list li").first.locator(".meta")).to_contain_text("1.5× speed")


def test_cancel_a_waiting_task(make_server, page, speech_clips):
    server = make_server(workers=0, asr="off")
    voice = api_clone(server, speech_clips["wav"], "Cancelled")
    page.goto(f"{server.url}/generate?voice={voice['id']}")
    page.get_by_label("Text", exact=True).fill("Never mind.")
    page.get_by_role("button", name="Generate").click()
    page.get_by_role("button", name="Cancel").click()
    expect(page.locator("#task-status")).to_have_text("Cancelled.")
    expect(page.get_by_role("button", name="Cancel")).to_be_hidden()
    expect(page.get_by_role("button", name="Generate")).to_be_enabled()
    assert api_get(server, "/api/generations")["generations"][0]["status"] == "cancelled"


def test_a_voice_deleted_meanwhile_is_reported_at_the_voice_field(server, page, watch, speech_clips):
    watch.allow(r"status of 404")
    voice = api_clone(server, speech_clips["wav"], "Soon gone")
    page.goto(f"{server.url}/generate?voice={voice['id']}")
    expect(page.get_by_label("Voice", exact=True)).to_have_value(voice["id"])
    with server.client() as client:
        assert client.delete(f"/api/voices/{voice['id']}").status_code == 204
    page.get_by_label("Text", exact=True).fill("Hello?")
    page.get_by_role("button", name="Generate").click()
    expect(page.locator("#voice_id-error")).to_contain_text("No voice with that id exists")
    expect(page.get_by_label("Voice", exact=True)).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#task")).to_be_hidden()
