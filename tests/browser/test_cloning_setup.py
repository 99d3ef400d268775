"""Switching cloning on from the page (issue 20): the banner says what it takes here, one click starts
it, a progress bar shows bytes, rate and time left, and then a voice cloned earlier speaks in its own
voice. The weights come from the fake hub (tests/support/fake_hub.py) serving the tiny checkpoint."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.support.fake_hub import BASE_MODEL
from tests.support.qwen_fixtures import QWEN_TEST_MAX_NEW_TOKENS
from tests.support.server import start_live_server

from .conftest import api_clone, api_get, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.timeout(600)]


@pytest.fixture
def studio(make_settings, piper_engine, fake_hub):
    """A first run: Piper under `auto`, cloning not set up, the hub the fake one."""
    server = start_live_server(make_settings(engine="auto", asr="off", hf_endpoint=fake_hub.url), engine=piper_engine)
    server.ctx.cloning.max_new_tokens = QWEN_TEST_MAX_NEW_TOKENS  # random weights: keep each call short
    yield server
    server.stop()


def test_from_the_banner_to_a_cloned_generation(studio, fake_hub, page, speech_clips):
    voice = api_clone(studio, speech_clips["wav"], "Narrator", transcript="The quick brown fox jumps over the lazy dog.")
    total = fake_hub.total_bytes(BASE_MODEL)
    fake_hub.bytes_per_second = total / 6  # about six seconds: long enough to watch the bar move

    page.goto(studio.url + "/")
    expect(page.get_by_role("heading", name="This server cannot clone voices yet")).to_be_visible()
    setup = page.locator("#cloning-setup")
    expect(setup.get_by_role("heading", name=re.compile("Switch cloning on"))).to_be_visible()
    # What it takes here, before anything starts.
    expect(page.locator("#setup-size")).to_have_text(f"{total / 1e6:.1f} MB")
    expect(page.locator("#setup-free")).to_contain_text(str(studio.settings.models_dir.resolve()))
    expect(page.locator("#setup-gpu")).to_have_text("none found: it runs on the CPU")
    expect(page.locator("#setup-speed")).to_contain_text(re.compile(r"on this CPU .* first audio after ~[\d.]+ s"))
    screenshot(page, "cloning-setup-offer")

    page.get_by_role("button", name="Download and switch cloning on").click()
    bar = page.locator("#setup-bar")
    expect(bar).to_be_visible()
    expect(page.locator("#setup-text")).to_contain_text(
        re.compile(r"[\d.]+ [kM]B of [\d.]+ [kM]B · [\d.]+ [kM]B/s · about \d+ s left"))
    assert 0 < float(bar.evaluate("b => b.value")) < 1
    screenshot(page, "cloning-setup-downloading")

    expect(page.get_by_role("heading", name="Voice cloning is on")).to_be_visible(timeout=240_000)
    assert api_get(studio, "/api/engine")["name"] == "qwen"
    expect(page.locator("#fact-engine")).to_have_text("Qwen3-TTS (in-process)")  # the page catches up, no reload
    expect(page.locator("#fact-clones")).to_have_text("Yes")
    screenshot(page, "cloning-setup-ready")

    page.locator("#setup-generate").click()
    page.wait_for_url("**/generate")
    expect(page.get_by_role("heading", name="This server cannot clone voices yet")).to_have_count(0)
    expect(page.locator("#voice option", has_text="Narrator")).to_have_count(1)
    page.get_by_label("Voice", exact=True).select_option(voice["id"])
    page.get_by_label("Text", exact=True).fill("Hello in my own voice.")
    page.get_by_role("button", name="Generate").click()
    expect(page.locator("#result")).to_be_visible(timeout=180_000)
    expect(page.locator("#result-meta")).to_contain_text("spoken by Qwen3-TTS")
    expect(page.locator("#result-notice")).to_be_hidden()
    generation = api_get(studio, "/api/generations")["generations"][0]
    assert generation["engine"] == "qwen" and generation["voice_cloned"] is True


def test_a_refusal_is_shown_in_the_banner(studio, fake_hub, page, watch):
    import shutil

    watch.allow(r"status of 507")  # the refused start is answered 507, which Chromium logs
    def nearly_full(path):
        real = shutil.disk_usage(path)
        return type(real)(real.total, real.total - 1000, 1000)

    studio.ctx.cloning.disk_usage = nearly_full
    page.goto(studio.url + "/clone")
    expect(page.locator("#setup-free")).to_contain_text("not enough")
    page.get_by_role("button", name="Download and switch cloning on").click()
    error = page.locator("#setup-error")
    expect(error).to_be_visible()
    expect(error).to_contain_text("free")
    expect(error).to_contain_text("(disk_full)")
    assert [path for path, _ in fake_hub.content_gets] == ["config.json"]  # read for the speed estimate only
