"""Voice design on the tiny Qwen3-TTS checkpoints (VoiceDesign to design, Base to speak with the saved voice),
loaded through the real from_pretrained, as tests/qwen does."""

from __future__ import annotations

import pytest

from tests.support.qwen_fixtures import tiny_qwen_base_dir, tiny_qwen_design_dir  # noqa: F401

# Random weights rarely emit an end token: every call runs to this cap (8 frames = 0.64 s).
MAX_NEW_TOKENS = 8


@pytest.fixture(scope="session")
def qwen_engine(tmp_path_factory, tiny_qwen_base_dir, tiny_qwen_design_dir):  # noqa: F811
    """One engine for the session: loading the two tiny models is the slow part."""
    torch = pytest.importorskip("torch")
    from utter.config import Settings
    from utter.services.tts.qwen import QwenEngine

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the tiny model gains nothing from threads on a busy 2-core machine
    settings = Settings(data_dir=tmp_path_factory.mktemp("qwen"), qwen_model=str(tiny_qwen_base_dir),
                        qwen_design_model=str(tiny_qwen_design_dir), qwen_device="cpu", qwen_dtype="auto",
                        _env_file=None)
    engine = QwenEngine(settings, reason="test", max_new_tokens=MAX_NEW_TOKENS)
    yield engine
    engine.close()
    torch.set_num_threads(threads)


@pytest.fixture
def qwen_server(make_server, qwen_engine):
    """The real app over HTTP with the Qwen engine; speech recognition off (it has its own tests)."""
    return make_server(engine=qwen_engine, asr="off")
