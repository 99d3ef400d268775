"""Storage backends, chosen by settings."""

from __future__ import annotations

from ...config import Settings, StorageChoice
from .base import (
    STREAMS_PREFIX,
    ObjectMissing,
    Storage,
    StorageError,
    generated_key,
    line_key,
    line_prefix,
    preview_key,
    prompt_key,
    prompt_prefix,
    reference_key,
    segment_key,
    segment_prefix,
)

__all__ = ["STREAMS_PREFIX", "ObjectMissing", "Storage", "StorageError", "build_storage", "generated_key",
           "line_key", "line_prefix",
           "preview_key", "prompt_key", "prompt_prefix", "reference_key", "segment_key", "segment_prefix"]


def build_storage(settings: Settings) -> Storage:
    if settings.storage == StorageChoice.R2:
        from .s3 import S3Storage  # boto3 is only imported when R2 is chosen

        return S3Storage.from_settings(settings)
    from .local import LocalStorage

    return LocalStorage(settings.uploads_dir)
