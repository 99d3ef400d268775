"""The FastAPI application: `create_app(settings)` builds everything in its lifespan."""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager

from fastapi import FastAPI

from . import __version__
from .api import design, files, generations, health, voices
from .compat import elevenlabs, openai
from .config import AsrChoice, Settings
from .context import AppContext
from .database import make_engine, make_sessionmaker, migrate
from .errors import install_error_handlers
from .heap import freeze_long_lived
from .generations.worker import WorkerPool
from .limits import BodySizeLimit
from .services.storage import Storage, build_storage
from .services.transcribe import Transcriber, build_transcriber
from .services.tts.registry import Engine, build_engine
from .voices.transcription import Transcriptions
from .web import pages

log = logging.getLogger("utter")


def create_app(settings: Settings | None = None, *, engine: Engine | None = None,
               storage: Storage | None = None, transcriber: Transcriber | None = None,
               run_migrations: bool = True) -> FastAPI:
    """Build the app. Tests may pass a ready engine, storage or transcriber to share them between apps.

    A transcriber passed in is still switched off by UTTER_ASR=off.
    """
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        if run_migrations:
            migrate(settings)
        db = make_engine(settings)
        sessions = make_sessionmaker(db)
        store = storage or build_storage(settings)
        recogniser = _transcriber(settings, transcriber)
        transcriptions = Transcriptions(recogniser, sessions, store) if recogniser else None
        ctx = AppContext(settings=settings, db=db, sessions=sessions, storage=store,
                         engine=engine or build_engine(settings), transcriptions=transcriptions)
        app.state.ctx = ctx
        pool = WorkerPool(ctx, settings.workers) if settings.workers > 0 else None
        if pool:
            pool.start()
        log.info("utter.started engine=%s storage=%s database=%s asr=%s", ctx.engine.info.name, ctx.storage.name,
                 db.dialect.name, recogniser.name if recogniser else "off")
        if transcriptions:
            transcriptions.resume()
        freeze_long_lived()
        try:
            yield
        finally:
            if pool:
                pool.stop()
            if transcriptions:
                transcriptions.shutdown()
            db.dispose()

    app = FastAPI(
        title="Utter",
        version=__version__,
        summary="Clone a voice from a short clip, then generate speech with it.",
        lifespan=lifespan,
    )
    app.add_middleware(BodySizeLimit, max_upload_bytes=settings.max_upload_bytes)
    install_error_handlers(app)
    for router in (voices.router, generations.router, design.router, health.router, files.router, openai.router,
                   elevenlabs.router, pages.router):
        app.include_router(router)
    pages.mount_static(app)
    return app


def _transcriber(settings: Settings, given: Transcriber | None) -> Transcriber | None:
    if settings.asr == AsrChoice.OFF:
        return None
    return given or build_transcriber(settings)
