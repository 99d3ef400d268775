"""SIGTERM stops `utter serve` within its grace, however many listeners are still waiting for audio."""

from __future__ import annotations

import signal
import threading
import time

import httpx
import pytest

from tests.processes.cluster import base_env, clone_voice, submit
from tests.support.server import start_process

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]


def test_sigterm_with_listeners_waiting_stops_within_the_grace(tmp_path, speech_clips):
    env = base_env("", tmp_path, UTTER_WORKERS="0", UTTER_STOP_GRACE_SECONDS="2", UTTER_ASR="off")
    server = start_process(env, tmp_path, "serve")
    try:
        voice_id = clone_voice(server.url, speech_clips["wav"])
        waiting = submit(server.url, voice_id, "Nothing will speak this: there are no workers.")
        connected = threading.Semaphore(0)

        def listen():
            try:
                with httpx.stream("GET", f"{server.url}/api/generations/{waiting}/stream", timeout=60) as response:
                    connected.release()
                    for _ in response.iter_bytes():
                        pass
            except httpx.HTTPError:
                pass  # the server went away: what this test wants

        listeners = [threading.Thread(target=listen, daemon=True) for _ in range(10)]
        for listener in listeners:
            listener.start()
        for _ in listeners:
            assert connected.acquire(timeout=30)

        asked_at = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        assert server.process.wait(30) in (0, -signal.SIGTERM)
        stopped_after = time.monotonic() - asked_at
    finally:
        server.stop()
    # The 2 s of grace for open connections, then the app's own shutdown.
    assert stopped_after < 8, f"stopped {stopped_after:.1f} s after SIGTERM"
