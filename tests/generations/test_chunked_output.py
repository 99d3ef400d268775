"""A generation's audio on its way out: stitched, stretched, encoded and stored as stream segments that
a listener can start on at once, whose concatenation begins the final MP3 exactly."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from utter.adapters.storage import segment_key
from utter.adapters.storage.local import LocalStorage
from utter.adapters.tts.base import NO_AUDIO, Capabilities, EngineError, Piece
from utter.generations import chunked_output
from utter.generations.chunked_output import ChunkedOutput, split_speed

RATE = 16000


def tone(seconds, amplitude=0.3, freq=220.0):
    t = np.arange(int(round(seconds * RATE))) / RATE
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


class Recorder:
    def __init__(self):
        self.chunks: list[tuple[int, int]] = []
        self.segments: list[int] = []

    def chunk_done(self, done, total):
        self.chunks.append((done, total))

    def segments_stored(self, count):
        self.segments.append(count)


@pytest.fixture
def storage(tmp_path):
    return LocalStorage(tmp_path / "uploads")


def make(storage, tmp_path, recorder, chunks, stretch=1.0) -> ChunkedOutput:
    return ChunkedOutput(storage, "g1", tmp_path / "out.mp3", chunks=chunks, stretch=stretch,
                         chunk_done=recorder.chunk_done, segments_stored=recorder.segments_stored)


def segments(storage) -> list[bytes]:
    return [storage.get_bytes(key) for key in storage.list_keys("streams/g1/")]


def test_speed_is_left_to_an_engine_that_controls_it():
    def caps(controls):
        return Capabilities(can_clone=True, can_design=False, languages=("en",), sample_rate=RATE,
                            controls_speed=controls)

    assert split_speed(1.5, caps(True)) == (1.5, 1.0)
    assert split_speed(1.5, caps(False)) == (1.0, 1.5)


def test_whole_chunks_are_stored_as_they_finish_and_the_last_goes_in_the_file_only(storage, tmp_path):
    recorder = Recorder()
    stored = []
    put_bytes = storage.put_bytes
    storage.put_bytes = lambda key, data, content_type: (stored.append((key, content_type)),
                                                        put_bytes(key, data, content_type))
    threads = []
    chunk_done = recorder.chunk_done
    recorder.chunk_done = lambda done, total: (threads.append(threading.current_thread().name),
                                               chunk_done(done, total))
    output = make(storage, tmp_path, recorder, chunks=3)
    assert output.duration == 0.0  # until it is closed
    with output:
        for index in range(3):
            output.add(Piece(index, tone(1.0), RATE, end=True))
    assert recorder.chunks == [(1, 3), (2, 3)]
    assert recorder.segments == [1, 2]
    assert stored == [(segment_key("g1", 0), "audio/mpeg"), (segment_key("g1", 1), "audio/mpeg")]
    assert all(name.startswith("utter-encode") for name in threads)  # told from the encoding thread
    assert storage.list_keys("streams/g1/") == [segment_key("g1", 0), segment_key("g1", 1)]
    final = (tmp_path / "out.mp3").read_bytes()
    streamed = b"".join(segments(storage))
    assert final.startswith(streamed) and len(final) > len(streamed)
    fade = int(RATE * 0.04)
    assert output.duration == pytest.approx((3 * RATE - 2 * fade) / RATE)


def test_streamed_pieces_are_heard_at_once_then_about_every_second(storage, tmp_path):
    recorder = Recorder()
    output = make(storage, tmp_path, recorder, chunks=1)
    step = int(0.25 * RATE)
    audio = tone(3.0)
    for start in range(0, len(audio), step):
        output.add(Piece(0, audio[start:start + step], RATE))
        output._encoding.result()
        if start == 2 * step:  # the first half second is in: the first segment is stored at once
            assert recorder.segments == [1]
    output.add(Piece(0, NO_AUDIO, RATE, end=True))
    assert output.close() == pytest.approx(3.0)
    # 3 s: one at 0.5 s, then one per second of audio written since.
    assert recorder.segments == [1, 2, 3]
    assert recorder.chunks == []  # the last chunk is never reported: the generation's end says it


def test_a_segment_is_cut_after_exactly_a_second_of_audio(storage, tmp_path, monkeypatch):
    monkeypatch.setattr(chunked_output, "SEGMENT_SECONDS", 0.5)
    recorder = Recorder()
    output = make(storage, tmp_path, recorder, chunks=1)
    output.add(Piece(0, tone(0.6), RATE))  # past the level window: written, first segment
    output._encoding.result()
    assert recorder.segments == [1]
    written = output._unsegmented
    assert written == 0
    half = int(0.5 * RATE)
    output.add(Piece(0, tone(half / RATE - 1 / RATE), RATE))
    output._encoding.result()
    assert recorder.segments == [1]  # one sample short of half a second
    output.add(Piece(0, tone(1 / RATE), RATE))
    output._encoding.result()
    assert recorder.segments == [1, 2]
    output.abort()


def test_pieces_that_only_say_the_engine_is_busy_change_nothing(storage, tmp_path):
    recorder = Recorder()
    output = make(storage, tmp_path, recorder, chunks=1)
    output.add(Piece(0, NO_AUDIO, RATE))
    assert not (tmp_path / "out.mp3").exists()
    with pytest.raises(EngineError) as caught:
        output.close()
    assert (caught.value.code, caught.value.message) == ("engine_failed", "The engine produced no audio.")


def test_a_chunk_with_no_audio_still_counts(storage, tmp_path):
    recorder = Recorder()
    with make(storage, tmp_path, recorder, chunks=2) as output:
        output.add(Piece(0, NO_AUDIO, RATE, end=True))
        output.add(Piece(1, tone(1.0), RATE, end=True))
    assert recorder.chunks == [(1, 2)]
    assert output.duration == pytest.approx(1.0)


def test_a_change_of_sample_rate_is_an_engine_failure(storage, tmp_path):
    output = make(storage, tmp_path, Recorder(), chunks=2)
    output.add(Piece(0, tone(1.0), RATE, end=True))
    with pytest.raises(EngineError) as caught:
        output.add(Piece(1, tone(1.0), 22050, end=True))
    assert caught.value.code == "engine_failed"
    assert caught.value.message == "The engine changed its sample rate mid-text (16000 then 22050 Hz)."
    output.abort()


def test_audio_the_engine_cannot_stretch_is_stretched_here(storage, tmp_path):
    recorder = Recorder()
    with make(storage, tmp_path, recorder, chunks=1, stretch=2.0) as output:
        output.add(Piece(0, tone(2.0), RATE, end=True))
    assert output.duration == pytest.approx(1.0, abs=0.05)


def test_what_the_encoder_raises_reaches_the_engine_loop(storage, tmp_path):
    class Lost(Exception):
        pass

    def chunk_done(done, total):
        raise Lost

    output = ChunkedOutput(storage, "g1", tmp_path / "out.mp3", chunks=3, stretch=1.0, chunk_done=chunk_done,
                           segments_stored=lambda count: None)
    output.add(Piece(0, tone(1.0), RATE, end=True))
    with pytest.raises(Lost):
        output.add(Piece(1, tone(1.0), RATE, end=True))
    output.abort()
    closing = ChunkedOutput(storage, "g2", tmp_path / "out2.mp3", chunks=3, stretch=1.0, chunk_done=chunk_done,
                            segments_stored=lambda count: None)
    closing.add(Piece(0, tone(1.0), RATE, end=True))
    with pytest.raises(Lost):
        closing.close()


def test_an_error_while_speaking_aborts_without_storing_more(storage, tmp_path):
    recorder = Recorder()
    started, release = threading.Event(), threading.Event()

    def slow_store(count):
        started.set()
        release.wait(5)
        recorder.segments_stored(count)

    output = ChunkedOutput(storage, "g1", tmp_path / "out.mp3", chunks=3, stretch=1.0,
                           chunk_done=recorder.chunk_done, segments_stored=slow_store)
    with pytest.raises(RuntimeError):
        with output:
            output.add(Piece(0, tone(1.0), RATE, end=True))
            assert started.wait(5)
            threading.Timer(0.2, release.set).start()
            raise RuntimeError("the engine crashed")
    # abort waited for the chunk being stored, and nothing was left running
    assert recorder.segments == [1]
    assert output._encoder._shutdown
    assert (tmp_path / "out.mp3").exists()
    make(storage, tmp_path, Recorder(), chunks=1).abort()  # aborting before any audio is fine


def test_pauses_are_silences_of_their_length_between_chunks_and_at_the_ends(storage, tmp_path):
    """Issue 18: a pause is pure silence as long as asked; the chunks either side fade into it."""
    from tests.support.audio_fixtures import silences
    from utter.audio import codec

    recorder = Recorder()
    with ChunkedOutput(storage, "g1", tmp_path / "out.mp3", chunks=2, stretch=1.0, chunk_done=recorder.chunk_done,
                       segments_stored=recorder.segments_stored, pauses=(1.0, 0.5), lead_pause=0.25) as output:
        output.add(Piece(0, tone(1.0), RATE, end=True))
        output.add(Piece(1, tone(1.0), RATE, end=True))
    heard = codec.decode(tmp_path / "out.mp3", target_rate=RATE).samples
    runs = silences(heard, RATE)
    fade = 0.04
    assert [start for start, _ in runs] == pytest.approx([0.0, 1.25 + fade, 3.25 + fade], abs=0.03)
    assert [length for _, length in runs] == pytest.approx([0.25 + fade, 1.0, 0.5 + fade], abs=0.03)
    assert recorder.chunks == [(1, 2)]
    # Each chunk's place in what is heard: it fades in over the pause's last fade.
    assert [t for span in output.timeline for t in span] == pytest.approx(
        [0.25 + fade, 1.25 + fade, 2.25 + fade, 3.25 + fade], abs=1e-4)


def test_a_pause_is_as_long_as_asked_when_the_audio_is_stretched(storage, tmp_path):
    from tests.support.audio_fixtures import silences
    from utter.audio import codec

    with ChunkedOutput(storage, "g1", tmp_path / "out.mp3", chunks=2, stretch=2.0, chunk_done=lambda *a: None,
                       segments_stored=lambda count: None, pauses=(1.5, 0.0)) as output:
        output.add(Piece(0, tone(2.0), RATE, end=True))
        output.add(Piece(1, tone(2.0), RATE, end=True))
    heard = codec.decode(tmp_path / "out.mp3", target_rate=RATE).samples
    middle = [length for start, length in silences(heard, RATE) if 0.5 < start < 2.0]
    assert middle == [pytest.approx(1.5, abs=0.06)]
    # Stretched at speed 2: each 2 s chunk lasts 1 s where it is heard, the pause as asked.
    assert [t for span in output.timeline for t in span] == pytest.approx([0.0, 1.0, 2.5, 3.5], abs=1e-3)
