"""Building a running Utter: the application context and the generations runner, the same way for
`utter serve` (main.create_app) and `utter worker` (cli)."""

from __future__ import annotations

import logging

from . import scratch
from .audio import text_normalization
from .access.keys import AccessKeys
from .adapters.asr import Transcriber, build_multilingual_transcriber, build_transcriber
from .adapters.storage import Storage, build_storage
from .adapters.tts.base import SpeechEngine
from .adapters.tts.registry import build_engine
from .cloning_setup import PICK_UP_SECONDS, CloningSetup
from .config import AsrChoice, Settings
from .context import AppContext
from .database import make_engine, make_sessionmaker, migrate
from .design import previews
from .generations import dialogue_speech, speech
from .generations.runner import Runner
from .heap import freeze_long_lived
from .models import GenerationKind
from .voices.transcription import Transcriptions

log = logging.getLogger("utter")


def build_context(settings: Settings, *, engine: SpeechEngine | None = None, storage: Storage | None = None,
                  transcriber: Transcriber | None = None, transcripts: bool = True,
                  run_migrations: bool = True) -> AppContext:
    """Everything a process needs, built from settings; tests may pass a ready engine, storage or transcriber.

    `transcripts=False` leaves out the transcription of reference clips (a worker process makes no
    voices); its generations are still heard back. A transcriber passed in is still switched off by
    UTTER_ASR=off.
    """
    scratch.sweep_dead()  # what a killed process left in the temporary folder
    if run_migrations:
        migrate(settings)
    db = make_engine(settings)
    sessions = make_sessionmaker(db)
    store = storage or build_storage(settings)
    recogniser = multilingual = None
    if settings.asr != AsrChoice.OFF:
        # Built, not loaded: a model loads on first use (a worker's first check of a generation).
        recogniser = transcriber or build_transcriber(settings)
        multilingual = build_multilingual_transcriber(settings)
    return AppContext(settings=settings, db=db, sessions=sessions, storage=store,
                      engine=engine or build_engine(settings), access=AccessKeys(sessions, settings.api_key),
                      recogniser=recogniser, multilingual_recogniser=multilingual,
                      transcriptions=Transcriptions(recogniser, sessions, store) if recogniser and transcripts else None)


def worker_threads(ctx: AppContext, asked: int | None) -> int:
    """Threads to run generations with: as asked, else as many as the engine serves at once."""
    return ctx.engine.info.capabilities.max_concurrent if asked is None else asked


def switch_engine(ctx: AppContext, engine: SpeechEngine, runner: Runner | None) -> None:
    """Put a loaded engine in place while the process runs (cloning switched on in the studio).

    One assignment: a generation reads `ctx.engine` once when it starts, so those in hand finish
    on the old engine and the next ones start on this one. The old engine is not closed under
    them; it goes with the last generation that holds it.
    """
    old = ctx.engine
    ctx.engine = engine
    if runner is not None and ctx.settings.workers is None:
        runner.ensure_threads(worker_threads(ctx, None))
    freeze_long_lived()  # the new model's objects live as long as the process, as at a start
    ctx.wake.set()
    log.info("engine.switched from=%s to=%s reason=%s", old.info.name, engine.info.name, engine.info.reason)


def cloning_setup(ctx: AppContext, runner: Runner | None) -> CloningSetup:
    """Switching cloning on for this process: it swaps the engine in `ctx` when done. With a runner (call this
    before starting it), the runner also looks now and then for weights another process switched on."""
    setup = CloningSetup(ctx.settings, current_engine=lambda: ctx.engine,
                         switch=lambda engine: switch_engine(ctx, engine, runner))
    if runner is not None:
        runner.every(PICK_UP_SECONDS, "cloning.pick_up", setup.pick_up)
    return setup


def build_runner(ctx: AppContext, threads: int | None = None) -> Runner:
    """A runner for every kind of generation, with its housekeeping registered."""
    runner = Runner(ctx, worker_threads(ctx, threads))
    runner.handle(GenerationKind.SPEECH, speech.speak)
    runner.handle(GenerationKind.DIALOGUE, dialogue_speech.speak_dialogue)
    previews.register(runner)
    if (text_normalization.applies(ctx.settings.text_normalization, ctx.engine.info.capabilities.needs_normalized_text)
            and text_normalization.available()):
        text_normalization.warm_up_in_background()  # the first generation should not wait ~40 s for the grammars
    return runner
