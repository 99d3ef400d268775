"""The quality line (issue 17): what hearing each part back found, on the result and in the history."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.generations.test_heard_back import PARTS, FaultyPiper

from .conftest import api_clone, screenshot


def test_a_retaken_part_is_told_on_the_result_and_in_the_history(make_server, page, piper_engine, speech_clips):
    server = make_server(engine=FaultyPiper(piper_engine, {0: ("other_words", 1)}), heard_back="on")
    voice = api_clone(server, speech_clips["wav"], "Keeper")
    page.goto(f"{server.url}/generate?voice={voice['id']}")
    page.get_by_label("Text", exact=True).fill(PARTS[0])
    page.get_by_role("button", name="Generate").click()

    expect(page.locator("#result")).to_be_visible(timeout=90_000)
    line = page.locator("#result-checks")
    expect(line).to_be_visible()
    expect(line).to_contain_text("1 part heard back; 1 retaken (said other words).")
    expect(line).not_to_have_class(re.compile("checks-failed"))
    screenshot(page, "generate-heard-back-desktop")

    page.get_by_role("link", name="History").first.click()
    item = page.locator("#history-list li")
    expect(item).to_have_count(1)
    expect(item.locator(".checks")).to_contain_text("1 part heard back; 1 retaken (said other words).")


def test_a_part_still_wrong_is_marked(make_server, page, piper_engine, speech_clips):
    server = make_server(engine=FaultyPiper(piper_engine, {0: ("other_words", 99)}), heard_back="on")
    voice = api_clone(server, speech_clips["wav"], "Keeper")
    page.goto(f"{server.url}/generate?voice={voice['id']}")
    page.get_by_label("Text", exact=True).fill(PARTS[0])
    page.get_by_role("button", name="Generate").click()
    line = page.locator("#result-checks")
    expect(line).to_be_visible(timeout=120_000)
    expect(line).to_contain_text("still sounds wrong after 3 takes (part 1)")
    expect(line).to_have_class(re.compile("checks-failed"))
