"""Splitting text into pieces an engine can speak well.

Pauses first (break tags and paragraphs, see markup.py), then sentence boundaries (not
after common abbreviations, initials or decimal points), then, for sentences longer than
the engine's limit, at commas or spaces.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .markup import Pause, parse

_ABBREVIATIONS = {
    "mr", "mrs", "ms", "dr", "prof", "sr", "jr", "st", "mt", "vs", "etc", "e.g", "i.e", "inc", "ltd",
    "co", "no", "fig", "approx", "dept", "gen", "gov", "jan", "feb", "mar", "apr", "jun", "jul", "aug",
    "sep", "sept", "oct", "nov", "dec", "u.s", "a.m", "p.m",
}
# A sentence ends at . ! ? … (and CJK 。！？), possibly followed by closing quotes or brackets.
_END = re.compile(r"[.!?…。！？]+[\"'”’)\]]*")


def split_sentences(text: str) -> list[str]:
    text = " ".join(text.split())
    sentences: list[str] = []
    start = 0
    for match in _END.finditer(text):
        end = match.end()
        if end < len(text) and not text[end].isspace() and not _is_cjk(match.group()[0]):
            continue  # "3.14", "e.g.x": not a boundary
        following = text[end:].lstrip()[:1]
        if following.islower():
            continue  # '"Really?" she asked.' is one sentence
        word = text[start:match.start()].rsplit(" ", 1)[-1].lower()
        if match.group().startswith(".") and (word in _ABBREVIATIONS or (len(word) == 1 and word.isalpha())):
            continue
        piece = text[start:end].strip()
        if piece:
            sentences.append(piece)
        start = end
    tail = text[start:].strip()
    if tail:
        sentences.append(tail)
    return sentences


def _is_cjk(char: str) -> bool:
    return char in "。！？"


def chunk_text(text: str, max_chars: int, first_max_chars: int | None = None) -> list[str]:
    """Group sentences into chunks of at most `max_chars`, splitting over-long sentences.

    `first_max_chars` keeps the first chunk short, so the first audio is ready about as
    fast for a 5,000-character article as for a single sentence.
    """
    chunks: list[str] = []
    current = ""
    limit = min(first_max_chars or max_chars, max_chars)
    for sentence in split_sentences(text):
        for piece in _split_long(sentence, limit if not chunks and not current else max_chars):
            if current and len(current) + 1 + len(piece) > limit:
                chunks.append(current)
                limit = max_chars
                current = piece
            else:
                current = f"{current} {piece}".strip()
    if current:
        chunks.append(current)
    return chunks


def _split_long(sentence: str, max_chars: int) -> list[str]:
    if len(sentence) <= max_chars:
        return [sentence]
    pieces: list[str] = []
    rest = sentence
    while len(rest) > max_chars:
        window = rest[:max_chars]
        cut = max(window.rfind(", "), window.rfind("; "), window.rfind(": "))
        if cut < max_chars // 3:
            cut = window.rfind(" ")
        if cut <= 0:
            cut = max_chars - 1  # no space at all (e.g. Chinese): cut hard
        opened = window.rfind("[[", 0, cut + 1)
        if opened > 0 and window.rfind("]]", 0, cut + 1) < opened:
            cut = opened - 1  # never inside a phoneme spelling ([[ ... ]], from a pronunciation rule)
        pieces.append(rest[: cut + 1].strip())
        rest = rest[cut + 1:].strip()
    if rest:
        pieces.append(rest)
    return pieces


@dataclass(frozen=True)
class SpeechPlan:
    """A text as the engine will speak it: chunks of words, and the silence around them."""

    chunks: tuple[str, ...]
    pauses: tuple[float, ...]  # seconds of silence after each chunk
    lead: float = 0.0  # seconds of silence before the first chunk


def plan_speech(text: str, max_chars: int, first_max_chars: int | None = None) -> SpeechPlan:
    """Chunks and pauses for `text` (already checked: its break tags are valid); a pause always
    falls between two chunks, or before the first or after the last."""
    chunks: list[str] = []
    pauses: list[float] = []
    lead = 0.0
    for part in parse(text):
        if isinstance(part, Pause):
            if pauses:
                pauses[-1] += part.seconds
            else:
                lead += part.seconds
            continue
        if not any(ch.isalnum() for ch in part):
            continue  # only punctuation between two pauses: nothing to say
        pieces = chunk_text(part, max_chars, None if chunks else first_max_chars)
        chunks += pieces
        pauses += [0.0] * len(pieces)
    return SpeechPlan(tuple(chunks), tuple(pauses), lead)
