"""Qwen3-TTS in-process: clone a voice with the Base model, design one with VoiceDesign.

Importing this module is cheap (no torch): the registry imports it to ask
`availability`, and the heavy stack loads only when the engine loads. The inference
itself lives in `qwen_inference`, which the Modal apps share.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from dataclasses import replace
from importlib.util import find_spec

import numpy as np

from ...config import Settings
from . import qwen_inference as qi
from .base import (
    NO_AUDIO,
    ChunkwiseEngine,
    DesignJob,
    EngineError,
    EngineInfo,
    EngineTask,
    EngineUnsupported,
    Piece,
    PromptCache,
    SpeechJob,
    SpeechRequest,
    VoiceReference,
)

log = logging.getLogger(__name__)


def availability(settings: Settings) -> str | None:
    """Why `auto` should pick this engine, or None: qwen-tts installed and its weights on disk (or in the
    Hugging Face cache), with a CUDA GPU to run them on, or switched on in the studio, or this CPU fast
    enough (`cpu_verdict`). Without weights a GPU is not enough: the studio offers to download them, with
    a progress bar, rather than the first generation fetching gigabytes out of sight."""
    if find_spec("qwen_tts") is None:
        return None
    local = qi.local_model_path(settings.qwen_model, settings.models_dir)
    if local is not None:
        if _on_gpu(settings):
            return f"Qwen3-TTS weights found at {local} and a CUDA GPU is present"
        if switched_on(local):
            return f"Qwen3-TTS was switched on in the studio (weights at {local})"
        fast_enough, why = cpu_verdict(settings, local)
        return f"Qwen3-TTS weights found at {local}; {why}" if fast_enough else None
    if _in_hub_cache(settings.qwen_model) and _cuda_available():
        return "Qwen3-TTS weights are in the Hugging Face cache and a CUDA GPU is present"
    return None


SWITCHED_ON_MARKER = ".utter-switched-on.json"


def switched_on(local) -> bool:
    """Whether someone switched cloning on for these weights (in the studio or `utter enable-cloning`):
    then `auto` keeps Qwen3-TTS after a restart even on a CPU it would not pick by itself."""
    from pathlib import Path

    return (Path(local) / SWITCHED_ON_MARKER).is_file()


def mark_switched_on(local, how: str) -> None:
    import json
    import time
    from pathlib import Path

    (Path(local) / SWITCHED_ON_MARKER).write_text(json.dumps({"how": how, "at": time.time()}))


def _in_hub_cache(model: str) -> bool:
    """Whether huggingface_hub's cache holds the model's config (from an earlier from_pretrained); no network."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return False
    try:
        return isinstance(try_to_load_from_cache(model, "config.json"), str)
    except Exception:  # noqa: BLE001 - a local folder or an odd id is simply not in the cache
        return False


def gpu_waiting_for_weights(settings: Settings) -> bool:
    """A CUDA GPU and qwen-tts are here but no weights yet: `auto` runs Piper and the studio offers the download."""
    return (find_spec("qwen_tts") is not None and qi.local_model_path(settings.qwen_model, settings.models_dir) is None
            and _on_gpu(settings))


def declined(settings: Settings) -> str | None:
    """Why `auto` did not pick Qwen3-TTS although its weights are on disk (too slow on this CPU), or None."""
    if find_spec("qwen_tts") is None:
        return None
    local = qi.local_model_path(settings.qwen_model, settings.models_dir)
    if local is None or _on_gpu(settings) or switched_on(local):
        return None
    fast_enough, why = cpu_verdict(settings, local)
    if fast_enough:
        return None
    return (f"Qwen3-TTS weights found at {local}, but {why}, so the embedded CPU engine runs "
            "(UTTER_ENGINE=qwen runs Qwen3-TTS anyway)")


