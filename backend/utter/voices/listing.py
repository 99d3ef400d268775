"""The voice list, serialised once per change of the library rather than once per request.

Pages and API clients fetch the whole library often (every dropdown, every poll of /voices);
with a thousand voices, building and serialising it each time costs far more than one
cheap query that tells whether anything changed since the last time.

Under many concurrent requests even that query, and the trips to a worker thread it
needs, become the cost. So requests share checks: one runs at a time, and every request
that arrived before it started takes its answer. No request is answered from a check
that began before it arrived, so a voice created a moment earlier, by any process, is
always in the list.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import time

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from ..models import Voice
from ..adapters.storage import Storage
from .schemas import VoicesPublic


class VoiceListCache:
    def __init__(self) -> None:
        # Written only by the one check that runs at a time (see current()), so no lock is needed.
        self._key: tuple | None = None
        self._body = b""
        self._gzipped = b""
        self._etag = ""
        self._checks_started = 0
        self._check: tuple[int, asyncio.Task] | None = None

    async def current(self, sessions: sessionmaker[Session], storage: Storage) -> tuple[bytes, bytes, str]:
        """Like get(), from the event loop, sharing one database check among concurrent requests."""
        fresh_enough = self._checks_started + 1  # a check that starts after this request arrived
        while True:
            if self._check is None:
                self._checks_started += 1
                task = asyncio.ensure_future(run_in_threadpool(self._checked, sessions, storage))
                self._check = (self._checks_started, task)
                task.add_done_callback(lambda _: setattr(self, "_check", None))
            number, task = self._check
            # shield: a request that goes away must not cancel the check the others wait for.
            if number >= fresh_enough:
                return await asyncio.shield(task)
            await asyncio.wait([task])  # began before we arrived: wait it out, then start the next

    def _checked(self, sessions: sessionmaker[Session], storage: Storage) -> tuple[bytes, bytes, str]:
        with sessions() as session:
            return self.get(session, storage)

    def get(self, session: Session, storage: Storage) -> tuple[bytes, bytes, str]:
        """The JSON body of GET /api/voices, the same gzipped, and their ETag (one caller at a time).

        The library's JSON compresses about tenfold; compressing once per change rather
        than per request keeps large libraries cheap to send.
        """
        count, last_change = session.execute(select(func.count(Voice.id), func.max(Voice.updated_at))).one()
        # Signed URLs expire, so with object storage the cached body is also renewed well within their lifetime.
        lifetime = storage.url_lifetime
        window = int(time.time() // max(lifetime // 3, 1)) if lifetime else 0
        key = (count, last_change, window)
        if key != self._key:
            self._rebuild(session, storage, key)
        return self._body, self._gzipped, self._etag

    def _rebuild(self, session: Session, storage: Storage, key: tuple) -> None:
        from .service import list_voices, to_public  # service imports this module's neighbours

        voices = list_voices(session)
        body = VoicesPublic(voices=[to_public(v, storage) for v in voices], total=len(voices)).model_dump_json().encode()
        gzipped = gzip.compress(body, compresslevel=6, mtime=0)
        etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
        self._key, self._body, self._gzipped, self._etag = key, body, gzipped, etag
