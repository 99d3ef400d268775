"""/voices and /history: listing, search, rename, delete with confirmation, paging."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.support.app_fixtures import wait_for_generation

from .conftest import api_clone, api_generate, api_get, wait_for

pytestmark = pytest.mark.browser

XSS_NAME = '<img src=x onerror="document.body.dataset.owned=1">Eve'


def test_voices_search_rename_delete(server, page, speech_clips):
    api_clone(server, speech_clips["wav"], "Grandma reading", transcript="The quick brown fox.")
    api_clone(server, speech_clips["mp3"], XSS_NAME)

    page.goto(server.url + "/voices")
    items = page.locator("#voice-list > li")
    expect(items).to_have_count(2)
    # Names are text, never markup.
    expect(page.get_by_role("heading", name=XSS_NAME)).to_have_count(1)
    assert page.locator("#voice-list img").count() == 0
    assert page.evaluate("() => document.body.dataset.owned") is None
    grandma = items.filter(has_text="Grandma reading")
    expect(grandma.locator(".transcript-text")).to_have_text("The quick brown fox.")
    expect(grandma.locator(".badge")).to_have_text("Uploaded")
    expect(grandma.locator("audio")).to_have_attribute("src", f"/uploads/references/{grandma.get_attribute('data-voice-id')}.wav")

    # Search by name, reflected in the URL so it survives a reload.
    page.get_by_label("Search by name").fill("grand")
    expect(items).to_have_count(1)
    assert "search=grand" in page.url
    page.reload()
    expect(page.get_by_label("Search by name")).to_have_value("grand")
    expect(items).to_have_count(1)
    page.get_by_label("Search by name").fill("")
    expect(items).to_have_count(2)

    # Rename inline, by keyboard.
    page.get_by_role("button", name="Rename Grandma reading").click()
    name_box = grandma.get_by_label("New name")
    expect(name_box).to_be_focused()
    name_box.fill("Grandma, chapter one")
    name_box.press("Enter")
    expect(page.get_by_role("heading", name="Grandma, chapter one")).to_be_visible()
    expect(page.locator("#voices-status")).to_have_text("Renamed to “Grandma, chapter one”.")

    # Delete: the dialog first; "Keep it" keeps it.
    page.get_by_role("button", name=f"Delete {XSS_NAME}").click()
    dialog = page.locator("#confirm-dialog")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text(XSS_NAME)
    dialog.get_by_role("button", name="Keep it").click()
    expect(dialog).to_be_hidden()
    expect(items).to_have_count(2)
    page.get_by_role("button", name=f"Delete {XSS_NAME}").click()
    dialog.get_by_role("button", name="Delete").click()
    expect(items).to_have_count(1)
    expect(page.locator("#voices-status")).to_have_text(f"Deleted “{XSS_NAME}”.")
    names = [v["name"] for v in api_get(server, "/api/voices")["voices"]]
    assert names == ["Grandma, chapter one"]


def test_history_pages_and_delete(server, page, speech_clips):
    voice = api_clone(server, speech_clips["wav"], "Reader")
    queued = [api_generate(server, voice["id"], f"Sentence number {n}.", wait=False) for n in range(1, 4)]
    with server.client() as client:
        for generation in queued:
            assert wait_for_generation(client, generation["status_url"])["status"] == "done"

    page.goto(server.url + "/history")
    items = page.locator("#history-list > li")
    expect(items).to_have_count(3)
    expect(page.locator("#pager")).to_be_hidden()  # one page of ten holds them all
    # Newest first, each playable and downloadable.
    expect(items.first.locator(".quote")).to_have_text("Sentence number 3.")
    expect(items.first.locator(".item-title")).to_have_text("Reader")
    expect(items.first.locator(".badge")).to_have_text("Done")
    assert 0.5 < wait_for(items.first.locator("audio"), "a => a.readyState >= 1 && a.duration") < 5
    generation_id = items.first.get_attribute("data-generation-id")
    expect(items.first.get_by_role("link", name="Download “Sentence number 3.” in Reader")).to_have_attribute(
        "href", f"/api/generations/{generation_id}/audio?download=1")

    # Pages of two.
    page.goto(server.url + "/history?limit=2")
    expect(items).to_have_count(2)
    expect(page.locator("#page-info")).to_have_text("1–2 of 3 · page 1 of 2")
    expect(page.get_by_role("button", name="Previous")).to_be_disabled()
    page.get_by_role("button", name="Next").click()
    expect(items).to_have_count(1)
    expect(items.first.locator(".quote")).to_have_text("Sentence number 1.")
    assert "page=2" in page.url and "limit=2" in page.url
    expect(page.get_by_role("button", name="Next")).to_be_disabled()

    # Delete the one on page 2, confirmed: the page steps back to the last one left.
    items.first.get_by_role("button").filter(has_text="Delete").click()
    page.locator("#confirm-dialog").get_by_role("button", name="Delete").click()
    expect(page.locator("#history-status")).to_have_text("Deleted.")
    expect(page.locator("#page-info")).to_have_text("1–2 of 2 · page 1 of 1")
    expect(items).to_have_count(2)
    assert api_get(server, "/api/generations")["total"] == 2
