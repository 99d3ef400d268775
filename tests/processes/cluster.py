"""Helpers for tests that run several real `utter` processes against one database and one storage."""

from __future__ import annotations

import os
import re
import signal
import socket
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import httpx
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from tests.support.server import ServerProcess, start_process
from utter.config import normalise_database_url
from utter.models import Generation, GenerationStatus

FINISHED = {GenerationStatus.DONE, GenerationStatus.FAILED, GenerationStatus.CANCELLED}
_DONE_LINE = re.compile(r"generation\.done id=([0-9a-f-]{36})")

# Sentences of different lengths; Piper speaks ~450 characters in about 2 s here, so tasks
# last long enough for a kill to land in the middle of one.
_SENTENCES = [
    "The lighthouse keeper climbed the spiral stairs every evening, counting each step aloud.",
    "Rain drummed on the tin roof while the kettle began to whistle in the small kitchen.",
    "A fox crossed the frozen field at dawn, leaving a neat line of prints in the snow.",
    "The old map showed a river that no longer existed, winding through a forgotten valley.",
    "She tuned the violin slowly, listening for the moment each string rang true.",
]


def speech_text(index: int, sentences: int) -> str:
    """A distinct text of `sentences` sentences (numbered, so no two generations say the same)."""
    picked = [_SENTENCES[(index + n) % len(_SENTENCES)] for n in range(sentences)]
    return f"Generation number {index}. " + " ".join(picked)


def base_env(database_url: str, data_dir: Path, **settings: str) -> dict[str, str]:
    """Environment for an `utter` process: the given database, the Piper engine, and `settings`."""
    env = {
        "DATABASE_URL": database_url,
        "UTTER_DATA_DIR": str(data_dir),
        "UTTER_ENGINE": "piper",
        "UTTER_WORKERS": "1",
        "UTTER_STORAGE": "local",
        "PYTHONUNBUFFERED": "1",
    }
    env.update({key: str(value) for key, value in settings.items()})
    return env


def start_worker(env: dict[str, str], cwd: Path, threads: int = 1, log_name: str = "worker.log",
                 timeout: float = 60) -> ServerProcess:
    """`utter worker`, waiting until it says it is running."""
    proc = start_process(env, cwd, "worker", "--threads", str(threads), log_name=log_name)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.process.poll() is not None:
            raise RuntimeError(f"utter worker exited with {proc.process.returncode}:\n{proc.log()}")
        if "Utter worker" in proc.log():
            return proc
        time.sleep(0.1)
    raise TimeoutError(f"utter worker did not start in {timeout} s:\n{proc.log()}")


def worker_prefix(proc: ServerProcess) -> str:
    """The start of every worker_id this process writes into the queue (host:pid:)."""
    return f"{socket.gethostname()}:{proc.process.pid}:"


def sigkill(proc: ServerProcess) -> float:
    proc.process.send_signal(signal.SIGKILL)
    proc.process.wait(10)
    return time.monotonic()


class Queue:
    """Reads the generations table directly, as an operator would, to check the queue's state."""

    def __init__(self, database_url: str):
        self.engine = create_engine(normalise_database_url(database_url))

    def rows(self) -> list[Generation]:
        with Session(self.engine, expire_on_commit=False) as session:
            rows = list(session.scalars(select(Generation)))
            session.expunge_all()
        return rows

    def by_status(self) -> Counter:
        return Counter(row.status for row in self.rows())

    def running_under(self, prefix: str) -> list[Generation]:
        return [r for r in self.rows() if r.status == GenerationStatus.RUNNING and (r.worker_id or "").startswith(prefix)]

    def wait(self, condition, timeout: float, what: str, interval: float = 0.05):
        """Poll until `condition(rows)` returns something truthy; return it."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            rows = self.rows()
            result = condition(rows)
            if result:
                return result
            time.sleep(interval)
        raise TimeoutError(f"{what} not reached in {timeout} s: {Counter(r.status for r in rows)}")

    def wait_all_finished(self, timeout: float) -> list[Generation]:
        return self.wait(lambda rows: rows if rows and all(r.status in FINISHED for r in rows) else None,
                         timeout, "every generation finished")

    def close(self) -> None:
        self.engine.dispose()


def clone_voice(base_url: str, clip: Path) -> str:
    with open(clip, "rb") as handle, httpx.Client(base_url=base_url, timeout=30) as client:
        response = client.post("/api/clone", data={"name": "Cluster"}, files={"audio": (clip.name, handle, "audio/wav")})
    assert response.status_code == 201, response.text
    return response.json()["id"]


def submit(base_url: str, voice_id: str, text: str) -> str:
    with httpx.Client(base_url=base_url, timeout=30) as client:
        response = client.post("/api/generate", json={"voice_id": voice_id, "text": text})
    assert response.status_code == 202, response.text
    return response.json()["id"]


def done_lines(logs: Iterable[str]) -> Counter:
    """How often each generation id was reported done across all processes' logs."""
    counts: Counter = Counter()
    for log in logs:
        counts.update(_DONE_LINE.findall(log))
    return counts


def assert_each_ran_once(rows: list[Generation], procs: Iterable[ServerProcess], storage) -> None:
    """Every generation finished exactly once, its audio is stored once, and nothing else is stored."""
    procs = list(procs)
    stuck = [(str(r.id), r.status) for r in rows if r.status not in FINISHED]
    assert not stuck, f"generations left unfinished: {stuck}"
    for row in rows:
        if row.status == GenerationStatus.FAILED:
            assert row.error_code and row.error_message, f"{row.id} failed without a reason"
        assert row.lease_expires_at is None, f"{row.id} finished but still holds a lease"
    done = {str(r.id) for r in rows if r.status == GenerationStatus.DONE}
    # A process logs 'generation.done' just after committing the row: give the last line a moment.
    deadline = time.monotonic() + 10
    reported = done_lines(proc.log() for proc in procs)
    while not done <= set(reported) and time.monotonic() < deadline:
        time.sleep(0.1)
        reported = done_lines(proc.log() for proc in procs)
    twice = {gid: n for gid, n in reported.items() if n > 1}
    assert not twice, f"generations completed more than once: {twice}"
    assert set(reported) == done, "the done rows and the processes' 'generation.done' lines disagree"
    expected = {f"generated/{gid}.mp3" for gid in done}
    stored = set(storage.list_keys("generated"))
    assert {r.output_key for r in rows if r.status == GenerationStatus.DONE} == expected
    assert stored == expected, (f"orphaned audio: {sorted(stored - expected)}; "
                                f"missing audio: {sorted(expected - stored)}")
    # Chunks kept for streaming while a task runs are dropped when it ends, even after a takeover
    # (a cancelled task drops them as soon as its worker notices, within a second or so).
    deadline = time.monotonic() + 10
    while storage.list_keys("streams") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert storage.list_keys("streams") == []


def stop_all(procs: Iterable[ServerProcess]) -> None:
    for proc in procs:
        proc.stop()


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
