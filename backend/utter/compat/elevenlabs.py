"""ElevenLabs' API: `ElevenLabs(base_url="http://HOST")` speaks with Utter's voices.

Text to speech (whole or streamed) in every output format ElevenLabs names, the voice
library (v1 list, v2 search, get, delete, instant voice cloning from several files),
models and history. Errors come as {"detail": {"status", "message"}}.
"""

from __future__ import annotations

import json
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel, ConfigDict
from starlette.concurrency import run_in_threadpool

from ..api.deps import ContextDep, SessionDep
from ..context import AppContext
from ..database import session_scope
from ..errors import UtterError
from ..generations import dialogue
from ..generations import service as generations
from ..models import Generation, GenerationStatus, Voice
from ..languages import LANGUAGE_NAMES
from ..pronunciation.service import Locator
from ..validation import check_speed
from ..voices import service as voices
from ..voices.uploads import clone_from_samples
from . import speech
from .errors import ElevenLabsRoute
from ..audio.transcode import OutputFormat, finish_wav
from .formats import ELEVENLABS_DEFAULT, ELEVENLABS_FORMATS, elevenlabs_format

router = APIRouter(tags=["elevenlabs-compatible"], route_class=ElevenLabsRoute)

MODEL_ID = "utter"


class VoiceSettings(BaseModel):
    model_config = ConfigDict(extra="ignore")

    speed: float | None = None  # the one setting Utter's engines honour; stability, style etc. are ignored


class DictionaryLocator(BaseModel):
    model_config = ConfigDict(extra="ignore")

    pronunciation_dictionary_id: str
    version_id: str | None = None  # the latest when left out


class TextToSpeechRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    text: str
    model_id: str | None = None
    language_code: str | None = None
    voice_settings: VoiceSettings | None = None
    pronunciation_dictionary_locators: list[DictionaryLocator] | None = None  # applied in order, then the voice's
    seed: int | None = None


class DialogueInput(BaseModel):
    model_config = ConfigDict(extra="ignore")

    text: str | None = None
    voice_id: str | None = None  # a Utter voice's id, or its name


class TextToDialogueRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    inputs: list[DialogueInput]
    model_id: str | None = None
    language_code: str | None = None
    settings: dict[str, Any] | None = None  # stability and the like: no Utter engine takes them
    pronunciation_dictionary_locators: list[DictionaryLocator] | None = None  # for every line, then each line's voice's
    seed: int | None = None


def _format(name: str | None) -> OutputFormat:
    fmt = elevenlabs_format(name or ELEVENLABS_DEFAULT)
    if fmt is None:
        raise UtterError(422, "invalid_output_format",
                         f"Unsupported output_format {name!r}; use one of: {', '.join(ELEVENLABS_FORMATS)}.")
    return fmt


async def _speak(voice_id: str, request: TextToSpeechRequest, output_format: str | None, ctx: AppContext,
                 http: Request, *, whole: bool) -> Response:
    fmt = _format(output_format)
    speed = request.voice_settings.speed if request.voice_settings else None
    dictionaries = [Locator(d.pronunciation_dictionary_id, d.version_id)
                    for d in request.pronunciation_dictionary_locators or ()]
    generation = await run_in_threadpool(speech.submit_speech, ctx, voice_id, request.text,
                                         language=request.language_code, speed=check_speed(speed), text_field="text",
                                         dictionaries=dictionaries)
    return await _audio(generation, fmt, ctx, http, whole=whole)


async def _audio(generation: Generation, fmt: OutputFormat, ctx: AppContext, http: Request, *,
                 whole: bool) -> Response:
    """A queued generation's audio in `fmt`: streamed as it is made, or whole (a WAV with its real sizes)."""
    headers = speech.speech_headers(ctx, generation) | {"history-item-id": str(generation.id),
                                                        "request-id": str(generation.id)}
    body = await speech.audio_stream(ctx, generation, fmt, http.is_disconnected)
    if whole and fmt.container == "wav":
        # The whole file is asked for, so its header can carry the real sizes.
        return Response(finish_wav(b"".join([chunk async for chunk in body])), media_type=fmt.media_type,
                        headers=headers)
    return StreamingResponse(body, media_type=fmt.media_type, headers=headers)


@router.post("/v1/text-to-speech/{voice_id}", response_class=Response)
async def text_to_speech(voice_id: str, request: TextToSpeechRequest, ctx: ContextDep, http: Request,
                         output_format: Annotated[str | None, Query()] = None) -> Response:
    """Speak `text` in a Utter voice (id or name), in `output_format` (default mp3_44100_128)."""
    return await _speak(voice_id, request, output_format, ctx, http, whole=True)


@router.post("/v1/text-to-speech/{voice_id}/stream", response_class=StreamingResponse)
async def text_to_speech_stream(voice_id: str, request: TextToSpeechRequest, ctx: ContextDep, http: Request,
                                output_format: Annotated[str | None, Query()] = None) -> Response:
    """The same, streamed chunk by chunk as the text is spoken."""
    return await _speak(voice_id, request, output_format, ctx, http, whole=False)


