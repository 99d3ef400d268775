"""ElevenLabs' text to speech with timestamps: the audio and when each character of the text is spoken.

`client.text_to_speech.convert_with_timestamps(...)` answers one JSON object: `audio_base64` (the
whole audio in `output_format`), `alignment` (every character of the text as sent, with start and
end seconds) and `normalized_alignment` (the same for the words the engine was given: after
pronunciation rules and numbers said in words). `stream_with_timestamps(...)` answers one JSON
object a line as the audio is made; the character times come with the last piece of audio, as
Utter aligns the words once the whole audio exists (generations/timings.py). Times are seconds from
the start of the audio. The speech is an ordinary generation, in /history with its timings.

`client.text_to_dialogue.convert_with_timestamps(...)` and `stream_with_timestamps(...)` do the same
for a script: the characters are those of the lines' texts joined by single spaces, and
`voice_segments` says where each line lies, in seconds and in characters, and in which voice.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool

from ..api.deps import ContextDep
from ..context import AppContext
from ..errors import UtterError
from ..generations import dialogue, timings
from ..models import Generation
from ..pronunciation.service import Locator
from ..validation import check_speed
from . import speech
from .elevenlabs import TextToDialogueRequest, TextToSpeechRequest, _format, queue_dialogue
from .errors import ElevenLabsRoute

router = APIRouter(tags=["elevenlabs-compatible"], route_class=ElevenLabsRoute)


async def _submit(ctx: AppContext, voice_id: str, request: TextToSpeechRequest) -> Generation:
    language = speech.language_for(ctx, request.language_code)
    # Refused before anything is spoken: the caller asked for timings, and none could be made.
    aligner, why_not = timings.aligner_for(language, ctx.recogniser, ctx.multilingual_recogniser)
    if aligner is None:
        raise UtterError(422, why_not["error"]["code"], why_not["error"]["message"])
    speed = request.voice_settings.speed if request.voice_settings else None
    dictionaries = [Locator(d.pronunciation_dictionary_id, d.version_id)
                    for d in request.pronunciation_dictionary_locators or ()]
    return await run_in_threadpool(speech.submit_speech, ctx, voice_id, request.text, language=request.language_code,
                                   speed=check_speed(speed), text_field="text", dictionaries=dictionaries)


def _alignments(ctx: AppContext, generation: Generation) -> dict[str, Any]:
    """`alignment` and `normalized_alignment` of a finished generation (null when it has no timings)."""
    with ctx.sessions() as session:
        record = session.get(Generation, generation.id).timings
    if not record or record.get("words") is None:
        return {"alignment": None, "normalized_alignment": None}
    spoken_text, spoken = timings.laid_out(record["spoken"])
    return {"alignment": timings.character_alignment(generation.text, record["words"]),
            "normalized_alignment": timings.character_alignment(spoken_text, spoken)}


@router.post("/v1/text-to-speech/{voice_id}/with-timestamps")
async def text_to_speech_with_timestamps(voice_id: str, request: TextToSpeechRequest, ctx: ContextDep, http: Request,
                                         output_format: Annotated[str | None, Query()] = None) -> JSONResponse:
    """Speak `text` and say when each of its characters is spoken."""
    fmt = _format(output_format)
    generation = await _submit(ctx, voice_id, request)
    audio = b"".join([chunk async for chunk in await speech.audio_stream(ctx, generation, fmt, http.is_disconnected)])
    body = {"audio_base64": base64.b64encode(audio).decode("ascii"),
            **await run_in_threadpool(_alignments, ctx, generation)}
    return JSONResponse(body, headers=_headers(ctx, generation))


@router.post("/v1/text-to-speech/{voice_id}/stream/with-timestamps", response_class=StreamingResponse)
async def text_to_speech_stream_with_timestamps(voice_id: str, request: TextToSpeechRequest, ctx: ContextDep,
                                                http: Request,
                                                output_format: Annotated[str | None, Query()] = None
                                                ) -> StreamingResponse:
    """The same as lines of JSON while the audio is made; the character times come with its last piece."""
    fmt = _format(output_format)
    generation = await _submit(ctx, voice_id, request)
    audio = await speech.audio_stream(ctx, generation, fmt, http.is_disconnected)
    return StreamingResponse(_lines(ctx, generation, audio), media_type="application/json",
                             headers=_headers(ctx, generation))


async def _lines(ctx: AppContext, generation: Generation, audio: AsyncIterator[bytes],
                 alignments: Callable[[AppContext, Generation], dict[str, Any]] = _alignments,
                 pending: dict[str, Any] | None = None) -> AsyncIterator[bytes]:
    """`pending` is what a piece before the last says in place of the alignments."""
    held = None  # one piece is held back, so the last one can carry the alignment
    async for chunk in audio:
        if not chunk:
            continue
        if held is not None:
            yield _line(held, pending or {"alignment": None, "normalized_alignment": None})
        held = chunk
    yield _line(held or b"", await run_in_threadpool(alignments, ctx, generation))


def _line(audio: bytes, alignments: dict[str, Any]) -> bytes:
    return (json.dumps({"audio_base64": base64.b64encode(audio).decode("ascii"), **alignments}) + "\n").encode()


def _headers(ctx: AppContext, generation: Generation) -> dict[str, str]:
    return speech.speech_headers(ctx, generation) | {"history-item-id": str(generation.id),
                                                     "request-id": str(generation.id)}


# A dialogue's pieces before the last: the alignment and the lines' places come with the last.
_DIALOGUE_PENDING = {"alignment": None, "normalized_alignment": None, "voice_segments": []}


def _dialogue_alignments(ctx: AppContext, generation: Generation) -> dict[str, Any]:
    """A finished dialogue's alignments over its lines' texts joined by spaces, and each line's
    `voice_segments` entry (its voice, seconds, and characters in that text)."""
    with ctx.sessions() as session:
        row = session.get(Generation, generation.id)
        record, lines = row.timings, row.lines or []
    texts = [line["text"] for line in lines]
    starts, position = [], 0
    for text in texts:
        starts.append(position)
        position += len(text) + 1
    segments = [{"voice_id": line["voice_id"], "start_time_seconds": line.get("start") or 0.0,
                 "end_time_seconds": line.get("end") or 0.0, "character_start_index": starts[index],
                 "character_end_index": starts[index] + len(texts[index]), "dialogue_input_index": index}
                for index, line in enumerate(lines)]
    if not record or record.get("words") is None:
        return {**_DIALOGUE_PENDING, "voice_segments": segments}
    # Stored offsets count in the row's text ("Name: words" a line); here, in the lines' texts joined.
    in_script = dialogue.line_offsets(lines)
    words = [{**word, "offset": word["offset"] - in_script[word["line"]] + starts[word["line"]]}
             for word in record["words"]]
    spoken_text, spoken = timings.laid_out(record["spoken"])
    return {"alignment": timings.character_alignment(" ".join(texts), words),
            "normalized_alignment": timings.character_alignment(spoken_text, spoken), "voice_segments": segments}


async def _submit_dialogue(ctx: AppContext, request: TextToDialogueRequest) -> Generation:
    aligner, why_not = timings.aligner_for(speech.language_for(ctx, request.language_code), ctx.recogniser,
                                           ctx.multilingual_recogniser)
    if aligner is None:  # refused before anything is spoken, as for speech
        raise UtterError(422, why_not["error"]["code"], why_not["error"]["message"])
    return await queue_dialogue(request, ctx)


@router.post("/v1/text-to-dialogue/with-timestamps")
async def text_to_dialogue_with_timestamps(request: TextToDialogueRequest, ctx: ContextDep, http: Request,
                                           output_format: Annotated[str | None, Query()] = None) -> JSONResponse:
    """Speak a script and say when each character of its lines is spoken, and where each line lies."""
    fmt = _format(output_format)
    generation = await _submit_dialogue(ctx, request)
    audio = b"".join([chunk async for chunk in await speech.audio_stream(ctx, generation, fmt, http.is_disconnected)])
    body = {"audio_base64": base64.b64encode(audio).decode("ascii"),
            **await run_in_threadpool(_dialogue_alignments, ctx, generation)}
    return JSONResponse(body, headers=_headers(ctx, generation))


@router.post("/v1/text-to-dialogue/stream/with-timestamps", response_class=StreamingResponse)
async def text_to_dialogue_stream_with_timestamps(request: TextToDialogueRequest, ctx: ContextDep, http: Request,
                                                  output_format: Annotated[str | None, Query()] = None
                                                  ) -> StreamingResponse:
    """The same as lines of JSON while the lines are spoken; the times come with the last piece."""
    fmt = _format(output_format)
    generation = await _submit_dialogue(ctx, request)
    audio = await speech.audio_stream(ctx, generation, fmt, http.is_disconnected)
    return StreamingResponse(_lines(ctx, generation, audio, _dialogue_alignments, _DIALOGUE_PENDING),
                             media_type="application/json", headers=_headers(ctx, generation))
