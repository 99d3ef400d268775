"""Fetching Qwen3-TTS weights from the Hugging Face hub into models_dir/<model name>.

`utter download-models`, `utter enable-cloning` and the studio's "set up voice cloning" all
fetch through `ModelDownload`:

- one listing (`HfApi.model_info(files_metadata=True)`: every file's size, its git blob id
  and, for LFS files, its sha256), pinned to the commit it came from, so a download resumed
  later fetches the same files;
- files fetched into a staging folder (models_dir/.downloads/<name>/files), each resumed with a
  Range request from whatever an earlier attempt, or an earlier process, left;
- every file checked against the hub's checksum; a file that does not match is deleted;
- the folder renamed into place only when every file is good, so a half-downloaded model is
  never mistaken for one on disk (`local_model_path` looks for its config.json).

Nothing heavy is imported here: huggingface_hub and requests only inside the functions that
talk to the hub. The Modal image imports this module without the web tier's dependencies.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import logging
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .base import EngineError
from .qwen_inference import local_dir_name, offline

if TYPE_CHECKING:  # the Modal image imports this module without the web tier's dependencies
    from ...config import Settings

log = logging.getLogger(__name__)

STAGING_DIR = ".downloads"
CHUNK_BYTES = 256 << 10  # a dropped connection loses at most the chunk in hand
# Room left on the disk beyond the files themselves (filesystem overhead, the SQLite file, uploads).
DISK_HEADROOM_BYTES = 64 << 20
DISK_HEADROOM_SHARE = 0.02
# Consecutive failed attempts at one file, with no byte gained, before the download stops.
ATTEMPTS = 5

DiskUsage = Callable[[str], object]  # shutil.disk_usage's shape: .free in bytes
ByteCounter = Callable[[int], None]


@dataclass(frozen=True)
class HubFile:
    path: str
    size: int
    sha256: str | None  # LFS files: the hub's sha256 of the content
    blob_id: str | None  # git's sha1 of the blob: what the small, non-LFS files are checked against


@dataclass(frozen=True)
class Listing:
    model_id: str
    revision: str  # the commit every file is fetched at
    files: tuple[HubFile, ...]

    @property
    def total_bytes(self) -> int:
        return sum(f.size for f in self.files)

    def to_json(self) -> dict:
        return {"model_id": self.model_id, "revision": self.revision, "files": [asdict(f) for f in self.files]}

    @classmethod
    def from_json(cls, data: dict) -> Listing:
        return cls(data["model_id"], data["revision"], tuple(HubFile(**f) for f in data["files"]))


def hub_endpoint(endpoint: str | None) -> str:
    """The hub to talk to: the setting, else huggingface_hub's (HF_ENDPOINT, else huggingface.co)."""
    if endpoint:
        return endpoint.rstrip("/")
    from huggingface_hub import constants

    return constants.ENDPOINT.rstrip("/")


def _hub_modules():
    try:
        import huggingface_hub  # noqa: F401
        import requests  # noqa: F401
    except ImportError as exc:
        raise EngineError(
            "engine_not_installed", "Downloading models needs huggingface_hub. Install it with: pip install 'utter[qwen]'"
        ) from exc


def _refuse_offline(model_id: str, target: Path) -> None:
    if offline():
        raise EngineError(
            "hub_unreachable",
            f"Could not download {model_id} into {target}: could not reach Hugging Face, because HF_HUB_OFFLINE is "
            "set. Unset it, or copy the model folder there yourself.",
        )


def list_model(model_id: str, models_dir: Path | str, *, endpoint: str | None = None, revision: str = "main",
               timeout: float = 20.0) -> Listing:
    """Every file of `model_id` with its size and checksum, at the commit `revision` points to now."""
    _hub_modules()
    from huggingface_hub import HfApi
    from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError, RevisionNotFoundError

    target = Path(models_dir).resolve() / local_dir_name(model_id)
    _refuse_offline(model_id, target)
    try:
        info = HfApi(endpoint=hub_endpoint(endpoint)).model_info(model_id, revision=revision, files_metadata=True,
                                                                 timeout=timeout)
    except (RepositoryNotFoundError, RevisionNotFoundError, GatedRepoError) as exc:
        raise EngineError("model_not_found", f"Hugging Face has no model {model_id} (at {revision}) that can be "
                                             f"downloaded without signing in ({_reason(exc)}). Check UTTER_QWEN_MODEL.") from exc
    except Exception as exc:  # network, offline mode, a proxy's error page: the same for a person
        raise EngineError(
            "hub_unreachable",
            f"Could not download {model_id} into {target}: could not reach Hugging Face at {hub_endpoint(endpoint)} "
            f"({_reason(exc)}). Run this where it is reachable (and HF_HUB_OFFLINE is not set), or copy the model "
            "folder there yourself.",
            retryable=True,
        ) from exc
    files = tuple(
        HubFile(path=s.rfilename, size=int(s.lfs.size if s.lfs else (s.size or 0)),
                sha256=s.lfs.sha256 if s.lfs else None, blob_id=s.blob_id)
        for s in info.siblings or ()
    )
    if not info.sha or not files:
        raise EngineError("model_not_found", f"Hugging Face listed no files for {model_id}.")
    return Listing(model_id, info.sha, files)


