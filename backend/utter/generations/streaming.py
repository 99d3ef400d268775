"""Streaming a generation's MP3 while it is being spoken, and the stream segments that make it possible.

The worker stores the MP3 as it is encoded in segments (consecutive parts of one MP3
stream: the first as soon as there is any audio, then about a second of audio each, and
at the end of each chunk) and counts them in `segments`. A listener gets the segments in order as they
appear; once the generation is done the segments are gone and the final file, which is
exactly their concatenation plus the encoder's last bytes, supplies the rest from the
byte offset already sent. A finished generation simply replays whole. When parts were
heard back and retaken (heard_back.py), the live stream is sealed with its last bytes
before the retakes and ends there: the stored file with the retakes is not its continuation.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import suppress

from starlette.concurrency import iterate_in_threadpool, run_in_threadpool

from ..adapters.storage import STREAMS_PREFIX, ObjectMissing, Storage, segment_key, segment_prefix
from ..context import AppContext
from ..models import Generation, GenerationStatus
from . import repository

POLL_SECONDS = 0.2


def _snapshot(ctx: AppContext, generation_id: uuid.UUID) -> Generation | None:
    with ctx.sessions() as session:
        return repository.snapshot(session, generation_id)


async def generation_mp3(ctx: AppContext, generation_id: uuid.UUID, *, timeout: float = 3600,
                         gone: Callable[[], Awaitable[bool]] | None = None) -> AsyncIterator[bytes]:
    """The generation's MP3 bytes as they are stored, until it ends (or `timeout` seconds pass).

    It waits on the event loop, holding no thread, and ends when `gone()` says the listener
    left (a response that is already streaming is cancelled by the server instead).
    """
    sent_bytes = 0
    sent_segments = 0
    attempt = None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        generation = await run_in_threadpool(_snapshot, ctx, generation_id)
        if generation is None:
            return
        if generation.status == GenerationStatus.DONE and generation.output_key:
            if sent_bytes and (generation.checks or {}).get("rebuilt"):
                # The stored file holds retaken parts: it does not continue what this listener heard,
                # whose stream (sealed before the retakes) is already whole.
                return
            async for chunk in iterate_in_threadpool(_rest_of_final(ctx, generation.output_key, sent_bytes)):
                yield chunk
            return
        if generation.status in (GenerationStatus.FAILED, GenerationStatus.CANCELLED):
            return
        if attempt is not None and generation.attempts != attempt and sent_bytes:
            # Another process started the task again; its bytes would not continue ours.
            return
        attempt = generation.attempts
        progressed = False
        while sent_segments < (generation.segments or 0):
            try:
                data = await run_in_threadpool(ctx.storage.get_bytes, segment_key(str(generation_id), sent_segments))
            except ObjectMissing:
                break  # finished meanwhile (segments dropped): the next snapshot says done
            sent_segments += 1
            sent_bytes += len(data)
            progressed = True
            if data:
                yield data
        if not progressed:
            if gone is not None and await gone():
                return
            await ctx.progress.wait(POLL_SECONDS)


def _rest_of_final(ctx: AppContext, key: str, offset: int) -> Iterator[bytes]:
    skipped = 0
    for chunk in ctx.storage.iter_chunks(key):
        if skipped + len(chunk) <= offset:
            skipped += len(chunk)
            continue
        start = max(offset - skipped, 0)
        skipped += len(chunk)
        yield chunk[start:]


def drop_segments(storage: Storage, generation_id: uuid.UUID) -> None:
    for key in storage.list_keys(segment_prefix(str(generation_id))):
        storage.delete(key)


def sweep_leftover_segments(ctx: AppContext) -> int:
    """Delete the stream segments of generations that are over or gone; returns how many generations had some.

    A generation drops its segments as soon as its final file is stored, so they are
    left only when a process died between the two. Segments of a queued or running
    generation are kept: a queued one may be claimed while we look, and its new
    attempt writes the same keys.
    """
    owners: set[uuid.UUID] = set()
    for key in ctx.storage.list_keys(STREAMS_PREFIX):
        with suppress(ValueError):  # a name that is not a generation id was not put there by Utter
            owners.add(uuid.UUID(key.removeprefix(STREAMS_PREFIX).split("/", 1)[0]))
    if not owners:
        return 0
    with ctx.sessions() as session:
        leftover = owners - repository.live_among(session, owners)
    for owner in leftover:
        drop_segments(ctx.storage, owner)
    return len(leftover)