def cpu_verdict(settings: Settings, local) -> tuple[bool, str]:
    """Whether Qwen3-TTS is fast enough on this CPU for `auto`, and why, in words.

    Fast enough: expected to take at most UTTER_QWEN_CPU_MAX_RTF seconds per second of speech,
    by this machine's own measurement with the same settings (stored at the engine's last start)
    or else an estimate from the bytes a frame reads and a memory-bandwidth probe.
    """
    estimate, path = _cpu_estimate(settings, str(local))
    if estimate is None:  # a checkpoint whose shapes cannot be read: loading it will say what is wrong
        return True, "its speed on this CPU cannot be estimated (its config.json has no model shapes)"
    rtf, limit = estimate["real_time_factor"], settings.qwen_cpu_max_rtf
    where = f"on this CPU ({path}) it takes about {rtf:g} s per second of speech ({estimate['source']})"
    if rtf <= limit:
        return True, f"{where}, within UTTER_QWEN_CPU_MAX_RTF={limit:g}"
    hint = ""
    if path.startswith("float32"):
        other, _ = _cpu_estimate(settings, str(local), precision="int8")
        if other is not None and other["real_time_factor"] <= limit:
            hint = f"; int8 (UTTER_QWEN_CPU_PRECISION=int8, opt-in) would take about {other['real_time_factor']:g}"
    return False, f"{where}, more than UTTER_QWEN_CPU_MAX_RTF={limit:g}{hint}"


def _cpu_estimate(settings: Settings, local: str, precision: str | None = None,
                  config: dict | None = None) -> tuple[dict | None, str]:
    """(expected speed or None when unknown, path in words) for the model at `local` on this CPU,
    before loading anything heavy. `config`: the model's config.json when it is not on disk yet
    (the studio estimates the speed before downloading)."""
    import json
    from pathlib import Path

    from .qwen_core import speed

    wanted = (precision or settings.qwen_cpu_precision or "auto").lower()
    chosen = "int8" if wanted == "int8" else "float32"
    codec = "bfloat16" if speed.native_bf16() else "float32"
    threads = settings.qwen_cpu_threads or speed.default_threads()
    key = speed.machine_key(local, chosen, threads)
    stored = speed.stored_measurement(settings.data_dir, key)
    path = f"{chosen}, codec in {codec}"
    if stored is not None:
        return stored, path
    try:
        config = config if config is not None else json.loads((Path(local) / "config.json").read_text())
        return speed.estimate_cpu(config, chosen, codec, _bandwidth()), path
    except (OSError, ValueError, KeyError, TypeError):
        return None, path


_BANDWIDTH: list[float] = []


def _bandwidth() -> float:
    """Memory bandwidth of one thread, probed once per process (~0.1 s)."""
    if not _BANDWIDTH:
        from .qwen_core.speed import probe_bandwidth

        _BANDWIDTH.append(probe_bandwidth())
    return _BANDWIDTH[0]


def _cuda_available() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available()


def cpu_expectation(settings: Settings, local, config: dict) -> tuple[dict | None, str]:
    """The speed to expect on this CPU for a model not downloaded yet (from its config.json), and in words."""
    estimate, path = _cpu_estimate(settings, str(local), config=config)
    if estimate is None:
        return None, "its speed on this CPU cannot be estimated"
    return estimate, path


def gpu_name(settings: Settings) -> str | None:
    """The CUDA GPU Qwen3-TTS would run on, or None (no GPU, or UTTER_QWEN_DEVICE=cpu)."""
    if not _on_gpu(settings):
        return None
    import torch

    device = settings.qwen_device if settings.qwen_device.startswith("cuda") else "cuda"
    try:
        return torch.cuda.get_device_name(torch.device(device))
    except Exception:  # noqa: BLE001 - a name is only for the page
        return "a CUDA GPU"


def _on_gpu(settings: Settings) -> bool:
    """Whether the model will run on a CUDA GPU (where the core batches many generations)."""
    device = settings.qwen_device
    return device.startswith("cuda") or (device in ("", "auto") and _cuda_available())


def _design_configured(settings: Settings) -> bool:
    """Design works when its weights are on disk, or when they can come from the hub.

    A machine that runs the Base model from local weights got them with
    `utter download-models`; if that left the VoiceDesign model out, don't promise design.
    """
    model = settings.qwen_design_model
    if not model:
        return False
    if qi.local_model_path(model, settings.models_dir) is not None:
        return True
    return not qi.offline() and qi.local_model_path(settings.qwen_model, settings.models_dir) is None


