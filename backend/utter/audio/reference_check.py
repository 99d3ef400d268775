"""A check of every reference clip: is it speech, is it clean, does the transcript match? (issue 8)

`measure` looks at decoded audio and returns numbers (speech ratio, clipping, an SNR estimate,
level) plus where the speech starts and ends, so the stored reference can be trimmed.
`advice` turns stored numbers into plain warnings. Only a clip with essentially no speech is
refused; everything else is a warning the person may ignore.

Voice activity comes from Silero VAD, which ships inside the faster-whisper wheel; without
faster-whisper a simple energy detector stands in (it tells speech from steady noise or
silence, but not from, say, music), and the result says which one ran.
"""

from __future__ import annotations

import math
import re
import time
import unicodedata
from dataclasses import asdict, dataclass

import numpy as np

from .codec import AudioError, resample

VAD_SAMPLE_RATE = 16000  # Silero VAD works on 16 kHz mono
FRAME_SECONDS = 0.032  # Silero's window: 512 samples at 16 kHz
SPEECH_PROBABILITY = 0.5
GAP_FILL_SECONDS = 0.3  # pauses between words count as speech
MIN_BLOB_SECONDS = 0.1  # shorter bursts (clicks, a breath) do not
TRIM_MARGIN_SECONDS = 0.25  # kept before the first and after the last speech
MIN_SPEECH_SECONDS = 1.0  # less than this is "essentially no speech": refused
CLIP_LEVEL = 0.98  # |sample| at or above this is at full scale (≈ -0.2 dBFS)
CLIP_RUN = 3  # consecutive full-scale samples that make a clipped run
SNR_CEILING_DB = 60.0  # digital silence between words would otherwise give infinity
DETECTION_PEAK = 0.9  # speech is detected on the clip brought to this peak (see measure)
SILENT_PEAK = 1e-4  # a clip whose peak is below this is digital silence
MIN_BACKGROUND_SECONDS = 0.5  # of pauses, to measure the background level in them

# Advice thresholds.
LOW_SPEECH_RATIO = 0.5
CLIPPING_FRACTION = 0.001
NOISY_SNR_DB = 15.0
QUIET_DBFS = -40.0
TRANSCRIPT_MISMATCH = 0.7


@dataclass
class Measurements:
    """Numbers about one reference clip; stored as JSON on the voice (`reference_check`)."""

    original_seconds: float
    start_seconds: float  # where the kept (trimmed) clip starts in the original
    end_seconds: float
    speech_seconds: float
    speech_ratio: float  # share of the kept clip that is speech
    clipping: float  # share of samples in runs at full scale
    clipped_runs: int
    snr_db: float | None  # speech power over background power, capped at SNR_CEILING_DB
    noise_dbfs: float | None  # background level
    loudness_dbfs: float | None  # RMS level of the speech parts in dBFS (not LUFS: no K-weighting)
    peak_dbfs: float
    vad: str  # "silero" or "energy"
    seconds: float  # time the check took

    @property
    def trimmed_seconds(self) -> float:
        return self.end_seconds - self.start_seconds

    def to_json(self) -> dict:
        return asdict(self)


def measure(samples: np.ndarray, sample_rate: int) -> Measurements:
    """Measure a mono float32 clip. Raises `audio_no_speech` when it holds essentially no speech."""
    started = time.perf_counter()
    duration = len(samples) / sample_rate
    frame = max(1, round(FRAME_SECONDS * sample_rate))
    powers = _frame_powers(samples, frame)
    peak = float(np.max(np.abs(samples))) if samples.size else 0.0

    # Speech is found on the clip brought to a fixed level. Silero hears quiet speech less
    # surely, so at -70 dBFS the ends of words fell into the background and a clean but
    # quiet clip was also called noisy (SNR 16-34 dB against 60 at full level). A quiet
    # recording is a level problem, reported as `quiet`, and the levels below are measured
    # on the clip as it came.
    gain = DETECTION_PEAK / peak if peak >= SILENT_PEAK else 1.0
    probabilities, vad = _speech_probabilities(samples * gain, sample_rate, powers * (gain * gain))
    n = min(len(probabilities), len(powers))
    probabilities, powers = probabilities[:n], powers[:n]
    speech = _smooth(probabilities >= SPEECH_PROBABILITY)
    speech_seconds = float(speech.sum()) * FRAME_SECONDS
    if peak < SILENT_PEAK or speech_seconds < MIN_SPEECH_SECONDS:
        raise no_speech(speech_seconds)

    indices = np.flatnonzero(speech)
    start = max(0.0, float(indices[0]) * FRAME_SECONDS - TRIM_MARGIN_SECONDS)
    end = min(duration, float(indices[-1] + 1) * FRAME_SECONDS + TRIM_MARGIN_SECONDS)
    first, last = int(start / FRAME_SECONDS), int(math.ceil(end / FRAME_SECONDS))
    kept_frames = max(1, min(last, n) - first)

    speech_power = float(np.mean(powers[speech]))
    noise_power = _noise_power(powers, speech)
    snr = None
    if noise_power is not None:
        snr = SNR_CEILING_DB if noise_power <= 0 else _db(max(speech_power - noise_power, 1e-12) / noise_power)
        snr = min(SNR_CEILING_DB, snr)
    clipping, runs = _clipping(samples)
    return Measurements(
        original_seconds=round(duration, 3),
        start_seconds=round(start, 3),
        end_seconds=round(end, 3),
        speech_seconds=round(speech_seconds, 2),
        speech_ratio=round(float(speech[first:last].sum()) / kept_frames, 3),
        clipping=round(clipping, 5),
        clipped_runs=runs,
        snr_db=None if snr is None else round(snr, 1),
        noise_dbfs=None if noise_power is None else round(max(_db(noise_power), -120.0), 1),
        loudness_dbfs=round(_db(speech_power), 1),
        peak_dbfs=round(_db(peak * peak), 1),
        vad=vad,
        seconds=round(time.perf_counter() - started, 3),
    )


