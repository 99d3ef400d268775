"""Page routes. Each page is a template; data comes from the JSON API via small scripts.

Pages carry a strict Content-Security-Policy: no inline script or style anywhere, so
user text that slipped into the markup could never run. Audio may come from another
origin (presigned object-storage URLs), which is why media-src allows https:.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from ..api.health import engine_summary
from ..config import Settings, StorageChoice
from ..design import service as design_service
from ..languages import LANGUAGE_NAMES

PACKAGE_DIR = Path(__file__).resolve().parent.parent
templates = Jinja2Templates(directory=PACKAGE_DIR / "templates")
router = APIRouter(include_in_schema=False)

# Extensions the clone page accepts before asking the server (which decodes to be sure).
UPLOAD_EXTENSIONS = ("wav", "mp3", "m4a", "webm", "ogg", "flac")
UPLOAD_FORMATS = "WAV, MP3, M4A, WebM, Ogg or FLAC"

NAV = (
    ("home", "/", "Home"),
    ("clone", "/clone", "Clone"),
    ("generate", "/generate", "Generate"),
    ("dialogue", "/dialogue", "Dialogue"),
    ("voices", "/voices", "Voices"),
    ("history", "/history", "History"),
    ("pronunciation", "/pronunciation", "Pronunciation"),
    ("design", "/design", "Design"),
)


def mount_static(app: FastAPI) -> None:
    app.mount("/static", StaticFiles(directory=PACKAGE_DIR / "static"), name="static")


def content_security_policy(settings: Settings) -> str:
    connect = "'self'"
    if settings.storage == StorageChoice.R2 and settings.r2_endpoint:
        # The waveform fetches the audio bytes; with R2 they come from the bucket's origin.
        parts = urlsplit(settings.r2_endpoint)
        if parts.scheme and parts.netloc:
            connect += f" {parts.scheme}://{parts.netloc}"
    return ("default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob: https:; "
            f"connect-src {connect}; style-src 'self'; script-src 'self'; object-src 'none'; "
            "base-uri 'self'; frame-ancestors 'none'")


def render_page(request: Request, template: str, page: str, title: str, **extra) -> HTMLResponse:
    ctx = request.app.state.ctx
    settings = ctx.settings
    engine = engine_summary(ctx)
    engine["max_text_chars"] = settings.max_text_chars
    response = templates.TemplateResponse(request, template, {
        "page": page,
        "title": title,
        "nav": NAV,
        "engine": engine,
        "settings": settings,
        "all_languages": [{"code": code, "name": name} for code, name in LANGUAGE_NAMES.items()],
        "upload_extensions": UPLOAD_EXTENSIONS,
        "upload_formats": UPLOAD_FORMATS,
        "keys_required": ctx.access.required(),
        **extra,
    })
    response.headers["Content-Security-Policy"] = content_security_policy(settings)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    return response


@router.get("/", response_class=HTMLResponse)
def home(request: Request) -> HTMLResponse:
    return render_page(request, "index.html", "home", "Utter — your own voice studio")


@router.get("/clone", response_class=HTMLResponse)
def clone(request: Request) -> HTMLResponse:
    return render_page(request, "clone.html", "clone", "Clone a voice")


@router.get("/generate", response_class=HTMLResponse)
def generate(request: Request) -> HTMLResponse:
    return render_page(request, "generate.html", "generate", "Generate speech")


@router.get("/dialogue", response_class=HTMLResponse)
def dialogue(request: Request) -> HTMLResponse:
    return render_page(request, "dialogue.html", "dialogue", "Dialogue")


@router.get("/voices", response_class=HTMLResponse)
def voices(request: Request) -> HTMLResponse:
    return render_page(request, "voices.html", "voices", "Your voices")


@router.get("/history", response_class=HTMLResponse)
def history(request: Request) -> HTMLResponse:
    return render_page(request, "history.html", "history", "History")


@router.get("/pronunciation", response_class=HTMLResponse)
def pronunciation(request: Request) -> HTMLResponse:
    return render_page(request, "pronunciation.html", "pronunciation", "Pronunciation dictionaries")


@router.get("/design", response_class=HTMLResponse)
def design(request: Request) -> HTMLResponse:
    return render_page(request, "design.html", "design", "Design a voice", design={
        "text": design_service.DEFAULT_PREVIEW_TEXT, "max_description": design_service.MAX_DESCRIPTION_CHARS,
        "max_text": design_service.MAX_PREVIEW_CHARS, "max_candidates": design_service.MAX_CANDIDATES,
        "unsupported": design_service.unsupported_message(request.app.state.ctx),
    })
