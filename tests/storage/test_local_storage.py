"""The local-folder storage beyond the shared contract: atomic writes, keys that cannot escape the
folder, URLs on this server, health; and the key layout every backend shares."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from utter.adapters.storage import (
    ObjectMissing,
    StorageError,
    generated_key,
    preview_key,
    prompt_key,
    prompt_prefix,
    reference_key,
    segment_key,
    segment_prefix,
)
from utter.adapters.storage.local import LocalStorage


def test_keys_have_one_layout_for_every_backend():
    assert reference_key("v1") == "references/v1.wav"
    assert generated_key("g1") == "generated/g1.mp3"
    assert preview_key("p1") == "previews/p1.wav"
    assert segment_prefix("g1") == "streams/g1/"
    assert segment_key("g1", 3) == "streams/g1/00003.mp3"
    assert segment_key("g1", 12345) == "streams/g1/12345.mp3"
    assert prompt_prefix("v1") == "prompts/v1/"
    assert prompt_key("v1", "r2-abc") == "prompts/v1/r2-abc.bin"


def test_storage_errors_carry_a_code_and_a_message():
    error = StorageError("storage_unavailable", "The bucket is down.")
    assert (error.code, error.message, str(error)) == ("storage_unavailable", "The bucket is down.",
                                                       "The bucket is down.")
    missing = ObjectMissing("generated/g.mp3")
    assert isinstance(missing, StorageError)
    assert (missing.code, missing.key) == ("object_missing", "generated/g.mp3")
    assert missing.message == str(missing) == "The stored file 'generated/g.mp3' is missing."


def test_the_root_is_made_with_its_parents_and_may_exist_already(tmp_path):
    root = tmp_path / "data" / "deep" / "uploads"
    storage = LocalStorage(root)
    assert root.is_dir() and storage.root == root.resolve()
    storage.put_bytes("references/v.wav", b"x", "audio/wav")
    again = LocalStorage(root)  # a restart finds its folder
    assert again.get_bytes("references/v.wav") == b"x"


def test_files_land_under_the_root_in_new_folders(tmp_path):
    storage = LocalStorage(tmp_path / "uploads")
    source = tmp_path / "speech.mp3"
    source.write_bytes(b"ID3" + bytes(range(256)) * 10)
    storage.put_file("generated/2024/deep/g.mp3", source, "audio/mpeg")
    assert (tmp_path / "uploads" / "generated" / "2024" / "deep" / "g.mp3").read_bytes() == source.read_bytes()
    assert storage.local_path("generated/2024/deep/g.mp3") == (tmp_path / "uploads/generated/2024/deep/g.mp3").resolve()
    assert storage.local_path("references/none.wav") == (tmp_path / "uploads/references/none.wav").resolve()


def test_a_reader_never_sees_a_half_written_file(tmp_path):
    """While a file streams in, the key does not exist and its partial bytes sit in a hidden file beside it."""
    storage = LocalStorage(tmp_path / "uploads")
    storage.put_bytes("generated/g.mp3", b"the old version", "audio/mpeg")
    fifo = tmp_path / "incoming.mp3"
    os.mkfifo(fifo)
    go_on = threading.Event()

    def producer():
        with open(fifo, "wb") as out:
            out.write(b"first half ")
            out.flush()
            go_on.wait(10)
            out.write(b"second half")

    writer = threading.Thread(target=producer)
    writer.start()
    storing = threading.Thread(target=storage.put_file, args=("generated/g.mp3", fifo, "audio/mpeg"))
    storing.start()
    folder = tmp_path / "uploads" / "generated"
    deadline = time.monotonic() + 10
    while not [p for p in folder.iterdir() if p.name != "g.mp3"] and time.monotonic() < deadline:
        time.sleep(0.01)
    try:
        hidden = [p for p in folder.iterdir() if p.name != "g.mp3"]
        assert len(hidden) == 1 and hidden[0].name.startswith(".tmp-") and hidden[0].suffix == ".mp3"
        assert storage.get_bytes("generated/g.mp3") == b"the old version"
        assert storage.list_keys("generated") == ["generated/g.mp3"]
    finally:
        go_on.set()
        writer.join(10)
        storing.join(10)
    assert storage.get_bytes("generated/g.mp3") == b"first half second half"
    assert sorted(p.name for p in folder.iterdir()) == ["g.mp3"]


def test_a_failed_write_leaves_nothing_behind_and_raises_its_own_error(tmp_path):
    storage = LocalStorage(tmp_path / "uploads")
    storage.put_bytes("generated/g.mp3", b"the old version", "audio/mpeg")
    # Reading this file fails with EIO, as a failing disk would, after the temporary file is made.
    with pytest.raises(OSError) as caught:
        storage.put_file("generated/g.mp3", Path("/proc/self/mem"), "audio/mpeg")
    assert caught.value.errno == 5
    assert sorted(p.name for p in (tmp_path / "uploads" / "generated").iterdir()) == ["g.mp3"]
    assert storage.get_bytes("generated/g.mp3") == b"the old version"


def test_missing_objects_name_their_key(tmp_path):
    storage = LocalStorage(tmp_path / "uploads")
    for attempt in (lambda: storage.download("references/gone.wav", tmp_path / "out.wav"),
                    lambda: list(storage.iter_chunks("references/gone.wav"))):
        with pytest.raises(ObjectMissing) as caught:
            attempt()
        assert caught.value.key == "references/gone.wav"


def test_listing_hides_files_being_written(tmp_path):
    storage = LocalStorage(tmp_path / "uploads")
    storage.put_bytes("generated/a.mp3", b"a", "audio/mpeg")
    (tmp_path / "uploads" / "generated" / ".tmp-abc.mp3").write_bytes(b"half")
    (tmp_path / "uploads" / "generated" / "sub").mkdir()
    assert storage.list_keys("generated") == ["generated/a.mp3"]
    assert storage.list_keys("") == ["generated/a.mp3"]


@pytest.mark.parametrize("key", ["../x", "/etc/passwd", "references/../../x", "", "."])
def test_invalid_keys_say_which_key(tmp_path, key):
    storage = LocalStorage(tmp_path / "uploads")
    with pytest.raises(StorageError) as caught:
        storage.path_for(key)
    assert caught.value.code == "invalid_key"
    assert caught.value.message == f"Invalid storage key {key!r}."


def test_a_link_out_of_the_root_is_refused(tmp_path):
    storage = LocalStorage(tmp_path / "uploads")
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (tmp_path / "uploads" / "references").symlink_to(outside)
    with pytest.raises(StorageError) as caught:
        storage.put_bytes("references/v.wav", b"x", "audio/wav")
    assert caught.value.code == "invalid_key"
    assert caught.value.message == "Invalid storage key 'references/v.wav'."
    assert list(outside.iterdir()) == []


def test_urls_are_paths_on_this_server(tmp_path):
    storage = LocalStorage(tmp_path / "uploads")
    assert storage.url_lifetime is None
    assert storage.url("generated/g 1.mp3") == "/uploads/generated/g%201.mp3"
    assert storage.url("generated/g.mp3", download_name="My voice: take 2.mp3") == \
        "/uploads/generated/g.mp3?download=My%20voice%3A%20take%202.mp3"
    assert LocalStorage(tmp_path / "media", url_prefix="/media/").url("references/v.wav") == "/media/references/v.wav"
    assert LocalStorage(tmp_path / "media", url_prefix="/X/").url("references/v.wav") == "/X/references/v.wav"


def test_health_reports_the_folder(tmp_path):
    root = tmp_path / "data" / "uploads"
    storage = LocalStorage(root)
    assert storage.health() == {"status": "ok", "backend": "local", "detail": str(root.resolve())}
    assert list(root.iterdir()) == []  # the probe is gone again
    (tmp_path / "data" / "uploads").rmdir()
    (tmp_path / "data").rmdir()
    assert storage.health()["status"] == "ok"  # a folder removed under it is made again, parents and all
    assert root.is_dir()


def test_health_reports_a_folder_it_cannot_write(tmp_path):
    root = tmp_path / "uploads"
    storage = LocalStorage(root)
    root.rmdir()
    root.write_bytes(b"a file where the folder should be")
    health = storage.health()
    assert health["status"] == "error" and health["backend"] == "local"
    assert health["detail"].startswith(f"{root.resolve()} is not writable: ")
    assert set(health) == {"status", "backend", "detail"}
