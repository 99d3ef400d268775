"""Designing voices: queue previews for a description, read them back, save one as a voice.

A preview is a task in the generations queue (kind "design"), so previews get the
same workers, leases, retries and crash recovery as speech; the history leaves them out.
"""

from __future__ import annotations

import logging
import uuid
from pathlib import Path

from sqlalchemy.orm import Session

from .. import scratch
from ..adapters.storage import ObjectMissing, generated_key, preview_key, reference_key
from ..audio import codec
from ..audio.markup import plain_text
from ..context import AppContext
from ..errors import UtterError
from ..generations import repository
from ..generations.schemas import GenerationError
from ..generations.service import admit
from ..models import Generation, GenerationKind, GenerationStatus, TranscriptSource, Voice, VoiceSource
from ..validation import clean_language, clean_name, clean_text, parse_id, printable
from ..voices import service as voices
from .schemas import DesignPublic, DesignRequest, PreviewPublic, SavePreviewRequest

log = logging.getLogger("utter.design")

MAX_DESCRIPTION_CHARS = 1000
MAX_PREVIEW_CHARS = 500  # one engine call
MAX_CANDIDATES = 3
# About ten seconds of speech: the length a reference clip should have for cloning.
DEFAULT_PREVIEW_TEXT = ("Hello! This is a preview of a new voice, made from nothing but a description. "
                        "If you like how it sounds, save it to your library, and it will read anything you write.")


def unsupported_message(ctx: AppContext) -> str:
    info = ctx.engine.info
    if info.name == "qwen":
        how = ("Set UTTER_QWEN_DESIGN_MODEL to the Qwen3-TTS VoiceDesign model "
               "(Qwen/Qwen3-TTS-12Hz-1.7B-VoiceDesign) and run `utter download-models`.")
    elif info.name == "modal":
        how = "Deploy the voice-design Modal app (modal_app/qwen3_tts/app_voice_design.py) and set UTTER_MODAL_DESIGN_APP_NAME."
    else:
        how = ("Voice design needs Qwen3-TTS VoiceDesign: run Utter with UTTER_ENGINE=qwen on a machine with an "
               "NVIDIA GPU, or with UTTER_ENGINE=modal and the Modal apps deployed (see the README).")
    return f"The running engine, {info.label}, cannot design voices. {how}"


def submit(session: Session, ctx: AppContext, request: DesignRequest) -> list[Generation]:
    """Queue one preview per candidate; they share a design id."""
    caps = ctx.engine.info.capabilities
    # Checked first: with an engine that cannot design, nothing about the request can be fixed by retrying it.
    if not caps.can_design:
        raise UtterError(409, "design_unsupported", unsupported_message(ctx))
    description = printable(request.description, "description")
    if not description:
        raise UtterError(422, "description_empty",
                         "Describe the voice: gender, age, accent, tone, pace.", field="description")
    if len(description) > MAX_DESCRIPTION_CHARS:
        raise UtterError(422, "description_too_long",
                         f"The description is {len(description)} characters long; the limit is "
                         f"{MAX_DESCRIPTION_CHARS}.", field="description")
    # A preview is one short clip (and becomes the saved voice's transcript): tags are left out.
    text = DEFAULT_PREVIEW_TEXT if request.text is None else " ".join(
        plain_text(clean_text(request.text, MAX_PREVIEW_CHARS, "text")).split())
    if not 1 <= request.candidates <= MAX_CANDIDATES:
        raise UtterError(422, "candidates_out_of_range",
                         f"Ask for 1 to {MAX_CANDIDATES} candidates.", field="candidates")
    language = clean_language(request.language, caps.languages)
    design_id = uuid.uuid4()
    previews = [
        Generation(id=uuid.uuid4(), kind=GenerationKind.DESIGN, design_id=design_id, candidate=number,
                   description=description, voice_name=f"Design candidate {number}", text=text, language=language,
                   status=GenerationStatus.QUEUED, engine=ctx.engine.info.name)
        for number in range(1, request.candidates + 1)
    ]
    admit(session, ctx, previews)
    log.info("design.submitted id=%s candidates=%d", design_id, request.candidates)
    return previews


def get_design(session: Session, design_id: str) -> list[Generation]:
    previews = repository.design_previews(session, parse_id(design_id, "design", "invalid_design_id"))
    if not previews:
        raise UtterError(404, "design_not_found", "No design with that id exists.")
    return previews


