"""Running a dialogue: each line spoken in its voice, one after the other, into one ChunkedOutput.

Each line takes the same text path as speech (speech.py): its pronunciation rules were applied
when it was queued, its break tags become pauses, it is split into chunks the engine takes and
given in words to an engine that needs them. All lines share one output with one numbering of
chunks, so the stream (`/api/generations/{id}/stream`) plays each line as soon as it is spoken,
and the output's timeline places each line in the audio as heard. Between lines is a short
silence, longer when the speaker changes.

Spoken lines are heard back as speech is (heard_back.py: each part transcribed, retaken when it ran
on, was cut short or said other words, the stored file rebuilt with the kept takes), when the engine
or UTTER_HEARD_BACK asks for it. Likeness to the voice is not scored: speech.py scores one voice's
reference against the whole, and a dialogue has several.

A line of a new take (dialogue.respeak) may reuse an earlier take's audio instead of being spoken;
its audio goes through the output exactly as a spoken line's does. Each line's audio (the engine's
chunks, unlevelled) is stored with the generation for the next take.
"""

from __future__ import annotations

import logging
import uuid
import wave
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..adapters.storage import ObjectMissing, line_key
from ..adapters.tts.base import Piece, SpeechEngine, SpeechRequest, VoiceReference
from ..audio import codec, text_normalization
from ..audio.text import SpeechPlan, plan_speech
from ..models import Voice
from . import timings
from .chunked_output import ChunkedOutput, split_speed
from .dialogue import line_offsets
from .runner import Outcome
from .speech import FIRST_CHUNK_CHARS, hearing_back, rebuild, speak_again, voice_reference
from .task import Task, TaskFailed

log = logging.getLogger(__name__)

# Silence between two lines, on top of the engine's own quiet at the end of a line. A new speaker
# gets a beat, as in conversation (turn-taking gaps are commonly measured at about 0.2-0.3 s, and a
# little more reads as natural in produced audio); the same speaker going on is a new sentence,
# whose own trailing quiet needs less added.
SPEAKER_CHANGE_PAUSE = 0.35
SAME_SPEAKER_PAUSE = 0.15


@dataclass
class _Line:
    """One line as this run speaks it: its chunks and pauses, and either a voice or reused audio."""

    plan: SpeechPlan
    first_chunk: int  # its first chunk's number in the whole dialogue
    reused: list[np.ndarray] | None = None  # each chunk's samples, from an earlier take
    reused_file: Path | None = None


