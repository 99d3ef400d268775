"""Joining chunks exactly: the loudness measure, the gain, the crossfade, and a chunk that arrives in
pieces (its gain fixed on its first half second) coming out the same as one pushed whole."""

from __future__ import annotations

import numpy as np
import pytest

from utter.audio.stitch import (
    LEVEL_WINDOW_SECONDS,
    PEAK_CEILING,
    TARGET_DBFS,
    ChunkStitcher,
    level,
    level_gain,
    speech_rms,
)

RATE = 8000  # frames of 160 samples, a fade of 320, a window of 4000


def tone(seconds, amplitude, rate=RATE, freq=200.0):
    t = np.arange(int(round(seconds * rate))) / rate
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def dbfs(value: float) -> float:
    return 20 * np.log10(value)


def test_speech_rms_ignores_pauses_but_not_quiet_speech():
    speech = tone(0.5, 0.5)
    rms = float(np.sqrt(np.mean(speech**2)))
    assert speech_rms(speech, RATE) == pytest.approx(rms, rel=1e-3)
    with_pause = np.concatenate([speech, np.zeros(RATE, np.float32), speech])
    assert speech_rms(with_pause, RATE) == pytest.approx(rms, rel=1e-3)
    # A frame 30 dB down still counts as speech; 40 dB down does not.
    quiet, faint = tone(0.5, 0.5 * 10 ** (-30 / 20)), tone(0.5, 0.5 * 10 ** (-40 / 20))
    assert speech_rms(np.concatenate([speech, quiet]), RATE) < rms * 0.8
    assert speech_rms(np.concatenate([speech, faint]), RATE) == pytest.approx(rms, rel=1e-3)


def test_speech_rms_of_tiny_and_silent_audio():
    assert speech_rms(np.zeros(0, np.float32), RATE) == 0.0
    short = np.array([0.3, -0.4], dtype=np.float32)  # shorter than one frame: plain RMS
    assert speech_rms(short, RATE) == pytest.approx(np.sqrt((0.09 + 0.16) / 2))
    assert speech_rms(np.zeros(RATE, np.float32), RATE) == 0.0
    assert speech_rms(np.full(RATE, 1e-6, np.float32), RATE) == 0.0  # -120 dBFS is silence
    assert speech_rms(np.array([0.5] * 3, np.float32), 10) == pytest.approx(0.5)  # a frame of at least 1 sample


def test_level_gain_reaches_the_target_loudness():
    quiet = tone(1.0, 0.01)
    gain = level_gain(quiet, RATE)
    assert dbfs(speech_rms(quiet * gain, RATE)) == pytest.approx(TARGET_DBFS, abs=0.01)
    assert dbfs(speech_rms(quiet * level_gain(quiet, RATE, -30.0), RATE)) == pytest.approx(-30.0, abs=0.01)
    assert level_gain(np.zeros(RATE, np.float32), RATE) == 1.0
    assert level_gain(np.full(RATE, 2e-5, np.float32), RATE) != 1.0  # just above silence is levelled


def test_level_gain_stops_at_the_peak_ceiling():
    spiky = tone(1.0, 0.01)
    spiky[100] = 0.5  # one click: levelling the speech would push it far over full scale
    gain = level_gain(spiky, RATE)
    assert np.max(np.abs(spiky * gain)) == pytest.approx(PEAK_CEILING, rel=1e-4)


def test_level_applies_the_gain_and_leaves_silence_alone():
    silence = np.zeros(100, np.float32)
    assert level(silence, RATE) is silence
    quiet = tone(1.0, 0.01)
    levelled = level(quiet, RATE)
    assert levelled.dtype == np.float32
    assert dbfs(speech_rms(levelled, RATE)) == pytest.approx(TARGET_DBFS, abs=0.01)
    assert dbfs(speech_rms(level(quiet, RATE, -26.0), RATE)) == pytest.approx(-26.0, abs=0.01)


