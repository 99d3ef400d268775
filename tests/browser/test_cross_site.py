"""A page on another site, opened in a real browser, cannot create a voice on a studio running on this machine.

The attack needs no CORS: a `no-cors` POST of a multipart form is a "simple" request the browser
sends without asking; only the answer is hidden from the page. Chromium marks it as coming from
another site (Sec-Fetch-Site), which the request guard refuses before the upload is read.
"""

from __future__ import annotations

import functools
import shutil
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.support.server import free_port

from .conftest import api_get

ATTACK = """<!doctype html><title>cute cats</title><link rel="icon" href="data:,"><script>
(async () => {
  const clip = await (await fetch('/speech.wav')).blob();
  const form = new FormData();
  form.append('name', 'Stolen by another site');
  form.append('audio', clip, 'speech.wav');
  try { await fetch('TARGET/api/clone', {method: 'POST', body: form, mode: 'no-cors'}); } catch (e) {}
  document.title = 'sent';
})();
</script>"""


@pytest.fixture
def attacker_site(tmp_path, speech_clips):
    """Another site: http://localhost:<port>, not the studio's http://127.0.0.1:<port>."""
    site = tmp_path / "site"
    site.mkdir()
    shutil.copy(speech_clips["wav"], site / "speech.wav")
    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    handler = functools.partial(Quiet, directory=str(site))
    httpd = ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield site, f"http://localhost:{httpd.server_address[1]}"
    httpd.shutdown()


def test_a_page_on_another_site_cannot_create_a_voice(server, new_page, attacker_site, watch):
    site, origin = attacker_site
    (site / "attack.html").write_text(ATTACK.replace("TARGET", server.url))
    watch.allow(r"Failed to load resource.*403")  # Chromium logs the refused request on the attacker's page
    page = new_page()
    page.goto(f"{origin}/attack.html")
    page.wait_for_function("document.title === 'sent'")
    assert api_get(server, "/api/voices")["voices"] == []
