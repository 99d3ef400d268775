"""Scratch folders for work in progress (uploads being checked, a generation being encoded).

Each is named after the process that made it, so what a killed process left behind (it never
ran its clean-up) can be told from what a live one is using, and swept at the next start.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from pathlib import Path

log = logging.getLogger("utter")

_PREFIX = "utter-"


def folder(kind: str) -> tempfile.TemporaryDirectory:
    """A scratch folder, removed when the `with` block ends: `with scratch.folder("gen") as path:`."""
    return tempfile.TemporaryDirectory(prefix=f"{_PREFIX}{kind}-{os.getpid()}-")


def sweep_dead(root: Path | None = None) -> int:
    """Remove the scratch folders of processes on this machine that no longer run; returns how many."""
    root = Path(root or tempfile.gettempdir())
    removed = 0
    for path in root.glob(f"{_PREFIX}*-*-*"):
        parts = path.name.split("-")
        pid = parts[2] if len(parts) > 3 else ""
        if not path.is_dir() or not pid.isdigit() or _alive(int(pid)):
            continue
        shutil.rmtree(path, ignore_errors=True)
        removed += 1
    if removed:
        log.info("scratch.swept folders=%d", removed)
    return removed


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
