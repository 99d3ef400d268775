"""Running a speech generation: its text, split into chunks and pauses, spoken by the engine into a ChunkedOutput."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from contextlib import closing
from pathlib import Path

import numpy as np

from ..adapters.tts.base import EngineError, Piece, SpeechEngine, SpeechRequest, VoiceReference
from ..audio import codec, text_normalization
from ..audio.text import plan_speech
from ..models import Voice
from . import heard_back, timings
from .chunked_output import ChunkedOutput, split_speed
from .runner import Outcome
from .task import Task, TaskFailed

log = logging.getLogger(__name__)

# The first chunk is kept short, so the first audio comes soon whatever the length of the text.
FIRST_CHUNK_CHARS = 120


def speak(task: Task, workdir: Path) -> Outcome:
    ctx, generation = task.ctx, task.generation
    with ctx.sessions() as session:
        voice = session.get(Voice, generation.voice_id) if generation.voice_id else None
        session.expunge_all()
    if voice is None:
        raise TaskFailed("voice_deleted", "The voice was deleted before this generation could run.")
    engine = ctx.engine  # read once: a switch of engines meanwhile leaves this generation on this one
    engine.load()
    caps = engine.info.capabilities
    # The text with its pronunciation rules applied, as checked when it was queued.
    plan = plan_speech(generation.spoken_text or generation.text, caps.max_chars_per_call, FIRST_CHUNK_CHARS)
    engine_speed, stretch = split_speed(generation.speed or 1.0, caps)
    reference = voice_reference(task, voice, workdir) if caps.can_clone else None
    # The stored text stays as typed; the engine may be given it in words ("$45" -> "forty five dollars").
    words = text_normalization.for_generation(ctx.settings.text_normalization, caps.needs_normalized_text,
                                              generation.language)
    said = text_normalization.SpokenChunks(plan.chunks, words) if words else plan.chunks
    request = SpeechRequest(chunks=said, language=generation.language, voice=reference, speed=engine_speed)
    checks, checks_record = hearing_back(task, engine, request.language, lambda part: request.chunks[part], workdir)
    mp3 = workdir / "speech.mp3"
    task.progress(0, len(plan.chunks))
    output = ChunkedOutput(ctx.storage, str(generation.id), mp3, chunks=len(plan.chunks), stretch=stretch,
                           chunk_done=task.progress, segments_stored=task.segments_stored,
                           pauses=plan.pauses, lead_pause=plan.lead)
    try:
        with output, closing(engine.speak(request, task)) as pieces:
            for piece in pieces:
                task.check()
                output.add(piece)
                if checks:
                    checks.add(piece.chunk, piece.samples, piece.sample_rate, piece.end)
        duration, timeline = output.duration, output.timeline
        if checks:
            # Listeners get every part as first spoken; what is stored gets the retakes.
            output.seal_stream()
            rebuilt = checks.retake(lambda part: speak_again(engine, request, part, task), task.check)
            if rebuilt:
                mp3 = workdir / "speech-retaken.mp3"
                kept = (checks.kept_audio(part) for part in range(len(plan.chunks)))
                rebuilt_output = rebuild(task, kept, len(plan.chunks), checks.sample_rate, plan.pauses, plan.lead,
                                         stretch, mp3)
                duration, timeline = rebuilt_output.duration, rebuilt_output.timeline
            checks_record = {**checks.record(), "rebuilt": rebuilt}
        if reference is not None:
            try:
                likeness = _likeness(task, engine, reference, mp3, checks)
            except EngineError as exc:  # the speech is fine; only its score is missing
                log.warning("likeness.failed id=%s code=%s message=%s", task.id, exc.code, exc.message)
                likeness = None
            if likeness is not None:
                by_part = likeness.pop("parts")
                checks_record = checks_record or {"checked": False, "reason": "hearing back is off for this engine "
                                                  "(UTTER_HEARD_BACK)"}
                for record in checks_record.get("parts", []):
                    record["similarity"] = by_part.get(record["part"])
                checks_record["likeness"] = likeness
    finally:
        if checks:
            checks.close()
    task.check()
    return Outcome(mp3, duration, voice_cloned=caps.can_clone, engine=engine.info.name, checks=checks_record,
                   timings=timings.for_generation(task.ctx, generation, mp3, [timings.Passage(generation.text, said,
                                                                                                timeline)]))


# Likeness is scored on at most this much of the result (the speaker encoder's cost grows with it;
# a speaker does not change after two minutes).
LIKENESS_SECONDS = 120.0


def _likeness(task: Task, engine: SpeechEngine, voice: VoiceReference, mp3: Path,
              checks: heard_back.HeardBack | None) -> dict | None:
    """How alike the result is to the voice's reference, by the cloning model's speaker encoder: the
    whole, each part, and, as a yardstick, the first half of the reference itself."""
    rate = engine.info.capabilities.sample_rate
    whole = codec.decode(mp3, target_rate=rate).samples[: int(LIKENESS_SECONDS * rate)]
    score = engine.likeness(voice, whole, rate, task.prompts)
    if score is None:
        return None
    reference = codec.decode(voice.audio_path, target_rate=rate).samples
    yardstick = engine.likeness(voice, reference[: len(reference) // 2], rate, task.prompts)
    parts = {}
    if checks is not None:
        for part in checks.parts:
            task.check()
            parts[part] = round(engine.likeness(voice, checks.kept_audio(part), checks.sample_rate, task.prompts), 3)
    return {"whole": round(score, 3), "reference_half": round(yardstick, 3), "parts": parts}


def _wants_heard_back(task: Task, engine: SpeechEngine) -> bool:
    """Whether UTTER_HEARD_BACK asks for this engine's speech to be heard back."""
    choice = task.ctx.settings.heard_back
    return choice == "on" or (choice == "auto" and engine.info.capabilities.needs_heard_back)


