"""Browser-only fixtures: Debian's Chromium driven by Playwright (sync API), with a fake microphone.

Every page a test opens is watched: console errors, uncaught exceptions and
Content-Security-Policy violations fail the test unless the test allowed them.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.support.app_fixtures import wait_for_generation

CHROMIUM = os.environ.get("UTTER_CHROMIUM", "/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}

CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--disable-quic", "--no-first-run", "--autoplay-policy=no-user-gesture-required",
    # A microphone that always grants access and plays a real speech file.
    "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
]

# Reported by a page itself (document.addEventListener runs before any page script).
CSP_REPORTER = """
document.addEventListener('securitypolicyviolation', (e) => {
  console.error('CSP violation: ' + e.violatedDirective + ' blocked ' + (e.blockedURI || 'inline'));
});
"""


@pytest.fixture
def database_url(tmp_path) -> str:
    """Browser tests run on SQLite only: the API they call is tested on both databases in tests/api."""
    return f"sqlite:///{tmp_path / 'utter.db'}"


@pytest.fixture
def server(make_server):
    """Speech recognition off: it adds seconds per clone and has its own tests (tests/transcripts)."""
    return make_server(asr="off")


@pytest.fixture(scope="session")
def browser(speech_clips):
    sync_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists() and not shutil.which(CHROMIUM):
        message = f"Chromium not found at {CHROMIUM}: run scripts/lib/install-browser.sh"
        if os.environ.get("CI"):
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    args = CHROMIUM_ARGS + [f"--use-file-for-fake-audio-capture={speech_clips['wav']}"]
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=args, headless=True)
        yield browser
        browser.close()


@dataclass
class PageWatch:
    """Collects what a page complains about; `allow` lets a test expect specific messages."""

    problems: list[str] = field(default_factory=list)
    allowed: list[re.Pattern] = field(default_factory=list)

    def allow(self, pattern: str) -> None:
        self.allowed.append(re.compile(pattern))

    def unexpected(self) -> list[str]:
        return [p for p in self.problems if not any(a.search(p) for a in self.allowed)]


@pytest.fixture
def watch() -> PageWatch:
    return PageWatch()


@pytest.fixture
def new_page(browser, watch):
    """Open a watched page: new_page(viewport=..., color_scheme=...)."""
    contexts = []

    def open_page(viewport=DESKTOP, color_scheme="light"):
        context = browser.new_context(viewport=viewport, color_scheme=color_scheme, accept_downloads=True)
        context.add_init_script(CSP_REPORTER)
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(15_000)
        page.on("console", lambda msg: msg.type == "error" and watch.problems.append(f"console: {msg.text}"))
        page.on("pageerror", lambda exc: watch.problems.append(f"exception: {exc}"))
        return page

    yield open_page
    for context in contexts:
        context.close()
    assert not watch.unexpected(), "the page reported problems:\n" + "\n".join(watch.unexpected())


@pytest.fixture
def page(new_page):
    return new_page()


def screenshot(page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


# Setting up data through the API, so page tests start from a known library.

def api_clone(server, path: Path, name: str, **fields) -> dict:
    with server.client() as client, open(path, "rb") as handle:
        response = client.post("/api/clone", data={"name": name, **fields},
                               files={"audio": (path.name, handle, "application/octet-stream")})
    assert response.status_code == 201, response.text
    return response.json()


def api_generate(server, voice_id: str, text: str, wait: bool = True) -> dict:
    with server.client() as client:
        response = client.post("/api/generate", json={"voice_id": voice_id, "text": text})
        assert response.status_code == 202, response.text
        body = response.json()
        return wait_for_generation(client, body["status_url"]) if wait else body


def api_get(server, url: str) -> dict:
    with httpx.Client(base_url=server.url, timeout=30) as client:
        response = client.get(url)
        response.raise_for_status()
        return response.json()


def wait_for(locator, predicate: str, timeout: float = 15.0, interval: float = 0.1):
    """Poll `predicate` (a JS function of the element) until it is truthy; returns its value.

    Playwright's wait_for_function evaluates strings inside the page, which the
    pages' CSP (no 'unsafe-eval') forbids; locator.evaluate does not.
    """
    import time

    deadline = time.monotonic() + timeout
    while True:
        value = locator.evaluate(predicate)
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{predicate} stayed falsy for {timeout} s (last value {value!r})")
        time.sleep(interval)
