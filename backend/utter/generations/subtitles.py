"""Subtitles (SRT and WebVTT) from a generation's word timings (issue 18).

Cues as subtitle editors and broadcasters' guidelines expect: at most two lines of at most 42
characters, on screen at most 7 seconds; a cue ends at the end of a sentence and at a pause in the
speech, and a line never breaks inside a word. Every word is in exactly one cue, in order. In a
dialogue a cue never holds two lines of the script, and WebVTT names the speaker (`<v Name>`).
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_LINE_CHARS = 42
MAX_LINES = 2
MAX_CUE_SECONDS = 7.0
# A silence this long between two words ends the cue (a new subtitle where the speaker pauses).
PAUSE_SECONDS = 0.5
# A cue is shown at least this long, if the next one leaves room (a one-word cue would flash by).
MIN_CUE_SECONDS = 0.7
_SENTENCE_END = tuple(".!?…。！？")


@dataclass(frozen=True)
class Cue:
    start: float
    end: float
    lines: tuple[str, ...]
    speaker: str | None = None  # who says it, in a dialogue


def cues(words: list[dict], speakers: list[str] | None = None) -> list[Cue]:
    """Cues for timed words ({"text", "start", "end"}, and "line" in a dialogue, in order); `speakers` names
    the speaker of each line of a dialogue."""
    groups: list[list[dict]] = []
    current: list[dict] = []
    for index, word in enumerate(words):
        if current and not _fits(current + [word]):
            groups.append(current)
            current = []
        current.append(word)
        following = words[index + 1] if index + 1 < len(words) else None
        if following is None:
            break
        if (_ends_sentence(word["text"]) or following["start"] - word["end"] >= PAUSE_SECONDS
                or following.get("line") != word.get("line")):
            groups.append(current)
            current = []
    if current:
        groups.append(current)
    made: list[Cue] = []
    for index, group in enumerate(groups):
        start, end = group[0]["start"], group[-1]["end"]
        limit = groups[index + 1][0]["start"] if index + 1 < len(groups) else end + MIN_CUE_SECONDS
        end = max(end, min(start + MIN_CUE_SECONDS, limit))
        line = group[0].get("line")
        speaker = speakers[line] if speakers is not None and line is not None and line < len(speakers) else None
        made.append(Cue(start, max(end, start + 0.001), _lines([w["text"] for w in group]), speaker))
    return made


def _ends_sentence(text: str) -> bool:
    return text.rstrip("\"'”’)]").endswith(_SENTENCE_END)


def _fits(group: list[dict]) -> bool:
    if len(group) == 1:
        return True  # a word longer than a line still gets a cue of its own
    if group[-1]["end"] - group[0]["start"] > MAX_CUE_SECONDS:
        return False
    lines = _lines([w["text"] for w in group])
    return len(lines) <= MAX_LINES and all(len(line) <= MAX_LINE_CHARS for line in lines)


def _lines(texts: list[str]) -> tuple[str, ...]:
    """The words on one line if they fit, else on two lines as even as can be (never inside a word)."""
    whole = " ".join(texts)
    if len(whole) <= MAX_LINE_CHARS or len(texts) == 1:
        return (whole,)
    best = None
    for cut in range(1, len(texts)):
        top, bottom = " ".join(texts[:cut]), " ".join(texts[cut:])
        longest = max(len(top), len(bottom))
        if best is None or longest < best[0]:
            best = (longest, top, bottom)
    return best[1:]


def _stamp(seconds: float, separator: str) -> str:
    millis = max(0, round(seconds * 1000))
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{millis:03d}"


def srt(made: list[Cue]) -> str:
    blocks = [f"{number}\n{_stamp(cue.start, ',')} --> {_stamp(cue.end, ',')}\n" + "\n".join(cue.lines)
              for number, cue in enumerate(made, 1)]
    return "\n\n".join(blocks) + "\n" if blocks else ""


def vtt(made: list[Cue]) -> str:
    blocks = ["WEBVTT"]
    for cue in made:
        text = "\n".join(_escape(line) for line in cue.lines)
        if cue.speaker:
            text = f"<v {_escape(cue.speaker)}>{text}</v>"
        blocks.append(f"{_stamp(cue.start, '.')} --> {_stamp(cue.end, '.')}\n{text}")
    return "\n\n".join(blocks) + "\n"


def _escape(line: str) -> str:
    # WebVTT cue text is markup: a literal & or < would start an entity or a tag (and "-->" ends nothing).
    return line.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
