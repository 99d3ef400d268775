from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, Field


class CheckWarning(BaseModel):
    code: str = Field(description="clipping, noisy, mostly_silence, quiet, transcript_missing or transcript_mismatch")
    message: str = Field(description="Plain advice for people")


class ReferenceCheckPublic(BaseModel):
    """What the check of the reference clip found; warnings carry the advice to show."""

    speech_ratio: float = Field(description="Share of the stored clip that is speech, 0–1")
    speech_seconds: float
    clipping: float = Field(description="Share of samples in runs at full scale (distorted), 0–1")
    snr_db: float | None = Field(description="Speech level above the background noise, in dB (60 means no audible noise)")
    noise_dbfs: float | None = Field(description="Background noise level, dBFS")
    loudness_dbfs: float | None = Field(description="RMS level of the speech parts, dBFS (not LUFS)")
    peak_dbfs: float
    original_seconds: float = Field(description="Length of the upload before silence was trimmed from its ends")
    trimmed_seconds: float = Field(description="Silence removed from the start and end, in seconds")
    transcript_match: float | None = Field(
        description="How alike the typed transcript and what the recogniser heard are, 0–1 (None when automatic)")
    heard_text: str | None = Field(description="What the recogniser heard, if it ran")
    asr_model: str | None = Field(description="The speech recogniser that ran, or None")
    warnings: list[CheckWarning]


class VoicePublic(BaseModel):
    id: uuid.UUID
    name: str
    created_at: datetime
    updated_at: datetime
    reference_url: str = Field(description="Where the normalised reference clip (mono WAV) can be fetched")
    reference_seconds: float
    transcript: str | None = Field(description="What is said in the reference clip, if known")
    transcript_source: str | None = Field(
        None, description="typed (by the person), automatic (by speech recognition) or None when there is none")
    transcription: str | None = Field(
        None, description="transcribing (the transcript is on its way), done, failed, or None when speech "
                          "recognition is off or not installed")
    language: str
    detected_language: str | None = Field(None, description="Language the recogniser heard, when language is auto")
    check: ReferenceCheckPublic | None = Field(None, description="The check of the reference clip and its advice")
    source: str = Field(description="uploaded, recorded or designed")
    description: str | None = Field(description="For designed voices: the description it was made from")
    original_filename: str | None
    pronunciation_dictionary_id: uuid.UUID | None = Field(
        None, description="The pronunciation dictionary every generation in this voice uses (its latest version)")


class VoicesPublic(BaseModel):
    voices: list[VoicePublic]
    total: int


class VoiceUpdate(BaseModel):
    name: str | None = Field(None, description="A new name (1–100 characters)")
    transcript: str | None = Field(None, description="What is said in the reference clip; empty clears it")
    language: str | None = None
    pronunciation_dictionary_id: str | None = Field(None, description="A pronunciation dictionary to use by "
                                                                      "default; null or empty for none")
