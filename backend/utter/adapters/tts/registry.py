"""Choosing the engine: an explicit setting always wins; `auto` picks the best available.

auto: Modal when its token is configured; else Qwen3-TTS in-process when its weights are on
disk and either a CUDA GPU is present, cloning was switched on in the studio, or this CPU runs
it fast enough (UTTER_QWEN_CPU_MAX_RTF, measured or estimated: see qwen.cpu_verdict); else the
embedded Piper CPU engine, and the studio offers to download the weights (cloning_setup). The
reason is kept on the engine's info so the health endpoint and the pages can say why it runs.
"""

from __future__ import annotations

from ...config import EngineChoice, Settings
from .base import EngineError, SpeechEngine


def build_engine(settings: Settings) -> SpeechEngine:
    choice = settings.engine
    if choice == EngineChoice.PIPER:
        return _piper("chosen by UTTER_ENGINE=piper")
    if choice == EngineChoice.QWEN:
        return _qwen(settings, "chosen by UTTER_ENGINE=qwen")
    if choice == EngineChoice.MODAL:
        return _modal(settings, "chosen by UTTER_ENGINE=modal")

    if settings.modal_configured:
        return _modal(settings, "auto: a Modal token is configured")
    qwen_reason = _qwen_available(settings)
    if qwen_reason:
        return _qwen(settings, f"auto: {qwen_reason}")
    too_slow = _qwen_declined(settings)
    if too_slow:
        return _piper(f"auto: no Modal token, no CUDA GPU; {too_slow}")
    if _qwen_waits_for_weights(settings):
        return _piper("auto: no Modal token; a CUDA GPU is present but the Qwen3-TTS weights are not downloaded yet "
                      "(set up voice cloning on the home page, or run `utter enable-cloning`), so the embedded CPU "
                      "engine runs")
    return _piper(
        "auto: no Modal token, no CUDA GPU and no Qwen3-TTS weights on disk, so the embedded CPU engine runs"
    )


def _piper(reason: str) -> SpeechEngine:
    from .piper_engine import PiperEngine, piper_installed

    if not piper_installed():
        raise EngineError(
            "engine_not_installed",
            "No speech engine is installed. Install the embedded CPU engine with: pip install 'utter[piper]'",
        )
    return PiperEngine(reason=reason)


def _qwen_available(settings: Settings) -> str | None:
    try:
        from . import qwen
    except ImportError:
        return None
    return qwen.availability(settings)


def _qwen_declined(settings: Settings) -> str | None:
    try:
        from . import qwen
    except ImportError:
        return None
    return qwen.declined(settings)


def _qwen_waits_for_weights(settings: Settings) -> bool:
    try:
        from . import qwen
    except ImportError:
        return False
    return qwen.gpu_waiting_for_weights(settings)


def build_qwen_engine(settings: Settings, reason: str) -> SpeechEngine:
    """Qwen3-TTS in-process, for a switch made while the server runs (cloning_setup)."""
    return _qwen(settings, reason)


def _qwen(settings: Settings, reason: str) -> SpeechEngine:
    from .qwen import QwenEngine

    return QwenEngine(settings, reason=reason)


def _modal(settings: Settings, reason: str) -> SpeechEngine:
    from .modal_client import ModalCalls
    from .remote import RemoteEngine

    return RemoteEngine(ModalCalls(settings, reason=reason))
