"""Pauses in text to speak: `<break time="1.5s"/>` tags and blank lines between paragraphs.

The break tag is the form ElevenLabs documents (`time` in seconds, `1.5s`, or in
milliseconds, `500ms`). Pauses are made by the service, as silence between the pieces
of text an engine speaks, so every engine gets them the same way; no engine ever sees
a tag.

Any other tag written as markup (`<emphasis level="strong">`, `</prosody>`, `<b>`) was
meant for a machine, not to be read out: it is dropped and the words inside it are
kept. Everything else with an angle bracket (`x < y`, `<3`, `<-`) is text and is read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# The longest pause one tag may ask for (ElevenLabs' limit too): longer silences are
# almost always a typo ("15s" for "1.5s"), and nobody waits through them in a stream.
MAX_BREAK_SECONDS = 5.0
# Silence added between paragraphs (a blank line) on top of the engine's own pause after a
# sentence, so a new paragraph is heard as one.
PARAGRAPH_PAUSE_SECONDS = 0.4

# A tag as markup languages write one: a name, then name="value" attributes only.
_TAG = re.compile(
    r"<\s*(?P<closing>/?)\s*(?P<name>[A-Za-z][\w:.-]*)"
    r"(?P<attributes>(?:\s+[A-Za-z_][\w:.-]*\s*=\s*(?:\"[^\"<>]*\"|'[^'<>]*'))*)"
    r"\s*/?\s*>"
)
_ATTRIBUTE = re.compile(r"([A-Za-z_][\w:.-]*)\s*=\s*(?:\"([^\"]*)\"|'([^']*)')")
_DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)\s*(s|ms)", re.IGNORECASE)
_PARAGRAPH = re.compile(r"\n[^\S\n]*\n\s*")
# "<break" that is not a whole tag (time=1s without quotes, a missing ">"): meant as a break, not as words.
_BROKEN_BREAK = re.compile(r"<\s*/?\s*break\b", re.IGNORECASE)


class MarkupError(ValueError):
    """A break tag that cannot be honoured; `code` is the API's error code."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Pause:
    seconds: float


Part = str | Pause


def parse(text: str) -> list[Part]:
    """The text as words to speak and pauses, in order: adjacent text is joined, adjacent
    pauses are added up, and a paragraph break next to a break tag adds nothing (the tag
    says how long that pause is). Raises MarkupError for a break it cannot honour."""
    parts: list[Part] = []
    position = 0
    for match in _TAG.finditer(text):
        _add_paragraphs(parts, text[position:match.start()])
        position = match.end()
        if match["name"].lower() != "break":
            continue  # other markup: the tag goes, the words around and inside it stay
        if match["closing"]:
            continue  # "<break ...></break>": the opening tag made the pause
        _add(parts, Pause(_break_seconds(match.group(0), match["attributes"])))
    _add_paragraphs(parts, text[position:])
    return [Pause(part.seconds) if isinstance(part, _ParagraphPause) else part for part in parts]


@dataclass(frozen=True)
class Tag:
    start: int
    end: int
    is_break: bool


def tags(text: str) -> list[Tag]:
    """Where the tags are in `text` (what parse leaves out), for mapping words back to the typed text."""
    return [Tag(m.start(), m.end(), m["name"].lower() == "break") for m in _TAG.finditer(text)]


def plain_text(text: str) -> str:
    """What will be said, without tags or pauses (to check there is something to say)."""
    return " ".join(part for part in parse(text) if isinstance(part, str))


@dataclass(frozen=True)
class _ParagraphPause(Pause):
    """A paragraph's pause before it is known whether a break tag stands beside it."""


def _add_paragraphs(parts: list[Part], text: str) -> None:
    broken = _BROKEN_BREAK.search(text)
    if broken:
        tag = text[broken.start():broken.start() + 40].split(">")[0]
        raise MarkupError("break_invalid", f"{tag!r} is not a break Utter can read: write it as "
                                           '<break time="1.5s"/>, with the time in quotes.')
    paragraphs = _PARAGRAPH.split(text)
    for index, paragraph in enumerate(paragraphs):
        if index:
            _add(parts, _ParagraphPause(PARAGRAPH_PAUSE_SECONDS))
        if paragraph.strip():
            _add(parts, paragraph)
        elif paragraph and parts and isinstance(parts[-1], str):
            parts[-1] += " "  # keeps "a <b>x</b>" from becoming "ax"


def _add(parts: list[Part], part: Part) -> None:
    last = parts[-1] if parts else None
    if isinstance(part, str):
        if isinstance(last, str):
            parts[-1] = last + part
        else:
            parts.append(part)
    elif not isinstance(last, Pause):
        parts.append(part)
    elif isinstance(part, _ParagraphPause):
        pass  # a paragraph break beside a pause already there adds nothing
    elif isinstance(last, _ParagraphPause):
        parts[-1] = part  # a tag beside a paragraph break sets that pause
    else:
        # Breaks in a row make one pause, held to the same cap: the cap is about silences nobody
        # waits through, however they are written.
        seconds = last.seconds + part.seconds
        if seconds > MAX_BREAK_SECONDS:
            raise MarkupError("break_too_long", f"Breaks in a row ask for a {seconds:g} s pause; a pause can be "
                                                f"at most {MAX_BREAK_SECONDS:g} s.")
        parts[-1] = Pause(seconds)


def _break_seconds(tag: str, attributes: str) -> float:
    values = {name.lower(): first or second  # findall gives "" for the quote not used
              for name, first, second in _ATTRIBUTE.findall(attributes)}
    if "time" not in values:
        raise MarkupError("break_invalid", f"{tag} has no time: write the pause's length, e.g. "
                                           '<break time="1.5s"/> or <break time="500ms"/>.')
    match = _DURATION.fullmatch(values["time"].strip())
    if match is None:
        raise MarkupError("break_invalid", f"{tag}: {values['time']!r} is not a length of time; write it in "
                                           'seconds or milliseconds, e.g. time="1.5s" or time="500ms".')
    seconds = float(match[1]) / (1000 if match[2].lower() == "ms" else 1)
    if seconds > MAX_BREAK_SECONDS:
        raise MarkupError("break_too_long", f"{tag} asks for a {seconds:g} s pause; one break can be at most "
                                            f"{MAX_BREAK_SECONDS:g} s.")
    return seconds
