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


class DialogueLineIn(BaseModel):
    voice_id: str | None = Field(None, description="The id of a voice in the library")
    text: str | None = Field(None, description="What this voice says (break tags allowed)")


class DialogueRequest(BaseModel):
    inputs: list[DialogueLineIn] = Field(description="The script: lines in order, each with its voice")
    language: str | None = Field(None, description="ISO 639-1 code, or 'auto' (default)")
    speed: float | None = Field(None, description="Speaking rate from 0.25 to 4; 1 (default) is normal")
    pronunciation_dictionary_ids: list[str] = Field(
        default_factory=list, description="Up to 3 pronunciation dictionaries for every line, applied before "
                                          "each line's voice's own")


class RespeakRequest(BaseModel):
    text: str | None = Field(None, description="New words for the line; its old words when left out")
    voice_id: str | None = Field(None, description="Another voice for the line; its old voice when left out")


class DialogueLinePublic(BaseModel):
    voice_id: uuid.UUID | None
    voice_name: str
    text: str
    spoken_text: str | None = Field(None, description="The line as the engine was given it, when pronunciation "
                                                      "rules changed it")
    start: float | None = Field(None, description="Seconds into the audio where the line begins (once done)")
    end: float | None = Field(None, description="Seconds into the audio where the line ends (once done)")
    reused: bool = Field(False, description="True when this take reused the line's audio from an earlier take "
                                            "instead of speaking it again")


class GenerationError(BaseModel):
    code: str
    message: str


class GenerationPublic(BaseModel):
    id: uuid.UUID
    kind: str = Field("speech", description="speech (one text in one voice) or dialogue (lines in their voices)")
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
    checks: GenerationChecks | None = Field(None, description="Each part heard back by a speech recogniser and "
                                            "retaken when it went wrong; null when this engine's output is not checked")
    lines: list[DialogueLinePublic] | None = Field(None, description="A dialogue's lines, each with its voice "
                                                   "and its place in the audio; null for speech")
    respoken_from: uuid.UUID | None = Field(None, description="The dialogue this take was made from by speaking "
                                            "one line again")
    error: GenerationError | None = None
    timings_url: str | None = Field(None, description="When each word is spoken (JSON), once done and aligned; "
                                    "subtitles beside it (`subtitles.srt`, `subtitles.vtt`)")
    timings_error: GenerationError | None = Field(None, description="Why a finished generation has no word timings")
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    queue_seconds: float | None
    synthesis_seconds: float | None


class PartCheck(BaseModel):
    part: int = Field(description="Which part of the text (0 is the first)")
    word_error: float = Field(description="Word error rate of what the speech recogniser heard against the part's text")
    duration_ratio: float = Field(description="The part's length over the length its text takes to say at its speed")
    takes: int = Field(description="How many times it was spoken (more than 1: it was retaken)")
    passed: bool = Field(description="False when even the best take still sounded wrong")
    problems: list[str] = Field(description="What is wrong with the kept take: ran_on, cut_short, wrong_words")
    retaken_because: list[str] = Field(description="What was wrong with the first take, when it was retaken")
    similarity: float | None = Field(None, description="Likeness of this part to the voice's reference (see likeness)")


class Likeness(BaseModel):
    whole: float = Field(description="Cosine similarity of the result's speaker embedding to the reference's, by "
                         "the cloning model's own speaker encoder: 1 is identical, lower is less alike")
    reference_half: float = Field(description="The same score for the first half of the reference recording "
                                  "itself: what the same speaker in the same recording scores")


class GenerationChecks(BaseModel):
    checked: bool = Field(description="False when this generation could not be heard back (reason says why)")
    reason: str | None = None
    summary: str = Field(description="The checks in one line, for a person")
    parts: list[PartCheck] = []
    likeness: Likeness | None = Field(None, description="How alike the result is to the cloned voice; null when "
                                      "not scored (an engine that cannot clone, or on Modal)")
    retaken: int = 0
    failed: int = 0


class GenerationsPublic(BaseModel):
    generations: list[GenerationPublic]
    total: int
    limit: int
    offset: int


class WordTiming(BaseModel):
    text: str = Field(description="The word as typed (tags left out)")
    start: float = Field(description="Seconds into the audio where it starts")
    end: float = Field(description="Seconds into the audio where it ends")
    offset: int = Field(description="Where the word starts in the generation's text, in characters")
    length: int = Field(description="How many characters of the text it spans")
    line: int | None = Field(None, description="In a dialogue, the line of the script it is in (0 is the first)")


class TimingsPublic(BaseModel):
    generation_id: uuid.UUID
    text: str = Field(description="The text as typed; each word's offset and length point into it")
    duration_seconds: float | None
    language: str = Field(description="The language the words were aligned as")
    aligner: str = Field(description="The model that aligned them")
    words: list[WordTiming]
