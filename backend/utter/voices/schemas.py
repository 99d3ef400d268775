from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, Field


class VoicePublic(BaseModel):
    id: uuid.UUID
    name: str
    created_at: datetime
    updated_at: datetime
    reference_url: str = Field(description="Where the normalised reference clip (mono WAV) can be fetched")
    reference_seconds: float
    transcript: str | None = Field(description="What is said in the reference clip, if known")
    language: str
    source: str = Field(description="uploaded, recorded or designed")
    description: str | None = Field(description="For designed voices: the description it was made from")
    original_filename: str | None


class VoicesPublic(BaseModel):
    voices: list[VoicePublic]
    total: int


class VoiceUpdate(BaseModel):
    name: str | None = Field(None, description="A new name (1–100 characters)")
    transcript: str | None = Field(None, description="What is said in the reference clip; empty clears it")
    language: str | None = None
