from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, File, Form, Query, Request, Response, UploadFile
from starlette.concurrency import run_in_threadpool

from ..context import AppContext
from ..database import session_scope
from ..errors import ErrorResponse, UtterError
from ..models import VoiceSource
from ..validation import parse_id
from ..voices import service
from ..voices.uploads import clone_upload
from ..voices.schemas import VoicePublic, VoicesPublic, VoiceUpdate
from .deps import ContextDep, SessionDep

router = APIRouter(prefix="/api", tags=["voices"], responses={422: {"model": ErrorResponse}})


@router.post("/clone", status_code=201, response_model=VoicePublic,
             responses={413: {"model": ErrorResponse}})
async def clone_voice(
    ctx: ContextDep,
    audio: Annotated[UploadFile | None, File(description="WAV, MP3, M4A, WebM or Ogg; 10 s – 5 min; ≤ 50 MB")] = None,
    name: Annotated[str | None, Form(description="A name for the voice")] = None,
    transcript: Annotated[str | None, Form(description="The exact words spoken in the clip (improves cloning)")] = None,
    language: Annotated[str | None, Form(description="Language of the clip (ISO code) or 'auto'")] = None,
    source: Annotated[str | None, Form(description="'uploaded' (default) or 'recorded' for microphone recordings")] = None,
) -> VoicePublic:
    """Create a voice from a reference recording.

    The clip is decoded, checked (speech, clipping, noise, level), trimmed of silence at its
    ends and transcribed; the response carries the transcript, where it came from and the
    check's advice. A clip with no speech is refused (audio_no_speech). Long clips may come
    back with `transcription: "transcribing"`: poll the voice until it is done.
    """
    if audio is None or not audio.filename and audio.size == 0:
        raise UtterError(422, "audio_missing", "Choose an audio file (or record one) for the voice.", field="audio")
    kind = VoiceSource.RECORDED if source == VoiceSource.RECORDED else VoiceSource.UPLOADED

    def clone() -> uuid.UUID:
        with session_scope(ctx.sessions) as session:
            return clone_upload(session, ctx, audio, name=name, transcript=transcript, language=language,
                                source=kind).id

    voice = await service.settled(ctx, await run_in_threadpool(clone))
    return service.to_public(voice, ctx.storage)


@router.get("/voices", response_model=VoicesPublic)
async def list_voices(request: Request, ctx: ContextDep,
                      search: Annotated[str | None, Query(description="Only voices whose name contains this")] = None):
    """The library, newest first. Answers 304 to a matching If-None-Match."""
    # Async, with no session dependency: the whole library is served from the event loop,
    # and the one database check it needs is shared between concurrent requests.
    if search and search.strip():
        return await run_in_threadpool(_search_voices, ctx, search)
    body, gzipped, etag = await ctx.voice_list.current(ctx.sessions, ctx.storage)
    headers = {"ETag": etag, "Cache-Control": "no-cache", "Vary": "Accept-Encoding"}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    if "gzip" in request.headers.get("accept-encoding", ""):
        return Response(gzipped, media_type="application/json", headers={**headers, "Content-Encoding": "gzip"})
    return Response(body, media_type="application/json", headers=headers)


def _search_voices(ctx: AppContext, search: str) -> VoicesPublic:
    with ctx.sessions() as session:
        voices = service.list_voices(session, search)
        return VoicesPublic(voices=[service.to_public(v, ctx.storage) for v in voices], total=len(voices))


@router.get("/voices/{voice_id}", response_model=VoicePublic, responses={404: {"model": ErrorResponse}})
def get_voice(voice_id: str, ctx: ContextDep, session: SessionDep) -> VoicePublic:
    voice = service.get_voice(session, parse_id(voice_id, "voice", "invalid_voice_id"))
    return service.to_public(voice, ctx.storage)


@router.patch("/voices/{voice_id}", response_model=VoicePublic, responses={404: {"model": ErrorResponse}})
def update_voice(voice_id: str, change: VoiceUpdate, ctx: ContextDep, session: SessionDep) -> VoicePublic:
    """Rename a voice, or correct its transcript (which invalidates cached clone prompts)."""
    voice = service.update_voice(session, ctx, parse_id(voice_id, "voice", "invalid_voice_id"), change)
    return service.to_public(voice, ctx.storage)


@router.delete("/voices/{voice_id}", status_code=204, responses={404: {"model": ErrorResponse}})
def delete_voice(voice_id: str, ctx: ContextDep, session: SessionDep) -> Response:
    """Delete a voice and its reference audio. Its past generations stay in the history."""
    service.delete_voice(session, ctx, parse_id(voice_id, "voice", "invalid_voice_id"))
    return Response(status_code=204)