def trim(samples: np.ndarray, sample_rate: int, measured: Measurements) -> np.ndarray:
    """The clip without its leading and trailing silence (a small margin is kept)."""
    return samples[int(measured.start_seconds * sample_rate):int(round(measured.end_seconds * sample_rate))]


def no_speech(speech_seconds: float) -> AudioError:
    heard = f"only {speech_seconds:.1f} s of it sounds like speech" if speech_seconds >= 0.1 else "it holds no speech"
    return AudioError("audio_no_speech", f"No voice could be heard in this recording ({heard}). Upload a clip of "
                                         "someone speaking, and check that the right microphone was used.")


# --- advice ------------------------------------------------------------------------------------


def advice(check: dict | None, *, transcript: str | None, transcript_source: str | None,
           transcription: str | None) -> list[dict]:
    """Plain warnings for a stored check: [{code, message}], most important first.

    `transcription` is the voice's TranscriptionStatus (None: no recogniser ran).
    """
    warnings: list[dict] = []
    if check is None:
        return warnings

    def warn(code: str, message: str) -> None:
        warnings.append({"code": code, "message": message})

    if check.get("clipping", 0) >= CLIPPING_FRACTION:
        warn("clipping", f"The recording clips: {check['clipping']:.1%} of it is distorted at full volume. "
                         "Lower the input gain (or move back from the microphone) and record again.")
    snr = check.get("snr_db")
    if snr is not None and snr < NOISY_SNR_DB:
        warn("noisy", f"Background noise is high: the voice is only about {snr:.0f} dB above it. Record in a "
                      "quiet room, away from fans, traffic and music; the clone copies the noise too.")
    ratio = check.get("speech_ratio")
    if ratio is not None and ratio < LOW_SPEECH_RATIO:
        warn("mostly_silence", f"Much of the clip is silence: only {ratio:.0%} of it is speech. Cut the long "
                               "pauses or record someone speaking continuously.")
    loudness = check.get("loudness_dbfs")
    if loudness is not None and loudness < QUIET_DBFS:
        warn("quiet", "The voice is very quiet. Move closer to the microphone or raise the input gain.")
    if transcript is None and transcription != "transcribing":
        if transcription == "done":
            warn("transcript_missing", "No words were recognised, so there is no transcript. Type the words "
                                       "spoken in the clip: cloning is much better with them.")
        elif transcription == "failed":
            warn("transcript_missing", "Automatic transcription failed, so there is no transcript. Type the "
                                       "words spoken in the clip: cloning is much better with them.")
        else:
            warn("transcript_missing", "The transcript is missing: automatic transcription is off or not "
                                       "installed here. Type the words spoken in the clip: cloning is much "
                                       "better with them.")
    match = check.get("transcript_match")
    if transcript_source == "typed" and match is not None and match < TRANSCRIPT_MISMATCH:
        warn("transcript_mismatch", f"The transcript does not match what the recogniser heard ({match:.0%} "
                                    "alike). Check that it gives exactly the words spoken in the clip.")
    return warnings


# --- comparing transcripts -------------------------------------------------------------------


def normalise_words(text: str) -> list[str]:
    """Lower-case words without punctuation or accents, for comparing transcripts."""
    text = unicodedata.normalize("NFKD", text.lower())
    text = "".join(c for c in text if not unicodedata.combining(c))
    return re.findall(r"[^\W_]+(?:'[^\W_]+)?", text)


def word_error_rate(reference: str, hypothesis: str) -> float:
    """(substitutions + deletions + insertions) / words in the reference."""
    ref, hyp = normalise_words(reference), normalise_words(hypothesis)
    if not ref:
        return 0.0 if not hyp else 1.0
    vocabulary: dict[str, int] = {}
    ids = lambda words: np.array([vocabulary.setdefault(w, len(vocabulary)) for w in words], dtype=np.int64)  # noqa: E731
    return _edit_distance(ids(ref), ids(hyp)) / len(ref)


