"""Submitting, reading, cancelling and deleting generations."""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence

from sqlalchemy.orm import Session

from ..adapters.storage import line_prefix, preview_key
from ..context import AppContext
from ..errors import UtterError, not_found
from ..models import Generation, GenerationKind, GenerationStatus, Voice
from ..pronunciation import service as pronunciation
from ..validation import check_speed, clean_language, clean_text, parse_id
from . import repository
from .schemas import (DialogueLinePublic, GenerateRequest, GenerationChecks, GenerationError, GenerationPublic,
                      TimingsPublic)


def submit(session: Session, ctx: AppContext, request: GenerateRequest) -> Generation:
    voice_id = parse_id(request.voice_id, "voice", "invalid_voice_id", field="voice_id")
    text = clean_text(request.text, ctx.settings.max_text_chars, "text")
    language = clean_language(request.language, ctx.engine.info.capabilities.languages)
    speed = check_speed(request.speed)
    voice = session.get(Voice, voice_id)
    if voice is None:
        raise UtterError(404, "voice_not_found", "No voice with that id exists (it may have been deleted).",
                         field="voice_id")
    dictionaries = [pronunciation.Locator(dictionary_id) for dictionary_id in request.pronunciation_dictionary_ids]
    return enqueue(session, ctx, voice, text, language, speed, dictionaries)


def enqueue(session: Session, ctx: AppContext, voice: Voice, text: str, language: str,
            speed: float | None = None, dictionaries: Sequence[pronunciation.Locator] = ()) -> Generation:
    """Queue checked text as speech in `voice`, with the pronunciation rules of `dictionaries` and of the voice."""
    spoken = pronunciation.spoken_text(session, ctx.engine.info.capabilities, voice, text, dictionaries,
                                       ctx.settings.max_text_chars)
    generation = Generation(id=uuid.uuid4(), voice_id=voice.id, voice_name=voice.name, text=text,
                            spoken_text=spoken, language=language, status=GenerationStatus.QUEUED,
                            engine=ctx.engine.info.name, speed=speed)
    admit(session, ctx, [generation])
    return generation


def admit(session: Session, ctx: AppContext, generations: list[Generation]) -> None:
    """Put new generations in the queue (speech, previews, the compatible APIs' speech) and wake the
    workers; refuses all of them when they would not fit."""
    limit = ctx.settings.max_queue
    if not repository.admit(session, generations, limit):
        raise UtterError(503, "queue_full", f"{limit} generations are already waiting. Try again in a minute.",
                         headers={"Retry-After": "30"})
    ctx.wake.set()


def get(session: Session, generation_id: str) -> Generation:
    parsed = parse_id(generation_id, "generation", "invalid_generation_id")
    generation = repository.get(session, parsed)
    if generation is None:
        raise not_found("generation", "generation_not_found")
    return generation


def history(session: Session, limit: int, offset: int = 0, voice_id: str | None = None, *,
            after: str | None = None, search: str | None = None) -> tuple[list[Generation], int]:
    """Speech generations, newest first: `offset` pages, or `after` (a generation id) continues a cursor."""
    voice = parse_id(voice_id, "voice", "invalid_voice_id", field="voice_id") if voice_id else None
    cursor = get(session, after) if after else None
    return repository.history(session, limit=limit, offset=offset, voice_id=voice, after=cursor,
                              search=(search or "").strip() or None)


def cancel(session: Session, ctx: AppContext, generation_id: str) -> Generation:
    generation = get(session, generation_id)
    cancelled = repository.cancel(session, generation.id)
    session.refresh(generation)
    if not cancelled:
        raise UtterError(409, "generation_finished", f"This generation has already finished ({generation.status}).")
    return generation


def delete(session: Session, ctx: AppContext, generation_id: str) -> None:
    generation = get(session, generation_id)
    keys = [generation.output_key] if generation.output_key else []
    if generation.kind == GenerationKind.DESIGN:
        keys.append(preview_key(str(generation.id)))
    repository.delete_rows(session, [generation.id])
    if generation.kind == GenerationKind.DIALOGUE:  # each line's audio (a running one's too: it discards its own)
        keys += ctx.storage.list_keys(line_prefix(str(generation.id)))
    # A worker still running it notices the row is gone and discards its own output.
    for key in keys:
        ctx.storage.delete(key)


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def download_name(generation: Generation) -> str:
    voice = _UNSAFE.sub("-", generation.voice_name).strip("-")[:40] or "voice"
    words = _UNSAFE.sub("-", " ".join(generation.text.split()[:6])).strip("-")[:50] or "speech"
    return f"utter-{voice}-{words}-{generation.created_at:%Y%m%d-%H%M%S}.mp3"