def speak_dialogue(task: Task, workdir: Path) -> Outcome:
    ctx, generation = task.ctx, task.generation
    script = generation.lines or []
    engine = ctx.engine  # read once, as speech does
    engine.load()
    caps = engine.info.capabilities
    lines, first = [], 0
    for index, line in enumerate(script):
        plan = plan_speech(line.get("spoken_text") or line["text"], caps.max_chars_per_call,
                           FIRST_CHUNK_CHARS if index == 0 else None)
        reused, path = _reusable(task, line, plan, caps.sample_rate, workdir / f"reused-{index:03d}.wav")
        lines.append(_Line(plan, first, reused, path))
        first += len(plan.chunks)
    references = _voices(task, engine, script, lines, workdir)
    engine_speed, stretch = split_speed(generation.speed or 1.0, caps)
    words = text_normalization.for_generation(ctx.settings.text_normalization, caps.needs_normalized_text,
                                              generation.language)
    requests = {index: SpeechRequest(
        chunks=_given(spoken.plan.chunks, words),
        language=generation.language, voice=references.get(line["voice_id"]), speed=engine_speed)
        for index, (line, spoken) in enumerate(zip(script, lines)) if spoken.reused is None}
    owners = [index for index, spoken in enumerate(lines) for _ in spoken.plan.chunks]  # the line of each part

    def where(part: int) -> tuple[int, int]:
        """(line, its chunk) of a part of the whole dialogue."""
        return owners[part], part - lines[owners[part]].first_chunk

    # Only spoken lines are heard back: a reused line was heard (and retaken if need be) in its own take.
    checks, checks_record = hearing_back(task, engine, generation.language,
                                         lambda part: requests[where(part)[0]].chunks[where(part)[1]], workdir)
    pauses = _pauses(script, lines)
    mp3 = workdir / "dialogue.mp3"
    task.progress(0, first)
    output = ChunkedOutput(ctx.storage, str(generation.id), mp3, chunks=first, stretch=stretch,
                           chunk_done=task.progress, segments_stored=task.segments_stored,
                           pauses=pauses, lead_pause=lines[0].plan.lead)
    audio: list[list[np.ndarray]] = []  # each line's chunks, as the engine spoke them
    calls = _RemoteCalls(task, [0 if line.reused is not None else len(line.plan.chunks) for line in lines])
    try:
        with output:
            for index, spoken in enumerate(lines):
                if spoken.reused is not None:
                    audio.append(spoken.reused)
                    for chunk, samples in enumerate(spoken.reused):
                        task.check()
                        output.add(Piece(spoken.first_chunk + chunk, samples, caps.sample_rate, end=True))
                    continue
                chunks: list[list[np.ndarray]] = [[] for _ in spoken.plan.chunks]
                with closing(engine.speak(requests[index], calls.for_line(index))) as pieces:
                    for piece in pieces:
                        task.check()
                        part = spoken.first_chunk + piece.chunk
                        output.add(Piece(part, piece.samples, piece.sample_rate, piece.end))
                        if piece.samples.size:
                            chunks[piece.chunk].append(piece.samples)
                        if checks:
                            checks.add(part, piece.samples, piece.sample_rate, piece.end)
                audio.append([np.concatenate(parts) if parts else np.zeros(0, np.float32) for parts in chunks])
        heard = output
        if checks:
            # Listeners get every line as first spoken; what is stored gets the retakes.
            output.seal_stream()
            rebuilt = checks.retake(lambda part: speak_again(engine, requests[where(part)[0]], where(part)[1], task),
                                    task.check)
            if rebuilt:
                for part in checks.parts:
                    line, chunk = where(part)
                    audio[line][chunk] = checks.kept_audio(part).astype(np.float32)
                mp3 = workdir / "dialogue-retaken.mp3"
                heard = rebuild(task, (chunk for line in audio for chunk in line), first, caps.sample_rate, pauses,
                                lines[0].plan.lead, stretch, mp3)
            checks_record = {**checks.record(), "rebuilt": rebuilt}
    finally:
        if checks:
            checks.close()
    kept, files = [], []
    for index, (line, spoken, chunks) in enumerate(zip(script, lines, audio)):
        start = heard.timeline[spoken.first_chunk][0]
        end = heard.timeline[spoken.first_chunk + len(spoken.plan.chunks) - 1][1]
        path = spoken.reused_file or workdir / f"line-{index:03d}.wav"
        if spoken.reused_file is None:
            codec.write_wav(path, np.concatenate(chunks), caps.sample_rate)
        files.append((line_key(str(generation.id), index), path, "audio/wav"))
        reuse = line.get("reuse") or {}
        kept.append({key: line.get(key) for key in ("voice_id", "voice_name", "text", "spoken_text")} | {
            key: line[key] for key in ("dictionaries",) if key in line} | {
            "start": round(start, 3), "end": round(end, 3), "reused": spoken.reused is not None,
            "respoken_from": reuse.get("generation_id"),
            "chunk_samples": [len(samples) for samples in chunks], "sample_rate": caps.sample_rate})
    # Each line's typed words timed inside its own chunks' places, and placed after its speaker's name in
    # the row's text.
    passages = [timings.Passage(line["text"], _given(spoken.plan.chunks, words),
                                heard.timeline[spoken.first_chunk: spoken.first_chunk + len(spoken.plan.chunks)],
                                offset=offset, line=index)
                for index, (line, spoken, offset) in enumerate(zip(script, lines, line_offsets(script)))]
    task.check()
    # Likeness is scored against one voice's reference (speech.py); a dialogue's lines would each need
    # their own, which is not done yet.
    return Outcome(mp3, heard.duration, voice_cloned=caps.can_clone, engine=engine.info.name,
                   checks=checks_record, lines=kept, files=tuple(files),
                   timings=timings.for_generation(ctx, generation, mp3, passages))


