"""Switching voice cloning on while Utter runs: Qwen3-TTS downloaded, checked, loaded and swapped in.

Where the running engine cannot clone (`auto` chose Piper), the home page, /clone and
`utter enable-cloning` offer this. One job per process at a time, in a thread of its own:

    off → downloading → verifying → loading → ready
                                        ↘ failed (a code, a message, and a retry)

While it runs, generations go on with the engine that runs now. When the model has loaded,
`switch` puts the new engine into the application context: generations that started on the
old engine finish on it (each reads `ctx.engine` once), new ones start on Qwen3-TTS, and
voices cloned earlier speak in their own voice, their reference clips having been kept.

A restart loses nothing: the files that arrived stay in models_dir/.downloads/ with the pinned
listing, and the next start resumes the download by itself (`resume`); a failure is kept there
too, so the pages show it until someone retries.
"""

from __future__ import annotations

import json
import logging
import shutil
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from importlib.util import find_spec
from pathlib import Path

from .adapters.tts.base import EngineError, SpeechEngine
from .config import EngineChoice, Settings
from .errors import UtterError

log = logging.getLogger("utter.cloning")

FAILURE_FILE = "failed.json"
# How long a listing from the hub is trusted for what the pages show (the download pins its own).
PLAN_TTL_SECONDS = 600.0
RATE_WINDOW_SECONDS = 5.0
# How often a process looks for weights another process switched on (`pick_up`).
PICK_UP_SECONDS = 10.0

# The HTTP status of each refusal of POST /api/engine/setup (the code is the EngineError's).
REFUSALS = {
    "disk_full": 507,
    "hub_unreachable": 502,
    "model_not_found": 502,
    "download_failed": 502,
    "download_running_elsewhere": 409,
    "engine_not_installed": 409,
    "setup_not_offered": 409,
    "cloning_already_on": 409,
}


class SetupState(StrEnum):
    UNAVAILABLE = "unavailable"  # cannot be set up here (see `why_not`)
    OFF = "off"  # can be set up: nothing started
    DOWNLOADING = "downloading"
    VERIFYING = "verifying"
    LOADING = "loading"
    READY = "ready"  # the running engine clones
    FAILED = "failed"


ACTIVE = (SetupState.DOWNLOADING, SetupState.VERIFYING, SetupState.LOADING)


@dataclass
class Progress:
    """Bytes of the current phase (downloaded, or checked), with the recent rate."""

    done: int = 0
    total: int = 0
    samples: deque = field(default_factory=lambda: deque(maxlen=256))
    lock: threading.Lock = field(default_factory=threading.Lock)

    def reset(self, done: int, total: int) -> None:
        with self.lock:
            self.done, self.total = done, total
            self.samples.clear()
            self.samples.append((time.monotonic(), done))

    def add(self, count: int) -> None:
        with self.lock:
            self.done += count
            now = time.monotonic()
            if not self.samples or now - self.samples[-1][0] >= 0.2:
                self.samples.append((now, self.done))

    def as_json(self) -> dict:
        with self.lock:
            done, total, samples = self.done, self.total, list(self.samples)
        now = time.monotonic()
        recent = [s for s in samples if now - s[0] <= RATE_WINDOW_SECONDS] or samples[-1:]
        rate = None
        if recent and now - recent[0][0] >= 0.5:
            rate = max(done - recent[0][1], 0) / (now - recent[0][0])
        left = (total - done) / rate if rate else None
        return {"bytes_done": done, "bytes_total": total,
                "fraction": round(done / total, 4) if total else None,
                "bytes_per_second": round(rate) if rate is not None else None,
                "seconds_left": round(left, 1) if left is not None else None}