async def queue_dialogue(request: TextToDialogueRequest, ctx: AppContext) -> Generation:
    """The request's script, checked and queued as one dialogue."""
    script = [dialogue.Line(line.voice_id, line.text) for line in request.inputs]
    dictionaries = [Locator(d.pronunciation_dictionary_id, d.version_id)
                    for d in request.pronunciation_dictionary_locators or ()]
    return await run_in_threadpool(speech.submit_dialogue, ctx, script, language=request.language_code,
                                   dictionaries=dictionaries)


async def _dialogue(request: TextToDialogueRequest, output_format: str | None, ctx: AppContext, http: Request, *,
                    whole: bool) -> Response:
    fmt = _format(output_format)
    generation = await queue_dialogue(request, ctx)
    return await _audio(generation, fmt, ctx, http, whole=whole)


@router.post("/v1/text-to-dialogue", response_class=Response)
async def text_to_dialogue(request: TextToDialogueRequest, ctx: ContextDep, http: Request,
                           output_format: Annotated[str | None, Query()] = None) -> Response:
    """Speak a script (`inputs`: lines of `{text, voice_id}`, a voice by id or name) as one piece of audio,
    each line in its voice; an ordinary dialogue in Utter's history."""
    return await _dialogue(request, output_format, ctx, http, whole=True)


@router.post("/v1/text-to-dialogue/stream", response_class=StreamingResponse)
async def text_to_dialogue_stream(request: TextToDialogueRequest, ctx: ContextDep, http: Request,
                                  output_format: Annotated[str | None, Query()] = None) -> Response:
    """The same, streamed line by line as the lines are spoken."""
    return await _dialogue(request, output_format, ctx, http, whole=False)


def _absolute(request: Request, ctx: AppContext, url: str) -> str:
    """An absolute URL: on the configured public address, else on the one the request used (whose
    Host the request guard has checked)."""
    if "://" in url:
        return url
    return (ctx.settings.public_url or str(request.base_url)).rstrip("/") + url


def _voice_json(voice: Voice, ctx: AppContext, request: Request) -> dict[str, Any]:
    labels = {"language": voice.language, "source": voice.source}
    return {
        "voice_id": str(voice.id),
        "name": voice.name,
        "category": "cloned",
        "labels": labels,
        "description": voice.description,
        "preview_url": _absolute(request, ctx, ctx.storage.url(voice.reference_key)),
        "samples": [{"sample_id": str(voice.id), "file_name": voice.original_filename or "reference.wav",
                     "mime_type": "audio/wav", "duration_secs": round(voice.reference_seconds, 2)}],
        "settings": None,
        "available_for_tiers": [],
        "high_quality_base_model_ids": [MODEL_ID],
        "is_owner": True,
        "created_at_unix": int(voice.created_at.timestamp()),
    }


@router.get("/v1/voices")
def list_voices(ctx: ContextDep, session: SessionDep, request: Request) -> dict[str, Any]:
    return {"voices": [_voice_json(v, ctx, request) for v in voices.list_voices(session)]}


@router.get("/v2/voices")
def search_voices(ctx: ContextDep, session: SessionDep, request: Request, search: str | None = None,
                  page_size: Annotated[int, Query(ge=1, le=100)] = 10,
                  next_page_token: str | None = None) -> dict[str, Any]:
    """Voices whose name contains `search`, `page_size` at a time; `next_page_token` continues."""
    found = voices.list_voices(session, search)
    if next_page_token and not (next_page_token.isdigit() and len(next_page_token) <= 9):
        raise UtterError(422, "invalid_page_token", "next_page_token must be the token a previous page gave.",
                         field="next_page_token")
    start = int(next_page_token) if next_page_token else 0
    page = found[start:start + page_size]
    more = start + page_size < len(found)
    return {"voices": [_voice_json(v, ctx, request) for v in page], "has_more": more,
            "total_count": len(found), "next_page_token": str(start + page_size) if more else None}


def _voice(session, voice_id: str) -> Voice:
    try:
        return voices.get_voice(session, uuid.UUID(voice_id))
    except ValueError:
        raise UtterError(404, "voice_not_found", f"No voice with the id {voice_id!r} exists.") from None


@router.get("/v1/voices/{voice_id}")
def get_voice(voice_id: str, ctx: ContextDep, session: SessionDep, request: Request) -> dict[str, Any]:
    return _voice_json(_voice(session, voice_id), ctx, request)


@router.delete("/v1/voices/{voice_id}")
def delete_voice(voice_id: str, ctx: ContextDep, session: SessionDep) -> dict[str, str]:
    voices.delete_voice(session, ctx, _voice(session, voice_id).id)
    return {"status": "ok"}


