"""Qwen3-TTS inference, shared by the in-process engine and the Modal apps.

The Modal apps import this module (their image carries the `utter` package), so the
web tier's engine and the GPU workers run the same code. Nothing here imports torch or
qwen-tts at import time: they are imported inside the functions that need them, so
`utter` stays importable (and cheap) without the `qwen` extra.
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ...languages import LANGUAGE_NAMES
from .base import Capabilities, EngineError

SAMPLE_RATE = 24000
# Qwen3-TTS drifts after ~30 s of audio; ~300 characters is ~20 s of speech.
MAX_CHARS_PER_CALL = 300
# The 12 Hz codec emits 12.5 frames per second; one new token is one frame.
FRAMES_PER_SECOND = 12.5

# ISO codes the API speaks -> the names Qwen3-TTS uses (lower-cased by the model).
QWEN_LANGUAGES: dict[str, str] = {**LANGUAGE_NAMES, "auto": "Auto"}

# Runaway guard: a generation that never emits its end token runs to max_new_tokens,
# so the cap follows the text. Speech runs ~12-17 characters a second; 0.3 s per
# character is ~4x slower than that, and the floor covers very short texts.
SECONDS_PER_CHAR = 0.3
FLOOR_SECONDS = 5.0

INSTALL_HINT = "pip install 'utter[qwen]'"
# Version of the serialised clone-prompt layout, so a layout change rebuilds caches.
PROMPT_FORMAT = 1


# Generations one GPU serves at once through the core's batched step (each stream stays well
# above real time up to 64 of them on an H200; see docs/qwen.md).
GPU_CONCURRENT = 16


def capabilities(*, can_design: bool, languages: tuple[str, ...] = tuple(QWEN_LANGUAGES),
                 max_concurrent: int = 1) -> Capabilities:
    """What Qwen3-TTS can do, wherever it runs (in this process or on Modal).

    The Base model has no control of speed (the service stretches its audio instead).
    """
    return Capabilities(can_clone=True, can_design=can_design, languages=languages,
                        max_chars_per_call=MAX_CHARS_PER_CALL, sample_rate=SAMPLE_RATE, max_concurrent=max_concurrent,
                        needs_heard_back=True)


def voice_required() -> EngineError:
    return EngineError("voice_required",
                       "Qwen3-TTS Base speaks only in a cloned voice: choose a voice (or design one first).")


def token_budget(text: str, ceiling: int | None = None) -> int:
    """max_new_tokens for `text`: generous seconds per character plus a floor (optionally lower)."""
    seconds = FLOOR_SECONDS + SECONDS_PER_CHAR * len(text)
    budget = math.ceil(seconds * FRAMES_PER_SECOND)
    return min(budget, ceiling) if ceiling else budget


def local_dir_name(model: str) -> str:
    """Folder name under models_dir for an HF id (`Qwen/Qwen3-TTS-12Hz-0.6B-Base` -> last part)."""
    return model.rstrip("/").split("/")[-1]


def local_model_path(model: str, models_dir: Path | str | None) -> Path | None:
    """The local folder holding `model`'s weights, if any: the setting itself, or models_dir/<name>."""
    if not model:
        return None
    candidates = [Path(model).expanduser()]
    if models_dir:
        candidates.append(Path(models_dir) / local_dir_name(model))
    for candidate in candidates:
        if (candidate / "config.json").is_file():
            return candidate
    return None


def require_qwen_tts() -> None:
    try:
        import qwen_tts  # noqa: F401
    except ImportError as exc:
        raise EngineError(
            "engine_not_installed", f"Qwen3-TTS is not installed. Install it with: {INSTALL_HINT}"
        ) from exc


def resolve_device(device: str = "auto") -> str:
    import torch

    if device in ("", "auto"):
        return "cuda:0" if torch.cuda.is_available() else "cpu"
    return device