def hearing_back(task: Task, engine: SpeechEngine, language: str, texts: Callable[[int], str],
                 workdir: Path) -> tuple[heard_back.HeardBack | None, dict | None]:
    """The checks this generation gets (`texts(part)`: what part `part` should say), or None and a record
    of why it is not checked."""
    if not _wants_heard_back(task, engine):
        return None, None
    transcriber, why_not = heard_back.recogniser_for(language, task.ctx.recogniser,
                                                     task.ctx.multilingual_recogniser)
    if why_not:
        return None, {"checked": False, "reason": why_not}
    # The engine speaks at the asked speed only when it controls speed; otherwise its audio is stretched later.
    speed = (task.generation.speed or 1.0) if engine.info.capabilities.controls_speed else 1.0
    judge = heard_back.Judge(transcriber, language, speed)
    folder = workdir / "takes"
    folder.mkdir()
    return heard_back.HeardBack(judge, folder, texts), None


class _Retake:
    """The task as an engine sees it for a retake: the same voice prompts, but none of the first pass's
    remote calls (they spoke the whole text, not this part)."""

    def __init__(self, task: Task):
        self.prompts = task.prompts
        self.remote_calls: list[str] = []

    def record_remote_calls(self, call_ids: list[str]) -> None:
        pass  # a retake interrupted by a restart is simply made again


def speak_again(engine: SpeechEngine, request: SpeechRequest, part: int, task: Task):
    """Part `part` of the request spoken once more (a retake), its samples as they come."""
    again = SpeechRequest(chunks=(request.chunks[part],), language=request.language, voice=request.voice,
                          speed=request.speed)
    with closing(engine.speak(again, _Retake(task))) as pieces:
        for piece in pieces:
            task.check()
            if piece.samples.size:
                yield piece.samples


def rebuild(task: Task, parts: Iterable[np.ndarray], chunks: int, sample_rate: int, pauses: Sequence[float],
            lead: float, stretch: float, mp3: Path) -> ChunkedOutput:
    """The MP3 again from the kept take of every part, levelled, joined and paused as the first pass was;
    not streamed (listeners have heard the first takes). Returns the closed output (its duration, timeline)."""
    output = ChunkedOutput(task.ctx.storage, str(task.id), mp3, chunks=chunks, stretch=stretch,
                           chunk_done=lambda done, total: None, segments_stored=lambda count: None,
                           pauses=pauses, lead_pause=lead, stream=False)
    with output:
        for part, samples in enumerate(parts):
            task.check()
            output.add(Piece(part, samples.astype(np.float32), sample_rate, end=True))
    return output


def voice_reference(task: Task, voice: Voice, workdir: Path) -> VoiceReference:
    """The voice's reference recording, fetched into `workdir` (one file per voice: a dialogue has several)."""
    path = workdir / f"reference-{voice.id}.wav"
    task.ctx.storage.download(voice.reference_key, path)
    return VoiceReference(voice_id=str(voice.id), audio_path=path, transcript=voice.reference_transcript,
                          version=f"r{voice.revision}")