def to_public(generation: Generation, ctx: AppContext) -> GenerationPublic:
    done = generation.status == GenerationStatus.DONE and generation.output_key
    notice = None
    if generation.voice_cloned is False or (generation.voice_cloned is None and not ctx.engine.info.capabilities.can_clone):
        notice = ("Spoken by the built-in Piper voice: this engine cannot clone voices, so "
                  f"this is not the voice of \u201c{generation.voice_name}\u201d. Enable Qwen3-TTS (GPU or Modal) to clone.")
    error = None
    if generation.error_code:
        error = GenerationError(code=generation.error_code, message=generation.error_message or "")
    queue_seconds = None
    if generation.started_at:
        queue_seconds = round((generation.started_at - generation.created_at).total_seconds(), 3)
    lines = None
    if generation.kind == GenerationKind.DIALOGUE and generation.lines is not None:
        lines = [DialogueLinePublic(**line) for line in generation.lines]
    return GenerationPublic(
        id=generation.id,
        kind=generation.kind,
        lines=lines,
        respoken_from=_respoken_from(generation),
        status=generation.status,
        progress=round(generation.progress, 3),
        chunks_done=generation.chunks_done or 0,
        chunks_total=generation.chunks_total,
        stream_url=f"/api/generations/{generation.id}/stream",
        stream_ready=bool(done) or (generation.status == GenerationStatus.RUNNING and (generation.segments or 0) > 0),
        status_url=f"/api/generations/{generation.id}",
        voice_id=generation.voice_id,
        voice_name=generation.voice_name,
        text=generation.text,
        spoken_text=generation.spoken_text,
        language=generation.language,
        speed=generation.speed or 1.0,
        audio_url=ctx.storage.url(generation.output_key) if done else None,
        download_url=f"/api/generations/{generation.id}/audio?download=1" if done else None,
        duration_seconds=round(generation.duration_seconds, 3) if generation.duration_seconds is not None else None,
        engine=generation.engine,
        voice_cloned=generation.voice_cloned,
        notice=notice,
        checks=_checks(generation.checks),
        error=error,
        timings_url=f"/api/generations/{generation.id}/timings" if done and _aligned(generation) else None,
        timings_error=_timings_error(generation) if done else None,
        created_at=generation.created_at,
        started_at=generation.started_at,
        finished_at=generation.finished_at,
        queue_seconds=queue_seconds,
        synthesis_seconds=round(generation.synthesis_seconds, 3) if generation.synthesis_seconds else None,
    )


def _aligned(generation: Generation) -> bool:
    return bool(generation.timings and generation.timings.get("words") is not None)


def _timings_error(generation: Generation) -> GenerationError | None:
    if _aligned(generation):
        return None
    if generation.timings and generation.timings.get("error"):
        return GenerationError(**generation.timings["error"])
    return GenerationError(code="timings_unavailable",
                           message="This generation was made before Utter kept word timings.")


def timed(session: Session, generation_id: str) -> Generation:
    """A finished generation with its word timings; 409 while it is not done, 404 when it has none (and why)."""
    generation = get(session, generation_id)
    if generation.status != GenerationStatus.DONE:
        raise UtterError(409, "generation_not_ready",
                         f"This generation has no word timings yet ({generation.status}).")
    error = _timings_error(generation)
    if error is not None:
        raise UtterError(404, error.code, error.message)
    return generation


def timings_public(generation: Generation) -> TimingsPublic:
    record = generation.timings
    return TimingsPublic(generation_id=generation.id, text=generation.text,
                         duration_seconds=generation.duration_seconds, language=record["language"],
                         aligner=record["aligner"], words=record["words"])


def _respoken_from(generation: Generation) -> str | None:
    """The take a re-spoken dialogue reused its other lines from (dialogue.respeak)."""
    for line in generation.lines or ():
        source = line.get("respoken_from") or (line.get("reuse") or {}).get("generation_id")
        if source:
            return source
    return None


_PROBLEMS = {"ran_on": "ran on past the text", "cut_short": "was cut short", "wrong_words": "said other words"}


def _checks(record: dict | None) -> GenerationChecks | None:
    """The stored checks with a line a person can read ("3 parts heard back; 1 retaken: it ran on")."""
    if not record:
        return None
    likeness = record.get("likeness")
    alike = ""
    if likeness:
        alike = (f" Likeness to the reference: {likeness['whole']:.2f} (1 is identical; the reference's own first "
                 f"half scores {likeness['reference_half']:.2f}).")
    if not record.get("checked"):
        return GenerationChecks(checked=False, reason=record.get("reason"), likeness=likeness,
                                summary=f"Not heard back: {record.get('reason')}.{alike}")
    parts = record["parts"]
    line = f"{len(parts)} part{'s' if len(parts) != 1 else ''} heard back"
    retaken = [p for p in parts if p["takes"] > 1]
    if retaken:
        reasons = sorted({_PROBLEMS[r] for p in retaken for r in p["retaken_because"]})
        line += f"; {len(retaken)} retaken ({', '.join(reasons) or 'wrong'})"
    failed = [p for p in parts if not p["passed"]]
    if failed:
        line += (f"; {len(failed)} still sound{'s' if len(failed) == 1 else ''} wrong after "
                 f"{max(p['takes'] for p in failed)} takes (part {', '.join(str(p['part'] + 1) for p in failed)})")
    elif not retaken:
        line += ", none retaken"
    words = max(0.0, 1 - max(p["word_error"] for p in parts)) if parts else 1.0
    heard = "Every word heard as written." if words == 1 else f"Words heard right: {words:.0%} in the worst part."
    return GenerationChecks(checked=True, summary=f"{line}. {heard}{alike}", likeness=likeness,
                            parts=parts, retaken=len(retaken), failed=len(failed))
