from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class RuleIn(BaseModel):
    """A rule as ElevenLabs' API writes one: `type` alias or phoneme."""

    model_config = ConfigDict(extra="ignore")

    type: Literal["alias", "phoneme"] | None = Field(None, description="alias or phoneme (inferred when left out)")
    string_to_replace: str = Field(description="The word or words as written")
    alias: str | None = Field(None, description="How to say it, in other words (every engine)")
    phoneme: str | None = Field(None, description="How to say it, in IPA (engines that read phonemes: Piper)")
    alphabet: str | None = Field(None, description="The phoneme alphabet: ipa")
    case_sensitive: bool | None = Field(None, description="Match the case written (default true)")
    word_boundaries: bool | None = Field(None, description="Whole words only; Utter always matches whole words")


class RulePublic(BaseModel):
    type: Literal["alias", "phoneme"]
    string_to_replace: str
    alias: str | None = None
    phoneme: str | None = None
    alphabet: str | None = None
    case_sensitive: bool
    word_boundaries: bool = True


class DictionaryCreate(BaseModel):
    name: str = Field(description="A name for the dictionary (1–100 characters)")
    description: str | None = None
    rules: list[RuleIn] = Field(default_factory=list)


class DictionaryUpdate(BaseModel):
    name: str | None = None
    description: str | None = None
    rules: list[RuleIn] | None = Field(None, description="The whole new set of rules: makes a new version")


class DictionaryPublic(BaseModel):
    id: uuid.UUID
    name: str
    description: str | None
    latest_version_id: uuid.UUID
    version: int = Field(description="The latest version's number (1, 2, …)")
    rules: list[RulePublic]
    rules_count: int
    pls_url: str = Field(description="The latest version as a W3C PLS lexicon file")
    created_at: datetime
    updated_at: datetime


class DictionariesPublic(BaseModel):
    dictionaries: list[DictionaryPublic]
    total: int
