"""Pronunciation rules: what they may say, and rewriting a text with them.

A rule names a word (or words) as written and says how to say it: an alias (other
words, `Nguyen` → `Win`), understood by every engine, or a phoneme spelling in IPA,
understood by engines that read phonemes (Piper). A phoneme rule may carry an alias
too, which engines without phonemes use instead.

Matching is by whole words: `SQL` matches in "SQL's" and "(SQL)" but never inside
"MySQL" or "SQLite". A case-sensitive rule (the default, as in ElevenLabs' API)
matches the case written; a case-insensitive one any case. Rules are applied in one
pass, so what a rule writes is never rewritten again; a dictionary whose rule would
rewrite its own result, or another rule's (`SQL` → `SQL server`, or `A` → `B` with
`B` → `A`), is refused rather than left to depend on the order rules happen to run in.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ..audio import markup

MAX_RULES = 1000  # per dictionary
MAX_GRAPHEME_CHARS = 100
MAX_ALIAS_CHARS = 200
MAX_PHONEME_CHARS = 200
PHONEME_ALPHABETS = ("ipa",)
# Characters an alias or phoneme may not hold: they would be read as markup (break tags, Piper's [[ ]]).
_MARKUP_CHARS = set("<>[]")
# IPA as people type it, as engines read it: syllable breaks and the slashes or brackets around a
# transcription carry no sound; ASCII g and a colon are the usual stand-ins for IPA's ɡ and ː.
_IPA_AS_TYPED = str.maketrans({".": None, "/": None, "[": None, "]": None, "g": "ɡ", ":": "ː"})


class RuleError(ValueError):
    """A rule or set of rules Utter cannot use; `code` is the API's error code."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Rule:
    string_to_replace: str
    alias: str | None = None
    phoneme: str | None = None  # IPA
    case_sensitive: bool = True

    @property
    def kind(self) -> str:
        return "phoneme" if self.phoneme else "alias"

    def to_json(self) -> dict:
        data: dict = {"type": self.kind, "string_to_replace": self.string_to_replace,
                      "case_sensitive": self.case_sensitive, "word_boundaries": True}
        if self.phoneme:
            data |= {"phoneme": self.phoneme, "alphabet": "ipa"}
        if self.alias is not None:
            data["alias"] = self.alias
        return data

    @classmethod
    def from_json(cls, data: dict) -> Rule:
        return cls(string_to_replace=data["string_to_replace"], alias=data.get("alias"),
                   phoneme=data.get("phoneme"), case_sensitive=data.get("case_sensitive", True))


def make_rule(string_to_replace: str | None, *, alias: str | None = None, phoneme: str | None = None,
              alphabet: str | None = None, case_sensitive: bool | None = None,
              word_boundaries: bool | None = None) -> Rule:
    """A checked rule from what a person or a file gave; raises RuleError."""
    grapheme = _clean(string_to_replace)
    if not grapheme or not any(ch.isalnum() for ch in grapheme):
        raise RuleError("pronunciation_rule_invalid", "Each rule needs the word it replaces (string_to_replace).")
    where = f"The rule for {grapheme!r}"
    if len(grapheme) > MAX_GRAPHEME_CHARS:
        raise RuleError("pronunciation_rule_invalid", f"{where}: the word to replace may be at most "
                                                      f"{MAX_GRAPHEME_CHARS} characters.")
    if word_boundaries is False:
        raise RuleError("pronunciation_rule_invalid", f"{where} asks to match inside words (word_boundaries: "
                                                      "false); Utter's rules match whole words only.")
    alias = _clean(alias) if alias is not None else None
    if alias is not None:
        if not alias or not any(ch.isalnum() for ch in alias):
            raise RuleError("pronunciation_rule_invalid", f"{where} has an empty alias: write how to say it.")
        if len(alias) > MAX_ALIAS_CHARS:
            raise RuleError("pronunciation_rule_invalid", f"{where}: the alias may be at most {MAX_ALIAS_CHARS} "
                                                          "characters.")
        if _MARKUP_CHARS & set(alias):
            raise RuleError("pronunciation_rule_invalid", f"{where}: an alias is plain words, without < > [ ].")
    if phoneme is not None:
        if (alphabet or "ipa").strip().lower() not in PHONEME_ALPHABETS:
            raise RuleError("pronunciation_alphabet_unsupported",
                            f"{where} spells its phonemes in {alphabet!r}; Utter reads IPA only (alphabet \"ipa\").")
        phoneme = " ".join(_clean(phoneme).translate(_IPA_AS_TYPED).split())
        if not phoneme or len(phoneme) > MAX_PHONEME_CHARS or _MARKUP_CHARS & set(phoneme):
            raise RuleError("pronunciation_rule_invalid", f"{where}: its phonemes must be 1 to {MAX_PHONEME_CHARS} "
                                                          "IPA characters.")
    if alias is None and phoneme is None:
        raise RuleError("pronunciation_rule_invalid", f"{where} says neither an alias nor a phoneme spelling.")
    return Rule(grapheme, alias=alias, phoneme=phoneme,
                case_sensitive=True if case_sensitive is None else bool(case_sensitive))


