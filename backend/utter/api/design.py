from __future__ import annotations

from fastapi import APIRouter, Response

from ..design import service
from ..design.schemas import DesignPublic, DesignRequest, PreviewPublic, SavePreviewRequest
from ..errors import ErrorResponse
from ..voices import service as voices
from ..voices.schemas import VoicePublic
from .deps import ContextDep, SessionDep

router = APIRouter(prefix="/api", tags=["design"],
                   responses={404: {"model": ErrorResponse}, 422: {"model": ErrorResponse}})


@router.post("/design", status_code=202, response_model=DesignPublic,
             responses={409: {"model": ErrorResponse, "description": "The engine cannot design (design_unsupported)"},
                        503: {"model": ErrorResponse, "description": "The queue is full"}})
def design(request: DesignRequest, ctx: ContextDep, session: SessionDep, response: Response) -> DesignPublic:
    """Make 1–3 candidate voices for a description. Poll `status_url`; each preview's audio comes as it finishes."""
    previews = service.submit(session, ctx, request)
    response.headers["Location"] = f"/api/design/{previews[0].design_id}"
    return service.design_public(previews, ctx)


@router.get("/design/{design_id}", response_model=DesignPublic)
def get_design(design_id: str, ctx: ContextDep, session: SessionDep) -> DesignPublic:
    return service.design_public(service.get_design(session, design_id), ctx)


@router.delete("/design/{design_id}", status_code=204)
def delete_design(design_id: str, ctx: ContextDep, session: SessionDep) -> Response:
    """Delete a design's previews and their audio. A voice saved from one keeps working: it has its own copy."""
    service.delete_design(session, ctx, design_id)
    return Response(status_code=204)


@router.get("/design/previews/{preview_id}", response_model=PreviewPublic)
def get_preview(preview_id: str, ctx: ContextDep, session: SessionDep) -> PreviewPublic:
    return service.preview_public(service.get_preview(session, preview_id), ctx)


@router.post("/design/previews/{preview_id}/save", status_code=201, response_model=VoicePublic,
             responses={409: {"model": ErrorResponse, "description": "Already saved, or not finished"}})
def save_preview(preview_id: str, request: SavePreviewRequest, ctx: ContextDep, session: SessionDep) -> VoicePublic:
    """Keep a preview as a voice (source "designed", description kept); it then generates like a cloned voice."""
    voice = service.save_preview(session, ctx, preview_id, request)
    return voices.to_public(voice, ctx.storage)
