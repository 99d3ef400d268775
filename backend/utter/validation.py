"""Checks on what people type, shared by every route that accepts it."""

from __future__ import annotations

import uuid

from .errors import UtterError
from .languages import LANGUAGE_NAMES

MAX_NAME_CHARS = 100
MAX_TRANSCRIPT_CHARS = 5000
MIN_SPEED, MAX_SPEED = 0.25, 4.0  # OpenAI's range for its speech API


def clean_name(name: str | None, field: str = "name") -> str:
    cleaned = " ".join((name or "").split())
    if not cleaned:
        raise UtterError(422, "name_missing", "Give the voice a name.", field=field)
    if len(cleaned) > MAX_NAME_CHARS:
        raise UtterError(422, "name_too_long", f"The name is too long: at most {MAX_NAME_CHARS} characters.", field=field)
    return cleaned


def clean_transcript(transcript: str | None) -> str | None:
    cleaned = " ".join((transcript or "").split())
    if len(cleaned) > MAX_TRANSCRIPT_CHARS:
        raise UtterError(422, "transcript_too_long",
                         f"The transcript is too long: at most {MAX_TRANSCRIPT_CHARS} characters.", field="transcript")
    return cleaned or None


def check_text(text: str, limit: int, field: str) -> None:
    """Text to speak, already stripped: not empty, and within `limit` characters."""
    if not text:
        raise UtterError(422, "text_empty", "Type something to say.", field=field)
    if len(text) > limit:
        raise UtterError(422, "text_too_long", f"The text is {len(text)} characters long; the limit is {limit}.",
                         field=field)


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
