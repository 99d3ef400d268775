"""Engine selection inputs, optional imports, and the weights download."""

from __future__ import annotations

import subprocess
import sys

import pytest

from utter.config import Settings
from utter.adapters.tts import qwen
from utter.adapters.tts.base import EngineError
from utter.adapters.tts.qwen_download import download_models


def test_registry_imports_no_ml_stack():
    """The web tier must not pay for torch, qwen-tts or modal unless their engine is chosen."""
    code = (
        "import sys, utter.adapters.tts.registry, utter.adapters.tts.qwen, utter.adapters.tts.qwen_download\n"
        "heavy = [m for m in ('torch', 'qwen_tts', 'modal', 'transformers') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_availability_with_local_weights(tmp_path, tiny_qwen_base_dir):
    settings = Settings(data_dir=tmp_path, qwen_model=str(tiny_qwen_base_dir))
    assert str(tiny_qwen_base_dir) in qwen.availability(settings)


def test_availability_with_weights_in_models_dir(tmp_path):
    models = tmp_path / "models"
    (models / "Qwen3-TTS-12Hz-0.6B-Base").mkdir(parents=True)
    (models / "Qwen3-TTS-12Hz-0.6B-Base" / "config.json").write_text("{}")
    settings = Settings(data_dir=tmp_path, models_dir=models)
    assert "Qwen3-TTS-12Hz-0.6B-Base" in qwen.availability(settings)


def test_no_availability_without_weights_or_gpu(tmp_path):
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA GPU")
    assert qwen.availability(Settings(data_dir=tmp_path)) is None


def test_no_availability_without_qwen_tts(tmp_path, tiny_qwen_base_dir, monkeypatch):
    monkeypatch.setattr(qwen, "find_spec", lambda name: None)  # as if the extra were not installed
    assert qwen.availability(Settings(data_dir=tmp_path, qwen_model=str(tiny_qwen_base_dir))) is None


def test_download_fails_clearly_offline(tmp_path):
    """Hugging Face is unreachable here: a plain message, not a stack trace."""
    settings = Settings(data_dir=tmp_path, qwen_model="Qwen/Qwen3-TTS-12Hz-0.6B-Base")
    with pytest.raises(EngineError) as err:
        download_models(settings, which=("base",))
    assert err.value.code == "hub_unreachable"
    assert "could not reach Hugging Face" in err.value.message and "HF_HUB_OFFLINE" in err.value.message
    assert "Traceback" not in err.value.message
    assert str(tmp_path / "models" / "Qwen3-TTS-12Hz-0.6B-Base") in err.value.message


def test_download_skips_local_folders(tmp_path, tiny_qwen_base_dir):
    settings = Settings(data_dir=tmp_path, qwen_model=str(tiny_qwen_base_dir), qwen_design_model="")
    assert download_models(settings) == [tiny_qwen_base_dir]


def test_download_rejects_unknown_kinds(tmp_path):
    with pytest.raises(EngineError) as err:
        download_models(Settings(data_dir=tmp_path), which=("custom",))
    assert err.value.code == "bad_request"


def test_modal_side_modules_need_only_the_gpu_image():
    """The Modal image has torch, qwen-tts, soundfile and numpy, not the web tier's stack."""
    code = (
        "import sys\n"
        "for name in ('pydantic_settings', 'fastapi', 'sqlalchemy', 'pydantic'):\n"
        "    sys.modules[name] = None  # importing it now raises ImportError\n"
        "import utter.adapters.tts.qwen_inference, utter.adapters.tts.qwen_download\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_auto_selection_picks_qwen_when_weights_are_on_disk(tmp_path, tiny_qwen_base_dir, monkeypatch):
    from utter.adapters.tts.qwen import QwenEngine
    from utter.adapters.tts.registry import build_engine

    monkeypatch.delenv("MODAL_TOKEN_ID", raising=False)
    engine = build_engine(Settings(data_dir=tmp_path, engine="auto", qwen_model=str(tiny_qwen_base_dir)))
    assert isinstance(engine, QwenEngine)
    assert engine.info.reason.startswith("auto: Qwen3-TTS weights found at")


def test_explicit_modal_choice_builds_the_modal_engine(tmp_path):
    pytest.importorskip("modal")
    from utter.adapters.tts.modal_client import ModalCalls
    from utter.adapters.tts.registry import build_engine
    from utter.adapters.tts.remote import RemoteEngine

    engine = build_engine(Settings(data_dir=tmp_path, engine="modal"))
    assert isinstance(engine, RemoteEngine) and isinstance(engine.calls, ModalCalls)
    assert engine.info.capabilities.can_clone


def test_a_gpu_without_weights_runs_piper_and_leaves_the_download_to_the_studio(tmp_path, monkeypatch):
    """No first generation that fetches gigabytes out of sight: the pages offer the download instead (issue 20)."""
    from utter.adapters.tts.registry import build_engine

    monkeypatch.delenv("MODAL_TOKEN_ID", raising=False)
    monkeypatch.setattr(qwen, "_cuda_available", lambda: True)
    settings = Settings(_env_file=None, data_dir=tmp_path, engine="auto")
    assert qwen.availability(settings) is None
    engine = build_engine(settings)
    assert engine.info.name == "piper"
    assert "a CUDA GPU is present but the Qwen3-TTS weights are not downloaded yet" in engine.info.reason


def test_weights_switched_on_in_the_studio_keep_qwen_on_a_cpu_auto_would_decline(tmp_path, tiny_qwen_base_dir):
    import shutil

    local = shutil.copytree(tiny_qwen_base_dir, tmp_path / "weights")
    slow = Settings(_env_file=None, data_dir=tmp_path, qwen_model=str(local), qwen_device="cpu",
                    qwen_cpu_max_rtf=1e-6)  # no CPU is this fast
    assert qwen.availability(slow) is None and "more than UTTER_QWEN_CPU_MAX_RTF" in qwen.declined(slow)
    qwen.mark_switched_on(local, "studio")
    assert qwen.availability(slow) == f"Qwen3-TTS was switched on in the studio (weights at {local})"
