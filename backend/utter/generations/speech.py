"""Running a speech generation: its text, split into chunks, spoken by the engine into a ChunkedOutput."""

from __future__ import annotations

from contextlib import closing
from pathlib import Path

from ..adapters.tts.base import SpeechRequest, VoiceReference
from ..audio.text import chunk_text
from ..models import Voice
from .chunked_output import ChunkedOutput, split_speed
from .runner import Outcome
from .task import Task, TaskFailed

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
    chunks = chunk_text(generation.text, caps.max_chars_per_call, FIRST_CHUNK_CHARS)
    engine_speed, stretch = split_speed(generation.speed or 1.0, caps)
    reference = _reference(task, voice, workdir) if caps.can_clone else None
    request = SpeechRequest(chunks=tuple(chunks), language=generation.language, voice=reference, speed=engine_speed)
    mp3 = workdir / "speech.mp3"
    task.progress(0, len(chunks))
    output = ChunkedOutput(ctx.storage, str(generation.id), mp3, chunks=len(chunks), stretch=stretch,
                           chunk_done=task.progress, segments_stored=task.segments_stored)
    with output, closing(engine.speak(request, task)) as pieces:
        for piece in pieces:
            task.check()
            output.add(piece)
    return Outcome(mp3, output.duration, voice_cloned=caps.can_clone, engine=engine.info.name)


def _reference(task: Task, voice: Voice, workdir: Path) -> VoiceReference:
    path = workdir / "reference.wav"
    task.ctx.storage.download(voice.reference_key, path)
    return VoiceReference(voice_id=str(voice.id), audio_path=path, transcript=voice.reference_transcript,
                          version=f"r{voice.revision}")
