"""Checks on what people type, shared by every route that accepts it."""

from __future__ import annotations

import unicodedata
import uuid

from .audio import markup
from .errors import UtterError
from .languages import LANGUAGE_NAMES

MAX_NAME_CHARS = 100
MAX_TRANSCRIPT_CHARS = 5000
MIN_SPEED, MAX_SPEED = 0.25, 4.0  # OpenAI's range for its speech API


def _refuse_surrogates(text: str, field: str) -> None:
    # JSON can carry an unpaired surrogate escape; no engine, database or file can take it.
    if any("\ud800" <= ch <= "\udfff" for ch in text):
        raise UtterError(422, "text_invalid", "The text holds characters that are not valid Unicode (an unpaired "
                                              "surrogate). Send it as UTF-8 text.", field=field)


def _without_controls(text: str, keep_lines: bool = False) -> str:
    """Text without control characters (tabs and line breaks kept as spaces, or line breaks as
    line breaks when `keep_lines`)."""
    kept = "\n" if keep_lines else ""
    return "".join(ch if ch in kept else " " if ch in "\t\n\r" else ch
                   for ch in text.replace("\r\n", "\n") if ch in "\t\n\r" or unicodedata.category(ch) != "Cc")


def printable(text: str | None, field: str) -> str:
    """A label as people should see it: no control, invisible or direction-override characters
    (which can make a name read differently from what it is), spaces collapsed."""
    text = text or ""
    _refuse_surrogates(text, field)
    kept = "".join(ch for ch in text if unicodedata.category(ch) not in ("Cc", "Cf"))
    return " ".join(kept.split())


def clean_name(name: str | None, field: str = "name") -> str:
    cleaned = printable(name, field)
    if not cleaned:
        raise UtterError(422, "name_missing", "Give the voice a name.", field=field)
    if len(cleaned) > MAX_NAME_CHARS:
        raise UtterError(422, "name_too_long", f"The name is too long: at most {MAX_NAME_CHARS} characters.", field=field)
    return cleaned


def clean_transcript(transcript: str | None) -> str | None:
    _refuse_surrogates(transcript or "", "transcript")
    cleaned = " ".join(_without_controls(transcript or "").split())
    if len(cleaned) > MAX_TRANSCRIPT_CHARS:
        raise UtterError(422, "transcript_too_long",
                         f"The transcript is too long: at most {MAX_TRANSCRIPT_CHARS} characters.", field="transcript")
    return cleaned or None


def clean_text(text: str | None, limit: int, field: str) -> str:
    """Text to speak: valid Unicode, without control characters (line breaks kept: a blank line
    makes a paragraph's pause), with break tags Utter can honour (markup.py), with something in
    it to say (a letter or a digit outside tags; zero-width and other invisible characters
    alone are nothing), and within `limit` characters, tags included. Returned stripped."""
    text = text or ""
    _refuse_surrogates(text, field)
    text = _without_controls(text, keep_lines=True).strip()
    try:
        spoken = markup.plain_text(text)
    except markup.MarkupError as exc:
        raise UtterError(422, exc.code, exc.message, field=field) from None
    if not any(ch.isalnum() for ch in spoken):
        raise UtterError(422, "text_empty", "Type something to say: this text has no words in it.", field=field)
    if len(text) > limit:
        raise UtterError(422, "text_too_long", f"The text is {len(text)} characters long; the limit is {limit}.",
                         field=field)
    return text


def clean_language(language: str | None, allowed: tuple[str, ...] | None = None, field: str = "language") -> str:
    code = (language or "auto").strip().lower()
    if code not in LANGUAGE_NAMES:
        known = ", ".join(LANGUAGE_NAMES)
        raise UtterError(422, "language_unknown", f"Unknown language {language!r}. Use one of: {known}.", field=field)
    if allowed is not None and code != "auto" and code not in allowed:
        names = ", ".join(LANGUAGE_NAMES[c] for c in allowed)
        raise UtterError(422, "language_unsupported",
                         f"The running engine cannot speak {LANGUAGE_NAMES[code]}; it speaks: {names}.", field=field)
    return code


def parse_id(value: str, what: str, code: str, field: str | None = None) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except (ValueError, TypeError, AttributeError):
        raise UtterError(422, code, f"{value!r} is not a valid {what} id.", field=field) from None


def check_speed(speed: float | None, field: str = "speed") -> float:
    """A speaking rate: 1 is normal, 2 twice as fast; None means 1."""
    speed = 1.0 if speed is None else float(speed)
    if not MIN_SPEED <= speed <= MAX_SPEED:
        raise UtterError(422, "speed_out_of_range",
                         f"speed must be between {MIN_SPEED} and {MAX_SPEED} (1.0 is normal); got {speed}.",
                         field=field)
    return speed
