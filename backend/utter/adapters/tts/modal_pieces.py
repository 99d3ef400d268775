"""The channel through which a Modal speech call streams its audio to the web tier while it speaks.

Why not a generator method: Modal cannot `spawn` a generator function, and a spawned call is what
keeps restarts from paying twice (its id is stored with the generation, and a restarted web
process collects the result). So the call stays a spawned function whose result is the whole
audio, and on the side it sends each piece as it is made into one partition (the stream key the
web tier chose, a random uuid) of the named `modal.Queue` QUEUE_NAME, which the speech and design
apps share (a name of its own, so it does not follow the apps' names). The web tier reads that
partition while the call runs and plays the pieces at once; when the result comes, it takes from
it only what the pieces did not carry. A web tier that restarted reads no pieces and takes the
whole result, as before.

Each item is a piece's float32 little-endian samples at the call's sample rate; an empty item
ends the call's pieces. Items are small (8 frames of 24 kHz audio: 61 kB); Modal allows 1 MiB an
item, so a longer piece (qwen-tts's own `generate` hands over a whole chunk) goes as several, and
one put sends at most about 1 MiB.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Iterable

import numpy as np

log = logging.getLogger(__name__)

END = b""
# Pieces left in a partition nobody reads (a web tier that went away) expire after this long.
PARTITION_TTL_SECONDS = 3600
# Most items taken from a partition in one read.
READ_AT_MOST = 64
# Modal's limit is 1 MiB an item; a little is left for its own framing.
MAX_ITEM_BYTES = 1024 * 1024 - 4096
# How long one put may wait on a full or unreachable queue before the pieces give up.
PUT_TIMEOUT_SECONDS = 10.0


QUEUE_NAME = "utter-qwen3-tts-pieces"


def encode(samples: np.ndarray) -> bytes:
    return np.asarray(samples, dtype="<f4").tobytes()


def decode(items: list[bytes]) -> tuple[list[np.ndarray], bool]:
    """The pieces among `items` and whether the end marker was among them."""
    pieces = [np.frombuffer(item, dtype="<f4").astype(np.float32) for item in items if item]
    return pieces, any(not item for item in items)


class PieceSender:
    """Sends pieces to a partition from a thread of its own, so the GPU never waits for the network.

    `put_many(items, timeout=..., partition=..., partition_ttl=...)` is modal.Queue's. A failure to send stops
    the sending and is logged, never raised: the call's result still holds all of the audio.
    """

    def __init__(self, put_many: Callable[..., None], partition: str):
        self._put_many = put_many
        self._partition = partition
        self._waiting: queue.Queue = queue.Queue()
        self._failed = False
        self._thread = threading.Thread(target=self._run, name=f"pieces-{partition[:8]}", daemon=True)
        self._thread.start()

    def send(self, samples: np.ndarray) -> None:
        step = MAX_ITEM_BYTES // 4
        for start in range(0, len(samples), step):
            self._waiting.put(encode(samples[start:start + step]))

    def close(self, timeout: float = 30.0) -> None:
        """Send what is waiting and the end marker; returns once they are sent (or sending failed)."""
        self._waiting.put(None)
        self._thread.join(timeout)

    def _run(self) -> None:
        done = False
        while not done:
            items = [self._waiting.get()]
            while True:  # everything that came while the last items were being sent goes in one call
                try:
                    items.append(self._waiting.get_nowait())
                except queue.Empty:
                    break
            if items[-1] is None:
                items[-1], done = END, True
            for batch in _batches(items):
                if self._failed:
                    break
                try:
                    self._put_many(batch, timeout=PUT_TIMEOUT_SECONDS, partition=self._partition,
                                   partition_ttl=PARTITION_TTL_SECONDS)
                except Exception:  # noqa: BLE001 - the result carries the audio anyway
                    log.warning("pieces: sending to the web tier failed; the result will carry the audio",
                                exc_info=True)
                    self._failed = True


def _batches(items: list[bytes]) -> list[list[bytes]]:
    """`items` in order, in puts of at most MAX_ITEM_BYTES each (an item alone may fill one)."""
    batches: list[list[bytes]] = []
    size = 0
    for item in items:
        if not batches or size + len(item) > MAX_ITEM_BYTES:
            batches.append([])
            size = 0
        batches[-1].append(item)
        size += len(item)
    return batches


def relay(pieces: Iterable[np.ndarray], put_many: Callable[..., None], partition: str) -> np.ndarray:
    """Sends each piece to `partition` as it comes, then the end marker (also when speaking fails);
    returns the pieces joined, which is what the call answers."""
    sender = PieceSender(put_many, partition)
    parts = []
    try:
        for piece in pieces:
            sender.send(piece)
            parts.append(np.asarray(piece, dtype=np.float32))
    finally:
        sender.close()
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)
