"""Every page: renders with no console errors or CSP violations, is labelled and ordered for
assistive technology, says what the engine can do, and is captured at desktop and phone width."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from utter.web.pages import NAV

from .conftest import DESKTOP, PHONE, api_clone, api_generate, screenshot

pytestmark = pytest.mark.browser

PAGES = [href for _key, href, _label in NAV]

# Run inside the page: what a screen-reader user would trip over.
AUDIT = """() => {
  const problems = [];
  for (const el of document.querySelectorAll('input, select, textarea, button, meter, progress')) {
    if (el.type === 'hidden' || el.closest('template')) continue;
    const named = (el.labels && el.labels.length) || el.getAttribute('aria-label') ||
      el.getAttribute('aria-labelledby') || (el.tagName === 'BUTTON' && el.textContent.trim());
    if (!named) problems.push('unlabelled ' + el.tagName.toLowerCase() + '#' + el.id);
  }
  let previous = 0;
  for (const h of document.querySelectorAll('h1, h2, h3, h4')) {
    if (h.closest('[hidden], template, dialog')) continue;
    const level = Number(h.tagName[1]);
    if (level > previous + 1) problems.push('heading jumps to ' + h.tagName + ': ' + h.textContent.trim());
    previous = level;
  }
  if (document.querySelectorAll('h1').length !== 1) problems.push('not exactly one h1');
  if (!document.querySelector('[aria-live]') && location.pathname !== '/' && location.pathname !== '/design')
    problems.push('no live region');
  if (document.querySelector('script:not([src])')) problems.push('inline script');
  if (document.querySelector('[style]')) problems.push('inline style attribute');
  for (const el of document.querySelectorAll('*')) {
    for (const attr of el.attributes) if (attr.name.startsWith('on')) problems.push('inline handler ' + attr.name);
  }
  if (document.documentElement.scrollWidth > window.innerWidth + 1) problems.push('scrolls sideways');
  return problems;
}"""


@pytest.fixture
def library(server, speech_clips):
    """A voice with markup in its name, and a finished generation, so lists have content."""
    voice = api_clone(server, speech_clips["wav"], '<img src=x onerror="alert(1)"> Narrator',
                      transcript="The quick brown fox jumps over the lazy dog.")
    api_generate(server, voice["id"], "Welcome to Utter. <b>This</b> is a sample of generated speech.")
    return voice


def test_every_page_renders_cleanly(server, library, new_page):
    for width, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
        page = new_page(viewport=viewport)
        for path in PAGES:
            response = page.goto(server.url + path)
            assert response.status == 200
            csp = response.headers["content-security-policy"]
            assert "script-src 'self'" in csp and "object-src 'none'" in csp and "media-src 'self' blob: https:" in csp
            if path in ("/voices", "/history", "/generate"):
                expect(page.locator("[data-loaded='true'], [data-ready='true']")).to_have_count(1)
            assert page.evaluate(AUDIT) == [], (width, path)
            current = page.locator("nav[aria-label='Main'] a[aria-current='page']")
            expect(current).to_have_attribute("href", path)
            name = "home" if path == "/" else path.strip("/")
            screenshot(page, f"{name}-{width}")
    # Markup typed by people shows as text on every list.
    page.goto(server.url + "/voices")
    expect(page.get_by_role("heading", name='<img src=x onerror="alert(1)"> Narrator')).to_be_visible()
    page.goto(server.url + "/history")
    expect(page.locator("#history-list .quote")).to_have_text(
        "Welcome to Utter. <b>This</b> is a sample of generated speech.")
    page.goto(server.url + "/generate")
    expect(page.locator("#voice option").nth(1)).to_have_text('<img src=x onerror="alert(1)"> Narrator')
    assert page.locator("img").count() == 0

    # The dark theme follows the system setting.
    page = new_page(viewport=DESKTOP, color_scheme="dark")
    page.goto(server.url + "/history")
    assert page.evaluate("() => getComputedStyle(document.body).backgroundColor") == "rgb(20, 24, 22)"
    expect(page.locator("#history-list > li")).to_have_count(1)
    screenshot(page, "history-desktop-dark")
    page.goto(server.url + "/")
    screenshot(page, "home-desktop-dark")


def test_pages_say_when_the_engine_cannot_clone(server, page):
    for path in ("/", "/clone", "/generate"):
        page.goto(server.url + path)
        notice = page.get_by_role("complementary", name="This server cannot clone voices yet")
        expect(notice).to_contain_text("uses the built-in Piper voice, not the voice you clone")
        expect(notice).to_contain_text("UTTER_ENGINE=qwen")
        expect(notice).to_contain_text("Modal")
    page.goto(server.url + "/")
    expect(page.locator(".facts")).to_contain_text("Piper (embedded CPU voice)")
    expect(page.locator(".facts")).to_contain_text("test session")  # why this engine runs (its reason)
    for link in ("Clone a voice", "Generate speech", "Design a voice"):
        expect(page.get_by_role("link", name=link)).to_be_visible()
    page.goto(server.url + "/design")
    expect(page.locator("main")).to_contain_text("Qwen3-TTS VoiceDesign")
    expect(page.locator("main")).to_contain_text("cannot design voices")


def test_keyboard_reaches_the_skip_link_and_the_form(server, page):
    page.goto(server.url + "/generate")
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to content")
    expect(skip).to_be_focused()
    outline = skip.evaluate("el => getComputedStyle(el).outlineStyle")
    assert outline != "none"
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    # The first control in the main content (links in the notice come first).
    focused = page.evaluate("() => document.activeElement.closest('main') !== null")
    assert focused


def test_file_picker_and_recorder_work_by_keyboard(server, page):
    page.goto(server.url + "/clone")
    page.get_by_label("Name").focus()
    page.keyboard.press("Tab")
    expect(page.locator("#audio")).to_be_focused()
    # The input itself is invisible; its label shows the focus ring.
    ring = page.locator("label[for='audio']").evaluate("el => getComputedStyle(el).outlineStyle")
    assert ring == "solid"
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Record from microphone")).to_be_focused()
    page.keyboard.press("Enter")
    stop = page.get_by_role("button", name="Stop recording")
    expect(stop).to_be_focused()
    # Let the recorder deliver some audio (a busy machine is slow to start it).
    expect(page.locator("#record-timer")).to_have_text("0:01", timeout=15_000)
    page.keyboard.press("Enter")
    expect(page.get_by_role("button", name="Record from microphone")).to_be_focused()
    # Far too short: the page says so next to the field, before anything is uploaded.
    expect(page.locator("#audio-error")).to_contain_text("a voice needs at least 10 s")
