"""Where audio files live: a small interface with a local-folder and an S3/R2 backend.

Keys are relative POSIX paths: `references/{voice_id}.wav`, `generated/{generation_id}.mp3`,
`prompts/{voice_id}/{version}.bin`. Writes are atomic: a reader sees the whole object or none.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Protocol


class StorageError(Exception):
    """A storage failure with a stable code (`storage_unavailable`, `object_missing`)."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


class ObjectMissing(StorageError):
    def __init__(self, key: str):
        super().__init__("object_missing", f"The stored file {key!r} is missing.")
        self.key = key


def reference_key(voice_id: str) -> str:
    return f"references/{voice_id}.wav"


def generated_key(generation_id: str) -> str:
    return f"generated/{generation_id}.mp3"


def preview_key(preview_id: str) -> str:
    """A design preview as a normalised WAV, kept so it can be saved as a voice's reference."""
    return f"previews/{preview_id}.wav"


def line_prefix(generation_id: str) -> str:
    """Where a dialogue keeps each line's audio as the engine spoke it, so one line can be spoken again
    and the rest reused (generations/dialogue.py)."""
    return f"lines/{generation_id}/"


def line_key(generation_id: str, line: int) -> str:
    return f"{line_prefix(generation_id)}{line:03d}.wav"


STREAMS_PREFIX = "streams/"


def segment_prefix(generation_id: str) -> str:
    """Where a running generation keeps the audio of its finished chunks, for streaming."""
    return f"{STREAMS_PREFIX}{generation_id}/"


def segment_key(generation_id: str, index: int) -> str:
    return f"{segment_prefix(generation_id)}{index:05d}.mp3"


def prompt_prefix(voice_id: str) -> str:
    return f"prompts/{voice_id}/"


def prompt_key(voice_id: str, version: str) -> str:
    """Cached engine artefacts for one revision of a voice; a new revision gets a new key."""
    return f"{prompt_prefix(voice_id)}{version}.bin"


class Storage(Protocol):
    name: str
    # How long the URLs from url() stay valid, in seconds; None when they do not expire.
    url_lifetime: int | None

    def local_path(self, key: str) -> Path | None:
        """The file behind `key` when the object is a file on this machine (it may not exist); else None.
        Raises StorageError for a key that could never be stored."""
        ...

    def put_file(self, key: str, source: Path, content_type: str) -> None:
        """Store a local file under `key`, atomically (large files stream)."""
        ...

    def put_bytes(self, key: str, data: bytes, content_type: str) -> None: ...

    def get_bytes(self, key: str) -> bytes:
        """Raises ObjectMissing when there is no such object."""
        ...

    def download(self, key: str, dest: Path) -> None: ...

    def iter_chunks(self, key: str, chunk_size: int = 64 * 1024) -> Iterator[bytes]: ...

    def exists(self, key: str) -> bool: ...

    def delete(self, key: str) -> None:
        """Remove an object; a missing one is not an error."""
        ...

    def list_keys(self, prefix: str) -> list[str]: ...

    def url(self, key: str, *, download_name: str | None = None) -> str:
        """A URL a browser can fetch the object from (a path on this server, or presigned)."""
        ...

    def health(self) -> dict[str, str]:
        """{"status": "ok"|"error", "detail": ...}; never raises."""
        ...
