"""Written text as it should be said: money, numbers, dates, times, units and abbreviations in words.

Engines like Piper read what they are given: "$45" comes out as "dollar forty five", "$12.50" as
"dollar twelve point five zero", and "Dr. Okafor" gets a sentence break after "Dr". The work is
done by NVIDIA's NeMo text normalisation (`nemo_text_processing`, the `normalize` extra): weighted
finite-state grammars covering currency, decimals, percentages, times, dates, ordinals, years,
measures and the common abbreviations. What it lacks is written here once, in `_before_nemo`:
street types it reads wrongly ("Mulholland Dr." as "doctor", "Main St." at a sentence's end left as
"St."), a few titles and units it leaves alone or misreads ("Prof.", "hp" as "GP", "No. 5"), and
telephone numbers, which it reads as sums.

The grammars compile once per machine (about 40 s on two cores) into a cache folder, then load in
under a second; when the server starts, `warm_up_in_background` compiles them in a child process at
low priority (in this process the compile would starve the server's threads of the GIL) and loads them. A sentence with no
digit, symbol or abbreviation is passed through untouched, so ordinary prose costs nothing; one that
needs the grammars costs 10–40 ms. Only English is normalised here: the only engine that needs it
(Piper) speaks English only. Another language's text is given to the engine as written.
"""

from __future__ import annotations

import fcntl
import logging
import os
import re
import subprocess
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from .text import split_sentences

log = logging.getLogger(__name__)

# Whatever the grammars may change: digits, currency and other symbols, a period inside the sentence
# (an abbreviation: "Dr. Okafor", "U.S. law") or an abbreviation ending it ("on Main St.", "and so on,
# etc."). A sentence without any of these is said as written.
_NEEDS_GRAMMARS = re.compile(r"[0-9$€£¥₹%&@#+/×°]|[A-Za-z]\.\s|\b(?:[A-Z][a-z]?|St|Dr|Ave|Blvd|Rd|Ln|Ct|Hwy|Jr|Sr"
                             r"|Inc|Ltd|Co|etc|Bros|Corp)\.$")

# Street types, which NeMo reads as titles ("Dr.") or leaves as written. After a capitalised word
# ("Mulholland Dr.", "Main St.") and not before another capitalised name, they are streets; before a
# name ("Dr. Okafor", "St. Louis") NeMo already reads them as titles and saints.
_STREET_TYPES = {"St": "Street", "Dr": "Drive", "Ave": "Avenue", "Blvd": "Boulevard", "Rd": "Road",
                 "Ln": "Lane", "Ct": "Court", "Hwy": "Highway", "Pl": "Place", "Sq": "Square"}
_STREET = re.compile(r"\b([A-Z][a-z]+) (" + "|".join(_STREET_TYPES) + r")\.(?!\s+[A-Z])")
# Titles and words NeMo leaves as written, and units it misreads.
_WORDS = [
    (re.compile(r"\bProf\.(?=\s+[A-Z])"), "Professor"),
    (re.compile(r"\bMt\.(?=\s+[A-Z])"), "Mount"),
    (re.compile(r"\bJr\.(?=\s|,|$)"), "Junior"),
    (re.compile(r"\bSr\.(?=\s|,|$)"), "Senior"),
    (re.compile(r"\b[Aa]pprox\.(?=\s)"), "approximately"),
    (re.compile(r"\bNo\.(?=\s*\d)"), "number"),
    (re.compile(r"\betc\.(?=\s+[a-z])"), "etcetera"),
    (re.compile(r"(?<=\d) ?hp\b"), " horsepower"),
    (re.compile(r"(?<=\d) ?hrs?\b"), " hours"),
]
# Telephone numbers ("555-0199", "(212) 555-0199"), which NeMo reads as a sum ("five hundred and
# fifty five-zero..."): said digit by digit, in their groups.
_PHONE = re.compile(r"(?<![\d-])(?:\(?(\d{3})\)?[ -])?(\d{3})-(\d{4})(?![\d-])")


# Phonemes written for Piper by a pronunciation rule (pronunciation/rules.py): never rewritten.
_PHONEMES = re.compile(r"\[\[.*?\]\]", re.S)
_PHONEMES_SPLIT = re.compile(r"(\[\[.*?\]\])", re.S)


def _keep_spaces(piece: str, say) -> str:
    """`say(piece)` with the spaces around the piece kept (they part it from the phonemes beside it)."""
    core = piece.strip()
    start = piece.index(core[0])
    return piece[:start] + say(core) + piece[start + len(core):]


def _digits(group: str | None) -> str:
    return " ".join(group) if group else ""


def _before_nemo(sentence: str) -> str:
    sentence = _STREET.sub(lambda m: f"{m.group(1)} {_STREET_TYPES[m.group(2)]}" + ("." if m.end() == len(sentence) else ""),
                           sentence)
    for pattern, words in _WORDS:
        sentence = pattern.sub(words, sentence)
    return _PHONE.sub(lambda m: ", ".join(_digits(g) for g in m.groups() if g), sentence)