def _given(chunks, words):
    """A line's chunks as the engine is (or was, for a reused line) given them."""
    return text_normalization.SpokenChunks(chunks, words) if words else chunks


def _pauses(script: list[dict], lines: list[_Line]) -> list[float]:
    """Seconds of silence after each chunk of the whole dialogue: each line's own (break tags, paragraphs),
    a break at a line's start after the line before it, and the gap between two lines."""
    pauses: list[float] = []
    for index, line in enumerate(lines):
        if index:
            same = script[index]["voice_id"] == script[index - 1]["voice_id"]
            pauses[-1] += (SAME_SPEAKER_PAUSE if same else SPEAKER_CHANGE_PAUSE) + line.plan.lead
        pauses += line.plan.pauses
    return pauses


def _reusable(task: Task, line: dict, plan: SpeechPlan, sample_rate: int,
              path: Path) -> tuple[list[np.ndarray] | None, Path | None]:
    """An earlier take's audio of this line, chunk by chunk, or (None, None) when it must be spoken: the
    earlier take was deleted meanwhile, or the engine now speaks at another rate or in other chunks."""
    reuse = line.get("reuse")
    if not reuse or reuse["sample_rate"] != sample_rate or len(reuse["chunk_samples"]) != len(plan.chunks):
        return None, None
    try:
        task.ctx.storage.download(reuse["key"], path)
    except ObjectMissing:
        log.info("dialogue.reuse_missing id=%s key=%s", task.id, reuse["key"])
        return None, None
    with wave.open(str(path), "rb") as wav:
        samples = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2").astype(np.float32) / 32767.0
    if len(samples) != sum(reuse["chunk_samples"]):
        return None, None
    bounds = np.cumsum(reuse["chunk_samples"])[:-1]
    return list(np.split(samples, bounds)), path


def _voices(task: Task, engine: SpeechEngine, script: list[dict], lines: list[_Line],
            workdir: Path) -> dict[str, VoiceReference | None]:
    """The voice of every line to be spoken (its reference, when the engine clones); TaskFailed names a line
    whose voice was deleted after the dialogue was queued."""
    wanted = {line["voice_id"] for line, spoken in zip(script, lines) if spoken.reused is None}
    with task.ctx.sessions() as session:
        found = {str(voice.id): voice for voice in session.query(Voice).filter(Voice.id.in_(
            [uuid.UUID(voice_id) for voice_id in wanted]))}
        session.expunge_all()
    for number, line in enumerate(script, start=1):
        if line["voice_id"] in wanted and line["voice_id"] not in found:
            raise TaskFailed("voice_deleted", f"The voice \u201c{line['voice_name']}\u201d of line {number} was "
                                              "deleted before this dialogue could run.")
    can_clone = engine.info.capabilities.can_clone
    return {voice_id: voice_reference(task, voice, workdir) if can_clone else None for voice_id, voice in found.items()}


class _RemoteCalls:
    """The task's remote calls, shared out among the lines.

    An engine that runs elsewhere records its calls with the task so a retry collects them instead of
    paying again (remote.py); in a dialogue each line is its own request, so each gets its share of the
    task's list: lines are spoken in order, so the list is every earlier line's calls, then this one's.
    """

    def __init__(self, task: Task, chunks_per_line: list[int]):
        self.task = task
        recorded = list(task.remote_calls)
        self.calls: list[list[str]] = []
        for count in chunks_per_line:
            self.calls.append(recorded[:count])
            recorded = recorded[count:]

    def for_line(self, line: int) -> _LineTask:
        return _LineTask(self, line)

    def record(self, line: int, call_ids: list[str]) -> None:
        self.calls[line] = list(call_ids)
        self.task.record_remote_calls([call for calls in self.calls for call in calls])


class _LineTask:
    """The task as the engine sees it while it speaks one line: the voice prompts, and that line's calls."""

    def __init__(self, calls: _RemoteCalls, line: int):
        self.prompts = calls.task.prompts
        self._calls, self._line = calls, line

    @property
    def remote_calls(self) -> list[str]:
        return self._calls.calls[self._line]

    def record_remote_calls(self, call_ids: list[str]) -> None:
        self._calls.record(self._line, call_ids)
