"""The reference check and transcript comparison on their own (no app, no database)."""

from __future__ import annotations

import numpy as np
import pytest

from utter.config import AsrChoice, Settings
from utter.audio import reference_check as rc
from utter.audio.codec import AudioError, resample


def levenshtein(a, b) -> int:
    row = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        previous, row[0] = row[0], i
        for j, y in enumerate(b, 1):
            previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, previous + (x != y))
    return row[-1]


def test_edit_distance_agrees_with_the_textbook_algorithm():
    rng = np.random.default_rng(1)
    for _ in range(200):
        a = rng.integers(0, 4, rng.integers(0, 12))
        b = rng.integers(0, 4, rng.integers(0, 12))
        assert rc._edit_distance(a, b) == levenshtein(list(a), list(b))


def test_word_error_rate_and_match_ignore_case_punctuation_and_spacing():
    assert rc.word_error_rate("The quick, brown fox!", "the quick brown fox") == 0
    assert rc.word_error_rate("one two three four", "one too three") == pytest.approx(0.5)
    assert rc.transcript_match("She sells sea shells.", "she sells seashells") == 1.0
    assert rc.transcript_match("Café au lait", "cafe au lait") == 1.0
    assert rc.transcript_match("hello there", "") == 0.0


def test_speech_recognition_can_be_switched_off_by_environment(monkeypatch):
    monkeypatch.setenv("UTTER_ASR", "off")
    assert Settings(_env_file=None).asr == AsrChoice.OFF


@pytest.fixture
def reference(speech):
    samples, rate = speech
    return resample(samples, rate, 24000), 24000


@pytest.fixture(params=["silero", "energy"])
def vad(request, monkeypatch) -> str:
    """The check with Silero (from the faster-whisper wheel) and with the energy fallback used without it."""
    if request.param == "energy":
        monkeypatch.setattr(rc, "_speech_probabilities",
                            lambda samples, rate, powers: (rc._energy_probabilities(powers), "energy"))
    return request.param


def test_clean_speech_measures_clean(reference, vad):
    samples, rate = reference
    measured = rc.measure(samples, rate)
    assert measured.vad == vad
    # Piper normalises its output to full scale, so a stray sample may touch it; that is not clipping.
    assert measured.speech_ratio > 0.8 and measured.clipping < 1e-4 and measured.snr_db > 30
    assert rc.advice(measured.to_json(), transcript="x", transcript_source="typed", transcription="done") == []


def test_silence_and_steady_noise_hold_no_speech(vad):
    rate = 24000
    rng = np.random.default_rng(3)
    for samples in (np.zeros(12 * rate, np.float32), (0.05 * rng.standard_normal(12 * rate)).astype(np.float32)):
        with pytest.raises(AudioError) as refused:
            rc.measure(samples, rate)
        # The API answers it as a 422 on the audio field (test_clone_transcripts).
        assert refused.value.code == "audio_no_speech" and "No voice could be heard" in refused.value.message


def test_trim_keeps_a_margin(reference, vad):
    samples, rate = reference
    padded = np.concatenate([np.zeros(2 * rate, np.float32), samples, np.zeros(3 * rate, np.float32)])
    measured = rc.measure(padded, rate)
    kept = rc.trim(padded, rate, measured)
    assert 1.6 < measured.start_seconds < 2.0
    assert len(samples) / rate - 0.2 < len(kept) / rate < len(samples) / rate + 0.6


def test_quiet_speech_is_flagged(reference, vad):
    samples, rate = reference
    measured = rc.measure(samples * 0.003, rate)
    warnings = rc.advice(measured.to_json(), transcript="x", transcript_source="typed", transcription="done")
    assert [w["code"] for w in warnings] == ["quiet"]


def test_speech_is_found_the_same_at_any_level(reference, vad):
    """Quiet speech is quiet, not noisy: only the levels change with the gain (-50 dB here)."""
    samples, rate = reference
    loud, quiet = rc.measure(samples, rate), rc.measure(samples * 0.003, rate)
    assert quiet.speech_seconds == loud.speech_seconds and quiet.snr_db == pytest.approx(loud.snr_db, abs=0.5)
    assert quiet.loudness_dbfs == pytest.approx(loud.loudness_dbfs - 50.5, abs=0.5)


def background_after_speech(frames: list[float]) -> tuple[np.ndarray, np.ndarray]:
    """Frame powers and speech mask: 300 speech frames (with quiet gaps between words), then `frames`."""
    speech_powers = np.full(300, 1e-2)
    speech_powers[::7] = 1e-8  # pauses between words, inside the speech
    guard = [1e-8] * 3  # frames next to speech never count as background
    powers = np.concatenate([speech_powers, guard, frames])
    mask = np.zeros(len(powers), bool)
    mask[:300] = True
    return powers, mask


def test_a_few_frames_after_speech_do_not_set_the_noise_level():
    """A quarter second of "background" that holds a word's end the detector missed is no measure of noise."""
    powers, mask = background_after_speech([1e-3] * 5 + [1e-9] * 3)
    assert rc._noise_power(powers, mask) < 1e-7  # the quietest frames instead: clean, not noisy
    # Half a second or more of pauses is the background.
    powers, mask = background_after_speech([1e-6] * 20)
    assert rc._noise_power(powers, mask) == pytest.approx(1e-6)


def test_long_pauses_are_flagged(reference):
    samples, rate = reference
    pause = np.zeros(8 * rate, np.float32)
    third = len(samples) // 3
    gappy = np.concatenate([samples[:third], pause, samples[third:2 * third], pause, samples[2 * third:]])
    measured = rc.measure(gappy, rate)
    assert measured.speech_ratio < 0.5
    codes = [w["code"] for w in rc.advice(measured.to_json(), transcript="x", transcript_source="typed", transcription="done")]
    assert codes == ["mostly_silence"]
