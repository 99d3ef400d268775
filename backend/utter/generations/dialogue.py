"""Dialogues (issue 18): a script of lines, each in its voice, queued as one generation.

A dialogue is one row in the history whose `lines` keep the script: each line's voice
(id and name, so the history reads right after a voice is deleted), its text, the text
its voice's pronunciation rules made of it, and, once spoken, its place in the audio.
dialogue_speech.py speaks it. Each line's audio is kept in storage beside the MP3, so
one line can be spoken again (`respeak`) as a new take that reuses every other line's
audio: the earlier take stays in the history as it was.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session

from ..adapters.storage import line_key
from ..context import AppContext
from ..errors import UtterError
from ..models import Generation, GenerationKind, GenerationStatus, Voice
from ..pronunciation import service as pronunciation
from ..validation import check_speed, clean_text, parse_id
from .service import admit, get

# Lines one script may hold: a long podcast episode is a few hundred exchanges, but the whole
# script must still fit in settings.max_text_chars, and each line costs an engine call.
MAX_LINES = 200


@dataclass(frozen=True)
class Line:
    """A line of a script as asked for: a voice (an id, or for the compatible API an id or a name) and words."""

    voice: str | None
    text: str | None


FindVoice = Callable[[Session, str, str], Voice]  # (session, what the line names, its field) -> the voice


def find_by_id(session: Session, reference: str, field: str) -> Voice:
    """A library voice by id, for POST /api/dialogue."""
    voice = session.get(Voice, parse_id(reference, "voice", "invalid_voice_id", field=field))
    if voice is None:
        raise UtterError(404, "voice_not_found", "No voice with that id exists (it may have been deleted).",
                         field=field)
    return voice


def _in_line(number: int, exc: UtterError) -> UtterError:
    """The same error, its message saying which line it is about (people count lines from 1); one about
    the whole request (its dictionaries) is left as it is."""
    if not (exc.field or "").startswith("inputs["):
        return exc
    return UtterError(exc.status, exc.code, f"Line {number}: {exc.message}", field=exc.field, headers=exc.headers)


def check_script(session: Session, ctx: AppContext, script: Sequence[Line], find: FindVoice,
                 dictionaries: Sequence[pronunciation.Locator] = ()) -> list[dict]:
    """The script's lines as they are kept (voice, text, spoken text), or UtterError naming the line at fault."""
    limit = ctx.settings.max_text_chars
    if not script:
        raise UtterError(422, "script_empty", "The script has no lines: give at least one line with a voice and "
                                              "its text.", field="inputs")
    if len(script) > MAX_LINES:
        raise UtterError(422, "script_too_many_lines",
                         f"The script has {len(script)} lines; the limit is {MAX_LINES}.", field="inputs")
    lines, total = [], 0
    for index, line in enumerate(script):
        number, field = index + 1, f"inputs[{index}]"
        try:
            if not (line.voice or "").strip():
                raise UtterError(422, "voice_missing", "Pick a voice for this line.", field=f"{field}.voice_id")
            voice = find(session, line.voice, f"{field}.voice_id")
            text = clean_text(line.text, limit, f"{field}.text")
            total += len(text)
            if total > limit:
                raise UtterError(422, "script_too_long", f"The script is longer than the limit of {limit} "
                                 "characters (all lines together, break tags included).", field="inputs")
            spoken = pronunciation.spoken_text(session, ctx.engine.info.capabilities, voice, text, dictionaries,
                                               limit, field=f"{field}.text")
        except UtterError as exc:
            raise _in_line(number, exc) from None
        kept = {"voice_id": str(voice.id), "voice_name": voice.name, "text": text, "spoken_text": spoken}
        if dictionaries:  # kept, so a line spoken again later takes the same rules
            kept["dictionaries"] = [[locator.dictionary_id, locator.version_id] for locator in dictionaries]
        lines.append(kept)
    return lines


def script_text(lines: Sequence[dict]) -> str:
    """The script as a person writes it, one `Name: words` a line: the row's text, which history search reads."""
    return "\n".join(f"{line['voice_name']}: {line['text']}" for line in lines)


