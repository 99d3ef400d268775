"""Pytest fixtures for the tiny Qwen3-TTS checkpoints (see tiny_qwen.py).

Building both takes ~20 s, so they are cached under the system temp dir, keyed by the
builder's source and the qwen-tts version: a change to either builds afresh.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pytest

from . import tiny_qwen


def _cache_root() -> Path:
    try:
        qwen_version = version("qwen-tts")
    except PackageNotFoundError:
        qwen_version = "none"
    source = Path(tiny_qwen.__file__).read_bytes()
    key = hashlib.sha256(source + qwen_version.encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / "utter-tiny-qwen" / key


def tiny_checkpoint(kind: str) -> Path:
    """The tiny checkpoint of `kind` ("base" or "voice_design"), built once and cached."""
    try:
        import qwen_tts  # noqa: F401
    except ImportError:
        message = "qwen-tts is not installed (scripts/lib/install-ml.sh installs it)"
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the Qwen3-TTS tests: {message}", pytrace=False)
        pytest.skip(message)
    # Loading these must never fall back to the hub (unreachable here, slow to time out).
    os.environ["HF_HUB_OFFLINE"] = "1"
    target = _cache_root() / kind
    if (target / "speech_tokenizer" / "model.safetensors").is_file():
        return target
    # Build beside the target and rename, so an interrupted build is never mistaken for a cached one.
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{kind}-", dir=target.parent))
    try:
        tiny_qwen.build_checkpoint(staging, kind)
        try:
            staging.rename(target)
        except OSError:  # another process finished the same build first: use theirs
            pass
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


@pytest.fixture(scope="session")
def tiny_qwen_base_dir() -> Path:
    return tiny_checkpoint("base")


@pytest.fixture(scope="session")
def tiny_qwen_design_dir() -> Path:
    return tiny_checkpoint("voice_design")


# Random weights rarely emit an end token: every call runs to this cap (max_new_tokens=8 makes 7 frames, 0.56 s).
QWEN_TEST_MAX_NEW_TOKENS = 8


@pytest.fixture(scope="session")
def qwen_engine(tmp_path_factory, tiny_qwen_base_dir, tiny_qwen_design_dir):
    """One in-process Qwen3-TTS engine on the tiny checkpoints for the session (loading is the slow part)."""
    import torch

    from utter.config import Settings
    from utter.adapters.tts.qwen import QwenEngine

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the tiny model gains nothing from threads on a busy 2-core machine
    settings = Settings(data_dir=tmp_path_factory.mktemp("qwen"), qwen_model=str(tiny_qwen_base_dir),
                        qwen_design_model=str(tiny_qwen_design_dir), qwen_device="cpu", qwen_dtype="auto",
                        _env_file=None)
    engine = QwenEngine(settings, reason="test", max_new_tokens=QWEN_TEST_MAX_NEW_TOKENS)
    yield engine
    engine.close()
    torch.set_num_threads(threads)


@pytest.fixture
def qwen_server(make_server, qwen_engine):
    """The real app over HTTP with the Qwen engine; speech recognition off (it has its own tests)."""
    return make_server(engine=qwen_engine, asr="off")