class QwenEngine(ChunkwiseEngine):
    """Voice cloning (and design, when the VoiceDesign model is configured) on this machine.

    `max_new_tokens` lowers the runaway guard further; tests and benchmarks use it to
    keep randomly initialised checkpoints short.
    """

    def __init__(self, settings: Settings, reason: str = "chosen in settings", *, max_new_tokens: int | None = None):
        self.settings = settings
        self.max_new_tokens = max_new_tokens
        self.info = EngineInfo(
            name="qwen",
            label="Qwen3-TTS (in-process)",
            reason=reason,
            capabilities=qi.capabilities(can_design=_design_configured(settings),
                                         max_concurrent=qi.GPU_CONCURRENT if _on_gpu(settings) else 1),
            details={"model": settings.qwen_model, "design_model": settings.qwen_design_model or "(none)"},
        )
        self._base: qi.LoadedModel | None = None
        self._design: qi.LoadedModel | None = None
        # One model instance is not safe to drive from two threads at once.
        self._lock = threading.Lock()

    # -- loading -----------------------------------------------------------------

    def _source(self, model: str) -> str:
        local = qi.local_model_path(model, self.settings.models_dir)
        return str(local) if local else model

    def _load(self, model: str) -> qi.LoadedModel:
        s = self.settings
        loaded = qi.load_model(self._source(model), device=s.qwen_device, dtype=s.qwen_dtype, attn=s.qwen_attn,
                               cpu_precision=s.qwen_cpu_precision, cpu_threads=s.qwen_cpu_threads)
        log.info("qwen.loaded", extra={"source": loaded.source, "device": loaded.device, "kind": loaded.kind})
        return loaded

    def load(self) -> None:
        """Load the Base model (the VoiceDesign model loads on first design)."""
        with self._lock:
            if self._base is not None:
                return
            self._base = self._load(self.settings.qwen_model)
            self.info.capabilities = replace(self.info.capabilities, languages=self._base.languages)
            self.info.details.update(device=self._base.device, dtype=self._base.dtype, attention=self._base.attn,
                                     decoder=self._base.decoder)
            self._measure()

    def _measure(self) -> None:
        """Time a short generation now, so the pages can give the expected wait from the start; on a CPU
        keep the figure for the next start's `auto` choice."""
        try:
            estimate = qi.calibrate(self._base)
        except Exception:  # noqa: BLE001 - a failed measurement must not stop the engine
            log.warning("qwen.calibration_failed", exc_info=True)
            return
        path = self._base.cpu_path
        if estimate is None or path is None:
            return
        from .qwen_core import speed

        key = speed.machine_key(self._base.source, path.precision, path.threads)
        speed.store_measurement(self.settings.data_dir, key, estimate)

    def expected_speed(self) -> dict | None:
        """How fast this engine speaks here (measured; None until the model has loaded): /api/engine shows it."""
        base = self._base
        if base is None or base.speed is None:
            return None
        return base.speed.estimate()

    def _design_model(self) -> qi.LoadedModel:
        if self._design is None:
            if not self.info.capabilities.can_design:
                raise EngineUnsupported(
                    "design_unsupported",
                    "Voice design needs the Qwen3-TTS VoiceDesign model: set UTTER_QWEN_DESIGN_MODEL and "
                    "run `utter download-models`.",
                )
            try:
                self._design = self._load(self.settings.qwen_design_model)
            except EngineError as exc:
                if exc.code == "weights_missing":  # stop offering design until the weights are there
                    self.info.capabilities = replace(self.info.capabilities, can_design=False)
                raise
        return self._design

    # -- speech ------------------------------------------------------------------

    def speak(self, request: SpeechRequest, task: EngineTask) -> Iterator[Piece]:
        """The chunks in order, each heard as the core decodes it. On a GPU the next chunk is
        already being spoken, batched beside this one, while this one is heard."""
        ahead = 1 if self._base is not None and self._base.core is not None and self._base.device.startswith("cuda") else 0
        started: dict[int, Iterator[np.ndarray]] = {}
        try:
            for index in range(len(request.chunks)):
                for upcoming in range(index, min(len(request.chunks), index + 1 + ahead)):
                    if upcoming not in started:
                        started[upcoming] = self.synthesize(request.job(upcoming), task.prompts)
                for samples in started.pop(index):
                    yield Piece(index, samples, qi.SAMPLE_RATE)
                yield Piece(index, NO_AUDIO, qi.SAMPLE_RATE, end=True)
        finally:
            for produced in started.values():
                close = getattr(produced, "close", None)
                if close is not None:
                    close()

    def synthesize(self, job: SpeechJob, cache: PromptCache | None = None) -> Iterator[np.ndarray]:
        # Checks happen here, not lazily, so errors surface at the call; the audio comes as it is made.
        # The Base model has no control of speed (the service stretches the audio instead) or of
        # style (job.instructions; the compatible APIs say it was ignored).
        if job.voice is None:
            raise qi.voice_required()
        self.load()
        qi.qwen_language(self._base, job.language)  # fail before touching the reference
        with self._lock:
            prompt = self._prompt(job, cache)
            if self._base.core is None:  # qwen-tts's generate: one at a time, all at once
                return iter([qi.generate_clone(self._base, prompt, job.text, job.language,
                                               max_new_tokens=self.max_new_tokens)])
        return qi.stream_clone(self._base, prompt, job.text, job.language, max_new_tokens=self.max_new_tokens)

    def _prompt(self, job: SpeechJob, cache: PromptCache | None) -> list:
        """The voice's clone prompt: from the cache when it holds one for this version,
        else built from the reference clip (the slow part) and stored for next time."""
        voice = job.voice
        if cache is not None:
            data = cache.load(voice.voice_id, voice.version)
            prompt = qi.deserialise_prompt(self._base, data) if data else None
            if prompt is not None:
                return prompt
        try:
            audio, rate = qi.read_audio(voice.audio_path)
        except Exception as exc:
            raise EngineError("reference_failed", f"Could not read the reference audio of voice {voice.voice_id}: {exc}") from exc
        prompt = qi.build_clone_prompt(self._base, audio, rate, voice.transcript)
        if cache is not None:
            cache.save(voice.voice_id, voice.version, qi.serialise_prompt(self._base, prompt))
        return prompt

    def likeness(self, voice: VoiceReference, samples: np.ndarray, sample_rate: int,
                 prompts: PromptCache | None) -> float | None:
        """Cosine similarity of the speaker embedding of `samples` to the reference's, both from the Base
        model's own speaker encoder (the reference's is the one its clone prompt holds)."""
        self.load()
        with self._lock:
            prompt = self._prompt(SpeechJob(text="", language="auto", voice=voice), prompts)
            return qi.speaker_similarity(self._base, prompt, samples, sample_rate)

    # -- design ------------------------------------------------------------------

    def design(self, job: DesignJob) -> np.ndarray:
        with self._lock:
            model = self._design_model()
            if model.core is None:
                return qi.generate_design(model, job.text, job.language, job.description,
                                          max_new_tokens=self.max_new_tokens)
        return qi.generate_design(model, job.text, job.language, job.description, max_new_tokens=self.max_new_tokens)

    def speak_design(self, job: DesignJob, task: EngineTask) -> Iterator[Piece]:
        with self._lock:
            model = self._design_model()
        if model.core is None:
            yield from super().speak_design(job, task)
            return
        produced = qi.stream_design(model, job.text, job.language, job.description, max_new_tokens=self.max_new_tokens)
        try:
            for samples in produced:
                yield Piece(0, samples, qi.SAMPLE_RATE)
        finally:
            produced.close()
        yield Piece(0, NO_AUDIO, qi.SAMPLE_RATE, end=True)

    def close(self) -> None:
        with self._lock:
            qi.release(self._base)
            qi.release(self._design)
            self._base = None
            self._design = None