@router.post("/v1/voices/add")
async def add_voice(ctx: ContextDep, name: Annotated[str, Form()],
              files: Annotated[list[UploadFile], File(description="One or more samples of the voice")],
              description: Annotated[str | None, Form()] = None,
              labels: Annotated[str | None, Form(description="JSON object; the SDK sends 'null' for none")] = None,
              remove_background_noise: Annotated[str | None, Form()] = None) -> dict[str, Any]:
    """Instant voice cloning: several files make one voice from several samples.

    A refused clone answers 400, never 5xx or 429: the SDK retries those and drops every
    form field except the files when it does. remove_background_noise is accepted and
    not applied (the reference check reports noise instead).
    """
    language = _label_language(labels)

    def clone() -> uuid.UUID:
        with session_scope(ctx.sessions) as session:
            return clone_from_samples(session, ctx, name=name, samples=files, description=description or None,
                                      language=language).id

    voice = await voices.settled(ctx, await run_in_threadpool(clone))
    return {"voice_id": str(voice.id), "requires_verification": False}


def _label_language(labels: str | None) -> str | None:
    """ElevenLabs labels are free-form; a `language` label naming a language Utter knows is used."""
    try:
        parsed = json.loads(labels) if labels else None
    except ValueError:
        raise UtterError(422, "invalid_labels", "labels must be a JSON object of strings.") from None
    if parsed is not None and not isinstance(parsed, dict):
        raise UtterError(422, "invalid_labels", "labels must be a JSON object of strings.")
    language = str((parsed or {}).get("language", "")).lower()
    return language if language in LANGUAGE_NAMES else None


@router.get("/v1/models")
def list_models(ctx: ContextDep) -> list[dict[str, Any]]:
    """One model: whichever engine this server runs (every model_id is accepted and speaks with it)."""
    info = ctx.engine.info
    limit = ctx.settings.max_text_chars
    return [{
        "model_id": MODEL_ID,
        "name": f"Utter: {info.label}",
        "description": f"{info.label}. {'Speaks in cloned voices.' if info.capabilities.can_clone else 'Cannot clone: every voice is spoken by its one built-in voice.'}",
        "can_do_text_to_speech": True,
        "can_do_voice_conversion": False,
        "can_be_finetuned": False,
        "can_use_style": False,
        "can_use_speaker_boost": False,
        "serves_pro_voices": False,
        "requires_alpha_access": False,
        "token_cost_factor": 0.0,
        "max_characters_request_free_user": limit,
        "max_characters_request_subscribed_user": limit,
        "maximum_text_length_per_request": limit,
        "languages": [{"language_id": code, "name": LANGUAGE_NAMES[code]}
                      for code in info.capabilities.languages if code in LANGUAGE_NAMES],
    }]


_STATES = {GenerationStatus.DONE: "created", GenerationStatus.FAILED: "error", GenerationStatus.CANCELLED: "error"}


def _history_json(generation: Generation) -> dict[str, Any]:
    return {
        "history_item_id": str(generation.id),
        "request_id": str(generation.id),
        "voice_id": str(generation.voice_id) if generation.voice_id else None,
        "model_id": generation.engine or MODEL_ID,
        "voice_name": generation.voice_name,
        "voice_category": "cloned",
        "text": generation.text,
        "date_unix": int(generation.created_at.timestamp()),
        "character_count_change_from": 0,
        "character_count_change_to": len(generation.text),
        "content_type": "audio/mpeg",
        "state": _STATES.get(generation.status, "processing"),
        "settings": {"speed": generation.speed or 1.0, "language": generation.language},
        "source": "TTS",
        "output_format": ELEVENLABS_DEFAULT,
    }


@router.get("/v1/history")
def history(session: SessionDep, page_size: Annotated[int, Query(ge=1, le=1000)] = 100,
            start_after_history_item_id: str | None = None, voice_id: str | None = None,
            search: str | None = None) -> dict[str, Any]:
    """Utter's generations, newest first: the same history the /history page shows."""
    voice = str(_voice(session, voice_id).id) if voice_id else None
    rows, _ = generations.history(session, page_size + 1, voice_id=voice, after=start_after_history_item_id,
                                  search=search)
    page = rows[:page_size]
    return {"history": [_history_json(g) for g in page], "has_more": len(rows) > page_size,
            "last_history_item_id": str(page[-1].id) if page else None}


@router.get("/v1/history/{history_item_id}")
def history_item(history_item_id: str, session: SessionDep) -> dict[str, Any]:
    return _history_json(_generation(session, history_item_id))


@router.get("/v1/history/{history_item_id}/audio", response_class=StreamingResponse)
def history_audio(history_item_id: str, ctx: ContextDep, session: SessionDep) -> StreamingResponse:
    """The generation's MP3 (44.1 kHz, 128 kb/s)."""
    generation = _generation(session, history_item_id)
    if generation.status != GenerationStatus.DONE or not generation.output_key:
        raise UtterError(422, "history_item_not_ready", f"This history item has no audio ({generation.status}).")
    return StreamingResponse(ctx.storage.iter_chunks(generation.output_key), media_type="audio/mpeg")


@router.delete("/v1/history/{history_item_id}")
def delete_history_item(history_item_id: str, ctx: ContextDep, session: SessionDep) -> dict[str, str]:
    generations.delete(session, ctx, str(_generation(session, history_item_id).id))
    return {"status": "ok"}


def _generation(session, history_item_id: str) -> Generation:
    try:
        return generations.get(session, history_item_id)
    except UtterError as exc:
        raise UtterError(404, "history_item_not_found", f"No history item {history_item_id!r} exists.") from exc