def line_offsets(lines: Sequence[dict]) -> list[int]:
    """Where each line's words start in script_text(lines) (after its speaker's name): a dialogue's word
    timings are placed in the row's text by these."""
    offsets, position = [], 0
    for line in lines:
        position += len(line["voice_name"]) + 2
        offsets.append(position)
        position += len(line["text"]) + 1
    return offsets


def enqueue(session: Session, ctx: AppContext, lines: list[dict], language: str, speed: float | None) -> Generation:
    names = list(dict.fromkeys(line["voice_name"] for line in lines))
    label = ", ".join(names)
    generation = Generation(id=uuid.uuid4(), kind=GenerationKind.DIALOGUE, voice_id=None,
                            voice_name=label if len(label) <= 100 else label[:99] + "…",
                            text=script_text(lines), lines=lines, language=language,
                            status=GenerationStatus.QUEUED, engine=ctx.engine.info.name, speed=speed)
    admit(session, ctx, [generation])
    return generation


def submit(session: Session, ctx: AppContext, script: Sequence[Line], *, language: str, speed: float | None,
           dictionaries: Sequence[pronunciation.Locator] = (), find: FindVoice = find_by_id) -> Generation:
    """Check a whole script and queue it as one generation (`language` already checked); nothing is saved
    when any line is refused."""
    speed = check_speed(speed)
    lines = check_script(session, ctx, script, find, dictionaries)
    return enqueue(session, ctx, lines, language, speed)


def respeak(session: Session, ctx: AppContext, generation_id: str, line_number: int, *, text: str | None = None,
            voice_id: str | None = None) -> Generation:
    """A new take of a finished dialogue with line `line_number` (from 0) spoken again, optionally with new
    words or another voice; every other line reuses the earlier take's audio."""
    source = get(session, generation_id)
    if source.kind != GenerationKind.DIALOGUE or not source.lines:
        raise UtterError(409, "not_a_dialogue", "Only a line of a dialogue can be spoken again.")
    if source.status != GenerationStatus.DONE:
        raise UtterError(409, "generation_not_ready",
                         f"This dialogue has not finished ({source.status}): wait for it, then speak a line again.")
    if not 0 <= line_number < len(source.lines):
        raise UtterError(404, "line_not_found", f"This dialogue has lines 0 to {len(source.lines) - 1}; "
                                                f"there is no line {line_number}.", field="line")
    old = source.lines[line_number]
    try:
        # The dictionaries the dialogue was asked with apply again (the voice's own always do).
        asked = [pronunciation.Locator(*locator) for locator in old.get("dictionaries", ())]
        (line,) = check_script(session, ctx, [Line(voice_id or old["voice_id"], old["text"] if text is None else text)],
                               find_by_id, asked)
    except UtterError as exc:  # about this one line: name its fields as this request does
        raise UtterError(exc.status, exc.code, exc.message.removeprefix("Line 1: "),
                         field=(exc.field or "").removeprefix("inputs[0].") or None) from None
    limit = ctx.settings.max_text_chars
    if sum(len(kept["text"]) for kept in source.lines) - len(old["text"]) + len(line["text"]) > limit:
        raise UtterError(422, "script_too_long", f"With this line the script is longer than the limit of {limit} "
                                                 "characters.", field="text")
    lines = []
    for index, kept in enumerate(source.lines):
        if index == line_number:
            lines.append(line)
            continue
        # Every other line as it was, voice, words and sound: its audio is reused, even when its voice has
        # been deleted since or its pronunciation rules changed.
        reused = {key: kept[key] for key in ("voice_id", "voice_name", "text", "spoken_text", "dictionaries")
                  if key in kept}
        if kept.get("chunk_samples"):
            reused["reuse"] = {"generation_id": str(source.id), "key": line_key(str(source.id), index),
                               "chunk_samples": kept["chunk_samples"], "sample_rate": kept["sample_rate"]}
        lines.append(reused)
    return enqueue(session, ctx, lines, source.language, source.speed)
