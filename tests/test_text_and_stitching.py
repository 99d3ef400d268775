"""Splitting text into chunks, and joining the chunks' audio without audible seams."""

from __future__ import annotations

import numpy as np

from utter.audio.stitch import ChunkStitcher, speech_rms
from utter.audio.text import chunk_text, split_sentences


def test_sentences_respect_abbreviations_numbers_and_quotes():
    text = 'Dr. Smith paid $3.50 at 5 p.m. today! "Really?" she asked. J. R. R. Tolkien wrote it. Done'
    assert split_sentences(text) == [
        "Dr. Smith paid $3.50 at 5 p.m. today!",
        '"Really?" she asked.',
        "J. R. R. Tolkien wrote it.",
        "Done",
    ]


def test_languages_without_spaces_split_at_their_own_punctuation():
    assert split_sentences("你好。我很好！你呢？") == ["你好。", "我很好！", "你呢？"]
    chunks = chunk_text("这是一个很长的句子" * 30, 50)
    assert all(len(c) <= 50 for c in chunks) and "".join(chunks) == "这是一个很长的句子" * 30


def test_chunks_stay_under_the_limit_and_lose_nothing():
    text = " ".join(f"Sentence number {n} has a few words, and a comma." for n in range(80))
    chunks = chunk_text(text, 400, first_max_chars=120)
    assert len(chunks[0]) <= 120 and all(len(c) <= 400 for c in chunks)
    assert " ".join(chunks).split() == text.split()


def tone(seconds, amplitude, rate=22050, freq=220.0):
    t = np.arange(int(seconds * rate)) / rate
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def test_stitching_levels_chunks_and_crossfades():
    rate = 22050
    stitcher = ChunkStitcher(rate)
    quiet, loud = tone(1.0, 0.02), tone(1.0, 0.6)
    out = np.concatenate([stitcher.push(quiet), stitcher.push(loud), stitcher.finish()])
    # One crossfade overlap between the two chunks.
    assert len(out) == len(quiet) + len(loud) - stitcher.fade
    first, second = out[: rate // 2], out[-rate // 2:]
    assert abs(20 * np.log10(speech_rms(first, rate) / speech_rms(second, rate))) < 1.0
    # No click at the seam: no sample-to-sample jump larger than the tone itself makes.
    assert np.max(np.abs(np.diff(out))) <= np.max(np.abs(np.diff(second))) * 1.5


def test_silence_is_not_amplified():
    stitcher = ChunkStitcher(22050)
    silence = np.zeros(22050, dtype=np.float32)
    assert np.all(np.concatenate([stitcher.push(silence), stitcher.finish()]) == 0)
