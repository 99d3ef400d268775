"""Serving the local storage folder under /uploads (only when storage is local)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import FileResponse

from ..errors import UtterError
from ..adapters.storage import StorageError
from .deps import ContextDep

router = APIRouter(tags=["files"])

_SERVED = ("references/", "generated/")
_TYPES = {".wav": "audio/wav", ".mp3": "audio/mpeg"}


@router.get("/uploads/{key:path}", include_in_schema=False)
def stored_file(key: str, ctx: ContextDep, download: str | None = None) -> FileResponse:
    missing = UtterError(404, "file_not_found", "There is no such file.")
    if not key.startswith(_SERVED):
        raise missing
    try:
        path = ctx.storage.local_path(key)  # refuses anything that would leave the storage root
    except StorageError:
        raise missing from None
    if path is None or not path.is_file() or path.suffix not in _TYPES:
        raise missing
    return FileResponse(path, media_type=_TYPES[path.suffix], filename=download,
                        content_disposition_type="attachment" if download else "inline")
