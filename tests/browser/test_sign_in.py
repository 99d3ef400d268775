"""A private studio in the browser: the owner makes a key on /keys and stays in; a new browser is
sent to sign in, signs in with the key, and uses the studio."""

from __future__ import annotations

from playwright.sync_api import expect

from .conftest import api_clone, screenshot


def test_making_a_key_closes_the_studio_and_a_key_opens_it(server, new_page, speech_clips, watch):
    api_clone(server, speech_clips["wav"], "Narrator")
    watch.allow(r"status of 401")  # the refused sign-in is answered 401, which Chromium logs
    owner = new_page()
    owner.goto(server.url + "/keys")
    owner.get_by_label("Who or what uses it").fill("My laptop")
    owner.get_by_role("button", name="Make a key").click()
    expect(owner.locator("#new-key-result")).to_be_visible()
    key = owner.locator("#new-key-value").text_content()
    assert key.startswith("utk_")
    expect(owner.locator("#keys-list")).to_contain_text("My laptop")
    owner.goto(server.url + "/voices")  # the owner's browser was signed in with the key it made
    expect(owner.get_by_role("heading", name="Your voices")).to_be_visible()

    visitor = new_page()
    visitor.goto(server.url + "/voices")
    expect(visitor).to_have_url(server.url + "/signin?next=/voices")
    visitor.get_by_label("Access key").fill("utk_not-the-key")
    visitor.get_by_role("button", name="Sign in").click()
    expect(visitor.get_by_role("alert")).to_contain_text("not an access key")
    screenshot(visitor, "signin-refused-desktop")
    visitor.get_by_label("Access key").fill(key)
    visitor.get_by_role("button", name="Sign in").click()
    expect(visitor).to_have_url(server.url + "/voices")
    expect(visitor.locator("#voice-list")).to_contain_text("Narrator")
    visitor.get_by_role("button", name="Sign out").click()
    expect(visitor).to_have_url(server.url + "/signin")