def fetch_small_file(listing: Listing, path: str, *, endpoint: str | None = None, timeout: float = 20.0) -> bytes:
    """One small file of the listing (config.json, to estimate the speed before downloading the rest)."""
    _hub_modules()
    from huggingface_hub import hf_hub_url
    from huggingface_hub.utils import build_hf_headers
    import requests

    url = hf_hub_url(listing.model_id, path, revision=listing.revision, endpoint=hub_endpoint(endpoint))
    response = requests.get(url, headers=build_hf_headers(), timeout=timeout)
    response.raise_for_status()
    return response.content


def free_bytes(models_dir: Path | str, disk_usage: DiskUsage = shutil.disk_usage) -> int:
    """Free space where the weights will go (the nearest folder of models_dir that exists)."""
    path = Path(models_dir).resolve()
    while not path.exists() and path != path.parent:
        path = path.parent
    return int(disk_usage(str(path)).free)


def bytes_needed(remaining: int) -> int:
    """What must be free before `remaining` bytes are fetched."""
    return remaining + DISK_HEADROOM_BYTES + int(remaining * DISK_HEADROOM_SHARE)


def gigabytes(count: int | float) -> str:
    return f"{count / 1e9:.1f} GB" if count >= 1e8 else f"{count / 1e6:.1f} MB"


