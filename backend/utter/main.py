"""The FastAPI application: `create_app(settings)` builds everything in its lifespan."""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager

from fastapi import FastAPI

from . import __version__
from .adapters.asr import Transcriber
from .adapters.storage import Storage
from .adapters.tts.base import SpeechEngine
from .api import design, dialogue, engine_setup, files, generations, health, pronunciation, voices
from .bootstrap import build_context, build_runner, cloning_setup, worker_threads
from .compat import elevenlabs, elevenlabs_pronunciation, elevenlabs_timestamps, openai
from .config import Settings
from .errors import install_error_handlers
from .heap import freeze_long_lived
from .limits import BodySizeLimit
from .security import RequestGuard
from .access.gate import AccessGate
from .access import routes as access
from .web import pages

log = logging.getLogger("utter")


def create_app(settings: Settings | None = None, *, engine: SpeechEngine | None = None,
               storage: Storage | None = None, transcriber: Transcriber | None = None,
               run_migrations: bool = True) -> FastAPI:
    """Build the app. Tests may pass a ready engine, storage or transcriber to share them between apps.

    A transcriber passed in is still switched off by UTTER_ASR=off.
    """
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        ctx = build_context(settings, engine=engine, storage=storage, transcriber=transcriber,
                            run_migrations=run_migrations)
        app.state.ctx = ctx
        runner = build_runner(ctx, settings.workers) if worker_threads(ctx, settings.workers) > 0 else None
        app.state.runner = runner
        ctx.cloning = cloning_setup(ctx, runner)
        if runner:
            runner.start()
        ctx.cloning.resume()  # a download an earlier run left unfinished
        transcriptions = ctx.transcriptions
        log.info("utter.started engine=%s storage=%s database=%s asr=%s", ctx.engine.info.name, ctx.storage.name,
                 ctx.db.dialect.name, transcriptions.transcriber.name if transcriptions else "off")
        if transcriptions:
            transcriptions.resume()
        freeze_long_lived()
        try:
            yield
        finally:
            ctx.cloning.stop()
            if runner:
                runner.stop()
            if transcriptions:
                transcriptions.shutdown()
            ctx.db.dispose()

    app = FastAPI(
        title="Utter",
        version=__version__,
        summary="Clone a voice from a short clip, then generate speech with it.",
        lifespan=lifespan,
    )
    app.add_middleware(BodySizeLimit, max_upload_bytes=settings.max_upload_bytes)
    app.add_middleware(AccessGate, rate_limit_per_minute=settings.rate_limit_per_minute)
    app.add_middleware(RequestGuard, settings=settings)  # outermost: refuses before any body is read
    install_error_handlers(app)
    for router in (voices.router, generations.router, dialogue.router, design.router, pronunciation.router, health.router,
                   engine_setup.router, files.router, access.router, openai.router, elevenlabs.router,
                   elevenlabs_pronunciation.router, elevenlabs_timestamps.router, pages.router):
        app.include_router(router)
    pages.mount_static(app)
    return app