def check_rules(rules: Sequence[Rule]) -> list[Rule]:
    """A dictionary's rules, checked as a whole: not too many, one rule per word, and no rule whose
    result another rule (or itself) would rewrite again."""
    if len(rules) > MAX_RULES:
        raise RuleError("pronunciation_too_many_rules", f"A dictionary may hold at most {MAX_RULES} rules; "
                                                        f"this one has {len(rules)}.")
    seen: dict[str, Rule] = {}
    for rule in rules:
        key = rule.string_to_replace if rule.case_sensitive else rule.string_to_replace.casefold()
        if key in seen:
            raise RuleError("pronunciation_rule_duplicate",
                            f"Two rules replace {rule.string_to_replace!r}; keep one.")
        seen[key] = rule
    matcher = Rewriter(rules)
    for rule in rules:
        if rule.alias is None:
            continue
        found = matcher.first_match(rule.alias)
        if found is not None:
            raise RuleError("pronunciation_rule_loop",
                            f"The alias {rule.alias!r} for {rule.string_to_replace!r} contains "
                            f"{found.string_to_replace!r}, which a rule of this dictionary rewrites again: "
                            "rules are applied once, so the result would depend on their order. "
                            "Write the alias as it should finally be said.")
    return list(rules)


class PhonemesUnsupported(RuleError):
    def __init__(self, words: Iterable[str]):
        listed = ", ".join(sorted(set(words)))
        super().__init__("pronunciation_phonemes_unsupported",
                         f"The running engine cannot read phoneme spellings, and the rules for {listed} have no "
                         "alias to use instead. Give those rules an alias, or use the Piper engine.")


class Rewriter:
    """Rules compiled into one pattern: the longest written form wins where several start at one place."""

    def __init__(self, rules: Iterable[Rule]):
        self._rules: list[Rule] = []
        alternatives = []
        taken: set[str] = set()
        # The first rule for a word wins (the request's dictionaries come before the voice's).
        for rule in rules:
            key = rule.string_to_replace if rule.case_sensitive else rule.string_to_replace.casefold()
            if key in taken:
                continue
            taken.add(key)
            self._rules.append(rule)
        order = sorted(range(len(self._rules)), key=lambda i: -len(self._rules[i].string_to_replace))
        for index in order:
            rule = self._rules[index]
            written = re.escape(rule.string_to_replace)
            alternatives.append(f"(?P<r{index}>{written if rule.case_sensitive else '(?i:' + written + ')'})")
        self._pattern = (re.compile(r"(?<!\w)(?:" + "|".join(alternatives) + r")(?!\w)")
                         if alternatives else None)

    def _rule(self, match: re.Match) -> Rule:
        return self._rules[int(match.lastgroup[1:])]

    def first_match(self, text: str) -> Rule | None:
        match = self._pattern.search(text) if self._pattern else None
        return self._rule(match) if match else None

    def rewrite(self, text: str, phoneme_markup: str | None = None, phoneme_symbols: frozenset[str] = frozenset()) -> str:
        """`text` with every rule applied once (the text itself when none applies). Phoneme rules are
        written in `phoneme_markup` (e.g. "[[ {} ]]"), or by their alias where the engine reads no
        phonemes (PhonemesUnsupported when a rule that matches has none). Words inside tags are left
        alone; pauses come out as canonical break tags."""
        if self._pattern is None:
            return text
        missing: list[str] = []
        applied: list[Rule] = []

        def replace(match: re.Match) -> str:
            rule = self._rule(match)
            applied.append(rule)
            if rule.phoneme and phoneme_markup:
                return phoneme_markup.format(_engine_phonemes(rule, phoneme_symbols))
            if rule.alias is not None:
                return rule.alias
            missing.append(rule.string_to_replace)
            return match.group(0)

        rewritten = "".join(
            f'<break time="{part.seconds:g}s"/>' if isinstance(part, markup.Pause) else self._pattern.sub(replace, part)
            for part in markup.parse(text))
        if missing:
            raise PhonemesUnsupported(missing)
        return rewritten if applied else text


def _engine_phonemes(rule: Rule, symbols: frozenset[str]) -> str:
    unknown = sorted({ch for ch in rule.phoneme if not ch.isspace() and symbols and ch not in symbols})
    if unknown:
        raise RuleError("pronunciation_phoneme_unknown",
                        f"The phonemes for {rule.string_to_replace!r} use symbols the running engine does not "
                        f"know: {' '.join(unknown)}.")
    return rule.phoneme


def _clean(value: str | None) -> str:
    """One line of printable text (no control or invisible characters), spaces collapsed."""
    kept = "".join(ch for ch in unicodedata.normalize("NFC", value or "") if unicodedata.category(ch) not in ("Cc", "Cf"))
    return " ".join(kept.split())
