"""Page routes. Each page is a template; data comes from the JSON API via small scripts."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from ..api.health import engine_summary

PACKAGE_DIR = Path(__file__).resolve().parent.parent
templates = Jinja2Templates(directory=PACKAGE_DIR / "templates")
router = APIRouter(include_in_schema=False)


def mount_static(app: FastAPI) -> None:
    app.mount("/static", StaticFiles(directory=PACKAGE_DIR / "static"), name="static")


def _render(request: Request, template: str, page: str) -> HTMLResponse:
    ctx = request.app.state.ctx
    return templates.TemplateResponse(request, template, {
        "page": page,
        "engine": engine_summary(ctx),
        "settings": ctx.settings,
    })


@router.get("/", response_class=HTMLResponse)
def home(request: Request) -> HTMLResponse:
    return _render(request, "index.html", "home")
