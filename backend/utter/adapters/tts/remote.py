"""Speech from a model that runs elsewhere (Modal), through the same interface as an in-process engine.

A text is one remote call per chunk. Each call made here streams its audio as the GPU makes it
(`RemoteCalls.pieces`: a side channel, since a spawned call cannot be a generator; see
modal_pieces.py), and its result, the whole chunk, supplies whatever the pieces did not carry.
Calls are made one after the other: one ahead would overlap the round trip, but a waiting call makes
Modal start another GPU container, which costs more than the round trip saves. Each call id
is recorded with the task as it is made, so a retry (after a restart) collects the calls
already paid for instead of making them again. The reference recording (up to 14 MB) goes
with the first call only (and not even then when a call in that voice came back in the last few
minutes); the container keeps the voice's prompt for the others, and a call that lands on a
container without it is made again with the recording.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator

import numpy as np

from .base import (
    NO_AUDIO,
    REFERENCE_NEEDED,
    DesignJob,
    EngineError,
    EngineTask,
    Piece,
    RemoteCalls,
    SpeechRequest,
    VoiceReference,
)

# Longest wait on a remote call before the caller gets a chance to check on its task.
POLL_SECONDS = 1.0
# A warm container keeps a voice's prompt while it is up (it scales down after 300 s idle, app.py).
# For a little less than that after a call in a voice came back, the next text (or dialogue line) in
# that voice is sent without the recording: up to 14 MB less to upload before the first audio. A
# container without the voice answers REFERENCE_NEEDED, and the call is made again with it.
RECORDING_KEPT_SECONDS = 240.0


class RemoteEngine:
    def __init__(self, calls: RemoteCalls):
        self.calls = calls
        self.info = calls.info
        self._answered: dict[str, float] = {}  # voice key -> when a call in that voice last came back
        self._answered_lock = threading.Lock()

    def _container_has(self, voice: VoiceReference | None) -> bool:
        if voice is None:
            return False
        with self._answered_lock:
            last = self._answered.get(f"{voice.voice_id}:{voice.version}")
        return last is not None and time.monotonic() - last < RECORDING_KEPT_SECONDS

    def _answered_in(self, voice: VoiceReference | None) -> None:
        if voice is not None:
            with self._answered_lock:
                self._answered[f"{voice.voice_id}:{voice.version}"] = time.monotonic()

    def load(self) -> None:
        self.calls.load()

    def close(self) -> None:
        self.calls.close()

    def expected_speed(self) -> dict | None:
        return None  # a remote GPU's speed is not measured from here

    def likeness(self, voice: VoiceReference, samples: np.ndarray, sample_rate: int, prompts) -> float | None:
        """Scored where the speaker encoder is; the recording goes along only when that container lacks it."""
        try:
            return self.calls.likeness(voice, samples, sample_rate, None)
        except EngineError as exc:
            if exc.code != REFERENCE_NEEDED:
                raise
        return self.calls.likeness(voice, samples, sample_rate, voice.audio_path.read_bytes())

    def speak(self, request: SpeechRequest, task: EngineTask) -> Iterator[Piece]:
        call_ids = list(task.remote_calls)
        if len(call_ids) > len(request.chunks):  # recorded for other chunks (a changed setting): start afresh
            call_ids = []
        recording = request.voice.audio_path.read_bytes() if request.voice else None
        stream_keys: dict[int, str] = {}  # the calls made by this process stream their pieces

        def call(index: int, with_recording: bool) -> None:
            job = request.job(index)
            stream_keys[index] = uuid.uuid4().hex
            call_ids[index:index + 1] = [self.calls.spawn_speech(job, recording if with_recording else None,
                                                                 stream_key=stream_keys[index])]
            task.record_remote_calls(call_ids)

        sample_rate = None
        for index in range(len(request.chunks)):
            # Whether this chunk's call carried the recording. A call recorded before a restart is taken not
            # to have: a call that carried it never answers REFERENCE_NEEDED, so at worst it is made again.
            sent_recording = False
            if index == len(call_ids):
                sent_recording = index == 0 and not self._container_has(request.voice)
                call(index, sent_recording)
            streamed: list[np.ndarray] = []
            while True:
                try:
                    result = yield from self._wait(call_ids[index], stream_keys.get(index), streamed, index,
                                                   sample_rate or self.info.capabilities.sample_rate)
                except EngineError as exc:
                    if exc.code != REFERENCE_NEEDED or sent_recording:
                        raise
                    sent_recording = True
                    streamed.clear()
                    call(index, sent_recording)
                    continue
                break
            samples, rate = np.asarray(result[0], dtype=np.float32), result[1]
            if sample_rate is not None and rate != sample_rate:
                raise EngineError("remote_failed", f"The remote engine changed its sample rate mid-text "
                                                   f"({sample_rate} then {rate} Hz).")
            sample_rate = rate
            self._answered_in(request.voice)
            yield Piece(index, self._rest(samples, streamed), rate, end=True)

    def _wait(self, call_id: str, stream_key: str | None, streamed: list[np.ndarray], index: int,
              rate: int) -> Iterator[Piece]:
        """Yields the call's pieces as they come (and empty pieces while none do, so the worker can look
        at its task), then returns its result. Without a stream key (a call made before a restart) or
        once its pieces have ended, it only waits for the result; it looks at the result whenever no
        piece came for a while too, so a call whose pieces stopped short is still collected."""
        ended = stream_key is None
        while True:
            if not ended:
                pieces, ended = self.calls.pieces(stream_key, wait=POLL_SECONDS)
                for samples in pieces:
                    streamed.append(samples)
                    yield Piece(index, samples, rate)
                if pieces and not ended:
                    continue
            result = self.calls.poll(call_id, wait=POLL_SECONDS if ended else 0.0)
            if result is not None:
                if streamed and result[1] != rate:
                    raise EngineError("remote_failed", f"The remote engine streamed {rate} Hz audio but its "
                                                       f"result is {result[1]} Hz.")
                return result
            yield Piece(index, NO_AUDIO, rate)

    @staticmethod
    def _rest(samples: np.ndarray, streamed: list[np.ndarray]) -> np.ndarray:
        """What the result holds past the pieces already passed on; they must be where it begins."""
        if not streamed:
            return samples
        sent = np.concatenate(streamed)
        if len(sent) > len(samples) or not np.array_equal(samples[:len(sent)], sent):
            raise EngineError("remote_failed", "The audio the remote engine streamed is not the start of its result.")
        return samples[len(sent):]

    def speak_design(self, job: DesignJob, task: EngineTask) -> Iterator[Piece]:
        stream_key = None
        if not task.remote_calls:
            stream_key = uuid.uuid4().hex
            task.record_remote_calls([self.calls.spawn_design(job, stream_key=stream_key)])
        (call_id,) = task.remote_calls[:1]
        streamed: list[np.ndarray] = []
        samples, rate = yield from self._wait(call_id, stream_key, streamed, 0, self.info.capabilities.sample_rate)
        yield Piece(0, self._rest(np.asarray(samples, dtype=np.float32), streamed), rate, end=True)
