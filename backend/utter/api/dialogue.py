"""Dialogues: a script of lines, each in its voice, spoken as one generation (issue 18)."""

from __future__ import annotations

from fastapi import APIRouter, Response

from ..errors import ErrorResponse
from ..generations import dialogue, service
from ..generations.schemas import DialogueRequest, GenerationPublic, RespeakRequest
from ..pronunciation.service import Locator
from ..validation import clean_language
from .deps import ContextDep, SessionDep

router = APIRouter(prefix="/api", tags=["dialogue"],
                   responses={404: {"model": ErrorResponse}, 422: {"model": ErrorResponse}})


@router.post("/dialogue", status_code=202, response_model=GenerationPublic,
             responses={503: {"model": ErrorResponse, "description": "The queue is full"}})
def create_dialogue(request: DialogueRequest, ctx: ContextDep, session: SessionDep,
                    response: Response) -> GenerationPublic:
    """Queue a script (`inputs`: lines of `{voice_id, text}`) as one generation; each line in its voice.

    Poll `status_url` as for /api/generate; once done, `lines` say where each line is in the audio.
    """
    script = [dialogue.Line(line.voice_id, line.text) for line in request.inputs]
    language = clean_language(request.language, ctx.engine.info.capabilities.languages)
    dictionaries = [Locator(dictionary_id) for dictionary_id in request.pronunciation_dictionary_ids]
    generation = dialogue.submit(session, ctx, script, language=language, speed=request.speed,
                                 dictionaries=dictionaries)
    response.headers["Location"] = f"/api/generations/{generation.id}"
    return service.to_public(generation, ctx)


@router.post("/dialogue/{generation_id}/lines/{line}/respeak", status_code=202, response_model=GenerationPublic,
             responses={409: {"model": ErrorResponse}, 503: {"model": ErrorResponse}})
def respeak_line(generation_id: str, line: int, ctx: ContextDep, session: SessionDep, response: Response,
                 request: RespeakRequest | None = None) -> GenerationPublic:
    """A new take of a finished dialogue with line `line` (0 is the first) spoken again, optionally with new
    `text` or another `voice_id`; the other lines reuse this take's audio. The earlier take stays as it was."""
    generation = dialogue.respeak(session, ctx, generation_id, line, text=request.text if request else None,
                                  voice_id=request.voice_id if request else None)
    response.headers["Location"] = f"/api/generations/{generation.id}"
    return service.to_public(generation, ctx)
