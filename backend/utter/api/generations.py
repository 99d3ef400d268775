from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response
from fastapi.responses import FileResponse, PlainTextResponse, RedirectResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool

from ..errors import ErrorResponse, UtterError
from ..generations import service, subtitles
from ..generations.streaming import generation_mp3
from ..generations.schemas import GenerateRequest, GenerationPublic, GenerationsPublic, TimingsPublic
from ..context import AppContext
from ..database import session_scope
from ..models import Generation, GenerationStatus
from .deps import ContextDep, SessionDep

router = APIRouter(prefix="/api", tags=["generations"],
                   responses={404: {"model": ErrorResponse}, 422: {"model": ErrorResponse}})


@router.post("/generate", status_code=202, response_model=GenerationPublic,
             responses={503: {"model": ErrorResponse, "description": "The queue is full"}})
def generate(request: GenerateRequest, ctx: ContextDep, session: SessionDep, response: Response) -> GenerationPublic:
    """Queue speech in a voice. Poll `status_url` until `status` is `done`, then fetch `audio_url`."""
    generation = service.submit(session, ctx, request)
    response.headers["Location"] = f"/api/generations/{generation.id}"
    return service.to_public(generation, ctx)


@router.get("/generations", response_model=GenerationsPublic)
def list_generations(ctx: ContextDep, session: SessionDep,
                     limit: Annotated[int, Query(ge=1, le=100)] = 20,
                     offset: Annotated[int, Query(ge=0, le=1_000_000_000)] = 0,
                     voice_id: str | None = None) -> GenerationsPublic:
    """The history, newest first."""
    rows, total = service.history(session, limit, offset, voice_id)
    return GenerationsPublic(generations=[service.to_public(g, ctx) for g in rows], total=total,
                             limit=limit, offset=offset)


@router.get("/generations/{generation_id}", response_model=GenerationPublic)
def get_generation(generation_id: str, ctx: ContextDep, session: SessionDep) -> GenerationPublic:
    return service.to_public(service.get(session, generation_id), ctx)


@router.post("/generations/{generation_id}/cancel", response_model=GenerationPublic,
             responses={409: {"model": ErrorResponse}})
def cancel_generation(generation_id: str, ctx: ContextDep, session: SessionDep) -> GenerationPublic:
    return service.to_public(service.cancel(session, ctx, generation_id), ctx)


@router.delete("/generations/{generation_id}", status_code=204)
def delete_generation(generation_id: str, ctx: ContextDep, session: SessionDep) -> Response:
    service.delete(session, ctx, generation_id)
    return Response(status_code=204)


@router.get("/generations/{generation_id}/stream", response_class=StreamingResponse,
            responses={200: {"content": {"audio/mpeg": {}}}, 409: {"model": ErrorResponse}})
async def stream_generation(generation_id: str, ctx: ContextDep) -> StreamingResponse:
    """The MP3 as it is being spoken: its audio arrives as soon as it is stored (a finished one replays whole).

    Browsers can play this URL directly in an <audio> element while the generation runs. The
    wait holds no thread and no database connection, and stops when the listener leaves.
    """
    generation = await run_in_threadpool(_streamable, ctx, generation_id)
    return StreamingResponse(generation_mp3(ctx, generation.id), media_type="audio/mpeg",
                             headers={"Cache-Control": "no-store", "X-Utter-Engine": generation.engine or ""})


def _streamable(ctx: AppContext, generation_id: str) -> Generation:
    with session_scope(ctx.sessions) as session:
        generation = service.get(session, generation_id)
        if generation.status in (GenerationStatus.FAILED, GenerationStatus.CANCELLED):
            raise UtterError(409, "generation_not_ready", f"This generation has no audio ({generation.status}).")
        session.expunge(generation)
        return generation


@router.get("/generations/{generation_id}/audio", response_class=Response,
            responses={200: {"content": {"audio/mpeg": {}}}, 409: {"model": ErrorResponse}})
def generation_audio(generation_id: str, ctx: ContextDep, session: SessionDep,
                     download: Annotated[bool, Query(description="Save as a file with a readable name")] = False):
    """The generated MP3 (44.1 kHz). With `download=1` the browser saves it under a descriptive name."""
    generation = service.get(session, generation_id)
    if generation.status != GenerationStatus.DONE or not generation.output_key:
        raise UtterError(409, "generation_not_ready",
                         f"This generation has no audio ({generation.status}).")
    name = service.download_name(generation) if download else None
    storage = ctx.storage
    path = storage.local_path(generation.output_key)
    if path is not None:
        if not path.is_file():
            raise UtterError(410, "audio_missing", "The audio file of this generation is missing from storage.")
        return FileResponse(path, media_type="audio/mpeg", filename=name,
                            content_disposition_type="attachment" if download else "inline")
    # Object storage: send the browser straight to a short-lived signed URL instead of proxying the file.
    return RedirectResponse(storage.url(generation.output_key, download_name=name), status_code=307)


@router.get("/generations/{generation_id}/timings", response_model=TimingsPublic,
            responses={409: {"model": ErrorResponse, "description": "Not done yet (its status is in the message)"}})
def generation_timings(generation_id: str, session: SessionDep) -> TimingsPublic:
    """When each word of the text is spoken: seconds into the audio, and where the word is in the text.

    404 `timings_unavailable` (or `timings_language_unsupported`, `timings_failed`) when a finished
    generation has none, with why: the speech recogniser is off or not installed, or knows English only.
    """
    return service.timings_public(service.timed(session, generation_id))


@router.get("/generations/{generation_id}/subtitles.srt", response_class=PlainTextResponse,
            responses={200: {"content": {"application/x-subrip": {}}}, 409: {"model": ErrorResponse}})
def generation_srt(generation_id: str, session: SessionDep,
                   download: Annotated[bool, Query(description="Save as a file")] = False) -> Response:
    """Subtitles as SubRip: two lines of at most 42 characters, at most 7 s a cue, split at sentences and pauses."""
    generation = service.timed(session, generation_id)
    return _subtitles(generation, subtitles.srt(_cues(generation)),
                      "application/x-subrip; charset=utf-8", "srt", download)


@router.get("/generations/{generation_id}/subtitles.vtt", response_class=PlainTextResponse,
            responses={200: {"content": {"text/vtt": {}}}, 409: {"model": ErrorResponse}})
def generation_vtt(generation_id: str, session: SessionDep,
                   download: Annotated[bool, Query(description="Save as a file")] = False) -> Response:
    """Subtitles as WebVTT (for a <track> element), cut as the SubRip ones are."""
    generation = service.timed(session, generation_id)
    return _subtitles(generation, subtitles.vtt(_cues(generation)),
                      "text/vtt; charset=utf-8", "vtt", download)


def _cues(generation: Generation) -> list[subtitles.Cue]:
    speakers = [line["voice_name"] for line in generation.lines] if generation.lines else None
    return subtitles.cues(generation.timings["words"], speakers)


def _subtitles(generation: Generation, body: str, media_type: str, extension: str, download: bool) -> Response:
    headers = {}
    if download:
        headers["Content-Disposition"] = f'attachment; filename="{service.download_name(generation)[:-4]}.{extension}"'
    return Response(body, media_type=media_type, headers=headers)
