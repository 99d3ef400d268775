"""Switching cloning on through the API (cloning_setup.py, issue 20): refused cleanly, downloaded from a hub
that speaks Hugging Face's file API (tests/support/fake_hub.py, the tiny checkpoint), loaded, and swapped
in while the server runs; generation goes on meanwhile, failures are kept and retried.

Real HTTP both ways (huggingface_hub's client against the fake hub; the app over uvicorn), real files,
the real model loaded from what was downloaded; nothing reaches the internet.
"""

from __future__ import annotations

import time

import pytest

from tests.api.test_bad_input import post_clone
from tests.support.app_fixtures import wait_for_generation
from tests.support.fake_hub import BASE_MODEL
from tests.support.qwen_fixtures import QWEN_TEST_MAX_NEW_TOKENS
from utter.adapters.tts.qwen_inference import local_dir_name

from .test_model_download import largest_file

NAME = local_dir_name(BASE_MODEL)


@pytest.fixture
def database_url(tmp_path) -> str:
    """SQLite only: setting an engine up touches no database (the flow's API is tested on both elsewhere)."""
    return f"sqlite:///{tmp_path / 'utter.db'}"


# -- through the API -----------------------------------------------------------------------------


def disk_with_free(free: int):
    """shutil.disk_usage's shape, reporting `free` bytes free."""
    import shutil

    def usage(path):
        real = shutil.disk_usage(path)
        return type(real)(real.total, real.total - free, free)

    return usage


def start_studio(make_server, fake_hub, **overrides):
    """The app on Piper under `auto`, its hub the fake one, as a first run finds it."""
    server = make_server(engine_setting="auto", asr="off", hf_endpoint=fake_hub.url, **overrides)
    server.ctx.cloning.max_new_tokens = QWEN_TEST_MAX_NEW_TOKENS  # random weights: keep each call short
    return server


@pytest.fixture
def make_server(make_settings, piper_engine):
    """As tests/support's, with UTTER_ENGINE passed as `engine_setting` (`engine` is the engine object)."""
    from tests.support.server import start_live_server

    servers = []

    def make(*, engine_setting="auto", engine=None, **overrides):
        server = start_live_server(make_settings(engine=engine_setting, **overrides), engine=engine or piper_engine)
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()


