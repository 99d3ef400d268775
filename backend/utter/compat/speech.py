"""What both compatible APIs share: finding a voice, queueing speech, and streaming it in a format.

Speech asked for through either API is an ordinary generation: a row in the task queue
that the same workers run, listed in /history and /api/generations. The response
streams that generation's MP3 as the worker produces it, re-encoded on the way when
another format was asked for.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence

from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from ..audio.transcode import OutputFormat, transcode_stream
from ..context import AppContext
from ..database import session_scope
from ..errors import UtterError
from ..generations import dialogue, repository
from ..generations.service import enqueue
from ..generations.streaming import generation_mp3
from ..models import Generation, GenerationStatus, Voice
from ..pronunciation.service import Locator
from ..validation import clean_language, clean_text
from ..voices import service as voices

Gone = Callable[[], Awaitable[bool]]  # True once the client has gone away

log = logging.getLogger("utter.compat")

# A response still waiting after this stops (the generation goes on in the queue and the history).
WAIT_LIMIT_SECONDS = 600


def find_voice(session: Session, reference: str) -> Voice:
    """A voice by id, or else by name (case-insensitive; the newest wins when names repeat)."""
    reference = (reference or "").strip()
    try:
        voice = session.get(Voice, uuid.UUID(reference))
    except ValueError:
        voice = voices.find_by_name(session, reference)
    if voice is None:
        raise UtterError(404, "voice_not_found",
                         f"No voice {reference!r} exists in this Utter library. Use the id or name of a voice you "
                         "cloned (GET /v1/voices or /api/voices lists them).", field="voice")
    return voice


def submit_speech(ctx: AppContext, voice_reference: str, text: str, *, language: str | None, speed: float,
                  text_field: str, dictionaries: Sequence[Locator] = ()) -> Generation:
    """Queue speech in a voice (id or name) as an ordinary generation, held to the same limits as
    POST /api/generate. Opens its own unit of work: the routes that call it wait on the event loop."""
    with session_scope(ctx.sessions) as session:
        voice = find_voice(session, voice_reference)
        text = clean_text(text, ctx.settings.max_text_chars, text_field)
        generation = enqueue(session, ctx, voice, text, language_for(ctx, language), speed, dictionaries)
        session.expunge(generation)
        return generation


def submit_dialogue(ctx: AppContext, script: Sequence[dialogue.Line], *, language: str | None,
                    dictionaries: Sequence[Locator] = ()) -> Generation:
    """Queue a dialogue whose lines name their voices by id or name, held to the limits of POST /api/dialogue."""

    def find(session: Session, reference: str, field: str) -> Voice:
        try:
            return find_voice(session, reference)
        except UtterError as exc:
            raise UtterError(exc.status, exc.code, exc.message, field=field) from None

    with session_scope(ctx.sessions) as session:
        generation = dialogue.submit(session, ctx, script, language=language_for(ctx, language), speed=None,
                                     dictionaries=dictionaries, find=find)
        session.expunge(generation)
        return generation


def language_for(ctx: AppContext, code: str | None) -> str:
    """An ISO 639-1 code (or a BCP 47 tag such as en-US) the engine speaks, else auto.

    Both APIs treat the language as a hint that is ignored when the model cannot use it.
    """
    base = (code or "auto").split("-")[0].split("_")[0]
    try:
        return clean_language(base, ctx.engine.info.capabilities.languages)
    except UtterError:
        return "auto"


async def _mp3_to_the_end(ctx: AppContext, generation_id: uuid.UUID, gone: Gone) -> AsyncIterator[bytes]:
    """The generation's MP3 bytes as the worker stores them; raises UtterError if it does not finish."""
    async for chunk in generation_mp3(ctx, generation_id, timeout=WAIT_LIMIT_SECONDS, gone=gone):
        yield chunk
    if await gone():
        return
    generation = await run_in_threadpool(_snapshot, ctx, generation_id)
    if generation is None:
        raise UtterError(404, "generation_not_found", "The generation was deleted before it finished.")
    status, code, message = generation.status, generation.error_code, generation.error_message
    if status == GenerationStatus.DONE:
        return
    if status == GenerationStatus.CANCELLED:
        raise UtterError(409, "generation_cancelled", "The generation was cancelled before it finished.")
    if status == GenerationStatus.FAILED:
        raise UtterError(404 if code == "voice_deleted" else 500, code or "engine_failed",
                         message or "Speech generation failed.")
    raise UtterError(504, "generation_unfinished",
                     f"The speech could not be streamed to the end; generation {generation_id} is {status}.")


def _snapshot(ctx: AppContext, generation_id: uuid.UUID) -> Generation | None:
    with ctx.sessions() as session:
        return repository.snapshot(session, generation_id)


async def audio_stream(ctx: AppContext, generation: Generation, fmt: OutputFormat, gone: Gone) -> AsyncIterator[bytes]:
    """The generation's audio in `fmt`, as it is made; `gone()` says the client has left.

    The first piece is waited for here (on the event loop), so a generation that fails
    before any audio exists is still answered with an error status rather than a 200 and
    an empty body. A failure after that can only cut the stream short.
    """
    chunks = transcode_stream(_mp3_to_the_end(ctx, generation.id, gone), fmt)
    first = await anext(chunks, b"")
    return _after(first, chunks, generation.id)


async def _after(first: bytes, chunks: AsyncIterator[bytes], generation_id: uuid.UUID) -> AsyncIterator[bytes]:
    yield first
    try:
        async for chunk in chunks:
            yield chunk
    except UtterError as exc:
        log.warning("compat.stream_cut id=%s code=%s", generation_id, exc.code)


def speech_headers(ctx: AppContext, generation: Generation, instructions: str | None = None) -> dict[str, str]:
    """Which engine spoke, and whether it really spoke in the cloned voice (Piper cannot clone)."""
    headers = {
        "X-Utter-Engine": ctx.engine.info.name,
        "X-Utter-Voice-Cloned": "true" if ctx.engine.info.capabilities.can_clone else "false",
        "X-Utter-Generation-Id": str(generation.id),
        "Cache-Control": "no-store",
    }
    if instructions:
        # No engine in Utter takes style instructions yet; say so rather than pretend.
        headers["X-Utter-Instructions"] = "ignored"
    return headers
