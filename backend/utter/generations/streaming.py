"""Streaming a generation's MP3 while it is being spoken.

The worker stores each finished chunk's bytes as a segment (consecutive parts of one MP3
stream) and counts them in `chunks_done`. A listener gets the segments in order as they
appear; once the generation is done the segments are gone and the final file, which is
exactly their concatenation plus the encoder's last bytes, supplies the rest from the
byte offset already sent. A finished generation simply replays whole.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

from ..context import AppContext
from ..models import Generation, GenerationStatus
from ..services.storage import ObjectMissing, segment_key

POLL_SECONDS = 0.2


class StreamEnded(Exception):
    """The generation failed, was cancelled or restarted; the listener should read its status."""


def _snapshot(ctx: AppContext, generation_id: uuid.UUID) -> Generation | None:
    with ctx.sessions() as session:
        generation = session.get(Generation, generation_id)
        if generation is not None:
            session.expunge(generation)
        return generation


def iter_generation_mp3(ctx: AppContext, generation_id: uuid.UUID, *, timeout: float = 3600) -> Iterator[bytes]:
    sent_bytes = 0
    sent_segments = 0
    attempt = None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        generation = _snapshot(ctx, generation_id)
        if generation is None:
            return
        if generation.status == GenerationStatus.DONE and generation.output_key:
            yield from _rest_of_final(ctx, generation.output_key, sent_bytes)
            return
        if generation.status in (GenerationStatus.FAILED, GenerationStatus.CANCELLED):
            return
        if attempt is not None and generation.attempts != attempt and sent_bytes:
            # Another process started the task again; its bytes would not continue ours.
            return
        attempt = generation.attempts
        progressed = False
        while sent_segments < (generation.chunks_done or 0):
            try:
                data = ctx.storage.get_bytes(segment_key(str(generation_id), sent_segments))
            except ObjectMissing:
                break  # finished meanwhile (segments dropped): the next snapshot says done
            sent_segments += 1
            sent_bytes += len(data)
            progressed = True
            if data:
                yield data
        if not progressed:
            with ctx.progress:
                ctx.progress.wait(POLL_SECONDS)


def _rest_of_final(ctx: AppContext, key: str, offset: int) -> Iterator[bytes]:
    skipped = 0
    for chunk in ctx.storage.iter_chunks(key):
        if skipped + len(chunk) <= offset:
            skipped += len(chunk)
            continue
        start = max(offset - skipped, 0)
        skipped += len(chunk)
        yield chunk[start:]