def resolve_dtype(dtype: str, device: str):
    import torch

    if dtype in ("", "auto"):
        # bfloat16 halves memory on GPUs that support it; CPUs are fastest and exact in float32.
        if device.startswith("cuda") and torch.cuda.is_bf16_supported():
            return torch.bfloat16
        return torch.float16 if device.startswith("cuda") else torch.float32
    try:
        return {"bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32}[dtype]
    except KeyError:
        raise EngineError("bad_setting", f"Unknown dtype {dtype!r}: use auto, bfloat16, float16 or float32.") from None


@dataclass
class LoadedModel:
    """A loaded Qwen3TTSModel plus what the rest of the code needs to know about it."""

    model: Any  # qwen_tts.Qwen3TTSModel
    source: str
    device: str
    dtype: str
    attn: str
    languages: tuple[str, ...]  # ISO codes this model accepts
    core: Any = None  # qwen_core.QwenCore, when the fast decoding core runs this model
    decoder: str = "qwen-tts generate"  # what decodes, in words, for /api/engine
    cpu_path: Any = None  # qwen_core.cpu.CpuPath: what runs on a CPU (precision, codec, threads)
    speed: Any = field(default=None)  # qwen_core.speed.SpeedMeter: measured speed of this model here

    @property
    def kind(self) -> str:
        return self.model.model.tts_model_type  # "base", "voice_design" or "custom_voice"

    @property
    def tag(self) -> str:
        """Identifies what a clone prompt was built with; a prompt from another model is useless."""
        cfg = self.model.model.config
        return f"{cfg.tts_model_size}:{cfg.speaker_encoder_config.enc_dim}"


def load_model(source: str, *, device: str = "auto", dtype: str = "auto", attn: str = "sdpa",
               fast: bool = True, cpu_precision: str = "auto", cpu_threads: int = 0) -> LoadedModel:
    """Load a Qwen3-TTS checkpoint from an HF id or a local folder, with the fast decoding core
    attached (`fast=False` leaves qwen-tts's own `generate` to decode, as before the core existed).
    On a CPU the model is prepared for the CPU path first (`cpu_precision`: auto/float32/int8,
    `cpu_threads`: 0 = automatic; see qwen_core.cpu).

    If the requested attention implementation is unavailable (flash-attn not installed,
    sdpa unsupported), fall back to sdpa and then eager rather than failing.
    """
    require_qwen_tts()
    from qwen_tts import Qwen3TTSModel

    path = Path(source).expanduser()
    if (path.is_absolute() or path.exists()) and not (path / "config.json").is_file():
        raise EngineError(
            "weights_missing",
            f"No Qwen3-TTS model in {path} (no config.json). Run `utter download-models` where Hugging Face "
            "is reachable, or point UTTER_QWEN_MODEL at a folder holding the weights.",
        )
    device = resolve_device(device)
    torch_dtype = resolve_dtype(dtype, device)
    tried: list[str] = []
    for implementation in dict.fromkeys([attn or "sdpa", "sdpa", "eager"]):
        try:
            model = Qwen3TTSModel.from_pretrained(
                source, device_map=device, dtype=torch_dtype, attn_implementation=implementation
            )
            break
        except (ImportError, ValueError) as exc:
            if "attn" not in str(exc).lower() and "attention" not in str(exc).lower():
                raise EngineError("model_load_failed", f"Could not load Qwen3-TTS from {source}: {exc}") from exc
            tried.append(f"{implementation} ({exc})")
        except OSError as exc:
            raise EngineError(
                "weights_missing",
                f"Qwen3-TTS weights for {source} are not available: {_first_line(exc)}. "
                "Run `utter download-models` where Hugging Face is reachable, or point "
                "UTTER_QWEN_MODEL at a local folder.",
            ) from exc
    else:
        raise EngineError("model_load_failed", f"No attention implementation worked: {'; '.join(tried)}")

    supported = {name.lower() for name in (model.get_supported_languages() or [])}
    languages = tuple(code for code, name in QWEN_LANGUAGES.items() if not supported or name.lower() in supported)
    loaded = LoadedModel(
        model=model,
        source=str(source),
        device=device,
        dtype=str(torch_dtype).removeprefix("torch."),
        attn=implementation,
        languages=languages,
    )
    if device == "cpu":
        from .qwen_core.cpu import prepare_cpu

        try:
            loaded.cpu_path = prepare_cpu(model, cpu_precision, threads=cpu_threads or None)
        except ValueError as exc:
            raise EngineError("bad_setting", str(exc)) from None
    if fast:
        attach_core(loaded)
    return loaded


def attach_core(loaded: LoadedModel, **options) -> None:
    """Decode with the fast core (qwen_core: static KV cache, CUDA graphs on a GPU, many
    generations batched); when it cannot run this model, qwen-tts's `generate` stays, and
    `decoder` says why."""
    from .qwen_core import CoreUnavailable, QwenCore, unsupported_reason

    from .qwen_core.speed import SpeedMeter

    loaded.speed = loaded.speed or SpeedMeter()
    cpu = loaded.cpu_path
    if cpu is not None:
        options.setdefault("cpu_threads", cpu.threads)
    reason = unsupported_reason(loaded.model)
    if reason is None:
        try:
            loaded.core = QwenCore(loaded.model, **options)
        except CoreUnavailable as exc:
            reason = str(exc)
    if loaded.core is None:
        loaded.decoder = f"qwen-tts generate (the fast core cannot run this model: {reason})"
        return
    core = loaded.core
    loaded.decoder = (f"fast core: static KV cache, {'CUDA graphs' if core.use_graphs else 'eager'}, "
                      f"up to {core.max_batch} generations batched")
    if cpu is not None:
        loaded.decoder += f"; {cpu.describe()}"
    loaded.speed.description = loaded.decoder


# A short sentence in a neutral voice (x-vector of zeros): what the start-up measurement speaks.
CALIBRATION_TEXT = "This is a short sentence that measures how fast speech is made on this machine."


def calibrate(loaded: LoadedModel, frames: int = 12) -> dict | None:
    """Time one short generation through the core (after a 2-frame warm-up) and keep it as the
    start-up speed; returns the estimate (None without the core, or for a non-Base model)."""
    import torch
    from qwen_tts import VoiceClonePromptItem

    from .qwen_core import Sampling
    from .qwen_core.speed import Run

    core = loaded.core
    if core is None or loaded.kind != "base":
        return None
    tts = loaded.model.model
    enc_dim = tts.config.speaker_encoder_config.enc_dim
    item = VoiceClonePromptItem(ref_code=None, ref_spk_embedding=torch.zeros(enc_dim, dtype=tts.talker.dtype,
                                                                                device=tts.talker.device),
                                x_vector_only_mode=True, icl_mode=False, ref_text=None)
    list(core.clone([item], CALIBRATION_TEXT, "English", sampling=Sampling(seed=0), max_new_tokens=3))
    stream = core.clone([item], CALIBRATION_TEXT, "English", sampling=Sampling(seed=0), max_new_tokens=frames + 1)
    for _ in stream:
        pass
    made = 0 if stream.codes is None else int(stream.codes.shape[0])
    if made <= core.first_frames or stream.first_audio is None or stream.finished is None:
        return None
    loaded.speed.startup = Run(made, stream.finished, stream.first_audio, core.first_frames)
    return loaded.speed.estimate()


def release(loaded: LoadedModel | None) -> None:
    """Stop the core's thread (the model itself goes with the last reference to it)."""
    if loaded is not None and loaded.core is not None:
        loaded.core.close()


def qwen_language(loaded: LoadedModel, code: str) -> str:
    """The Qwen name for an ISO code, checked against what the loaded model reports."""
    if code not in loaded.languages:
        supported = ", ".join(loaded.languages)
        raise EngineError("unsupported_language", f"Language {code!r} is not supported by this model (supported: {supported}).")
    return QWEN_LANGUAGES[code]


def read_audio(data: bytes | Path | str) -> tuple[np.ndarray, int]:
    """Mono float32 samples and their rate from WAV/FLAC bytes or a file path."""
    import soundfile as sf

    source = io.BytesIO(data) if isinstance(data, bytes) else str(data)
    audio, rate = sf.read(source, dtype="float32", always_2d=True)
    return audio.mean(axis=1).astype(np.float32), int(rate)


def build_clone_prompt(loaded: LoadedModel, audio: np.ndarray, sample_rate: int, transcript: str | None) -> list:
    """The voice-clone prompt: in-context (reference codes + transcript) when a transcript
    exists, which clones best; x-vector only (speaker embedding) otherwise."""
    transcript = (transcript or "").strip() or None
    try:
        return loaded.model.create_voice_clone_prompt(
            ref_audio=(audio, sample_rate), ref_text=transcript, x_vector_only_mode=transcript is None
        )
    except Exception as exc:  # qwen-tts raises bare ValueError/RuntimeError
        raise EngineError("reference_failed", f"Could not process the reference audio: {exc}") from exc


def speaker_similarity(loaded: LoadedModel, prompt: list, samples: np.ndarray, sample_rate: int) -> float:
    """Cosine similarity of `samples`' speaker embedding to the prompt's reference embedding: the
    speaker encoder qwen-tts uses to embed a reference (x-vector), applied to other speech."""
    import torch

    from ...audio.codec import resample

    model = loaded.model.model
    rate = model.speaker_encoder_sample_rate
    audio = resample(np.asarray(samples, dtype=np.float32), sample_rate, rate) if sample_rate != rate else samples
    spoken = model.extract_speaker_embedding(audio=np.ascontiguousarray(audio, dtype=np.float32), sr=rate)
    (item,) = prompt
    reference = item.ref_spk_embedding.to(spoken.device)
    return float(torch.nn.functional.cosine_similarity(spoken.float().flatten(), reference.float().flatten(), dim=0))


def serialise_prompt(loaded: LoadedModel, prompt: list) -> bytes:
    """Bytes for a clone prompt, as plain tensors and scalars.

    Stored as a dict rather than pickled dataclasses so it loads with
    torch.load(weights_only=True): the cache lives in shared storage, and unpickling
    arbitrary objects from storage would let whoever can write it run code here.
    """
    import torch

    (item,) = prompt
    payload = {
        "format": PROMPT_FORMAT,
        "model": loaded.tag,
        "ref_code": None if item.ref_code is None else item.ref_code.cpu(),
        "ref_spk_embedding": item.ref_spk_embedding.cpu(),
        "x_vector_only_mode": bool(item.x_vector_only_mode),
        "icl_mode": bool(item.icl_mode),
        "ref_text": item.ref_text,
    }
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    return buffer.getvalue()


def deserialise_prompt(loaded: LoadedModel, data: bytes) -> list | None:
    """The clone prompt stored in `data`, or None if it is unreadable or from another model."""
    import torch
    from qwen_tts import VoiceClonePromptItem

    try:
        payload = torch.load(io.BytesIO(data), map_location=loaded.model.device, weights_only=True)
    except Exception:  # truncated, foreign or unsafe bytes: a cache miss, rebuilt from the clip
        return None
    if not isinstance(payload, dict) or payload.get("format") != PROMPT_FORMAT or payload.get("model") != loaded.tag:
        return None
    return [
        VoiceClonePromptItem(
            ref_code=payload["ref_code"],
            ref_spk_embedding=payload["ref_spk_embedding"],
            x_vector_only_mode=payload["x_vector_only_mode"],
            icl_mode=payload["icl_mode"],
            ref_text=payload["ref_text"],
        )
    ]


class CoreAudio:
    """A core stream's audio as float32 pieces; closing it (or leaving the loop) cancels the generation.
    A generation that runs to its end is timed into `meter` (the engine's expected speed)."""

    def __init__(self, stream, meter=None):
        self._stream = stream
        self._meter = meter

    def __iter__(self) -> Iterator[np.ndarray]:
        try:
            for piece in self._stream:
                yield np.asarray(piece, dtype=np.float32)
            self._record()
        except EngineError:
            raise
        except Exception as exc:
            raise EngineError("generation_failed", f"Qwen3-TTS failed to generate speech: {exc}") from exc
        finally:
            self._stream.cancel()

    def close(self) -> None:
        self._stream.cancel()

    def _record(self) -> None:
        stream = self._stream
        if self._meter is None or stream.finish_reason not in ("eos", "length") or stream.codes is None:
            return
        if stream.first_audio is None or stream.finished is None:
            return
        from .qwen_core.speed import Run

        self._meter.record(Run(int(stream.codes.shape[0]), stream.finished, stream.first_audio,
                               stream.first_frames))


def stream_clone(
    loaded: LoadedModel, prompt: list, text: str, language: str, *, max_new_tokens: int | None = None
) -> Iterator[np.ndarray]:
    """Speech for `text` in the prompt's voice, as it is made (one piece without the core).

    Checks happen at the call; with the core the generation is queued at once and runs
    beside others, so nothing needs a lock. Without it the caller must not run two at once.
    """
    name = qwen_language(loaded, language)
    if loaded.core is None:
        return iter([generate_clone(loaded, prompt, text, language, max_new_tokens=max_new_tokens)])
    return _submitted(lambda: loaded.core.clone(prompt, text, name, max_new_tokens=token_budget(text, max_new_tokens)),
                      loaded.speed)


def stream_design(
    loaded: LoadedModel, text: str, language: str, description: str, *, max_new_tokens: int | None = None
) -> Iterator[np.ndarray]:
    """A clip of `text` in a voice matching `description` (VoiceDesign model), as it is made."""
    name = qwen_language(loaded, language)
    if loaded.core is None:
        return iter([generate_design(loaded, text, language, description, max_new_tokens=max_new_tokens)])
    return _submitted(lambda: loaded.core.design(text, description, name,
                                                 max_new_tokens=token_budget(text, max_new_tokens)))


def _submitted(submit, meter=None) -> CoreAudio:
    try:
        return CoreAudio(submit(), meter)
    except Exception as exc:  # the core refuses what it cannot run (ValueError), or it has stopped
        raise EngineError("generation_failed", f"Qwen3-TTS could not start speaking: {exc}") from exc


def _joined(pieces: Iterator[np.ndarray]) -> np.ndarray:
    parts = list(pieces)
    return np.concatenate(parts).astype(np.float32, copy=False) if parts else np.zeros(0, np.float32)


def generate_clone(
    loaded: LoadedModel, prompt: list, text: str, language: str, *, max_new_tokens: int | None = None
) -> np.ndarray:
    """Speech for `text` in the prompt's voice: float32 mono at SAMPLE_RATE."""
    name = qwen_language(loaded, language)
    if loaded.core is not None:
        return _joined(stream_clone(loaded, prompt, text, language, max_new_tokens=max_new_tokens))
    return _generate(
        loaded.model.generate_voice_clone,
        text=text,
        language=name,
        voice_clone_prompt=prompt,
        max_new_tokens=token_budget(text, max_new_tokens),
    )


def generate_clone_long(
    loaded: LoadedModel, prompt: list, text: str, language: str, *, max_new_tokens: int | None = None
) -> np.ndarray:
    """Like generate_clone, for text of any length: spoken in chunks, levelled and crossfaded.

    For callers that get one result per call (the Modal app); the in-process engine is
    given chunks by the worker instead, so it can stream them.
    """
    from ...audio.stitch import ChunkStitcher
    from ...audio.text import chunk_text

    stitcher = ChunkStitcher(SAMPLE_RATE)
    parts = [
        stitcher.push(generate_clone(loaded, prompt, chunk, language, max_new_tokens=max_new_tokens))
        for chunk in chunk_text(text, MAX_CHARS_PER_CALL)
    ]
    parts.append(stitcher.finish())
    return np.concatenate(parts)


def stream_clone_long(
    loaded: LoadedModel, prompt: list, text: str, language: str, *, max_new_tokens: int | None = None
) -> Iterator[np.ndarray]:
    """Like generate_clone_long, as it is made (the Modal app streams these pieces to the web tier).

    A text of one chunk (what Utter sends a call) comes as the core decodes it, unlevelled, as the
    in-process engine hands its pieces to the worker, which levels and joins the parts itself. A
    longer text is levelled and crossfaded chunk by chunk, as generate_clone_long does it.
    """
    from ...audio.stitch import ChunkStitcher
    from ...audio.text import chunk_text

    chunks = chunk_text(text, MAX_CHARS_PER_CALL)
    if len(chunks) <= 1:
        yield from stream_clone(loaded, prompt, text, language, max_new_tokens=max_new_tokens)
        return
    stitcher = ChunkStitcher(SAMPLE_RATE)
    for chunk in chunks:
        stitcher.start_chunk()
        for piece in stream_clone(loaded, prompt, chunk, language, max_new_tokens=max_new_tokens):
            ready = stitcher.feed(piece)
            if ready.size:
                yield ready
        ready = stitcher.end_chunk()
        if ready.size:
            yield ready
    yield stitcher.finish()


def generate_design(
    loaded: LoadedModel, text: str, language: str, description: str, *, max_new_tokens: int | None = None
) -> np.ndarray:
    """A clip of `text` spoken by a voice matching `description` (VoiceDesign model)."""
    name = qwen_language(loaded, language)
    if loaded.core is not None:
        return _joined(stream_design(loaded, text, language, description, max_new_tokens=max_new_tokens))
    return _generate(
        loaded.model.generate_voice_design,
        text=text,
        instruct=description,
        language=name,
        max_new_tokens=token_budget(text, max_new_tokens),
    )


def _generate(method, **kwargs) -> np.ndarray:
    try:
        wavs, rate = method(**kwargs)
    except EngineError:
        raise
    except Exception as exc:
        raise EngineError("generation_failed", f"Qwen3-TTS failed to generate speech: {exc}") from exc
    audio = np.asarray(wavs[0], dtype=np.float32).reshape(-1)
    if rate != SAMPLE_RATE:
        raise EngineError("generation_failed", f"Qwen3-TTS returned {rate} Hz audio; expected {SAMPLE_RATE} Hz.")
    return audio


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes")
