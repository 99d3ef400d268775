"""/design in a real browser: candidates appear as they finish, play, one is saved and generates;
on the CPU default the page says design is unavailable and how to enable it."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from .conftest import api_get, screenshot, wait_for

pytestmark = pytest.mark.browser

STORYTELLER = "A warm, elderly storyteller with a slight rasp, speaking slowly and gently."

def test_design_listen_save_generate(qwen_server, page):
    page.goto(qwen_server.url + "/design")
    expect(page.locator("#design-unavailable")).to_have_count(0)
    page.get_by_role("button", name="Storyteller").click()
    expect(page.get_by_label("Describe the voice")).to_have_value(STORYTELLER)
    expect(page.locator("#description-count")).to_have_text(f"{len(STORYTELLER)} / 1000")
    page.get_by_label("Preview text").fill("Hello there.")
    page.get_by_label("Language").select_option("en")
    page.get_by_label("Number of candidates").select_option("2")
    page.get_by_role("button", name="Design voices").click()

    candidates = page.locator("#candidates-list > li")
    expect(candidates).to_have_count(2)
    for index in range(2):
        item = candidates.nth(index)
        expect(item.locator(".badge")).to_have_text("done", timeout=120_000)
        audio = item.locator("audio")
        duration = wait_for(audio, "a => a.readyState >= 1 && Number.isFinite(a.duration) && a.duration")
        assert 0 < duration < 5
        assert audio.evaluate("a => a.play().then(() => true)")
    expect(page.locator("#design-status")).to_contain_text("2 of 2 candidates ready")
    assert "design=" in page.url
    screenshot(page, "design-candidates")

    first = candidates.nth(0)
    first.get_by_role("button", name="Save as voice").click()
    expect(first.locator(".field-error").first).to_have_text("Give the voice a name.")
    first.get_by_label("Name").fill("Storyteller")
    first.get_by_role("button", name="Save as voice").click()
    expect(first.locator(".saved")).to_contain_text("Saved as Storyteller")
    voice = api_get(qwen_server, "/api/voices")["voices"][0]
    assert (voice["name"], voice["source"], voice["description"]) == ("Storyteller", "designed", STORYTELLER)

    first.get_by_role("link", name="Generate with this voice").click()
    page.wait_for_url(f"**/generate?voice={voice['id']}")
    expect(page.get_by_label("Voice", exact=True)).to_have_value(voice["id"])
    expect(page.locator("#voice option", has_text="Storyteller")).to_have_count(1)

    page.goto(qwen_server.url + "/voices")
    expect(page.locator(".description-text")).to_have_text(STORYTELLER)

def test_design_unavailable_on_piper(server, page):
    page.goto(server.url + "/design")
    notice = page.locator("#design-unavailable")
    expect(notice).to_contain_text("This server cannot design voices")
    expect(notice).to_contain_text("UTTER_ENGINE=qwen")
    expect(notice).to_contain_text("Modal")
    expect(page.get_by_label("Describe the voice")).to_be_disabled()
    expect(page.get_by_role("button", name="Design voices")).to_be_disabled()
    expect(page.get_by_role("button", name="Storyteller")).to_be_disabled()
