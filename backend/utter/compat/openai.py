"""OpenAI's speech API: `OpenAI(base_url="http://HOST/v1")` speaks with Utter's voices.

POST /v1/audio/speech, and OpenAI's custom-voice API (consent recordings, then voices
made from a sample under a consent). Errors come as {"error": {message, type, param, code}}.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from ..api.deps import ContextDep, SessionDep
from ..database import session_scope
from ..errors import UtterError
from ..languages import LANGUAGE_NAMES
from ..models import VoiceConsent
from ..validation import check_speed, parse_id
from ..voices import consents
from ..voices import service as voices
from ..voices.uploads import clone_from_samples
from . import speech
from .errors import OpenAIRoute
from .formats import OPENAI_FORMATS

router = APIRouter(prefix="/v1/audio", tags=["openai-compatible"], route_class=OpenAIRoute)


class VoiceRef(BaseModel):
    id: str


class SpeechRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    model: str = Field("", description="Any name: Utter speaks with its configured engine (see X-Utter-Engine)")
    input: str
    voice: str | VoiceRef = Field(description="A Utter voice id or name, or {\"id\": ...}")
    response_format: str = "mp3"
    speed: float | None = None
    instructions: str | None = None
    stream_format: str = "audio"


@router.post("/speech", response_class=StreamingResponse,
             responses={200: {"content": {f.media_type: {} for f in OPENAI_FORMATS.values()}}})
async def create_speech(request: SpeechRequest, ctx: ContextDep, http: Request) -> StreamingResponse:
    """Speak `input` in a Utter voice; the audio streams as it is produced (or as SSE events)."""
    fmt = OPENAI_FORMATS.get(request.response_format)
    if fmt is None:
        raise UtterError(422, "invalid_response_format",
                         f"Unsupported response_format {request.response_format!r}; use one of: "
                         f"{', '.join(OPENAI_FORMATS)}.", field="response_format")
    if request.stream_format not in ("audio", "sse"):
        raise UtterError(422, "invalid_stream_format", "stream_format must be 'audio' or 'sse'.",
                         field="stream_format")
    voice = request.voice.id if isinstance(request.voice, VoiceRef) else request.voice
    generation = await run_in_threadpool(speech.submit_speech, ctx, voice, request.input, language=None,
                                         speed=check_speed(request.speed), text_field="input")
    headers = speech.speech_headers(ctx, generation, request.instructions)
    body = await speech.audio_stream(ctx, generation, fmt, http.is_disconnected)
    if request.stream_format == "sse":
        return StreamingResponse(_sse(body), media_type="text/event-stream", headers=headers)
    return StreamingResponse(body, media_type=fmt.media_type, headers=headers)


async def _sse(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """OpenAI's speech events: base64 audio in speech.audio.delta, then speech.audio.done."""
    async for chunk in chunks:
        if chunk:
            event = {"type": "speech.audio.delta", "audio": base64.b64encode(chunk).decode()}
            yield f"data: {json.dumps(event)}\n\n".encode()
    done = {"type": "speech.audio.done", "usage": {"input_tokens": 0, "output_tokens": 0, "total_tokens": 0}}
    yield f"data: {json.dumps(done)}\n\n".encode()


def _consent_json(consent: VoiceConsent) -> dict[str, Any]:
    return {"id": str(consent.id), "object": "audio.voice_consent", "name": consent.name,
            "language": consent.language, "created_at": int(consent.created_at.timestamp())}


@router.post("/voice_consents")
def upload_consent(ctx: ContextDep, session: SessionDep,
                   recording: Annotated[UploadFile, File(description="The speaker agreeing to be cloned")],
                   name: Annotated[str, Form()], language: Annotated[str, Form()] = "und") -> dict[str, Any]:
    """Keep a consent recording; voices are then created under it (`consent`)."""
    return _consent_json(consents.create_consent(session, ctx, name=name, language=language, recording=recording))


@router.get("/voice_consents")
def list_consents(session: SessionDep, after: str | None = None,
                  limit: Annotated[int, Query(ge=1, le=100)] = 20) -> dict[str, Any]:
    """Consent recordings, newest first, a cursor page at a time."""
    rows = consents.list_consents(session, limit=limit + 1, after=after)
    page = [_consent_json(c) for c in rows[:limit]]
    return {"object": "list", "data": page, "has_more": len(rows) > limit,
            "first_id": page[0]["id"] if page else None, "last_id": page[-1]["id"] if page else None}


@router.get("/voice_consents/{consent_id}")
def retrieve_consent(consent_id: str, session: SessionDep) -> dict[str, Any]:
    return _consent_json(consents.get_consent(session, consent_id))


class ConsentUpdate(BaseModel):
    name: str


@router.post("/voice_consents/{consent_id}")
def update_consent(consent_id: str, change: ConsentUpdate, session: SessionDep) -> dict[str, Any]:
    return _consent_json(consents.rename_consent(session, consent_id, change.name))


@router.delete("/voice_consents/{consent_id}")
def remove_consent(consent_id: str, ctx: ContextDep, session: SessionDep) -> dict[str, Any]:
    """Refused while a voice made under this consent exists."""
    consent = consents.delete_consent(session, ctx, consent_id)
    return {"id": str(consent.id), "object": "audio.voice_consent", "deleted": True}


@router.post("/voices")
async def create_voice(ctx: ContextDep, name: Annotated[str, Form()],
                 consent: Annotated[str | None, Form()] = None,
                 audio_sample: Annotated[UploadFile | None, File()] = None,
                 type: Annotated[str | None, Form()] = None) -> dict[str, Any]:
    """Clone a voice from `audio_sample` under a consent recording; it becomes an ordinary Utter voice."""
    if type not in (None, "", "audio_sample"):
        raise UtterError(422, "voice_type_unsupported",
                         f"Voices of type {type!r} cannot be made here; Utter clones from an audio_sample.",
                         field="type")
    if not consent:
        raise UtterError(422, "consent_missing", "A voice needs the id of its consent recording (consent).",
                         field="consent")
    if audio_sample is None:
        raise UtterError(422, "audio_missing", "Send the voice's audio_sample.", field="audio_sample")

    def clone() -> uuid.UUID:
        with session_scope(ctx.sessions) as session:
            record = consents.get_consent(session, consent)
            base = record.language.split("-")[0].lower()
            return clone_from_samples(session, ctx, name=name, samples=[audio_sample], consent=record,
                                      language=base if base in LANGUAGE_NAMES else None).id

    voice = await voices.settled(ctx, await run_in_threadpool(clone))
    return {"id": str(voice.id), "object": "audio.voice", "name": voice.name,
            "created_at": int(voice.created_at.timestamp()), "type": "audio_sample"}


@router.delete("/voices/{voice_id}")
def delete_voice(voice_id: str, ctx: ContextDep, session: SessionDep) -> dict[str, Any]:
    """Delete the voice (its consent recording stays, as OpenAI's does)."""
    try:
        parsed = parse_id(voice_id, "voice", "voice_not_found")
    except UtterError:
        raise UtterError(404, "voice_not_found", f"No voice {voice_id!r} exists.") from None
    voices.delete_voice(session, ctx, parsed)
    return {"id": voice_id, "object": "audio.voice.deleted", "deleted": True}
