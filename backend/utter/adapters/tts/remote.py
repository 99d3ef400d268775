"""Speech from a model that runs elsewhere (Modal), through the same interface as an in-process engine.

A text is one remote call per chunk, so its audio streams as the calls finish. Calls are
made one after the other: one ahead would overlap the round trip, but a waiting call makes
Modal start another GPU container, which costs more than the round trip saves. Each call id
is recorded with the task as it is made, so a retry (after a restart) collects the calls
already paid for instead of making them again. The reference recording (up to 14 MB) goes
with the first call only; the container keeps the voice's prompt for the others, and a call
that lands on a container without it is made again with the recording.
"""

from __future__ import annotations

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


class RemoteEngine:
    def __init__(self, calls: RemoteCalls):
        self.calls = calls
        self.info = calls.info

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

        def call(index: int, with_recording: bool) -> None:
            job = request.job(index)
            call_ids[index:index + 1] = [self.calls.spawn_speech(job, recording if with_recording else None)]
            task.record_remote_calls(call_ids)

        sample_rate = None
        for index in range(len(request.chunks)):
            sent_recording = index == 0
            if index == len(call_ids):
                call(index, sent_recording)
            while True:
                try:
                    result = self.calls.poll(call_ids[index], wait=POLL_SECONDS)
                except EngineError as exc:
                    if exc.code != REFERENCE_NEEDED or sent_recording:
                        raise
                    sent_recording = True
                    call(index, sent_recording)
                    continue
                if result is not None:
                    break
                yield Piece(index, NO_AUDIO, sample_rate or self.info.capabilities.sample_rate)
            samples, rate = np.asarray(result[0], dtype=np.float32), result[1]
            if sample_rate is not None and rate != sample_rate:
                raise EngineError("remote_failed", f"The remote engine changed its sample rate mid-text "
                                                   f"({sample_rate} then {rate} Hz).")
            sample_rate = rate
            yield Piece(index, samples, rate, end=True)

    def speak_design(self, job: DesignJob, task: EngineTask) -> Iterator[Piece]:
        if not task.remote_calls:
            task.record_remote_calls([self.calls.spawn_design(job)])
        (call_id,) = task.remote_calls[:1]
        while (result := self.calls.poll(call_id, wait=POLL_SECONDS)) is None:
            yield Piece(0, NO_AUDIO, self.info.capabilities.sample_rate)
        yield Piece(0, np.asarray(result[0], dtype=np.float32), result[1], end=True)
