"""ModalCalls without Modal: the real missing-token path, and error mapping with modal's
own exception classes raised from a stubbed FunctionCall (Modal has no emulator)."""

from __future__ import annotations

import queue
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

modal = pytest.importorskip("modal")
from modal import exception as mx  # noqa: E402

from utter.config import Settings  # noqa: E402
from utter.adapters.tts.base import DesignJob, EngineError, RemoteCalls, SpeechJob, VoiceReference  # noqa: E402
from utter.adapters.tts.modal_client import ModalCalls  # noqa: E402


@pytest.fixture
def no_modal_token(monkeypatch, tmp_path):
    for name in ("MODAL_TOKEN_ID", "MODAL_TOKEN_SECRET", "MODAL_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    if modal.config.config.get("token_id"):
        pytest.skip("a Modal token is configured on this machine")


@pytest.fixture
def engine(tmp_path):
    return ModalCalls(Settings(data_dir=tmp_path), reason="test")


class StubCall:
    """Stands in for modal.FunctionCall: `get` returns or raises what it was given."""

    def __init__(self, outcome):
        self.outcome = outcome
        self.timeouts = []

    def get(self, timeout=None):
        self.timeouts.append(timeout)
        if isinstance(self.outcome, BaseException):
            raise self.outcome
        return self.outcome


@pytest.fixture
def stub_call(monkeypatch):
    def install(outcome):
        call = StubCall(outcome)
        monkeypatch.setattr(modal.FunctionCall, "from_id", lambda call_id, client=None: call)
        return call

    return install


def job():
    return SpeechJob("Hello.", "en", VoiceReference("v1", Path("ref.wav"), "Hi.", "1"))


def test_engine_shape(engine):
    assert isinstance(engine, RemoteCalls)
    caps = engine.info.capabilities
    assert (engine.info.name, caps.can_clone, caps.can_design, caps.sample_rate) == ("modal", True, True, 24000)


def test_missing_token_is_a_clear_error(engine, no_modal_token):
    """The real modal client, no token: it raises AuthError at once, before any network."""
    for attempt in (lambda: engine.spawn_speech(job(), b"RIFF"), lambda: engine.spawn_design(DesignJob("Hi.", "en", "Deep."))):
        with pytest.raises(EngineError) as err:
            in_worker_thread(attempt)
        assert err.value.code == "modal_auth"
        assert "MODAL_TOKEN_ID" in err.value.message and "MODAL_TOKEN_SECRET" in err.value.message


def in_worker_thread(call):
    """Run `call` where the service runs engine calls: a worker thread with no event loop. (Playwright's
    sync API leaves a loop in the main thread, and modal then warns of blocking calls in async code.)"""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(call).result()


def test_speech_needs_a_voice(engine):
    with pytest.raises(EngineError) as err:
        engine.spawn_speech(SpeechJob("Hello.", "en", None), None)
    assert err.value.code == "voice_required"


def test_pending_call_polls_as_none(engine, stub_call):
    call = stub_call(TimeoutError())
    assert engine.poll("fc-1") is None
    assert engine.poll("fc-1", wait=1.0) is None  # Modal waits up to a second for the result
    assert call.timeouts == [0, 1.0]


def test_finished_call_returns_audio(engine, stub_call):
    samples = np.linspace(-0.5, 0.5, 480, dtype=np.float32)
    stub_call({"audio": samples.astype("<f4").tobytes(), "sample_rate": 24000})
    audio, rate = engine.poll("fc-1")
    assert rate == 24000 and audio.dtype == np.float32
    assert np.array_equal(audio, samples)


@pytest.mark.parametrize(
    "raised, code, retryable",
    [
        (mx.OutputExpiredError("gone"), "remote_expired", False),
        (mx.FunctionTimeoutError("too slow"), "remote_timeout", True),
        (mx.AuthError("Token missing."), "modal_auth", False),
        (mx.NotFoundError("no such call"), "modal_app_not_found", False),
        (mx.ConnectionError("Could not connect to the Modal server."), "modal_unreachable", True),
        (mx.RemoteError("container crashed"), "remote_failed", False),
        (RuntimeError("CUDA out of memory"), "remote_failed", False),  # re-raised from the container
        (TypeError("bad operand type for unary -: 'str'"), "remote_failed", False),
        # An app deployed before its method took a keyword this web tier sends.
        (TypeError("Qwen3TTS.generate() got an unexpected keyword argument 'stream_key'"), "modal_app_outdated",
         False),
    ],
)
def test_errors_map_to_engine_errors(engine, stub_call, raised, code, retryable):
    stub_call(raised)
    with pytest.raises(EngineError) as err:
        engine.poll("fc-1")
    assert (err.value.code, err.value.retryable) == (code, retryable)
    assert err.value.message


def test_remote_engine_error_keeps_its_code(engine, stub_call):
    """The apps return failures they understand as data, so the code survives the trip."""
    stub_call({"error": {"code": "unsupported_language", "message": "Language 'sv' is not supported."}})
    with pytest.raises(EngineError) as err:
        engine.poll("fc-1")
    assert err.value.code == "unsupported_language"


def test_malformed_result(engine, stub_call):
    stub_call({"sample_rate": 24000})
    with pytest.raises(EngineError) as err:
        engine.poll("fc-1")
    assert err.value.code == "remote_failed"


class StubQueue:
    """Stands in for modal.Queue: get_many returns or raises what it was given, and records how it was asked."""

    def __init__(self, outcome):
        self.outcome = outcome
        self.asked = []

    def get_many(self, n_values, block=True, timeout=None, *, partition=None):
        self.asked.append({"block": block, "timeout": timeout, "partition": partition})
        if isinstance(self.outcome, BaseException):
            raise self.outcome
        return self.outcome


@pytest.mark.parametrize("outcome, wait, expected", [
    ([np.ones(3, "<f4").tobytes(), np.zeros(2, "<f4").tobytes()], 1.0, ([1.0] * 3 + [0.0] * 2, False)),
    ([np.ones(2, "<f4").tobytes(), b""], 0.0, ([1.0] * 2, True)),  # the end marker
    (queue.Empty(), 1.0, ([], False)),  # nothing within the wait: the call goes on
    (mx.ConnectionError("unreachable"), 1.0, ([], True)),  # unreadable: the result will carry the audio
])
def test_pieces_read_from_the_calls_partition(engine, monkeypatch, outcome, wait, expected):
    stub = StubQueue(outcome)
    names = []
    monkeypatch.setattr(modal.Queue, "from_name", lambda name, **kwargs: names.append(name) or stub)
    pieces, ended = engine.pieces("key-1", wait=wait)
    assert ([float(x) for p in pieces for x in p], ended) == expected
    assert all(p.dtype == np.float32 for p in pieces)
    assert names == ["utter-qwen3-tts-pieces"]
    # A wait blocks up to that long; no wait asks without blocking (modal warns when given a timeout then).
    assert stub.asked == [{"block": True, "timeout": wait, "partition": "key-1"} if wait else
                          {"block": False, "timeout": None, "partition": "key-1"}]