class ModelDownload:
    """The files of one listing, fetched into staging and moved into models_dir/<name> when all are good.

    Safe to pick up again at any point: what is on disk says how far it got. `lock()` keeps a
    second process (a CLI beside the server) from fetching the same model at the same time.
    """

    def __init__(self, listing: Listing, models_dir: Path | str, *, endpoint: str | None = None,
                 stop: threading.Event | None = None):
        self.listing = listing
        self.models_dir = Path(models_dir)
        self.endpoint = endpoint
        self.stop = stop or threading.Event()
        self.name = local_dir_name(listing.model_id)
        self.target = self.models_dir / self.name
        self.staging = staging_dir(self.models_dir, listing.model_id)
        self.files_dir = self.staging / "files"

    # -- what is on disk ---------------------------------------------------------------

    def save_listing(self) -> None:
        """Pin the listing beside the files, so a resumed download (another process) fetches the same commit."""
        self.staging.mkdir(parents=True, exist_ok=True)
        write_json(self.staging / "listing.json", self.listing.to_json())

    @classmethod
    def pending(cls, models_dir: Path | str, model_id: str, **kwargs) -> ModelDownload | None:
        """The download an earlier run started and did not finish, or None."""
        try:
            data = json.loads((staging_dir(Path(models_dir), model_id) / "listing.json").read_text())
            listing = Listing.from_json(data)
        except (OSError, ValueError, KeyError, TypeError):
            return None
        return cls(listing, models_dir, **kwargs) if listing.model_id == model_id else None

    def _paths(self, file: HubFile) -> tuple[Path, Path]:
        done = self.files_dir / file.path
        return done, done.with_name(done.name + ".part")

    def bytes_on_disk(self) -> int:
        total = 0
        for file in self.listing.files:
            done, part = self._paths(file)
            for path in (done, part):
                if path.is_file():
                    total += min(path.stat().st_size, file.size)
                    break
        return total

    def remaining_bytes(self) -> int:
        return self.listing.total_bytes - self.bytes_on_disk()

    def check_disk(self, disk_usage: DiskUsage = shutil.disk_usage) -> None:
        """Refuse before fetching anything when the rest will not fit."""
        need, free = bytes_needed(self.remaining_bytes()), free_bytes(self.models_dir, disk_usage)
        if free < need:
            raise EngineError(
                "disk_full",
                f"{self.listing.model_id} needs {gigabytes(need)} free in {self.models_dir.resolve()}, and "
                f"{gigabytes(free)} is free. Free some space (or point UTTER_MODELS_DIR at a larger disk) and try again.",
            )

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Own this model's download in this process, or refuse at once when another process does."""
        import fcntl

        self.models_dir.joinpath(STAGING_DIR).mkdir(parents=True, exist_ok=True)
        with open(self.models_dir / STAGING_DIR / f"{self.name}.lock", "a+") as handle:
            locked = True
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise EngineError("download_running_elsewhere",
                                  f"Another Utter process is downloading {self.listing.model_id} into "
                                  f"{self.models_dir} right now; it will finish on its own.") from None
            except OSError:  # a filesystem without locks (some network volumes): one owner is then up to you
                locked = False
            try:
                yield
            finally:
                if locked:
                    fcntl.flock(handle, fcntl.LOCK_UN)

    # -- fetching ----------------------------------------------------------------------

    def fetch(self, on_bytes: ByteCounter = lambda n: None) -> None:
        """Fetch every file not yet complete; `on_bytes` hears each chunk (negative when bytes are dropped)."""
        _hub_modules()
        import requests
        from huggingface_hub.utils import build_hf_headers

        _refuse_offline(self.listing.model_id, self.target)
        self.save_listing()
        with requests.Session() as session:
            session.headers.update(build_hf_headers())
            for file in self.listing.files:
                self._fetch_file(session, file, on_bytes)

    def _fetch_file(self, session, file: HubFile, on_bytes: ByteCounter) -> None:
        import requests
        from huggingface_hub import hf_hub_url

        done, part = self._paths(file)
        if done.is_file() and done.stat().st_size == file.size:
            return
        part.parent.mkdir(parents=True, exist_ok=True)
        url = hf_hub_url(self.listing.model_id, file.path, revision=self.listing.revision,
                         endpoint=hub_endpoint(self.endpoint))
        failures, last_error = 0, "no answer"
        while True:
            have = part.stat().st_size if part.is_file() else 0
            if have > file.size:  # not what the hub holds: start this file again
                on_bytes(-file.size)
                part.unlink()
                have = 0
            if have == file.size:
                break
            if failures >= ATTEMPTS:
                raise EngineError("download_interrupted",
                                  f"Downloading {file.path} of {self.listing.model_id} kept failing ({last_error}); "
                                  "what arrived is kept: try again to resume.", retryable=True)
            self._check_stop()
            headers = {"Range": f"bytes={have}-"} if have else {}
            gained = 0
            try:
                with session.get(url, headers=headers, stream=True, timeout=(10, 60)) as response:
                    if response.status_code >= 400:
                        last_error = f"HTTP {response.status_code}"
                        if response.status_code < 500 and response.status_code not in (408, 429):
                            raise EngineError("download_failed", f"Hugging Face refused {file.path} of "
                                                                 f"{self.listing.model_id}: {last_error}.")
                        failures += 1
                        self._pause(failures)
                        continue
                    mode = "ab"
                    if have and response.status_code != 206:  # the server sent the whole file: start over
                        on_bytes(-have)
                        mode = "wb"
                    with open(part, mode) as out:
                        for chunk in response.iter_content(CHUNK_BYTES):
                            self._check_stop()
                            out.write(chunk)
                            gained += len(chunk)
                            on_bytes(len(chunk))
            except requests.RequestException as exc:
                last_error = _reason(exc)
            except OSError as exc:
                if exc.errno == errno.ENOSPC:
                    raise EngineError("disk_full", f"The disk holding {self.models_dir.resolve()} filled up while "
                                                   f"downloading {file.path}. Free some space and try again: the "
                                                   "download resumes where it stopped.") from exc
                raise
            failures = 0 if gained else failures + 1
            if not gained:
                self._pause(failures)
            elif part.stat().st_size < file.size:
                log.info("models.download_resuming file=%s have=%d size=%d", file.path, part.stat().st_size, file.size)
        part.replace(done)

    def _check_stop(self) -> None:
        if self.stop.is_set():
            raise DownloadStopped()

    def _pause(self, failures: int) -> None:
        if self.stop.wait(min(0.25 * 2 ** failures, 8.0)):
            raise DownloadStopped()

    # -- checking and installing ---------------------------------------------------------

    def verify(self, on_bytes: ByteCounter = lambda n: None) -> None:
        """Check every file against the hub's checksum; one that does not match is deleted."""
        for file in self.listing.files:
            done, _ = self._paths(file)
            if file.sha256:
                digest, expected = hashlib.sha256(), file.sha256
            elif file.blob_id:
                digest, expected = hashlib.sha1(), file.blob_id
                digest.update(f"blob {file.size}\0".encode())
            else:
                continue
            with open(done, "rb") as handle:
                while chunk := handle.read(CHUNK_BYTES):
                    self._check_stop()
                    digest.update(chunk)
                    on_bytes(len(chunk))
            if digest.hexdigest() != expected.lower():
                done.unlink()
                raise EngineError("download_corrupt",
                                  f"{file.path} of {self.listing.model_id} arrived damaged: it does not match the "
                                  "checksum Hugging Face gives for it. It was deleted; try again to download it anew.",
                                  retryable=True)

    def install(self) -> Path:
        """Move the checked files into models_dir/<name> (one rename) and drop the staging folder."""
        if self.target.exists():  # a folder without config.json (an interrupted copy by hand): keep it aside
            self.target.rename(self.staging / f"replaced-{int(time.time())}")
        self.files_dir.rename(self.target)
        shutil.rmtree(self.staging, ignore_errors=True)
        log.info("models.installed model=%s target=%s", self.listing.model_id, self.target)
        return self.target

    def discard(self) -> None:
        shutil.rmtree(self.staging, ignore_errors=True)


