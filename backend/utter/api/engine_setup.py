"""Switching voice cloning on from the studio: what it takes here, starting it, and how far it got."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from ..errors import UtterError
from .deps import ContextDep

router = APIRouter(prefix="/api/engine", tags=["system"])


def _setup(ctx):
    if ctx.cloning is None:
        raise UtterError(409, "setup_not_offered", "This process does not set up engines.")
    return ctx.cloning


@router.get("/setup")
def setup_status(ctx: ContextDep) -> dict:
    """The state of the Qwen3-TTS set-up (off, downloading, verifying, loading, ready, failed, unavailable),
    its progress, and what it needs here: download size, free disk space, GPU, the speed to expect."""
    setup = _setup(ctx)
    body = setup.status()
    body["needs"] = setup.plan()
    return body


@router.post("/setup", status_code=202)
def start_setup(ctx: ContextDep) -> JSONResponse:
    """Download, check and load Qwen3-TTS in the background, then switch to it without a restart.
    Again after a failure, to retry (a download resumes where it stopped). Refused before anything is
    written: 507 `disk_full`, 502 `hub_unreachable`, 409 `cloning_already_on`, `engine_not_installed`..."""
    return JSONResponse(_setup(ctx).start(), status_code=202)