def get_preview(session: Session, preview_id: str) -> Generation:
    parsed = parse_id(preview_id, "preview", "invalid_preview_id")
    preview = repository.get(session, parsed)
    if preview is None or preview.kind != GenerationKind.DESIGN:
        raise UtterError(404, "preview_not_found", "No design preview with that id exists.")
    return preview


def delete_design(session: Session, ctx: AppContext, design_id: str) -> None:
    """Delete every preview of a design, rows and files.

    A voice saved from one of them is unaffected: saving copied the preview's WAV to the
    voice's own reference key. A worker still running a preview notices its row is gone
    and discards its own output.
    """
    previews = get_design(session, design_id)
    ids = [p.id for p in previews]
    keys = [key for p in previews for key in preview_keys(p.id, p.output_key)]
    repository.delete_rows(session, ids)
    for key in keys:
        ctx.storage.delete(key)
    log.info("design.deleted id=%s previews=%d", previews[0].design_id, len(ids))


def preview_keys(preview_id: uuid.UUID, output_key: str | None) -> set[str]:
    """Both files of a preview: the MP3 to listen to and the WAV kept for saving it."""
    return {generated_key(str(preview_id)), preview_key(str(preview_id)), output_key} - {None}


def save_preview(session: Session, ctx: AppContext, preview_id: str, request: SavePreviewRequest) -> Voice:
    """Keep a finished preview as a voice: its audio is the reference, its text the (typed) transcript.

    This is Qwen3-TTS's design-then-clone recipe. The clone page's 10-second minimum and
    no-speech refusal are for recordings of people; a preview is the design model's own
    clean speech of a known text, so it is kept whole, whatever its length.
    """
    preview = get_preview(session, preview_id)
    name = clean_name(request.name)
    if preview.voice_id is not None:
        raise UtterError(409, "preview_already_saved", "This preview is already saved as a voice.")
    if preview.status != GenerationStatus.DONE:
        raise UtterError(409, "preview_not_ready", f"This preview has no audio yet ({preview.status}).")
    voice = Voice(id=uuid.uuid4(), name=name, reference_transcript=preview.text,
                  transcript_source=TranscriptSource.TYPED, transcription=None, language=preview.language,
                  source=VoiceSource.DESIGNED, description=preview.description, original_format="wav")
    voice.reference_key = reference_key(str(voice.id))
    with scratch.folder("design") as tmp:
        wav = Path(tmp) / "preview.wav"
        try:
            ctx.storage.download(preview_key(str(preview.id)), wav)
        except ObjectMissing:
            raise UtterError(410, "preview_missing", "The audio of this preview is missing from storage; "
                                                     "design again.") from None
        decoded = codec.decode(wav)
        voice.reference_seconds = decoded.duration
        voice.reference_check = voices.measure_or_none(decoded)
        ctx.storage.put_file(voice.reference_key, wav, "audio/wav")
    try:
        session.add(voice)
        session.flush()
        if not repository.claim_preview_for_voice(session, preview.id, voice.id):
            raise UtterError(409, "preview_already_saved", "This preview is already saved as a voice.")
        session.commit()
    except BaseException:
        session.rollback()
        ctx.storage.delete(voice.reference_key)
        raise
    log.info("design.saved preview=%s voice=%s seconds=%.1f", preview.id, voice.id, voice.reference_seconds)
    return voice


def preview_public(preview: Generation, ctx: AppContext) -> PreviewPublic:
    done = preview.status == GenerationStatus.DONE and preview.output_key
    return PreviewPublic(
        id=preview.id,
        design_id=preview.design_id,
        candidate=preview.candidate or 1,
        status=preview.status,
        status_url=f"/api/design/previews/{preview.id}",
        audio_url=ctx.storage.url(preview.output_key) if done else None,
        duration_seconds=round(preview.duration_seconds, 3) if preview.duration_seconds is not None else None,
        save_url=f"/api/design/previews/{preview.id}/save",
        voice_id=preview.voice_id,
        error=GenerationError(code=preview.error_code, message=preview.error_message or "")
        if preview.error_code else None,
        created_at=preview.created_at,
        finished_at=preview.finished_at,
    )


def design_public(previews: list[Generation], ctx: AppContext) -> DesignPublic:
    first = previews[0]
    statuses = {p.status for p in previews}
    if not all(GenerationStatus(s).finished for s in statuses):
        status = "running"
    elif GenerationStatus.DONE in statuses:
        status = "done"
    else:
        status = "failed"
    return DesignPublic(
        id=first.design_id, status=status, status_url=f"/api/design/{first.design_id}",
        description=first.description or "", text=first.text, language=first.language, engine=first.engine,
        previews=[preview_public(p, ctx) for p in previews],
    )
