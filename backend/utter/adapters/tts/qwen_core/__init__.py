"""Fast Qwen3-TTS decoding: static KV cache, CUDA graphs, continuous batching, streamed audio.

    from utter.adapters.tts.qwen_core import QwenCore, Sampling

    core = QwenCore(qwen_tts_model)                 # a qwen_tts.Qwen3TTSModel (or utter's LoadedModel)
    stream = core.clone(prompt_items, "Hello.", "English", sampling=Sampling.greedy(), max_new_tokens=200)
    for piece in stream:                            # float32 numpy pieces of 24 kHz audio
        ...
    stream.codes, stream.finish_reason              # [frames, 16] codes; "eos" / "length" / ...
    stream = core.design("Hello.", "A warm, low voice.", "English")   # VoiceDesign model
    core.close()

Greedy output (do_sample=False, subtalker_dosample=False) is the very codes qwen-tts's
`generate` makes for the same prompt; the audio is the same codec's, streamed exactly.
`unsupported_reason(model)` says why the core cannot run a model (then use qwen-tts's
own `generate`). On a CPU, `prepare_cpu(model, "int8")` swaps the linear layers for int8
ones first (opt-in; see cpu.py), and `SpeedMeter` (speed.py) keeps the measured speed.
Importing this package does not import torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .options import DEFAULT_MAX_FRAMES, DEFAULT_MAX_PROMPT, SAMPLE_RATE, SAMPLES_PER_FRAME, CoreUnavailable, Sampling

if TYPE_CHECKING:  # pragma: no cover
    from .codec import CodecState, StreamingCodec
    from .prompt import TalkerPrompt, build_prompt
    from .scheduler import QwenCore, Stream, unsupported_reason
    from .stepper import FrameStepper
    from .cpu import CpuPath, prepare_cpu
    from .speed import SpeedMeter

_LAZY = {
    "QwenCore": "scheduler",
    "Stream": "scheduler",
    "unsupported_reason": "scheduler",
    "StreamingCodec": "codec",
    "CodecState": "codec",
    "build_prompt": "prompt",
    "TalkerPrompt": "prompt",
    "FrameStepper": "stepper",
    "prepare_cpu": "cpu",
    "CpuPath": "cpu",
    "SpeedMeter": "speed",
}

__all__ = [
    "CoreUnavailable",
    "DEFAULT_MAX_FRAMES",
    "DEFAULT_MAX_PROMPT",
    "SAMPLE_RATE",
    "SAMPLES_PER_FRAME",
    "Sampling",
    "QwenCore",
    "Stream",
    "unsupported_reason",
    "StreamingCodec",
    "CodecState",
    "build_prompt",
    "TalkerPrompt",
    "FrameStepper",
    "prepare_cpu",
    "CpuPath",
    "SpeedMeter",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value
