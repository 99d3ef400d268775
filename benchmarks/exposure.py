"""What hostile traffic costs the server: figures for the request guard and the bounded work (issue 16).

    .venv/bin/python benchmarks/exposure.py [--streams 200]

Starts `utter serve` as its own process (SQLite, local storage, Piper, no worker threads, so every
stream waits for audio that never comes) and prints:
- the health check's latency (median and worst of 20) while N listeners wait on /stream, and after
  they have all gone away (each gives up after 2 s);
- the server's resident memory before and after the largest upload request it accepts: 25 samples
  to /v1/voices/add that together pass the 5-minute reference limit (refused while decoding).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "backend"))

from tests.support.audio_fixtures import tone_wav  # noqa: E402
from tests.support.server import start_process  # noqa: E402


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def health_latencies(url: str, count: int = 20) -> list[float]:
    times = []
    for _ in range(count):
        start = time.perf_counter()
        httpx.get(url + "/api/health", timeout=30).raise_for_status()
        times.append(time.perf_counter() - start)
    return times


def show(label: str, times: list[float]) -> None:
    print(f"  {label:<44} median {1000 * statistics.median(times):6.1f} ms   worst {1000 * max(times):6.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        env = {"UTTER_ENGINE": "piper", "UTTER_WORKERS": "0", "UTTER_ASR": "off", "UTTER_MAX_QUEUE": "1000",
               "PYTHONUNBUFFERED": "1", "UTTER_DATA_DIR": tmp}
        server = start_process(env, Path(tmp), "serve", configured=False)
        try:
            url = server.url
            with httpx.Client(base_url=url, timeout=60) as client:
                # A voice made from a synthetic clip is refused by the speech check; use Piper's own speech.
                from utter.adapters.tts.piper_engine import PiperEngine
                from utter.adapters.tts.base import SpeechJob
                from utter.audio import codec

                piper = PiperEngine()
                spoken = np.concatenate(list(piper.synthesize(SpeechJob(
                    "This is a reference recording for the benchmark, long enough to make a voice from. " * 3,
                    "en"))))
                wav = Path(tmp) / "voice.wav"
                codec.write_wav(wav, spoken, piper.info.capabilities.sample_rate)
                made = client.post("/api/clone", data={"name": "Bench"},
                                   files={"audio": ("voice.wav", wav.read_bytes())})
                if made.status_code != 201:
                    sys.exit(f"could not make the voice: {made.status_code} {made.text}")
                voice = made.json()
                waiting = client.post("/api/generate", json={"voice_id": voice["id"], "text": "Never spoken."}).json()
            print(f"server pid {server.process.pid}, {os.cpu_count()} cores")
            show("health, idle", health_latencies(url))

            def listen():
                try:
                    with httpx.stream("GET", url + waiting["stream_url"], timeout=2.0) as response:
                        for _ in response.iter_bytes():
                            pass
                except httpx.TimeoutException:
                    pass

            with ThreadPoolExecutor(args.streams) as crowd:
                futures = [crowd.submit(listen) for _ in range(args.streams)]
                time.sleep(0.5)
                show(f"health, {args.streams} listeners waiting", health_latencies(url))
                for future in futures:
                    future.result()
            show(f"health, after {args.streams} gave up", health_latencies(url))

            before = rss_mb(server.process.pid)
            files = [("files", (f"s{n}.wav", tone_wav(14.0))) for n in range(25)]  # 350 s in all
            sent = sum(len(f[1][1]) for f in files)
            response = httpx.post(url + "/v1/voices/add", data={"name": "Big"}, files=files, timeout=120)
            after = rss_mb(server.process.pid)
            print(f"  largest upload accepted for decoding: {sent / 1e6:.1f} MB in 25 files -> "
                  f"{response.status_code} {response.json()['detail']['status']}; server RSS {before:.0f} -> "
                  f"{after:.0f} MB (+{after - before:.0f} MB)")
        finally:
            server.stop()


if __name__ == "__main__":
    main()