def test_a_full_disk_is_refused_before_anything_is_written(make_server, fake_hub, tmp_path):
    server = start_studio(make_server, fake_hub)
    server.ctx.cloning.disk_usage = disk_with_free(fake_hub.total_bytes(BASE_MODEL) // 2)
    with server.client() as client:
        needs = client.get("/api/engine/setup").json()["needs"]
        assert needs["download_bytes"] == fake_hub.total_bytes(BASE_MODEL)
        assert needs["free_bytes"] == fake_hub.total_bytes(BASE_MODEL) // 2
        refused = client.post("/api/engine/setup")
        assert refused.status_code == 507, refused.text
        error = refused.json()["error"]
        assert error["code"] == "disk_full" and "free" in error["message"] and str(tmp_path / "models") in error["message"]
        assert client.get("/api/engine").json()["setup"]["state"] == "off"
    # Only config.json was read (to estimate the speed); no weights were fetched, nothing was written.
    assert [path for path, _ in fake_hub.content_gets] == ["config.json"]
    assert not (tmp_path / "models" / ".downloads" / NAME).exists()


def test_cloning_switched_on_live_and_earlier_voices_speak_in_their_own_voice(make_server, fake_hub, speech_clips,
                                                                               tmp_path):
    server = start_studio(make_server, fake_hub)
    with server.client() as client:
        engine = client.get("/api/engine").json()
        assert engine["name"] == "piper" and engine["setup"]["state"] == "off"
        needs = client.get("/api/engine/setup").json()["needs"]
        assert needs["download_bytes"] == fake_hub.total_bytes(BASE_MODEL) and needs["gpu"] is None
        assert needs["expected_speed"]["real_time_factor"] > 0 and "CPU" in needs["speed_note"]

        voice = post_clone(client, speech_clips["wav"], transcript="The quick brown fox jumps over the lazy dog.").json()
        before = client.post("/api/generate", json={"voice_id": voice["id"], "text": "Before."}).json()
        assert wait_for_generation(client, before["status_url"])["voice_cloned"] is False

        fake_hub.hold.clear()  # the download waits mid-way, so what happens meanwhile can be seen
        started = client.post("/api/engine/setup")
        assert started.status_code == 202, started.text
        assert started.json()["state"] == "downloading"
        during = client.post("/api/generate", json={"voice_id": voice["id"], "text": "Meanwhile."}).json()
        finished = wait_for_generation(client, during["status_url"])
        assert finished["status"] == "done" and finished["engine"] == "piper"  # Piper goes on meanwhile
        assert client.get("/api/engine").json()["setup"]["state"] == "downloading"
        fake_hub.hold.set()

        states, deadline = [], time.monotonic() + 240
        while time.monotonic() < deadline:
            status = client.get("/api/engine/setup").json()
            if not states or states[-1] != status["state"]:
                states.append(status["state"])
            if status["state"] in ("ready", "failed"):
                break
            if status["state"] == "downloading":
                progress = status["progress"]
                assert 0 <= progress["bytes_done"] <= progress["bytes_total"] == fake_hub.total_bytes(BASE_MODEL)
            time.sleep(0.05)
        assert status["state"] == "ready", status
        assert states[0] == "downloading" and "loading" in states and states[-1] == "ready"

        engine = client.get("/api/engine").json()
        assert engine["name"] == "qwen" and engine["capabilities"]["can_clone"] is True
        assert engine["reason"].startswith("voice cloning switched on in the studio")
        assert engine["expected_speed"] is not None  # measured as it loaded

        # The voice cloned while Piper ran now speaks in its own voice: its reference builds the prompt.
        after = client.post("/api/generate", json={"voice_id": voice["id"], "text": "After."}).json()
        done = wait_for_generation(client, after["status_url"], timeout=180)
        assert done["status"] == "done" and done["engine"] == "qwen" and done["voice_cloned"] is True
        assert server.ctx.storage.list_keys(f"prompts/{voice['id']}") == [f"prompts/{voice['id']}/r1.bin"]
    models = tmp_path / "models"
    assert (models / NAME / ".utter-switched-on.json").is_file()
    assert not (models / ".downloads" / NAME).exists()


def test_a_failure_is_shown_with_its_reason_kept_across_a_restart_and_retried(make_server, fake_hub, tmp_path):
    fake_hub.corrupt.add(largest_file(fake_hub))
    server = start_studio(make_server, fake_hub)
    with server.client() as client:
        assert client.post("/api/engine/setup").status_code == 202
        server.ctx.cloning.wait(120)
        setup = client.get("/api/engine").json()["setup"]
        assert setup["state"] == "failed" and setup["error"]["code"] == "download_corrupt"
    server.stop()

    fake_hub.corrupt.clear()
    again = start_studio(make_server, fake_hub)  # the same data folder: the failure is still shown, not retried
    with again.client() as client:
        assert client.get("/api/engine").json()["setup"]["error"]["code"] == "download_corrupt"
        gets = len(fake_hub.content_gets)
        assert client.post("/api/engine/setup").status_code == 202  # retry
        assert again.ctx.cloning.wait(240).value == "ready"
        assert [path for path, _ in fake_hub.content_gets[gets:]] == [largest_file(fake_hub)]
        assert client.get("/api/engine").json()["name"] == "qwen"


class HeldPiper:
    """The real Piper engine, held after the first piece of a text until released: a generation caught
    half-way when the engine is switched."""

    def __init__(self, piper):
        import threading

        self.piper, self.info = piper, piper.info
        self.speaking, self.release = threading.Event(), threading.Event()

    def load(self):
        self.piper.load()

    def speak(self, request, task):
        for index, piece in enumerate(self.piper.speak(request, task)):
            yield piece
            if index == 0:
                self.speaking.set()
                self.release.wait(60)

    def speak_design(self, job, task):
        return self.piper.speak_design(job, task)

    def expected_speed(self):
        return None

    def close(self):
        pass


def test_a_generation_running_when_the_engine_switches_finishes_on_the_old_one(make_server, piper_engine, qwen_engine,
                                                                               speech_clips):
    from utter.bootstrap import switch_engine

    held = HeldPiper(piper_engine)
    server = make_server(engine=held, engine_setting="auto", asr="off")
    with server.client() as client:
        voice = post_clone(client, speech_clips["wav"], transcript="The quick brown fox jumps over the lazy dog.").json()
        text = "This sentence is spoken first. " + "And then this one follows it, a little later. " * 4
        running = client.post("/api/generate", json={"voice_id": voice["id"], "text": text}).json()
        assert held.speaking.wait(60)
        qwen_engine.load()
        switch_engine(server.ctx, qwen_engine, server.runner)  # what the set-up does once its model has loaded
        assert client.get("/api/engine").json()["name"] == "qwen"
        held.release.set()
        finished = wait_for_generation(client, running["status_url"])
        assert finished["status"] == "done" and finished["engine"] == "piper" and finished["voice_cloned"] is False
        after = client.post("/api/generate", json={"voice_id": voice["id"], "text": "Now in my voice."}).json()
        done = wait_for_generation(client, after["status_url"], timeout=180)
        assert done["engine"] == "qwen" and done["voice_cloned"] is True


def test_a_server_stopped_mid_download_carries_on_when_it_starts_again(make_server, fake_hub, tmp_path):
    """A graceful stop (a deploy, Ctrl-C) pauses the download rather than failing it; the next start resumes it
    by itself. (A process killed outright: test_cloning_processes.py.)"""
    total = fake_hub.total_bytes(BASE_MODEL)
    fake_hub.bytes_per_second = total / 8
    server = start_studio(make_server, fake_hub)
    with server.client() as client:
        assert client.post("/api/engine/setup").status_code == 202
        deadline = time.monotonic() + 60
        while client.get("/api/engine").json()["setup"]["progress"]["bytes_done"] < total / 4:
            assert time.monotonic() < deadline
            time.sleep(0.05)
    server.stop()
    staging = tmp_path / "models" / ".downloads" / NAME
    assert (staging / "listing.json").is_file() and not (staging / "failed.json").exists()
    fetched_before = len(fake_hub.content_gets)

    fake_hub.bytes_per_second = None
    again = start_studio(make_server, fake_hub)
    assert again.ctx.cloning.wait(240).value == "ready"  # nobody asked again
    resumed = fake_hub.content_gets[fetched_before:]
    assert resumed and resumed[0][1] is not None and resumed[0][1].startswith("bytes=")  # where it stopped
    assert len({path for path, _ in fake_hub.content_gets}) == len(fake_hub.repos[BASE_MODEL].files)
    assert len(fake_hub.content_gets) < 2 * len(fake_hub.repos[BASE_MODEL].files)


def test_an_engine_switched_in_that_serves_more_at_once_gets_more_worker_threads(make_server, piper_engine):
    """On a GPU Qwen3-TTS batches 16 generations: the runner, sized for Piper's one, grows when it switches."""
    from dataclasses import replace

    from utter.bootstrap import switch_engine

    server = make_server(asr="off", workers=None)  # UTTER_WORKERS unset: as many as the engine serves at once
    assert server.runner.threads == 1
    wider = HeldPiper(piper_engine)
    wider.info = replace(piper_engine.info, capabilities=replace(piper_engine.info.capabilities, max_concurrent=4))
    switch_engine(server.ctx, wider, server.runner)
    assert server.runner.threads == 4
    assert sum(thread.is_alive() for thread in server.runner._threads) == 4
