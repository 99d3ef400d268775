from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from ..audio import text_normalization
from ..database import check_database
from ..languages import LANGUAGE_NAMES
from .deps import ContextDep

router = APIRouter(prefix="/api", tags=["system"])


def engine_summary(ctx) -> dict:
    """The running engine as the API and the pages show it; `setup` is switching cloning on (its state, progress)."""
    info = ctx.engine.info
    caps = asdict(info.capabilities)
    caps["languages"] = [{"code": c, "name": LANGUAGE_NAMES.get(c, c)} for c in info.capabilities.languages]
    # Whether pronunciation rules' IPA phonemes are read (else their aliases are said); how is the engine's affair.
    caps["phonemes"] = caps.pop("phoneme_markup") is not None
    caps.pop("phoneme_symbols")
    return {"name": info.name, "label": info.label, "reason": info.reason, "capabilities": caps,
            "details": info.details, "expected_speed": ctx.engine.expected_speed(),
            "text_normalization": text_normalization.status(ctx.settings.text_normalization,
                                                            info.capabilities.needs_normalized_text),
            "setup": ctx.cloning.status() if ctx.cloning is not None else None}


@router.get("/health")
def health(ctx: ContextDep) -> JSONResponse:
    """Database, storage and engine status; 503 when the database or storage is unusable."""
    database = check_database(ctx.db)
    storage = ctx.storage.health()
    ok = database["status"] == "ok" and storage["status"] == "ok"
    body = {"status": "ok" if ok else "error", "database": database, "storage": storage,
            "engine": engine_summary(ctx)}
    return JSONResponse(body, status_code=200 if ok else 503)


@router.get("/engine")
def engine(ctx: ContextDep) -> dict:
    """What the running engine can do: clone? design? which languages? the text limit."""
    summary = engine_summary(ctx)
    summary["max_text_chars"] = ctx.settings.max_text_chars
    return summary
