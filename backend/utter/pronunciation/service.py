"""Pronunciation dictionaries: making and changing them, reading them as PLS, and applying them to a text."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session

from ..adapters.tts.base import Capabilities
from ..errors import UtterError
from ..models import PronunciationDictionary, PronunciationDictionaryVersion, Voice
from ..validation import MAX_NAME_CHARS, parse_id, printable
from ..voices import service as voices
from . import repository
from .pls import parse_pls, write_pls
from .rules import Rewriter, Rule, RuleError, check_rules, make_rule
from .schemas import DictionaryPublic, RuleIn, RulePublic

# Dictionaries one request may name (ElevenLabs' limit), besides its voice's own.
MAX_DICTIONARIES_PER_REQUEST = 3
MAX_DESCRIPTION_CHARS = 1000


@dataclass(frozen=True)
class Locator:
    """A dictionary a request names, at a version (None: its latest)."""

    dictionary_id: str
    version_id: str | None = None


def _refused(exc: RuleError, field: str | None) -> UtterError:
    status = 413 if exc.code == "pls_too_large" else 422
    return UtterError(status, exc.code, exc.message, field=field)


def rules_from(items: Sequence[RuleIn], field: str = "rules") -> list[Rule]:
    """Checked rules from a request's list; raises UtterError."""
    try:
        # A phoneme rule's alias, if it has one, is what engines without phonemes say.
        rules = [make_rule(item.string_to_replace, alias=item.alias,
                           phoneme=item.phoneme if item.type != "alias" else None, alphabet=item.alphabet,
                           case_sensitive=item.case_sensitive, word_boundaries=item.word_boundaries)
                 for item in items]
        return check_rules(rules)
    except RuleError as exc:
        raise _refused(exc, field) from None


def _name(name: str | None) -> str:
    cleaned = printable(name, "name")
    if not cleaned:
        raise UtterError(422, "name_missing", "Give the dictionary a name.", field="name")
    if len(cleaned) > MAX_NAME_CHARS:
        raise UtterError(422, "name_too_long", f"The name is too long: at most {MAX_NAME_CHARS} characters.",
                         field="name")
    return cleaned


def _description(description: str | None) -> str | None:
    cleaned = printable(description, "description") or None
    if cleaned and len(cleaned) > MAX_DESCRIPTION_CHARS:
        raise UtterError(422, "description_too_long", f"The description may be at most {MAX_DESCRIPTION_CHARS} "
                                                      "characters.", field="description")
    return cleaned


def create(session: Session, name: str | None, description: str | None, rules: list[Rule]) -> PronunciationDictionary:
    dictionary = repository.add(session, _name(name), _description(description), [r.to_json() for r in rules])
    session.commit()
    return dictionary


def create_from_pls(session: Session, name: str | None, description: str | None, data: bytes) -> PronunciationDictionary:
    """A dictionary from a PLS file; a file that cannot be used whole saves nothing."""
    name = _name(name)
    try:
        rules = parse_pls(data)
    except RuleError as exc:
        raise _refused(exc, "file") from None
    return create(session, name, description, rules)


def get(session: Session, dictionary_id: str, field: str | None = None) -> PronunciationDictionary:
    parsed = parse_id(dictionary_id, "pronunciation dictionary", "invalid_pronunciation_dictionary_id", field=field)
    dictionary = repository.get(session, parsed)
    if dictionary is None:
        raise UtterError(404, "pronunciation_dictionary_not_found",
                         f"No pronunciation dictionary {dictionary_id!r} exists (it may have been deleted).",
                         field=field)
    return dictionary


def version(session: Session, dictionary: PronunciationDictionary, version_id: str | None,
            field: str | None = None) -> PronunciationDictionaryVersion:
    """One version of a dictionary: the latest when `version_id` is None."""
    if version_id is None:
        return repository.latest(session, dictionary)
    found = repository.version(session, dictionary.id, parse_id(version_id, "version", "invalid_version_id",
                                                                  field=field))
    if found is None:
        raise UtterError(404, "pronunciation_version_not_found",
                         f"The pronunciation dictionary {dictionary.name!r} has no version {version_id!r}.",
                         field=field)
    return found


def update(session: Session, dictionary_id: str, *, name: str | None = None, description: str | None = None,
           rules: list[Rule] | None = None, fields: set[str] = frozenset()) -> PronunciationDictionary:
    """Rename, describe, or give new rules (a new version) — only what `fields` names."""
    dictionary = get(session, dictionary_id)
    if "name" in fields:
        dictionary.name = _name(name)
    if "description" in fields:
        dictionary.description = _description(description)
    if rules is not None:
        repository.add_version(session, dictionary, [r.to_json() for r in rules])
    session.commit()
    return dictionary


