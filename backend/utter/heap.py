"""Memory settings for a long-running server: short garbage-collector passes, and a flat heap.

The collector:

A full (oldest-generation) collection walks every object the collector tracks. In a
running server that is mostly what start-up built, the frameworks and the loaded
engine, and each pass took 80-110 ms. Under load one came every second or two and
stalled every request in flight: with 20 clients, GET /api/voices answered in 14 ms
at the median but 100 ms at p99. Those objects live as long as the process, so once
they exist they are moved where the collector no longer walks them (gc.freeze); the
passes then took 5-10 ms.

The heap: glibc's malloc raises its threshold for handing big blocks straight to the
OS each time such a block is freed, so after a few generations the audio arrays
(a chunk is about a megabyte) come from the heap instead, and the freed space is
fragmented across threads and kept. The server grew by about 100 MB over texts of
100 to 5,000 characters that way; with the threshold fixed at 128 KB it grew by about
30 MB and peaked 130 MB lower (measured with the benchmark's texts).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import logging
import threading

_lock = threading.Lock()
log = logging.getLogger("utter")

_M_MMAP_THRESHOLD = -3  # from glibc's malloc.h
MMAP_THRESHOLD_BYTES = 128 * 1024


def keep_heap_flat() -> None:
    """Fix glibc's mmap threshold (as MALLOC_MMAP_THRESHOLD_ would); elsewhere (macOS, musl) nothing to do."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return
    if mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES) != 1:
        log.warning("heap.mallopt_refused threshold=%d", MMAP_THRESHOLD_BYTES)


def freeze_long_lived() -> None:
    """Collect what is already garbage, then exempt everything that remains from future passes."""
    with _lock:
        gc.collect()
        gc.freeze()