def test_the_seam_is_an_equal_power_crossfade_of_the_held_back_tail():
    stitcher = ChunkStitcher(RATE, normalise=False)
    fade = stitcher.fade
    assert fade == int(RATE * 0.04)
    first, second = np.full(RATE, 0.5, np.float32), np.full(RATE, 0.25, np.float32)
    out1 = stitcher.push(first)
    assert len(out1) == RATE - fade  # the tail waits for the next chunk
    out2 = stitcher.push(second)
    t = np.linspace(0, np.pi / 2, fade, dtype=np.float32)
    assert np.allclose(out2[:fade], 0.5 * np.cos(t) + 0.25 * np.sin(t))
    assert np.allclose(out2[fade:], 0.25) and len(out2) == RATE - fade
    end = stitcher.finish()
    assert np.allclose(end, 0.25) and len(end) == fade
    assert len(stitcher.finish()) == 0


def test_a_chunk_shorter_than_the_fade_is_joined_without_one():
    stitcher = ChunkStitcher(RATE, normalise=False)
    stitcher.push(np.full(RATE, 0.5, np.float32))
    short = np.full(100, 0.25, np.float32)
    out = np.concatenate([stitcher.push(short), stitcher.finish()])
    assert np.allclose(out[:stitcher.fade], 0.5) and np.allclose(out[stitcher.fade:], 0.25)
    assert len(out) == stitcher.fade + 100


def test_without_a_crossfade_chunks_are_simply_joined():
    stitcher = ChunkStitcher(RATE, crossfade_seconds=0, normalise=False)
    a, b = np.full(50, 0.1, np.float32), np.full(30, 0.2, np.float32)
    assert np.array_equal(stitcher.push(a), a) and np.array_equal(stitcher.push(b), b)
    assert len(stitcher.finish()) == 0


def test_chunks_are_levelled_unless_told_not_to():
    loud = tone(1.0, 0.5)
    levelled = ChunkStitcher(RATE)
    out = np.concatenate([levelled.push(loud), levelled.finish()])
    assert dbfs(speech_rms(out, RATE)) == pytest.approx(TARGET_DBFS, abs=0.05)
    raw = ChunkStitcher(RATE, normalise=False)
    assert np.array_equal(np.concatenate([raw.push(loud), raw.finish()]), loud)


def chunks_in_pieces(stitcher, chunks, piece):
    out = []
    for chunk in chunks:
        stitcher.start_chunk()
        for start in range(0, len(chunk), piece):
            out.append(stitcher.feed(chunk[start:start + piece]))
        out.append(stitcher.end_chunk())
    out.append(stitcher.finish())
    return out


def test_a_chunk_fed_in_pieces_comes_out_as_one_pushed_whole():
    chunks = [tone(1.5, 0.05), tone(1.2, 0.4, freq=300), tone(0.3, 0.1)]  # the last one shorter than the window
    whole = ChunkStitcher(RATE)
    expected = np.concatenate([whole.push(c) for c in chunks] + [whole.finish()])
    for piece in (100, 1000, 4000, 5000):
        got = np.concatenate(chunks_in_pieces(ChunkStitcher(RATE), chunks, piece))
        assert len(got) == len(expected)
        assert np.allclose(got, expected, atol=2e-3), piece


def test_audio_flows_once_the_level_window_is_in():
    stitcher = ChunkStitcher(RATE, normalise=False)
    window = int(RATE * LEVEL_WINDOW_SECONDS)
    stitcher.start_chunk()
    assert len(stitcher.feed(np.full(window - 1, 0.2, np.float32))) == 0  # held until the gain is known
    out = stitcher.feed(np.full(1, 0.2, np.float32))
    assert len(out) == window - stitcher.fade
    assert len(stitcher.feed(np.full(500, 0.2, np.float32))) == 500
    assert len(stitcher.end_chunk()) == 0


