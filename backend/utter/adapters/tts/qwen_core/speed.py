"""How long Qwen3-TTS takes here: measured at start-up, then from recent generations.

No torch at import (the engine registry uses the estimate before anything loads).

A generation's wait is modelled as `first_audio + frames x seconds_per_frame`, where a
text makes about 12.5 frames per 14 characters (speech runs ~12-17 characters a second).
`SpeedMeter` keeps a start-up measurement and the last few generations (medians, so one
slow run on a shared machine does not swing it), and `estimate()` gives what `/api/engine`
and the pages show. `estimate_cpu` predicts the speed on a CPU before the model loads,
for `auto`'s choice: a measurement this machine stored earlier when there is one for the
same settings, else the weights' bytes a frame over a quick memory-bandwidth probe.
"""

from __future__ import annotations

import functools
import json
import os
import platform
import statistics
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

FRAME_SECONDS = 0.08
FRAMES_PER_SECOND = 12.5
CHARS_PER_SECOND = 14.0  # speech; the frames a text makes = chars / 14 x 12.5
SPEED_FILE = "qwen-cpu-speed.json"

# Calibration of the estimate (2-core development machine, AMD EPYC, shared): a decode step reads
# its weights at about 0.55 of what numpy's sum of a 128 MB array reads (13-14 GB/s against 25), and
# the 12 Hz codec decoder costs about 50 ms a frame in bfloat16 (90 in float32) on one core.
STEP_BANDWIDTH_SHARE = 0.55
CODEC_MS = {"bfloat16": 50.0, "float32": 90.0}


@dataclass(frozen=True)
class Run:
    frames: int
    seconds: float  # from submission to the last audio
    first_audio: float  # from submission to the first audio
    first_frames: int = 2  # frames in the first piece

    @property
    def seconds_per_frame(self) -> float:
        return max(self.seconds - self.first_audio, 0.0) / max(self.frames - self.first_frames, 1)


class SpeedMeter:
    """The speed of one loaded model: a start-up run and the last `window` generations."""

    def __init__(self, window: int = 8, min_frames: int = 6):
        self.startup: Run | None = None
        self.recent: deque[Run] = deque(maxlen=window)
        self.min_frames = min_frames
        self.description = ""
        self._lock = threading.Lock()

    def record(self, run: Run) -> None:
        if run.frames >= self.min_frames and run.first_audio > 0:
            with self._lock:
                self.recent.append(run)

    def estimate(self) -> dict | None:
        with self._lock:
            runs = list(self.recent)
        source = f"median of the last {len(runs)} generation{'s' if len(runs) != 1 else ''}"
        if not runs:
            if self.startup is None:
                return None
            runs, source = [self.startup], "measured at start-up"
        per_frame = statistics.median(r.seconds_per_frame for r in runs)
        first = statistics.median(r.first_audio for r in runs)
        return expected(per_frame, first, source, self.description)


def expected(seconds_per_frame: float, first_audio: float, source: str, path: str = "") -> dict:
    """What /api/engine says about speed (the pages compute a text's wait from it)."""
    rtf = seconds_per_frame / FRAME_SECONDS
    out = {
        "real_time_factor": round(rtf, 2),
        "ms_per_frame": round(1000 * seconds_per_frame, 1),
        "first_audio_seconds": round(first_audio, 2),
        "seconds_per_char": round(seconds_per_frame * FRAMES_PER_SECOND / CHARS_PER_SECOND, 4),
        "source": source,
    }
    if path:
        out["path"] = path
    return out


def expected_wait(estimate: dict, chars: int) -> float:
    """Seconds until a text of `chars` characters is spoken in full (the pages do the same sum)."""
    return estimate["first_audio_seconds"] + chars * estimate["seconds_per_char"]


def describe_speed(estimate: dict) -> str:
    rtf = estimate["real_time_factor"]
    if rtf <= 1:
        pace = f"{1 / rtf:.1f}x faster than real time" if rtf > 0 else "faster than real time"
    else:
        pace = f"{rtf:.1f} s of work per second of speech"
    return f"{pace}, first audio after ~{estimate['first_audio_seconds']:.1f} s"


