"""What a killed process leaves behind is swept: its scratch folders, and empty storage folders."""

from __future__ import annotations

import os
import subprocess
import sys

from utter import scratch
from utter.adapters.storage import segment_key
from utter.adapters.storage.local import LocalStorage


def test_scratch_folders_of_dead_processes_are_swept_and_live_ones_kept(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(dead.stdout)
    left = tmp_path / f"utter-gen-{dead_pid}-abc123"
    (left / "inner").mkdir(parents=True)
    (left / "inner" / "speech.mp3").write_bytes(b"half an mp3")
    mine = tmp_path / f"utter-upload-{os.getpid()}-xyz"
    mine.mkdir()
    other = tmp_path / "utter-db-not-ours"
    other.mkdir()
    assert scratch.sweep_dead(tmp_path) == 1
    assert not left.exists() and mine.exists() and other.exists()


def test_a_scratch_folder_carries_its_process(tmp_path):
    with scratch.folder("gen") as path:
        assert f"-{os.getpid()}-" in os.path.basename(path)


def test_deleting_the_last_key_of_a_folder_removes_the_folder(tmp_path):
    storage = LocalStorage(tmp_path / "uploads")
    for index in range(2):
        storage.put_bytes(segment_key("g1", index), b"mp3", "audio/mpeg")
    storage.put_bytes("streams/keep.txt", b"x", "text/plain")
    storage.delete(segment_key("g1", 0))
    assert (tmp_path / "uploads" / "streams" / "g1").is_dir()
    storage.delete(segment_key("g1", 1))
    assert not (tmp_path / "uploads" / "streams" / "g1").exists()
    assert (tmp_path / "uploads" / "streams").is_dir()  # still holds keep.txt
    assert (tmp_path / "uploads").is_dir()