class DownloadStopped(Exception):
    """The process is stopping: what arrived stays on disk for the next start to resume."""


def staging_dir(models_dir: Path, model_id: str) -> Path:
    return Path(models_dir) / STAGING_DIR / local_dir_name(model_id)


def write_json(path: Path, data: dict) -> None:
    """Written beside and renamed into place: a reader never sees half a file."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=1))
    os.replace(tmp, path)


# -- `utter download-models` --------------------------------------------------------------


def download_model(model_id: str, models_dir: Path | str, *, endpoint: str | None = None,
                   disk_usage: DiskUsage = shutil.disk_usage, on_bytes: ByteCounter = lambda n: None) -> Path:
    """Download one Hugging Face repo into models_dir/<name> (checked, resumable); return that folder."""
    _hub_modules()
    download = ModelDownload.pending(models_dir, model_id, endpoint=endpoint)
    if download is None:
        download = ModelDownload(list_model(model_id, models_dir, endpoint=endpoint), models_dir, endpoint=endpoint)
    log.info("models.download_started", extra={"model": model_id, "target": str(download.target)})
    with download.lock():
        download.check_disk(disk_usage)
        download.fetch(on_bytes)
        download.verify()
        return download.install()


def download_models(settings: Settings, which: tuple[str, ...] = ("base", "design"),
                    on_bytes: ByteCounter = lambda n: None) -> list[Path]:
    """Download the configured Base and/or VoiceDesign models, and/or (`asr`) the multilingual speech
    recogniser that hears back other languages; return their folders."""
    from .qwen_inference import local_model_path

    models = {"base": settings.qwen_model, "design": settings.qwen_design_model, "asr": settings.asr_multilingual_model}
    unknown = set(which) - set(models)
    if unknown:
        raise EngineError("bad_request", f"Unknown model kind(s): {', '.join(sorted(unknown))}; "
                                         "use base, design and/or asr.")
    paths = []
    for kind in which:
        model_id = models[kind]
        if not model_id:
            continue
        local = local_model_path(model_id, settings.models_dir)
        if local is not None:
            paths.append(local)  # already on disk: nothing to fetch
            continue
        paths.append(download_model(model_id, settings.models_dir, endpoint=settings.hf_endpoint, on_bytes=on_bytes))
    return paths


def _reason(exc: BaseException) -> str:
    """A network failure in a few words (requests' own messages nest whole tracebacks' worth of text)."""
    text = str(exc)
    for marker, plain in (("NameResolutionError", "its name could not be resolved"),
                          ("Failed to resolve", "its name could not be resolved"),
                          ("Connection refused", "the connection was refused"),
                          ("timed out", "it did not answer in time")):
        if marker in text:
            return plain
    lines = text.strip().splitlines()
    first = lines[0] if lines else ""
    return f"{type(exc).__name__}: {first[:160]}" if first else type(exc).__name__