def test_the_gain_is_kept_for_the_rest_of_a_chunk_and_peaks_are_clipped():
    stitcher = ChunkStitcher(RATE)
    window = int(RATE * LEVEL_WINDOW_SECONDS)
    stitcher.start_chunk()
    first = stitcher.feed(tone(window / RATE, 0.01))
    gain = level_gain(tone(window / RATE, 0.01), RATE)
    assert gain > 1
    later = stitcher.feed(np.array([0.002, -0.002, 0.5, -0.5] * 100, np.float32))
    assert np.allclose(later[stitcher.fade:stitcher.fade + 2], [0.002 * gain, -0.002 * gain], rtol=1e-4)
    assert np.max(np.abs(later)) == pytest.approx(PEAK_CEILING)  # a later loud burst is clipped, not wrapped
    assert len(first) == window - stitcher.fade


def test_a_loud_chunk_is_turned_down_not_clipped():
    stitcher = ChunkStitcher(RATE)
    window = int(RATE * LEVEL_WINDOW_SECONDS)
    stitcher.start_chunk()
    stitcher.feed(tone(window / RATE, 0.9))
    gain = level_gain(tone(window / RATE, 0.9), RATE)
    assert gain < 1
    later = stitcher.feed(np.full(1000, 0.99, np.float32))
    assert np.allclose(later[stitcher.fade:], 0.99 * gain)  # after the tail held back from before


def test_an_empty_chunk_adds_nothing():
    stitcher = ChunkStitcher(RATE, normalise=False)
    stitcher.push(np.full(RATE, 0.5, np.float32))
    stitcher.start_chunk()
    assert len(stitcher.end_chunk()) == 0
    assert np.allclose(stitcher.finish(), 0.5)


def test_every_array_handed_out_is_float32():
    for normalise in (True, False):
        stitcher = ChunkStitcher(RATE, normalise=normalise)
        out = [stitcher.finish()]
        stitcher.start_chunk()
        out += [stitcher.feed(tone(0.1, 0.2)), stitcher.end_chunk()]  # shorter than the window
        stitcher.start_chunk()
        out += [stitcher.feed(tone(1.0, 0.1)), stitcher.feed(tone(0.2, 0.1)), stitcher.end_chunk()]
        out += [stitcher.push(tone(0.5, 0.3)), stitcher.push(np.zeros(0, np.float32)), stitcher.finish(),
                stitcher.finish()]
        assert [a.dtype for a in out] == [np.float32] * len(out)


