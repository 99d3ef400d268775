"""Engine artefacts per voice revision (e.g. Qwen's voice-clone prompt), kept in storage."""

from __future__ import annotations

from ..adapters.storage import ObjectMissing, Storage, prompt_key


class StoragePromptCache:
    def __init__(self, storage: Storage):
        self.storage = storage

    def load(self, voice_id: str, version: str) -> bytes | None:
        try:
            return self.storage.get_bytes(prompt_key(voice_id, version))
        except ObjectMissing:
            return None

    def save(self, voice_id: str, version: str, data: bytes) -> None:
        self.storage.put_bytes(prompt_key(voice_id, version), data, "application/octet-stream")
