"""Plain settings for the decoding core (no torch here, so importing the package is cheap)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

# The 12 Hz codec: 12.5 frames a second, 1920 samples of 24 kHz audio per frame.
SAMPLE_RATE = 24000
SAMPLES_PER_FRAME = 1920
FRAME_SECONDS = SAMPLES_PER_FRAME / SAMPLE_RATE  # 0.08

# Runaway cap the engine uses for its longest call (300 characters: (5 s + 0.3 s/char) x 12.5
# frames/s = 1188 frames), rounded up: the static cache is sized for this many frames.
DEFAULT_MAX_FRAMES = 1200
# Prompt positions reserved in the cache: role + codec tags + text (and, when cloning
# in context, the reference transcript and its codes: ~12.5 per second of reference).
DEFAULT_MAX_PROMPT = 768


class CoreUnavailable(RuntimeError):
    """The core cannot run this model (or request); use qwen-tts's own `generate` instead."""


@dataclass(frozen=True)
class Sampling:
    """Sampling settings, with qwen-tts's names and meaning.

    None means "what qwen-tts would use": the checkpoint's generation_config.json, else
    qwen-tts's hard defaults (see `Qwen3TTSModel._merge_generate_kwargs`). `seed` makes a
    sampled generation reproducible on its own (each stream draws from its own generator,
    whatever else runs in the batch).
    """

    do_sample: bool | None = None
    top_k: int | None = None
    top_p: float | None = None
    temperature: float | None = None
    repetition_penalty: float | None = None
    subtalker_dosample: bool | None = None
    subtalker_top_k: int | None = None
    subtalker_top_p: float | None = None
    subtalker_temperature: float | None = None
    seed: int | None = None

    @classmethod
    def greedy(cls) -> "Sampling":
        return cls(do_sample=False, subtalker_dosample=False)

    def given(self) -> dict:
        """The fields set explicitly, in qwen-tts's keyword names (seed excluded)."""
        return {k: v for k, v in asdict(self).items() if v is not None and k != "seed"}