# --------------------------------------------------------------- before loading


def machine_key(source: str, precision: str, threads: int) -> dict:
    return {"model": str(source), "precision": precision, "threads": int(threads),
            "cpu": _cpu_name(), "cores": os.cpu_count() or 1}


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def store_measurement(data_dir: Path | str, key: dict, estimate: dict) -> None:
    """Keep this machine's measured speed for the next start's `auto` (best effort)."""
    try:
        path = Path(data_dir) / SPEED_FILE
        path.write_text(json.dumps({"key": key, "estimate": estimate, "measured_at": time.time()}, indent=1))
    except OSError:
        pass


def stored_measurement(data_dir: Path | str, key: dict) -> dict | None:
    try:
        saved = json.loads((Path(data_dir) / SPEED_FILE).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(saved, dict) or saved.get("key") != key or not isinstance(saved.get("estimate"), dict):
        return None
    return saved["estimate"]


def probe_bandwidth(megabytes: int = 128, repeats: int = 3) -> float:
    """Bytes a second one thread reads here (numpy sum over a large array, best of a few)."""
    import numpy as np

    a = np.ones(megabytes << 18, dtype=np.float32)
    a.sum()  # touch the pages
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        a.sum()
        best = min(best, time.perf_counter() - start)
    return a.nbytes / best


def weight_bytes_from_config(config: dict, precision: str) -> int:
    """Bytes a frame step reads, from a checkpoint's config.json (the talker once, the predictor 15 times)."""
    tc = config["talker_config"]
    pc = tc["code_predictor_config"]

    def layer_params(c: dict) -> int:
        h = c["hidden_size"]
        hd = c.get("head_dim") or h // c["num_attention_heads"]
        q, kv = c["num_attention_heads"] * hd, c["num_key_value_heads"] * hd
        return h * (q + 2 * kv) + q * h + 3 * h * c["intermediate_size"]

    elem = 1 if precision == "int8" else 4
    groups = tc.get("num_code_groups", 16)
    linear = tc["num_hidden_layers"] * layer_params(tc) + (groups - 1) * pc["num_hidden_layers"] * layer_params(pc)
    heads = (groups - 1) * pc["hidden_size"] * pc["vocab_size"] + tc["hidden_size"] * tc["vocab_size"]
    return linear * elem + heads * 4


def estimate_cpu(config: dict, precision: str, codec_dtype: str, bandwidth: float) -> dict:
    """Predicted speed on this CPU from the bytes a frame reads and the measured bandwidth."""
    step = weight_bytes_from_config(config, precision) / (STEP_BANDWIDTH_SHARE * bandwidth)
    per_frame = step + CODEC_MS.get(codec_dtype, CODEC_MS["float32"]) / 1000
    source = f"estimated from {bandwidth / 1e9:.0f} GB/s of memory bandwidth"
    return expected(per_frame, 2 * per_frame + 0.5, source)


# ------------------------------------------------------------------ the machine


@functools.lru_cache(maxsize=1)
def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags (Linux /proc/cpuinfo; empty elsewhere)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith(("flags", "Features")):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


def native_bf16() -> bool:
    """Whether the CPU multiplies bfloat16 natively (AVX512-BF16 / AMX on x86, BF16 on Arm)."""
    return bool({"avx512_bf16", "amx_bf16", "bf16"} & cpu_flags())


def default_threads() -> int:
    """Intra-op threads for the core's scheduler thread on a CPU.

    The step is memory-bound: one thread reads the weights nearly as fast as two (int8:
    22 vs 18 ms a 1.3 GB read on the 2-core development machine), while two threads stall
    whenever anything else runs on the other core (the web server, a transcription). So:
    one thread on machines of up to 4 cores, half the cores above that.
    """
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return 1 if cores <= 4 else cores // 2