def transcript_match(typed: str, heard: str) -> float:
    """How alike two transcripts are, 0–1: one minus the character error rate on letters and digits.

    Characters rather than words, so "sea shells" and "seashells" agree, and spacing or
    punctuation differences cost nothing.
    """
    a = "".join(normalise_words(typed))
    b = "".join(normalise_words(heard))
    if not a and not b:
        return 1.0
    if not a or not b:
        return 0.0
    distance = _edit_distance(np.frombuffer(a.encode("utf-32-le"), np.uint32),
                              np.frombuffer(b.encode("utf-32-le"), np.uint32))
    return round(max(0.0, 1.0 - distance / max(len(a), len(b))), 3)


def _edit_distance(a: np.ndarray, b: np.ndarray) -> int:
    """Levenshtein distance, one numpy pass per element of `a` (fast enough for 5,000 characters)."""
    if len(a) == 0 or len(b) == 0:
        return max(len(a), len(b))
    columns = np.arange(len(b) + 1)
    row = columns.copy()
    for i, item in enumerate(a, start=1):
        candidates = np.empty_like(row)
        candidates[0] = i
        # Substitution (or match) and deletion; insertions are resolved by the running minimum below.
        candidates[1:] = np.minimum(row[:-1] + (b != item), row[1:] + 1)
        row = np.minimum.accumulate(candidates - columns) + columns
    return int(row[-1])


# --- measuring -----------------------------------------------------------------------------------


def _db(power: float) -> float:
    return 10.0 * math.log10(max(power, 1e-12))


def _frame_powers(samples: np.ndarray, frame: int) -> np.ndarray:
    count = len(samples) // frame
    if count == 0:
        return np.zeros(0, np.float64)
    frames = samples[: count * frame].astype(np.float64).reshape(count, frame)
    return np.mean(frames * frames, axis=1)


def _speech_probabilities(samples: np.ndarray, sample_rate: int, powers: np.ndarray) -> tuple[np.ndarray, str]:
    try:
        from faster_whisper.vad import get_vad_model
    except ImportError:
        return _energy_probabilities(powers), "energy"
    audio = resample(samples, sample_rate, VAD_SAMPLE_RATE)
    window = round(FRAME_SECONDS * VAD_SAMPLE_RATE)
    audio = np.pad(audio, (0, (-len(audio)) % window))
    if audio.size == 0:
        return np.zeros(0), "silero"
    return np.asarray(get_vad_model()(audio), dtype=np.float64).reshape(-1), "silero"


def _energy_probabilities(powers: np.ndarray) -> np.ndarray:
    """1 where a frame is well above the clip's background level (and not near digital silence)."""
    if powers.size == 0:
        return powers
    levels = 10.0 * np.log10(np.maximum(powers, 1e-12))
    threshold = max(float(np.percentile(levels, 10)) + 9.0, -55.0)
    return (levels > threshold).astype(np.float64)


def _smooth(mask: np.ndarray) -> np.ndarray:
    """Fill short pauses inside speech, then drop bursts too short to be speech."""
    mask = mask.copy()
    gap, blob = round(GAP_FILL_SECONDS / FRAME_SECONDS), round(MIN_BLOB_SECONDS / FRAME_SECONDS)
    for value, limit in ((False, gap), (True, blob)):
        for start, stop in _runs(mask, value):
            # Only gaps between speech are filled; silence at either end stays silence.
            inner = start > 0 and stop < len(mask)
            if stop - start < limit and (value or inner):
                mask[start:stop] = not value
    return mask


def _runs(mask: np.ndarray, value: bool) -> list[tuple[int, int]]:
    padded = np.concatenate(([False], mask == value, [False])).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return list(zip(edges[::2], edges[1::2]))


def _noise_power(powers: np.ndarray, speech: np.ndarray) -> float | None:
    """Background level: the median of frames away from speech, or the quietest frames if there are none."""
    if powers.size == 0:
        return None
    near_speech = np.convolve(speech.astype(np.int8), np.ones(7, np.int8), mode="same") > 0
    background = powers[~near_speech]
    if background.size * FRAME_SECONDS >= MIN_BACKGROUND_SECONDS:
        return float(np.median(background))
    # Continuous speech without pauses: the quietest frames are the best guess (an overestimate).
    # A few frames of "background" are no better: a word's end the detector missed among them
    # put the median of 8 frames of a clean clip at -48 dBFS (SNR 29 dB instead of 60).
    return float(np.percentile(powers, 5))


def _clipping(samples: np.ndarray) -> tuple[float, int]:
    runs = [(a, b) for a, b in _runs(np.abs(samples) >= CLIP_LEVEL, True) if b - a >= CLIP_RUN]
    clipped = int(sum(b - a for a, b in runs))
    return (clipped / len(samples) if len(samples) else 0.0), len(runs)
