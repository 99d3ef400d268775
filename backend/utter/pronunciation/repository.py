"""Every query of the pronunciation dictionary tables (dictionaries and their versions)."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..models import PronunciationDictionary, PronunciationDictionaryVersion, utcnow


def add(session: Session, name: str, description: str | None, rules: list[dict]) -> PronunciationDictionary:
    """A new dictionary with its first version (flushed, not committed)."""
    dictionary_id, version_id = uuid.uuid4(), uuid.uuid4()
    dictionary = PronunciationDictionary(id=dictionary_id, name=name, description=description,
                                         latest_version_id=version_id)
    session.add(dictionary)
    session.flush()  # the version's foreign key needs the dictionary row first
    session.add(PronunciationDictionaryVersion(id=version_id, dictionary_id=dictionary_id, number=1, rules=rules))
    session.flush()
    return dictionary


def add_version(session: Session, dictionary: PronunciationDictionary, rules: list[dict]) -> PronunciationDictionaryVersion:
    """The dictionary's rules from now on, as a new version (flushed, not committed)."""
    number = session.scalar(select(func.max(PronunciationDictionaryVersion.number))
                            .where(PronunciationDictionaryVersion.dictionary_id == dictionary.id)) or 0
    version = PronunciationDictionaryVersion(id=uuid.uuid4(), dictionary_id=dictionary.id, number=number + 1,
                                             rules=rules)
    session.add(version)
    dictionary.latest_version_id = version.id
    dictionary.updated_at = utcnow()
    session.flush()
    return version


def get(session: Session, dictionary_id: uuid.UUID) -> PronunciationDictionary | None:
    return session.get(PronunciationDictionary, dictionary_id)


def version(session: Session, dictionary_id: uuid.UUID, version_id: uuid.UUID) -> PronunciationDictionaryVersion | None:
    found = session.get(PronunciationDictionaryVersion, version_id)
    return found if found is not None and found.dictionary_id == dictionary_id else None


def latest(session: Session, dictionary: PronunciationDictionary) -> PronunciationDictionaryVersion:
    return session.get(PronunciationDictionaryVersion, dictionary.latest_version_id)


def list_with_latest(session: Session, limit: int, offset: int = 0
                     ) -> list[tuple[PronunciationDictionary, PronunciationDictionaryVersion]]:
    """Dictionaries, newest first, each with its latest version."""
    rows = session.execute(
        select(PronunciationDictionary, PronunciationDictionaryVersion)
        .join(PronunciationDictionaryVersion,
              PronunciationDictionaryVersion.id == PronunciationDictionary.latest_version_id)
        .order_by(PronunciationDictionary.created_at.desc(), PronunciationDictionary.id)
        .limit(limit).offset(offset))
    return [(dictionary, version) for dictionary, version in rows]


def count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(PronunciationDictionary)) or 0


def delete(session: Session, dictionary: PronunciationDictionary) -> None:
    """The dictionary and its versions; voices that used it by default lose it (the foreign keys say so)."""
    session.delete(dictionary)
    session.flush()