def test_float64_audio_is_handled_as_its_float32_conversion():
    rng = np.random.default_rng(7)
    chunks = [rng.normal(0, 0.05, RATE).astype(np.float64), rng.normal(0, 0.2, RATE // 3).astype(np.float64)]
    as_float32 = [c.astype(np.float32) for c in chunks]
    pushed = ChunkStitcher(RATE)
    expected_push = [pushed.push(c) for c in as_float32] + [pushed.finish()]
    fed = ChunkStitcher(RATE)
    expected_feed = chunks_in_pieces(fed, as_float32, 1000)
    stitcher = ChunkStitcher(RATE)
    assert all(np.array_equal(a, b) for a, b in zip([stitcher.push(c) for c in chunks] + [stitcher.finish()],
                                                     expected_push))
    assert all(np.array_equal(a, b) for a, b in zip(chunks_in_pieces(ChunkStitcher(RATE), chunks, 1000),
                                                     expected_feed))


def test_the_voiced_part_is_what_lies_within_35_db_of_the_loudest_frame():
    speech = tone(0.5, 0.5)
    rms = float(np.sqrt(np.mean(speech**2)))
    inside = np.concatenate([speech, tone(0.5, 0.5 * 10 ** (-33 / 20))])  # 33 dB down: voiced
    outside = np.concatenate([speech, tone(0.5, 0.5 * 10 ** (-35.5 / 20))])  # 35.5 dB down: a pause
    assert speech_rms(inside, RATE) < rms * 0.75
    assert speech_rms(outside, RATE) == pytest.approx(rms, rel=1e-3)


def test_frames_are_at_least_one_sample_at_absurdly_low_rates():
    # At 10 Hz a 20 ms frame would be 0 samples: each sample is its own frame.
    assert speech_rms(np.array([0.5, 0.1, 0.1], np.float32), 10) == pytest.approx(0.3, rel=1e-5)


def test_feeding_before_any_chunk_was_started_is_a_first_chunk():
    fed = ChunkStitcher(RATE)
    out = np.concatenate([fed.feed(tone(0.6, 0.05)), fed.end_chunk(), fed.finish()])
    pushed = ChunkStitcher(RATE)
    assert np.allclose(out, np.concatenate([pushed.push(tone(0.6, 0.05)), pushed.finish()]), atol=1e-6)


def test_a_chunk_exactly_one_fade_long_is_crossfaded_whole():
    stitcher = ChunkStitcher(RATE, normalise=False)
    fade = stitcher.fade
    stitcher.push(np.full(RATE, 0.5, np.float32))
    out = np.concatenate([stitcher.push(np.full(fade, 0.25, np.float32)),
                          stitcher.push(np.full(RATE, 0.1, np.float32)), stitcher.finish()])
    t = np.linspace(0, np.pi / 2, fade, dtype=np.float32)
    seam = 0.5 * np.cos(t) + 0.25 * np.sin(t)  # the short chunk is all fade-in
    assert np.allclose(out[:fade], seam * np.cos(t) + 0.1 * np.sin(t))  # and then faded out into the next
    assert len(out) == RATE


@pytest.mark.parametrize(("crossfade", "piece"), [(0.04, 1000), (0.3, 1000), (0.5, 4000), (0.6, 4000)])
def test_streaming_matches_pushing_whole_whatever_the_crossfade(crossfade, piece):
    chunks = [tone(1.5, 0.05), tone(1.2, 0.4, freq=300), tone(1.0, 0.1)]
    whole = ChunkStitcher(RATE, crossfade_seconds=crossfade, normalise=False)
    expected = np.concatenate([whole.push(c) for c in chunks] + [whole.finish()])
    got = np.concatenate(chunks_in_pieces(ChunkStitcher(RATE, crossfade_seconds=crossfade, normalise=False),
                                          chunks, piece))
    assert len(got) == len(expected) and np.allclose(got, expected, atol=1e-6)


def test_without_levelling_streamed_audio_passes_untouched():
    stitcher = ChunkStitcher(RATE, normalise=False, crossfade_seconds=0)
    loud = np.full(RATE, 0.99, np.float32)  # over the ceiling, but nothing is scaled so nothing is clipped
    stitcher.start_chunk()
    out = np.concatenate([stitcher.feed(loud[:5000]), stitcher.feed(loud[5000:]), stitcher.end_chunk()])
    assert np.array_equal(out, loud)


def test_a_modest_gain_still_clips_a_later_peak():
    stitcher = ChunkStitcher(RATE, crossfade_seconds=0)
    window = tone(LEVEL_WINDOW_SECONDS, 0.094)
    gain = level_gain(window, RATE)
    assert 1.0 < gain < 2.0
    stitcher.start_chunk()
    stitcher.feed(window)
    later = stitcher.feed(np.array([0.9, -0.9, 0.1], np.float32))
    assert np.allclose(later, [PEAK_CEILING, -PEAK_CEILING, 0.1 * gain])


def test_a_chunk_span_is_where_it_lies_in_the_joined_audio():
    """Word timings and dialogue lines are placed by these spans: each chunk starts a fade before the last
    one ended (its head overlaps the held-back tail), and keeps its length."""
    stitcher = ChunkStitcher(RATE)
    fade = stitcher.fade
    joined = [stitcher.push(tone(1.0, 0.1))]
    assert stitcher.chunk_span() == (0, RATE)
    stitcher.start_chunk()
    for piece in np.array_split(tone(0.75, 0.3), 7):  # streamed in pieces
        joined.append(stitcher.feed(piece))
    joined.append(stitcher.end_chunk())
    assert stitcher.chunk_span() == (RATE - fade, RATE - fade + int(0.75 * RATE))
    joined.append(stitcher.push(tone(0.01, 0.3)))  # shorter than the fade: joined without one
    end = RATE - fade + int(0.75 * RATE)  # where the last one ended: no overlap
    assert stitcher.chunk_span() == (end, end + int(0.01 * RATE))
    total = sum(len(part) for part in joined) + len(stitcher.finish())
    assert total == stitcher.chunk_span()[1]
