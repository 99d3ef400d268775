"""The side channel through which a Modal call streams its audio (adapters/tts/modal_pieces.py): what the
container sends is what the web tier reads back, within Modal's limits, and a failing queue never fails
the call."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from utter.adapters.tts import modal_pieces


class Recorder:
    """put_many as modal.Queue takes it; records each put (optionally failing from the n-th on)."""

    def __init__(self, fail_from: int | None = None):
        self.puts: list[dict] = []
        self.fail_from = fail_from
        self.first = threading.Event()

    def put_many(self, vs, block=True, timeout=None, *, partition=None, partition_ttl=86400):
        if self.fail_from is not None and len(self.puts) >= self.fail_from:
            raise ConnectionError("the queue went away")
        self.puts.append({"items": list(vs), "timeout": timeout, "partition": partition, "ttl": partition_ttl})
        self.first.set()


def test_pieces_arrive_in_order_within_modals_limits_and_end_with_the_marker():
    rng = np.random.default_rng(0)
    # Pieces as the core makes them (2 frames, then 8), and one whole 30 s chunk as qwen-tts's generate gives.
    pieces = [rng.standard_normal(n).astype(np.float32) for n in (3840, 15360, 15360, 24000 * 30, 4000)]
    queue = Recorder()
    joined = modal_pieces.relay(iter(pieces), queue.put_many, "key-1")
    assert np.array_equal(joined, np.concatenate(pieces))
    items = [item for put in queue.puts for item in put["items"]]
    assert items[-1] == modal_pieces.END and modal_pieces.END not in items[:-1]
    read, ended = modal_pieces.decode(items)
    assert ended and np.array_equal(np.concatenate(read), joined)
    # No item, and no put, over Modal's 1 MiB; the 2.9 MB chunk went as several items.
    assert max(len(item) for item in items) <= modal_pieces.MAX_ITEM_BYTES
    assert all(sum(map(len, put["items"])) <= modal_pieces.MAX_ITEM_BYTES for put in queue.puts)
    assert len(items) > len(pieces) + 1
    assert {(put["partition"], put["ttl"], put["timeout"]) for put in queue.puts} == {
        ("key-1", modal_pieces.PARTITION_TTL_SECONDS, modal_pieces.PUT_TIMEOUT_SECONDS)}


def test_the_first_piece_goes_before_the_speech_ends():
    queue = Recorder()
    spoken = threading.Event()

    def speaking():
        yield np.ones(3840, np.float32)
        assert queue.first.wait(10), "the first piece waited for the rest"
        spoken.set()
        yield np.ones(15360, np.float32)

    modal_pieces.relay(speaking(), queue.put_many, "key-2")
    assert spoken.is_set()


def test_a_failing_queue_stops_the_pieces_not_the_call():
    queue = Recorder(fail_from=1)

    def speaking():
        yield np.ones(3840, np.float32)
        assert queue.first.wait(10)
        yield np.ones(15360, np.float32)
        yield np.ones(15360, np.float32)

    joined = modal_pieces.relay(speaking(), queue.put_many, "key-3")
    assert len(joined) == 3840 + 2 * 15360  # the call's answer holds everything
    assert len(queue.puts) == 1 and modal_pieces.END not in queue.puts[0]["items"]


def test_speaking_that_fails_still_ends_the_pieces():
    queue = Recorder()

    def failing():
        yield np.ones(3840, np.float32)
        raise RuntimeError("CUDA error")

    with pytest.raises(RuntimeError, match="CUDA error"):
        modal_pieces.relay(failing(), queue.put_many, "key-4")
    items = [item for put in queue.puts for item in put["items"]]
    assert items[-1] == modal_pieces.END  # the web tier stops waiting for pieces and collects the error
