"""What hearing every part back costs (issue 17): wall time and first audio, checked and not, in one run.

    .venv/bin/python benchmarks/heard_back.py [--rounds 3]

Starts `utter serve` twice (SQLite, local storage, Piper, Whisper tiny.en), with
UTTER_HEARD_BACK=on and =off, and alternates generations of the same 6-part text between them.
Prints, per setting, the median time to the first stream bytes and to the finished file, and the
ratio checked / unchecked. On the 2-core CPU default both the engine and the recogniser compete
for the same cores, so this is the worst case; on a GPU engine the recogniser runs on the CPU
beside it (not measured here: no GPU).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "backend"))

from tests.generations.test_pipeline import TEXT  # noqa: E402  (six sentences, six parts)
from tests.support.server import start_process  # noqa: E402

def reference_wav(folder: Path) -> Path:
    from utter.adapters.tts.base import SpeechJob
    from utter.adapters.tts.piper_engine import PiperEngine
    from utter.audio import codec

    piper = PiperEngine()
    spoken = np.concatenate(list(piper.synthesize(SpeechJob(TEXT, "en"))))
    path = folder / "voice.wav"
    codec.write_wav(path, spoken, piper.info.capabilities.sample_rate)
    return path


def one_generation(url: str, voice_id: str) -> tuple[float, float, dict]:
    with httpx.Client(base_url=url, timeout=300) as client:
        started = time.perf_counter()
        queued = client.post("/api/generate", json={"voice_id": voice_id, "text": TEXT}).json()
        first = None
        with client.stream("GET", queued["stream_url"]) as response:
            for data in response.iter_bytes():
                if data and first is None:
                    first = time.perf_counter() - started
        while True:
            status = client.get(queued["status_url"]).json()
            if status["status"] in ("done", "failed", "cancelled"):
                return first, time.perf_counter() - started, status
            time.sleep(0.05)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        wav = reference_wav(folder)
        servers, voices = {}, {}
        try:
            for setting in ("off", "on"):
                data = folder / setting
                data.mkdir()
                servers[setting] = start_process({"UTTER_ENGINE": "piper", "UTTER_HEARD_BACK": setting,
                                                  "UTTER_ASR": "auto", "UTTER_DATA_DIR": str(data)},
                                                 data, "serve", configured=False)
                with httpx.Client(base_url=servers[setting].url, timeout=120) as client:
                    made = client.post("/api/clone", data={"name": "Bench", "transcript": TEXT},
                                       files={"audio": ("voice.wav", wav.read_bytes())})
                    made.raise_for_status()
                    voices[setting] = made.json()["id"]
                one_generation(servers[setting].url, voices[setting])  # warm: models loaded, caches filled
            firsts = {"off": [], "on": []}
            totals = {"off": [], "on": []}
            for _ in range(args.rounds):
                for setting in ("off", "on"):
                    first, total, status = one_generation(servers[setting].url, voices[setting])
                    assert status["status"] == "done", status
                    firsts[setting].append(first)
                    totals[setting].append(total)
            print(f"6-part text ({len(TEXT)} characters), Piper on this CPU, {args.rounds} rounds, medians:")
            for setting in ("off", "on"):
                print(f"  heard back {setting:<3}  first audio {statistics.median(firsts[setting]):.2f} s   "
                      f"done {statistics.median(totals[setting]):.2f} s   (runs {[round(t, 2) for t in totals[setting]]})")
            print(f"  checked / unchecked: first audio {statistics.median(firsts['on']) / statistics.median(firsts['off']):.2f}x, "
                  f"done {statistics.median(totals['on']) / statistics.median(totals['off']):.2f}x")
            print(f"  last checks: {status['checks']['summary']}")
        finally:
            for server in servers.values():
                server.stop()


if __name__ == "__main__":
    main()