class CloningSetup:
    """The one owner of setting up Qwen3-TTS in this process.

    `current_engine` says what runs now; `switch` puts a loaded engine in its place (None: a
    process that serves nothing, `utter enable-cloning`, which loads the model to check it and
    closes it again). `disk_usage` is shutil.disk_usage's shape; tests pass their own.
    """

    def __init__(self, settings: Settings, *, current_engine: Callable[[], SpeechEngine],
                 switch: Callable[[SpeechEngine], None] | None,
                 disk_usage: Callable = shutil.disk_usage, max_new_tokens: int | None = None):
        self.settings = settings
        self.current_engine = current_engine
        self.switch = switch
        self.disk_usage = disk_usage
        self.max_new_tokens = max_new_tokens  # tests keep random tiny checkpoints short
        self.model_id = settings.qwen_model
        self.progress = Progress()
        self._state = SetupState.OFF
        self._error: dict | None = None
        self._note = ""
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._plan: tuple[float, dict] | None = None
        self._load_failure()

    # -- what the pages and /api/engine show ------------------------------------------------

    def why_not(self) -> str | None:
        """Why Qwen3-TTS cannot be set up from here (a sentence), or None when it can."""
        if self.settings.engine != EngineChoice.AUTO:
            return (f"UTTER_ENGINE={self.settings.engine.value} is set, so this server keeps that engine: set "
                    "UTTER_ENGINE=auto to switch cloning on from here, or UTTER_ENGINE=qwen to run Qwen3-TTS.")
        missing = [name for name, module in (("torch", "torch"), ("qwen-tts", "qwen_tts"),
                                             ("huggingface_hub", "huggingface_hub")) if find_spec(module) is None]
        if missing:
            return (f"This server was installed without the packages cloning needs ({', '.join(missing)}): "
                    "install them with scripts/lib/install-ml.sh .venv (scripts/serve runs it; the slim Docker image "
                    "leaves them out on purpose, for a web tier that calls Modal) and restart.")
        return None

    @property
    def state(self) -> SetupState:
        if self._state in ACTIVE:
            return self._state
        if self.current_engine().info.capabilities.can_clone:
            return SetupState.READY
        if self._state in (SetupState.FAILED, SetupState.READY):  # READY here: set up for another process to use
            return self._state
        return SetupState.UNAVAILABLE if self.why_not() else SetupState.OFF

    def status(self) -> dict:
        """The state, without asking the hub anything (what /api/engine carries)."""
        state = self.state
        counting = state in (SetupState.DOWNLOADING, SetupState.VERIFYING)
        return {
            "state": state.value,
            "model": self.model_id,
            "why_not": self.why_not() if state == SetupState.UNAVAILABLE else None,
            "error": self._error if state == SetupState.FAILED else None,
            "progress": self.progress.as_json() if counting else None,
            "note": self._note or None,
            "needs": self._plan[1] if self._plan else None,  # what plan() found last, if it was asked
        }

    def plan(self) -> dict:
        """What setting it up takes here: download size, free space, GPU, the speed to expect.
        Asks the hub for the listing (kept for a few minutes)."""
        if self._plan and time.monotonic() - self._plan[0] < PLAN_TTL_SECONDS:
            return self._plan[1]
        from .adapters.tts import qwen
        from .adapters.tts.qwen_download import free_bytes
        from .adapters.tts.qwen_inference import local_dir_name, local_model_path

        models_dir = Path(self.settings.models_dir)
        needs: dict = {"models_dir": str(models_dir.resolve()), "free_bytes": free_bytes(models_dir, self.disk_usage),
                       "download_bytes": None, "on_disk": False, "hub_error": None, "gpu": None,
                       "expected_speed": None, "speed_note": ""}
        if self.why_not():
            return needs
        gpu = qwen.gpu_name(self.settings)
        needs["gpu"] = gpu
        local = local_model_path(self.model_id, models_dir)
        config = None
        if local is not None:
            needs.update(on_disk=True, download_bytes=0)
            config = json.loads((local / "config.json").read_text())
        else:
            try:
                download = self._download()
                needs["download_bytes"] = download.remaining_bytes()
                needs["total_bytes"] = download.listing.total_bytes
                if not gpu:  # the model's shapes, for the CPU estimate: from an earlier start's files, or the hub
                    from .adapters.tts.qwen_download import fetch_small_file

                    arrived = download.files_dir / "config.json"
                    config = json.loads(arrived.read_text() if arrived.is_file() else
                                        fetch_small_file(download.listing, "config.json",
                                                         endpoint=self.settings.hf_endpoint))
            except EngineError as exc:
                needs["hub_error"] = exc.message
            except (OSError, ValueError) as exc:
                needs["hub_error"] = f"Could not read the model's config.json from the hub ({type(exc).__name__})."
        if gpu:
            needs["speed_note"] = (f"It runs on the GPU ({gpu}), many generations batched; its speed is measured "
                                   "when the model loads.")
        elif config is not None:
            estimate, path = qwen.cpu_expectation(self.settings, local or models_dir / local_dir_name(self.model_id),
                                                  config)
            needs["expected_speed"] = estimate
            if estimate:
                from .adapters.tts.qwen_core.speed import describe_speed

                needs["speed_note"] = (f"No CUDA GPU here: it runs on this CPU ({path}) at about "
                                       f"{describe_speed(estimate)} ({estimate['source']}).")
        if needs["hub_error"] is None:
            self._plan = (time.monotonic(), needs)
        return needs

    # -- starting, resuming, stopping -------------------------------------------------------

    def start(self) -> dict:
        """Check, then start the job in the background; the status to show. Raises UtterError when refused
        (the disk too full, the hub unreachable, already cloning...), having written nothing."""
        with self._lock:
            if self._state in ACTIVE:
                return self.status()
            state = self.state
            if state == SetupState.READY:
                raise self._refusal("cloning_already_on", "This server clones voices already "
                                    f"({self.current_engine().info.label}).")
            why = self.why_not()
            if why:
                raise self._refusal("setup_not_offered" if self.settings.engine != EngineChoice.AUTO
                                    else "engine_not_installed", why)
            from .adapters.tts.qwen_inference import local_model_path

            download = None
            if local_model_path(self.model_id, self.settings.models_dir) is None:
                try:
                    download = self._download()
                    download.check_disk(self.disk_usage)
                    with download.lock():  # refused now, not in the thread, when another process owns it
                        pass
                except EngineError as exc:
                    raise self._refusal(exc.code, exc.message) from exc
            self._begin(download)
        return self.status()

    def resume(self) -> None:
        """At start-up: carry on with a download an earlier process left unfinished (unless it failed)."""
        if self._error is not None or self.why_not() or self.current_engine().info.capabilities.can_clone:
            return
        from .adapters.tts.qwen_download import ModelDownload

        download = ModelDownload.pending(self.settings.models_dir, self.model_id, endpoint=self.settings.hf_endpoint,
                                         stop=self._stop)
        if download is None:
            return
        log.info("cloning.setup_resumed model=%s have=%d of %d", self.model_id, download.bytes_on_disk(),
                 download.listing.total_bytes)
        with self._lock:
            self._begin(download)

    def pick_up(self) -> None:
        """Switch to weights another process switched on meanwhile: the studio served by another process
        (this one an `utter worker`), or `utter enable-cloning` run beside a running server. Cheap when
        there is nothing to do (a stat); the loading runs in the set-up's thread."""
        if self.switch is None or self.state != SetupState.OFF:  # not after a failure: that waits for a retry
            return
        from .adapters.tts import qwen
        from .adapters.tts.qwen_inference import local_model_path

        local = local_model_path(self.model_id, self.settings.models_dir)
        if local is None or not qwen.switched_on(local):
            return
        with self._lock:
            if self._state not in ACTIVE:
                log.info("cloning.picked_up model=%s weights=%s", self.model_id, local)
                self._begin(None)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop downloading (what arrived stays for the next start); a model being loaded finishes loading."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def wait(self, timeout: float | None = None) -> SetupState:
        if self._thread is not None:
            self._thread.join(timeout)
        return self.state

    def _begin(self, download) -> None:
        self._clear_failure(download)
        self._state = SetupState.DOWNLOADING if download is not None else SetupState.LOADING
        self._error, self._note = None, ""
        self._thread = threading.Thread(target=self._run, args=(download,), name="utter-cloning-setup", daemon=True)
        self._thread.start()

    def _download(self):
        """The pending download of the model, or a new one from a fresh listing."""
        from .adapters.tts.qwen_download import ModelDownload, list_model

        kwargs = {"endpoint": self.settings.hf_endpoint, "stop": self._stop}
        return (ModelDownload.pending(self.settings.models_dir, self.model_id, **kwargs)
                or ModelDownload(list_model(self.model_id, self.settings.models_dir, endpoint=self.settings.hf_endpoint),
                                 self.settings.models_dir, **kwargs))

    # -- the job ----------------------------------------------------------------------------

    def _run(self, download) -> None:
        from .adapters.tts.qwen_download import DownloadStopped

        try:
            if download is not None:
                with download.lock():
                    self._fetch(download)
            self._load()
        except DownloadStopped:
            log.info("cloning.setup_paused model=%s (resumes at the next start)", self.model_id)
            self._state = SetupState.OFF
        except EngineError as exc:
            if exc.code == "download_running_elsewhere":  # not this process's job to fail (or to record)
                self._state, self._note = SetupState.OFF, exc.message
                return
            self._fail(exc.code, exc.message, download)
        except Exception as exc:  # noqa: BLE001 - the job must end in a state a person can read
            log.exception("cloning.setup_crashed")
            self._fail("setup_failed", f"Setting up Qwen3-TTS failed unexpectedly ({type(exc).__name__}: {exc}).",
                       download)

    def _fetch(self, download) -> None:
        download.check_disk(self.disk_usage)  # again: a resumed download, or space used meanwhile
        self._state = SetupState.DOWNLOADING
        self.progress.reset(download.bytes_on_disk(), download.listing.total_bytes)
        log.info("cloning.download_started model=%s bytes=%d have=%d", self.model_id, download.listing.total_bytes,
                 self.progress.done)
        download.fetch(self.progress.add)
        self._state = SetupState.VERIFYING
        self.progress.reset(0, download.listing.total_bytes)
        download.verify(self.progress.add)
        download.install()

    def _load(self) -> None:
        from .adapters.tts import qwen
        from .adapters.tts.qwen_inference import local_model_path
        from .adapters.tts.registry import build_qwen_engine

        self._state = SetupState.LOADING
        local = local_model_path(self.model_id, self.settings.models_dir)
        if local is None:
            raise EngineError("weights_missing", f"The weights of {self.model_id} are not in "
                                                 f"{self.settings.models_dir} after the download.")
        engine = build_qwen_engine(self.settings, f"voice cloning switched on in the studio (weights at {local})")
        if self.max_new_tokens is not None:
            engine.max_new_tokens = self.max_new_tokens
        started = time.perf_counter()
        engine.load()
        if not engine.info.capabilities.can_clone:
            raise EngineError("model_load_failed", f"{self.model_id} loaded but cannot clone voices.")
        qwen.mark_switched_on(local, "studio" if self.switch else "enable-cloning")
        log.info("cloning.loaded model=%s seconds=%.1f", self.model_id, time.perf_counter() - started)
        speed = engine.expected_speed()
        if speed:
            from .adapters.tts.qwen_core.speed import describe_speed

            self._note = f"Measured here: {describe_speed(speed)}."
        if self.switch is None:
            engine.close()
            self._note = (self._note + " Restart `utter serve` (or any running server) to use it.").strip()
            self._state = SetupState.READY
            return
        self.switch(engine)
        self._state = SetupState.READY  # `state` now follows the engine, which clones

    # -- failures, kept across restarts -------------------------------------------------------

    def _fail(self, code: str, message: str, download) -> None:
        log.warning("cloning.setup_failed code=%s message=%s", code, message)
        self._error = {"code": code, "message": message}
        self._state = SetupState.FAILED
        if download is not None and download.staging.is_dir():
            from .adapters.tts.qwen_download import write_json

            try:
                write_json(download.staging / FAILURE_FILE, self._error)
            except OSError:
                pass

    def _load_failure(self) -> None:
        from .adapters.tts.qwen_download import staging_dir

        try:
            error = json.loads((staging_dir(Path(self.settings.models_dir), self.model_id) / FAILURE_FILE).read_text())
        except (OSError, ValueError):
            return
        if isinstance(error, dict) and "code" in error:
            self._error, self._state = error, SetupState.FAILED

    def _clear_failure(self, download) -> None:
        if download is not None:
            (download.staging / FAILURE_FILE).unlink(missing_ok=True)

    def _refusal(self, code: str, message: str) -> UtterError:
        return UtterError(REFUSALS.get(code, 409), code, message)
