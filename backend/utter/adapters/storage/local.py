"""Storage in a local folder: the development default (`uploads/` under the working directory)."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from urllib.parse import quote

from .base import ObjectMissing, StorageError


class LocalStorage:
    name = "local"
    url_lifetime = None  # URLs are paths on this server

    def local_path(self, key: str) -> Path:
        return self.path_for(key)

    def __init__(self, root: Path, url_prefix: str = "/uploads"):
        self.root = Path(root).resolve()
        self.url_prefix = url_prefix.rstrip("/")
        self.root.mkdir(parents=True, exist_ok=True)

    def path_for(self, key: str) -> Path:
        """The file behind `key`; refuses keys that would leave the storage root."""
        pure = PurePosixPath(key)
        if pure.is_absolute() or ".." in pure.parts or not pure.parts or "\x00" in key:
            raise StorageError("invalid_key", f"Invalid storage key {key!r}.")
        path = (self.root / pure).resolve()
        if not path.is_relative_to(self.root):
            raise StorageError("invalid_key", f"Invalid storage key {key!r}.")
        return path

    def _atomic_write(self, key: str, write) -> None:
        dest = self.path_for(key)
        dest.parent.mkdir(parents=True, exist_ok=True)
        # The temporary file sits beside the destination so the rename stays on one filesystem.
        fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=".tmp-", suffix=dest.suffix)
        try:
            with os.fdopen(fd, "wb") as out:
                write(out)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp_name, dest)
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise

    def put_file(self, key: str, source: Path, content_type: str) -> None:
        with open(source, "rb") as src:
            self._atomic_write(key, lambda out: shutil.copyfileobj(src, out, 1024 * 1024))

    def put_bytes(self, key: str, data: bytes, content_type: str) -> None:
        self._atomic_write(key, lambda out: out.write(data))

    def get_bytes(self, key: str) -> bytes:
        try:
            return self.path_for(key).read_bytes()
        except FileNotFoundError:
            raise ObjectMissing(key) from None

    def download(self, key: str, dest: Path) -> None:
        try:
            shutil.copyfile(self.path_for(key), dest)
        except FileNotFoundError:
            raise ObjectMissing(key) from None

    def iter_chunks(self, key: str, chunk_size: int = 64 * 1024) -> Iterator[bytes]:
        try:
            handle = open(self.path_for(key), "rb")
        except FileNotFoundError:
            raise ObjectMissing(key) from None
        with handle:
            while chunk := handle.read(chunk_size):
                yield chunk

    def exists(self, key: str) -> bool:
        return self.path_for(key).is_file()

    def delete(self, key: str) -> None:
        path = self.path_for(key)
        path.unlink(missing_ok=True)
        # Folders a key lived in go when they are left empty (a finished generation's stream segments).
        for folder in path.parents:
            if folder == self.root or not folder.is_relative_to(self.root):
                break
            try:
                folder.rmdir()
            except OSError:  # not empty (or already gone)
                break

    def list_keys(self, prefix: str) -> list[str]:
        base = self.root / prefix if prefix else self.root
        # os.walk, not Path.rglob: a folder emptied and removed by a delete meanwhile (a finished
        # generation's stream segments) is skipped instead of raising.
        return sorted(
            (Path(folder) / name).relative_to(self.root).as_posix()
            for folder, _, names in os.walk(base)
            for name in names
            if not name.startswith(".tmp-")
        )

    def url(self, key: str, *, download_name: str | None = None) -> str:
        self.path_for(key)
        url = f"{self.url_prefix}/{quote(key)}"
        if download_name:
            url += f"?download={quote(download_name)}"
        return url

    def health(self) -> dict[str, str]:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            probe = self.root / ".health"
            probe.write_bytes(b"ok")
            probe.unlink()
        except OSError as exc:
            return {"status": "error", "backend": self.name, "detail": f"{self.root} is not writable: {exc}"}
        return {"status": "ok", "backend": self.name, "detail": str(self.root)}
