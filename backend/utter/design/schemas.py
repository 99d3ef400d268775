from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, Field

from ..generations.schemas import GenerationError


class DesignRequest(BaseModel):
    description: str | None = Field(None, description="What the voice sounds like: gender, age, accent, tone, pace "
                                                      "(1–1000 characters)")
    text: str | None = Field(None, description="What the previews say (default: a sentence of about ten seconds). "
                                               "Saved with the voice as its transcript.")
    language: str | None = Field(None, description="ISO 639-1 code of the preview text, or 'auto' (default)")
    candidates: int = Field(1, description="How many different voices to make for the description, 1–3")


class SavePreviewRequest(BaseModel):
    name: str | None = Field(None, description="A name for the new voice")


class PreviewPublic(BaseModel):
    id: uuid.UUID
    design_id: uuid.UUID
    candidate: int = Field(description="1 to the number of candidates asked for")
    status: str = Field(description="queued, running, done, failed or cancelled")
    status_url: str
    audio_url: str | None = Field(description="The preview MP3, once done")
    duration_seconds: float | None
    save_url: str = Field(description="POST a name here to keep the preview as a voice")
    voice_id: uuid.UUID | None = Field(description="The voice this preview was saved as, if it was")
    error: GenerationError | None = None
    created_at: datetime
    finished_at: datetime | None


class DesignPublic(BaseModel):
    id: uuid.UUID
    status: str = Field(description="running until every candidate has finished, then done (or failed when none "
                                    "succeeded)")
    status_url: str
    description: str
    text: str
    language: str
    engine: str | None
    previews: list[PreviewPublic] = Field(description="One per candidate, in order")
