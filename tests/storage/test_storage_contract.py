"""One contract for every storage backend: the local folder and a real S3 server."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from utter.adapters.storage import ObjectMissing, Storage, StorageError
from utter.adapters.storage.local import LocalStorage

# Harmless when tests/conftest.py registers the plugin as well.
pytest_plugins = ["tests.support.s3_fixtures"]


@pytest.fixture(params=["local", "s3"])
def any_storage(request: pytest.FixtureRequest, tmp_path: Path) -> Storage:
    if request.param == "local":
        return LocalStorage(tmp_path / "uploads")
    return request.getfixturevalue("s3_storage")


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(1024 * 1024):
            digest.update(block)
    return digest.hexdigest()


def test_bytes_round_trip(any_storage: Storage) -> None:
    any_storage.put_bytes("references/v1.wav", b"RIFF-audio", "audio/wav")
    assert any_storage.get_bytes("references/v1.wav") == b"RIFF-audio"


def test_large_file_round_trip(any_storage: Storage, tmp_path: Path) -> None:
    # 20 MB is above the 8 MB multipart threshold, so S3 takes the multipart path.
    source = tmp_path / "big.mp3"
    with open(source, "wb") as out:
        for _ in range(20):
            out.write(os.urandom(1024 * 1024))
    any_storage.put_file("generated/big.mp3", source, "audio/mpeg")

    copy = tmp_path / "copy.mp3"
    any_storage.download("generated/big.mp3", copy)
    assert sha256_file(copy) == sha256_file(source)
    streamed = hashlib.sha256()
    for chunk in any_storage.iter_chunks("generated/big.mp3", chunk_size=1024 * 1024):
        streamed.update(chunk)
    assert streamed.hexdigest() == sha256_file(source)


def test_overwrite_replaces_content(any_storage: Storage) -> None:
    any_storage.put_bytes("prompts/v1.bin", b"first", "application/octet-stream")
    any_storage.put_bytes("prompts/v1.bin", b"second", "application/octet-stream")
    assert any_storage.get_bytes("prompts/v1.bin") == b"second"


def test_exists_and_delete(any_storage: Storage) -> None:
    assert not any_storage.exists("generated/g1.mp3")
    any_storage.put_bytes("generated/g1.mp3", b"mp3", "audio/mpeg")
    assert any_storage.exists("generated/g1.mp3")
    any_storage.delete("generated/g1.mp3")
    assert not any_storage.exists("generated/g1.mp3")
    any_storage.delete("generated/g1.mp3")  # deleting a missing object is fine


def test_list_keys_by_prefix(any_storage: Storage) -> None:
    for key in ["references/a.wav", "references/b.wav", "generated/c.mp3", "references2/d.wav"]:
        any_storage.put_bytes(key, b"x", "application/octet-stream")
    assert any_storage.list_keys("references") == ["references/a.wav", "references/b.wav"]
    assert any_storage.list_keys("references/") == ["references/a.wav", "references/b.wav"]
    assert any_storage.list_keys("nothing-here") == []
    assert len(any_storage.list_keys("")) == 4


def test_missing_object(any_storage: Storage, tmp_path: Path) -> None:
    with pytest.raises(ObjectMissing) as caught:
        any_storage.get_bytes("references/nope.wav")
    assert caught.value.code == "object_missing"
    assert caught.value.key == "references/nope.wav"
    with pytest.raises(ObjectMissing):
        any_storage.download("references/nope.wav", tmp_path / "out.wav")
    with pytest.raises(ObjectMissing):
        list(any_storage.iter_chunks("references/nope.wav"))


def test_iter_chunks_respects_chunk_size(any_storage: Storage) -> None:
    data = bytes(range(256)) * 1000
    any_storage.put_bytes("generated/g2.mp3", data, "audio/mpeg")
    chunks = list(any_storage.iter_chunks("generated/g2.mp3", chunk_size=64 * 1024))
    assert b"".join(chunks) == data
    assert max(len(c) for c in chunks) <= 64 * 1024


@pytest.mark.parametrize("key", ["../x", "/etc/passwd", "references/../../x", "a/../b", "", "."])
def test_invalid_keys_refused(any_storage: Storage, key: str) -> None:
    for attempt in (
        lambda: any_storage.put_bytes(key, b"x", "text/plain"),
        lambda: any_storage.get_bytes(key),
        lambda: any_storage.exists(key),
        lambda: any_storage.delete(key),
        lambda: any_storage.url(key),
    ):
        with pytest.raises(StorageError) as caught:
            attempt()
        assert caught.value.code == "invalid_key"


def test_health_ok(any_storage: Storage) -> None:
    health = any_storage.health()
    assert health["status"] == "ok"
    assert health["backend"] == any_storage.name
