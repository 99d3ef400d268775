"""Downloading Qwen3-TTS weights (adapters/tts/qwen_download.py, issue 20) from a hub that speaks Hugging
Face's file API (tests/support/fake_hub.py, serving the tiny checkpoint): listed with checksums, fetched
with progress, resumed after a dropped connection, checked, installed in one step.

Real HTTP (huggingface_hub's client against the fake hub), real files; nothing reaches the internet.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from tests.support.fake_hub import BASE_MODEL
from utter.adapters.tts.base import EngineError
from utter.adapters.tts.qwen_download import ModelDownload, list_model, staging_dir
from utter.adapters.tts.qwen_inference import local_dir_name, local_model_path

NAME = local_dir_name(BASE_MODEL)


def largest_file(hub) -> str:
    files = hub.repos[BASE_MODEL].files
    return max(files, key=lambda path: len(files[path]))


def same_tree(left: Path, right: Path) -> bool:
    def digest(folder: Path) -> dict[str, str]:
        # Leaving out what a downloader keeps beside the files (huggingface_hub's .cache, Utter's marker).
        return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
                for p in folder.rglob("*")
                if p.is_file() and not any(part.startswith(".") for part in p.relative_to(folder).parts)}

    return digest(left) == digest(right)


# -- the fake hub is the hub huggingface_hub knows ----------------------------------------


def test_the_fake_hub_serves_what_huggingface_hub_expects(fake_hub, tiny_qwen_base_dir, tmp_path):
    """huggingface_hub's own snapshot download (HEAD with X-Linked-Etag/X-Repo-Commit on a redirect, then the
    bytes) and model_info with file metadata work against it, so the tests below test against the real protocol."""
    from huggingface_hub import HfApi, get_hf_file_metadata, hf_hub_url, snapshot_download

    info = HfApi(endpoint=fake_hub.url).model_info(BASE_MODEL, files_metadata=True)
    weights = next(s for s in info.siblings if s.rfilename == "model.safetensors")
    assert weights.lfs.sha256 == hashlib.sha256((tiny_qwen_base_dir / "model.safetensors").read_bytes()).hexdigest()
    meta = get_hf_file_metadata(hf_hub_url(BASE_MODEL, "model.safetensors", endpoint=fake_hub.url))
    assert meta.commit_hash == info.sha and meta.etag == weights.lfs.sha256 and meta.size == weights.size

    folder = snapshot_download(BASE_MODEL, local_dir=tmp_path / "snapshot", endpoint=fake_hub.url)
    assert same_tree(Path(folder), tiny_qwen_base_dir)


# -- the download ------------------------------------------------------------------------------


def test_download_with_progress_checked_and_installed_in_one_step(fake_hub, tiny_qwen_base_dir, tmp_path):
    models = tmp_path / "models"
    listing = list_model(BASE_MODEL, models, endpoint=fake_hub.url)
    repo = fake_hub.repos[BASE_MODEL]
    assert listing.revision == repo.commit
    assert listing.total_bytes == fake_hub.total_bytes(BASE_MODEL)
    # Large files carry the hub's sha256, small ones their git blob id: every file is checked.
    assert {f.path for f in listing.files if f.sha256} == {p for p in repo.files if p.endswith(".safetensors")}
    assert all(f.sha256 or f.blob_id for f in listing.files)

    download = ModelDownload(listing, models, endpoint=fake_hub.url)
    heard: list[int] = []
    download.fetch(heard.append)
    assert sum(heard) == listing.total_bytes and len(heard) >= len(listing.files)
    # Until everything is checked and moved, nothing looks like a model on disk.
    assert local_model_path(BASE_MODEL, models) is None
    checked: list[int] = []
    download.verify(checked.append)
    assert sum(checked) == listing.total_bytes
    assert download.install() == models / NAME
    assert local_model_path(BASE_MODEL, models) == models / NAME
    assert same_tree(models / NAME, tiny_qwen_base_dir)
    assert not staging_dir(models, BASE_MODEL).exists()
    # Every file was fetched once, at the pinned commit.
    assert len(fake_hub.content_gets) == len(listing.files)
    assert all(f"/resolve/{repo.commit}/" in r.path for r in fake_hub.requests if "/resolve/" in r.path)


def test_an_interrupted_download_resumes_with_a_range_request(fake_hub, tiny_qwen_base_dir, tmp_path):
    big = largest_file(fake_hub)
    size = len(fake_hub.repos[BASE_MODEL].files[big])
    fake_hub.cut_once[big] = size // 3  # the connection drops a third of the way in
    models = tmp_path / "models"
    download = ModelDownload(list_model(BASE_MODEL, models, endpoint=fake_hub.url), models, endpoint=fake_hub.url)
    heard: list[int] = []
    download.fetch(heard.append)
    first, resumed = fake_hub.ranges_asked(big)
    kept = int(resumed.removeprefix("bytes=").removesuffix("-"))
    # Resumed from what was on disk: the whole chunks that arrived before the drop (a partial one is lost).
    assert first is None and 0 < kept <= size // 3
    assert sum(heard) == download.listing.total_bytes  # each byte written once
    download.verify()
    download.install()
    assert same_tree(models / NAME, tiny_qwen_base_dir)


def test_a_damaged_file_is_caught_by_its_checksum_and_fetched_again_on_retry(fake_hub, tiny_qwen_base_dir, tmp_path):
    big = largest_file(fake_hub)
    fake_hub.corrupt.add(big)  # same size, one byte changed
    models = tmp_path / "models"
    download = ModelDownload(list_model(BASE_MODEL, models, endpoint=fake_hub.url), models, endpoint=fake_hub.url)
    download.fetch()
    with pytest.raises(EngineError) as caught:
        download.verify()
    assert caught.value.code == "download_corrupt" and big in caught.value.message
    assert not (download.files_dir / big).exists()  # the damaged file is gone
    assert local_model_path(BASE_MODEL, models) is None  # and nothing was installed

    fake_hub.corrupt.clear()
    gets_before = len(fake_hub.content_gets)
    again = ModelDownload.pending(models, BASE_MODEL, endpoint=fake_hub.url)  # as a retry finds it
    again.fetch()
    assert [path for path, _ in fake_hub.content_gets[gets_before:]] == [big]  # only the damaged file again
    again.verify()
    again.install()
    assert same_tree(models / NAME, tiny_qwen_base_dir)


def test_one_owner_at_a_time_downloads_a_model(fake_hub, tmp_path):
    """A CLI beside the server (or a second server) is told, rather than both writing the same files."""
    models = tmp_path / "models"
    listing = list_model(BASE_MODEL, models, endpoint=fake_hub.url)
    first, second = ModelDownload(listing, models), ModelDownload(listing, models)
    with first.lock():
        with pytest.raises(EngineError) as caught, second.lock():
            pass
        assert caught.value.code == "download_running_elsewhere"
    with second.lock():  # free again once the first is done
        pass


def test_an_unreachable_hub_is_a_plain_message(tmp_path, hub_reachable):
    with pytest.raises(EngineError) as caught:
        list_model(BASE_MODEL, tmp_path, endpoint="http://127.0.0.1:9")  # nothing listens on the discard port
    assert caught.value.code == "hub_unreachable" and "could not reach Hugging Face" in caught.value.message