def delete(session: Session, dictionary_id: str) -> None:
    """The dictionary and all its versions; voices that used it by default use none. Generations already
    queued keep the text their rules made."""
    dictionary = get(session, dictionary_id)
    voices.detach_dictionary(session, dictionary.id)
    repository.delete(session, dictionary)
    session.commit()


def rules_of(version: PronunciationDictionaryVersion) -> list[Rule]:
    return [Rule.from_json(data) for data in version.rules]


def pls(session: Session, dictionary_id: str, version_id: str | None = None) -> tuple[PronunciationDictionary, bytes]:
    dictionary = get(session, dictionary_id)
    return dictionary, write_pls(rules_of(version(session, dictionary, version_id)))


def rule_public(rule: Rule) -> RulePublic:
    return RulePublic(type=rule.kind, string_to_replace=rule.string_to_replace, alias=rule.alias,
                      phoneme=rule.phoneme, alphabet="ipa" if rule.phoneme else None,
                      case_sensitive=rule.case_sensitive)


def to_public(dictionary: PronunciationDictionary, latest: PronunciationDictionaryVersion) -> DictionaryPublic:
    rules = rules_of(latest)
    return DictionaryPublic(id=dictionary.id, name=dictionary.name, description=dictionary.description,
                            latest_version_id=latest.id, version=latest.number,
                            rules=[rule_public(r) for r in rules], rules_count=len(rules),
                            pls_url=f"/api/pronunciation-dictionaries/{dictionary.id}/pls",
                            created_at=dictionary.created_at, updated_at=dictionary.updated_at)


def spoken_text(session: Session, caps: Capabilities, voice: Voice, text: str, locators: Sequence[Locator],
                limit: int, field: str = "text") -> str | None:
    """`text` as the engine should be given it: the rules of the request's dictionaries (first
    named first), then of the voice's own, applied once. None when no rule changes it. Refuses a
    result past `limit` characters and phoneme rules the engine cannot read."""
    if len(locators) > MAX_DICTIONARIES_PER_REQUEST:
        raise UtterError(422, "pronunciation_too_many_dictionaries",
                         f"A request may name at most {MAX_DICTIONARIES_PER_REQUEST} pronunciation dictionaries.",
                         field="pronunciation_dictionary_ids")
    rules: list[Rule] = []
    for locator in locators:
        dictionary = get(session, locator.dictionary_id, field="pronunciation_dictionary_ids")
        rules += rules_of(version(session, dictionary, locator.version_id, field="pronunciation_dictionary_ids"))
    if voice.pronunciation_dictionary_id is not None:
        own = repository.get(session, voice.pronunciation_dictionary_id)
        if own is not None:
            rules += rules_of(repository.latest(session, own))
    if not rules:
        return None
    try:
        rewritten = Rewriter(rules).rewrite(text, caps.phoneme_markup, caps.phoneme_symbols)
    except RuleError as exc:
        raise _refused(exc, field) from None
    if rewritten == text:
        return None
    if len(rewritten) > limit:
        raise UtterError(422, "pronunciation_too_long",
                         f"With its pronunciation rules applied the text becomes {len(rewritten)} characters long; "
                         f"the limit is {limit}. Shorten the text or the aliases.", field=field)
    return rewritten


def file_name(dictionary: PronunciationDictionary) -> str:
    """A safe file name for its PLS export."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", dictionary.name).strip("-.")[:60] or "lexicon"
    return f"{stem}.pls"


def _key(rule: Rule) -> str:
    return rule.string_to_replace if rule.case_sensitive else rule.string_to_replace.casefold()


def add_rules(session: Session, dictionary_id: str, new: list[Rule]) -> PronunciationDictionaryVersion:
    """A new version with `new` added (a rule for a word already there replaces it)."""
    dictionary = get(session, dictionary_id)
    replaced = {_key(rule) for rule in new}
    kept = [rule for rule in rules_of(repository.latest(session, dictionary)) if _key(rule) not in replaced]
    return _new_version(session, dictionary, kept + new)


def remove_rules(session: Session, dictionary_id: str, words: list[str]) -> PronunciationDictionaryVersion:
    """A new version without the rules for `words` (as written in the rules)."""
    dictionary = get(session, dictionary_id)
    gone = set(words)
    kept = [rule for rule in rules_of(repository.latest(session, dictionary)) if rule.string_to_replace not in gone]
    return _new_version(session, dictionary, kept)


def set_rules(session: Session, dictionary_id: str, rules: list[Rule]) -> PronunciationDictionaryVersion:
    return _new_version(session, get(session, dictionary_id), rules)


def _new_version(session: Session, dictionary: PronunciationDictionary,
                 rules: list[Rule]) -> PronunciationDictionaryVersion:
    try:
        checked = check_rules(rules)
    except RuleError as exc:
        raise _refused(exc, "rules") from None
    version = repository.add_version(session, dictionary, [r.to_json() for r in checked])
    session.commit()
    return version
