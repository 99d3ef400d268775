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
    pytest.importorskip("qwen_tts", reason="qwen-tts not installed (scripts/lib/install-ml.sh)")
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