def cache_dir() -> Path:
    """Where the compiled grammars live: shared by every Utter on this machine (UTTER_CACHE_DIR)."""
    base = os.environ.get("UTTER_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "utter")
    return Path(base) / "text-normalization"


def available() -> bool:
    from importlib.util import find_spec

    return find_spec("nemo_text_processing") is not None


class SpokenText:
    """English text to its spoken form; the grammars are loaded once, on first use or by `warm_up`."""

    def __init__(self, cache: Path | None = None):
        self._cache = cache or cache_dir()
        self._normalizer = None
        self._lock = threading.Lock()  # one load; pynini's rewriting is not known to be thread-safe

    def _grammars(self):
        if self._normalizer is None:
            from nemo_text_processing.text_normalization.normalize import Normalizer

            self._cache.mkdir(parents=True, exist_ok=True)
            # NeMo logs at INFO about every sentence it leaves partly as written, and sets its logger back
            # to INFO on each call: a filter keeps the server's log readable.
            logging.getLogger("NeMo-text-processing").addFilter(lambda record: record.levelno >= logging.WARNING)
            # Several processes may start at once (a server and its workers): one compiles, the others
            # wait for its cache file instead of compiling the same grammars beside it.
            with open(self._cache / ".lock", "w") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                self._normalizer = Normalizer(input_case="cased", lang="en", cache_dir=str(self._cache))
        return self._normalizer

    def warm_up(self) -> None:
        with self._lock:
            self._grammars()

    def say(self, text: str) -> str:
        """The whole text in words, sentence by sentence (the grammars are slow on long inputs).

        Phonemes a pronunciation rule wrote for the engine ("[[ ˈwɪn ]]") are passed through as they are."""
        if "[[" in text:
            return "".join(piece if _PHONEMES.fullmatch(piece) or not piece.strip() else _keep_spaces(piece, self._say)
                           for piece in _PHONEMES_SPLIT.split(text))
        return self._say(text)

    def _say(self, text: str) -> str:
        spoken = []
        for sentence in split_sentences(text):
            if not _NEEDS_GRAMMARS.search(sentence):
                spoken.append(sentence)
                continue
            prepared = _before_nemo(sentence)
            with self._lock:
                spoken.append(self._grammars().normalize(prepared, punct_post_process=True))
        return " ".join(spoken)


_shared: SpokenText | None = None
_shared_lock = threading.Lock()


def shared() -> SpokenText:
    """The process's one SpokenText: the grammars take ~150 MB, so they are loaded once."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = SpokenText()
        return _shared


def compiled(cache: Path | None = None) -> bool:
    """Whether the grammars are compiled into the cache already (NeMo keeps them as .far archives)."""
    return any((cache or cache_dir()).glob("*.far"))


def compile_in_subprocess(cache: Path | None = None, timeout: float = 900) -> bool:
    """Compile the grammars into the cache in a process of its own, at low priority.

    In this process the compile would hold the GIL for most of its ~40 s (measured: the server's other
    threads got an eighth of their time, stalls of 3 s), so a first start would answer slowly; in a
    child process at nice 10 the server stays responsive and loads the cache in under a second after.
    """
    env = {**os.environ, "UTTER_CACHE_DIR": str((cache or cache_dir()).parent)}
    try:
        done = subprocess.run([sys.executable, "-m", "utter.audio.text_normalization"], env=env, timeout=timeout,
                              preexec_fn=lambda: os.nice(10), capture_output=True, text=True)
    except (OSError, subprocess.TimeoutExpired) as exc:
        log.warning("text normalisation: compiling the grammars failed: %s", exc)
        return False
    if done.returncode != 0:
        log.warning("text normalisation: compiling the grammars failed: %s", done.stderr[-2000:])
    return done.returncode == 0


def warm_up_in_background() -> threading.Thread:
    """Compile (in a child process) or load the grammars without holding up start-up; a generation that
    needs them meanwhile waits for them."""

    def load() -> None:
        try:
            if not compiled():
                compile_in_subprocess()
            shared().warm_up()
        except Exception:  # noqa: BLE001 - a broken install is reported when a generation needs it
            log.exception("text normalisation could not load its grammars")

    thread = threading.Thread(target=load, name="text-normalization-warm-up", daemon=True)
    thread.start()
    return thread


class SpokenChunks(Sequence[str]):
    """The chunks of a generation in spoken form, each turned into words when the engine asks for it.

    Lazily, so that a 5,000-character text waits for its first chunk only, not for all of them.
    """

    def __init__(self, chunks: Sequence[str], spoken: SpokenText):
        self._chunks = list(chunks)
        self._spoken = spoken
        self._said: dict[int, str] = {}

    def __len__(self) -> int:
        return len(self._chunks)

    def __getitem__(self, index):  # type: ignore[override]
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        index = range(len(self))[index]
        if index not in self._said:
            self._said[index] = self._spoken.say(self._chunks[index])
        return self._said[index]


def applies(choice: str, needs_normalized_text: bool) -> bool:
    """Whether an engine's text goes through the normaliser under UTTER_TEXT_NORMALIZATION=`choice`."""
    return choice == "always" or (choice == "auto" and needs_normalized_text)


def status(choice: str, needs_normalized_text: bool) -> dict:
    """What /api/engine says: on or off, and why, in words a person understands."""
    if not applies(choice, needs_normalized_text):
        why = ("switched off by UTTER_TEXT_NORMALIZATION=off" if choice == "off"
               else "this engine reads numbers and abbreviations itself")
        return {"active": False, "reason": why}
    if not available():
        return {"active": False, "reason": "not installed: numbers, money and abbreviations are read as written "
                "(pip install 'utter[normalize]')"}
    return {"active": True, "languages": ["en"],
            "reason": "numbers, money, dates, times, units and abbreviations are said in words (English)"}


def for_generation(choice: str, needs_normalized_text: bool, language: str) -> SpokenText | None:
    """The normaliser a generation's chunks go through, or None: they are spoken as written."""
    if language not in ("en", "auto") or not applies(choice, needs_normalized_text) or not available():
        return None
    return shared()


if __name__ == "__main__":  # `python -m utter.audio.text_normalization`: compile the grammars (see compile_in_subprocess)
    SpokenText().warm_up()
