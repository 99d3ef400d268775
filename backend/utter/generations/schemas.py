from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, Field


class GenerateRequest(BaseModel):
    voice_id: str = Field(description="The id of a voice in the library")
    text: str = Field(description="What to say")
    language: str | None = Field(None, description="ISO 639-1 code, or 'auto' (default)")
    speed: float | None = Field(None, description="Speaking rate from 0.25 to 4; 1 (default) is normal")
    pronunciation_dictionary_ids: list[str] = Field(
        default_factory=list, description="Up to 3 pronunciation dictionaries (their latest versions) for this "
                                          "text, applied before the voice's own")


class GenerationError(BaseModel):
    code: str
    message: str


class GenerationPublic(BaseModel):
    id: uuid.UUID
    status: str = Field(description="queued, running, done, failed or cancelled")
    progress: float = Field(description="0 to 1")
    chunks_done: int = Field(0, description="Chunks of the text spoken so far")
    chunks_total: int | None = Field(None, description="Chunks the text was split into (known once it starts)")
    stream_url: str = Field(description="The MP3 as it is spoken; plays before the whole text is done")
    stream_ready: bool = Field(False, description="True once stream_url has audio to play")
    status_url: str
    voice_id: uuid.UUID | None
    voice_name: str
    text: str
    spoken_text: str | None = Field(None, description="The text as the engine was given it, when pronunciation "
                                                      "rules changed it")
    language: str
    speed: float = Field(1.0, description="Speaking rate (1 is normal)")
    audio_url: str | None = Field(description="Where the MP3 can be fetched once done")
    download_url: str | None = Field(description="The MP3 as an attachment with a readable file name")
    duration_seconds: float | None
    engine: str | None = Field(description="Which engine spoke")
    voice_cloned: bool | None = Field(description="False when the engine could not speak in the cloned voice")
    notice: str | None = Field(None, description="Something the person should know about this result")
    error: GenerationError | None = None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    queue_seconds: float | None
    synthesis_seconds: float | None


class GenerationsPublic(BaseModel):
    generations: list[GenerationPublic]
    total: int
    limit: int
    offset: int
