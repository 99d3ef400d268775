"""Comparing what a speech recogniser heard with what was meant to be said."""

from __future__ import annotations

import re
from difflib import SequenceMatcher


def words_of(text: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", text.lower())


def heard_as_written(heard: list[str], expected: list[str], share: float = 0.85) -> list[tuple[int, int]]:
    """(heard index, expected index) of the words the recogniser heard as written, in order. Whisper tiny
    mishears a short word of Piper's now and then ("in" for "on"), so all but a few must be: a line missing,
    repeated, out of order or replaced by another sentence fails. A short text gets a lower `share`: one
    misheard word of seven is already 14 %."""
    matcher = SequenceMatcher(None, heard, expected, autojunk=False)
    pairs = [(a + k, b + k) for a, b, size in matcher.get_matching_blocks() for k in range(size)]
    assert len(pairs) >= share * len(expected) and abs(len(heard) - len(expected)) <= 2, (heard, expected)
    return pairs
