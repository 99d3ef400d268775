"""Access keys: created, listed and revoked (CLI, API, the /keys page); checked on every request.

Until a key exists (in the database, or UTTER_API_KEY) a studio is open, as a laptop run on
loopback should be. Once one does, every route but the health check and the static files needs
one: sent as `Authorization: Bearer`, `xi-api-key`, or, in a browser, the session cookie a
sign-in with a key sets. Only each key's SHA-256 is stored (keys are 192 random bits, so no
slow hash is needed); a cookie is the key's id and an expiry, signed with that hash, so it
stops working the moment its key is revoked.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
import uuid
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from ..errors import UtterError
from ..models import AccessKey, utcnow
from ..validation import printable

KEY_PREFIX = "utk_"
COOKIE_NAME = "utter_session"
SESSION_SECONDS = 30 * 24 * 3600
# How long a verified key (or "no keys exist") is believed without asking the database again:
# a revoked key stops working within this.
TRUST_SECONDS = 5.0
ENV_KEY_ID = "env"  # UTTER_API_KEY, which has no row


@dataclass(frozen=True)
class Holder:
    """Who a request comes from: a key's id (ENV_KEY_ID for UTTER_API_KEY) and name."""

    key_id: str
    name: str


def hash_key(key: str) -> str:
    return hashlib.sha256(key.strip().encode()).hexdigest()


class AccessKeys:
    def __init__(self, sessions: sessionmaker[Session], env_key: str = ""):
        self.sessions = sessions
        self.env_key = env_key.strip()
        self._lock = threading.Lock()
        self._known: dict[str, tuple[float, tuple[str, str, str] | None]] = {}  # hash -> (when, (id, name, hash))
        self._by_id: dict[str, tuple[float, tuple[str, str] | None]] = {}
        self._exist: tuple[float, bool] | None = None

    # -- managing keys ------------------------------------------------------------------

    def create(self, name: str) -> tuple[AccessKey, str]:
        """A new key: the row, and the key itself, which is shown this once and never stored."""
        name = printable(name, "name")[:100]
        if not name:
            raise UtterError(422, "name_missing", "Give the key a name (who or what uses it).", field="name")
        key = KEY_PREFIX + secrets.token_urlsafe(24)
        row = AccessKey(id=uuid.uuid4(), name=name, prefix=key[:10], key_hash=hash_key(key))
        with self.sessions() as session:
            session.add(row)
            session.commit()
            session.refresh(row)
            session.expunge(row)
        self._forget()
        return row, key

    def list(self) -> list[AccessKey]:
        with self.sessions() as session:
            rows = list(session.scalars(select(AccessKey).order_by(AccessKey.created_at.desc())))
            session.expunge_all()
            return rows

    def revoke(self, reference: str) -> AccessKey:
        """Revoke a key by its id or the prefix its list shows."""
        with self.sessions() as session:
            row = None
            try:
                row = session.get(AccessKey, uuid.UUID(reference))
            except ValueError:
                matches = list(session.scalars(select(AccessKey).where(AccessKey.prefix == reference)))
                row = matches[0] if len(matches) == 1 else None
            if row is None:
                raise UtterError(404, "key_not_found", f"No access key {reference!r} exists.")
            if row.revoked_at is None:
                row.revoked_at = utcnow()
                session.commit()
            session.refresh(row)
            session.expunge(row)
        self._forget()
        return row

    # -- checking requests ----------------------------------------------------------------

    def required(self) -> bool:
        """Whether requests need a key: UTTER_API_KEY is set or a key that is not revoked exists."""
        if self.env_key:
            return True
        now = time.monotonic()
        with self._lock:
            if self._exist is not None and now - self._exist[0] < TRUST_SECONDS:
                return self._exist[1]
        with self.sessions() as session:
            exist = bool(session.scalar(select(func.count()).select_from(AccessKey)
                                        .where(AccessKey.revoked_at.is_(None))))
        with self._lock:
            self._exist = (now, exist)
        return exist

    def holder_of_key(self, key: str | None) -> Holder | None:
        """Who holds `key`, or None when it is not a valid key."""
        if not key:
            return None
        if self.env_key and hmac.compare_digest(key.strip().encode(), self.env_key.encode()):
            return Holder(ENV_KEY_ID, "UTTER_API_KEY")
        found = self._lookup(hash_key(key))
        return Holder(found[0], found[1]) if found else None

    def _lookup(self, digest: str) -> tuple[str, str, str] | None:
        now = time.monotonic()
        with self._lock:
            cached = self._known.get(digest)
            if cached is not None and now - cached[0] < TRUST_SECONDS:
                return cached[1]
        with self.sessions() as session:
            row = session.scalars(select(AccessKey).where(AccessKey.key_hash == digest,
                                                          AccessKey.revoked_at.is_(None))).first()
            found = (str(row.id), row.name, row.key_hash) if row else None
        with self._lock:
            if len(self._known) > 10_000:  # guessed keys must not grow it without end
                self._known.clear()
            self._known[digest] = (now, found)
        return found

    def _forget(self) -> None:
        with self._lock:
            self._known.clear()
            self._by_id.clear()
            self._exist = None

    # -- the browser's session ------------------------------------------------------------

    def cookie_for(self, key: str) -> str:
        """The session cookie's value for a valid key: its id and expiry, signed with its hash."""
        holder = self.holder_of_key(key)
        if holder is None:
            raise UtterError(401, "invalid_api_key", "That is not an access key of this server.", field="key")
        expires = int(time.time()) + SESSION_SECONDS
        payload = f"{holder.key_id}.{expires}"
        return f"{payload}.{self._sign(payload, self._secret_of(holder.key_id))}"

    def holder_of_cookie(self, value: str | None) -> Holder | None:
        try:
            key_id, expires, signature = (value or "").rsplit(".", 2)
        except ValueError:
            return None
        if not expires.isdigit() or int(expires) < time.time():
            return None
        key = self._key_by_id(key_id)
        if key is None or not hmac.compare_digest(signature, self._sign(f"{key_id}.{expires}", key[0])):
            return None
        return Holder(key_id, key[1])

    def _secret_of(self, key_id: str) -> str | None:
        key = self._key_by_id(key_id)
        return key[0] if key else None

    def _key_by_id(self, key_id: str) -> tuple[str, str] | None:
        """(hash, name) of a key that is not revoked, or None."""
        if key_id == ENV_KEY_ID:
            return (hash_key(self.env_key), "UTTER_API_KEY") if self.env_key else None
        try:
            parsed = uuid.UUID(key_id)
        except ValueError:
            return None
        now = time.monotonic()
        with self._lock:
            cached = self._by_id.get(key_id)
            if cached is not None and now - cached[0] < TRUST_SECONDS:
                return cached[1]
        with self.sessions() as session:
            row = session.get(AccessKey, parsed)
            found = (row.key_hash, row.name) if row is not None and row.revoked_at is None else None
        with self._lock:
            if len(self._by_id) > 10_000:
                self._by_id.clear()
            self._by_id[key_id] = (now, found)
        return found

    @staticmethod
    def _sign(payload: str, secret: str) -> str:
        return hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
