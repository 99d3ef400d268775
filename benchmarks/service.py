"""Benchmark of the service against the engine alone, measured in the same run.

    scripts/benchmark [--quick] [--repeats N] [--json benchmarks/results/service.json]
    (or .venv/bin/python benchmarks/service.py with the same arguments, once .venv is set up)

Starts the real server (`utter serve`, SQLite, local storage, Piper) in a temporary folder and measures:
  1. texts of ~100, 500, 2,000 and 5,000 characters: time to first audio (POST → first byte of
     /stream), total time, real-time factor, the server's peak memory; and the engine alone
     (Piper in this process) on the same text, so the service's overhead is a ratio. Each text
     runs N times (texts up to 500 characters 2N), engine and service in turn, and the medians
     are reported: on a shared machine single runs of the same thing differ by ±20 %;
  2. GET /api/voices with 1,000 voices, 20 concurrent clients from a separate process: wrk
     (apt-get install wrk) when it is installed, and always the Python client below, whose own
     20 threads compete with the server for the same two cores;
  3. generate → poll → download with 20 concurrent clients;
  4. a 5-minute reference upload: until the response, and until its transcript is ready.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "backend"))
sys.path.insert(0, str(ROOT))

from tests.support.server import free_port, wait_until_up  # noqa: E402
from utter.audio import codec as audio  # noqa: E402
from utter.adapters.tts.base import SpeechJob  # noqa: E402
from utter.adapters.tts.piper_engine import PiperEngine  # noqa: E402

SENTENCES = [
    "The morning light spread slowly across the valley, touching the rooftops one by one.",
    "Dr. Evans checked the readings twice: 3.5 degrees at dawn, and 12 by noon.",
    "\"We should leave before the rain,\" said Maria, folding the map into her coat.",
    "Nobody expected the old bridge to hold, yet it carried the whole caravan across.",
    "At the market, the traders argued about prices, weather, and the coming festival.",
]


def text_of(chars: int) -> str:
    """Whole sentences adding up to about `chars` characters."""
    from utter.audio.text import split_sentences

    text = ""
    n = 0
    while len(text) < chars:
        text = f"{text} {SENTENCES[n % len(SENTENCES)]}".strip()
        n += 1
    sentences, kept = split_sentences(text), ""
    for sentence in sentences:
        if kept and len(kept) + 1 + len(sentence) > chars:
            break
        kept = f"{kept} {sentence}".strip()
    return kept


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class MemorySampler:
    def __init__(self, pid: int):
        self.pid, self.peak, self._stop = pid, 0.0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_mb(self.pid))
            self._stop.wait(0.02)

    def __enter__(self):
        self.peak = rss_mb(self.pid)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def make_reference(engine: PiperEngine, folder: Path, seconds: float) -> Path:
    pieces = list(engine.synthesize(SpeechJob(text=" ".join(SENTENCES), language="en")))
    samples = np.concatenate(pieces)
    rate = engine.info.capabilities.sample_rate
    needed = int(seconds * rate)
    samples = np.tile(samples, needed // len(samples) + 1)[:needed]
    path = folder / f"reference-{int(seconds)}s.wav"
    audio.write_wav(path, samples, rate)
    return path


def engine_alone(engine: PiperEngine, text: str) -> dict:
    with MemorySampler(os.getpid()) as memory:
        started = time.perf_counter()
        first = None
        samples = 0
        for piece in engine.synthesize(SpeechJob(text=text, language="en")):
            if first is None:
                first = time.perf_counter() - started
            samples += len(piece)
        total = time.perf_counter() - started
    return {"first_audio_s": first, "total_s": total, "audio_s": samples / engine.info.capabilities.sample_rate,
            "peak_rss_mb": memory.peak}


def service_run(client: httpx.Client, base: str, voice_id: str, text: str, pid: int) -> dict:
    with MemorySampler(pid) as memory:
        started = time.perf_counter()
        queued = client.post("/api/generate", json={"voice_id": voice_id, "text": text})
        queued.raise_for_status()
        body = queued.json()
        first = None
        with httpx.stream("GET", base + body["stream_url"], timeout=600) as stream:
            for data in stream.iter_bytes():
                if data and first is None:
                    first = time.perf_counter() - started
        while (status := client.get(body["status_url"]).json())["status"] not in ("done", "failed"):
            time.sleep(0.05)
        total = time.perf_counter() - started
    assert status["status"] == "done", status
    return {"first_audio_s": first, "total_s": total, "audio_s": status["duration_seconds"],
            "chunks": status["chunks_total"], "server_peak_rss_mb": memory.peak}


def seed_voices(base: str, count: int, reference_id: str) -> None:
    """Insert library rows straight into the server's database (cloning 1,000 clips would only time decoding)."""
    from sqlalchemy import create_engine, insert

    from utter.models import Voice, utcnow

    engine = create_engine(os.environ["BENCH_DATABASE_URL"])
    with engine.begin() as connection:
        connection.execute(insert(Voice), [
            {"id": uuid.uuid4(), "name": f"Library voice {n}", "reference_key": f"references/{reference_id}.wav",
             "reference_seconds": 15.0, "language": "en", "source": "uploaded", "revision": 1,
             "created_at": utcnow(), "updated_at": utcnow()}
            for n in range(count)
        ])
    engine.dispose()


def load(base: str, mode: str, clients: int, seconds: float, voice_id: str | None = None) -> dict:
    command = [sys.executable, str(Path(__file__).with_name("load_client.py")), base, mode, str(clients),
               str(seconds)] + ([voice_id] if voice_id else [])
    result = json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout)
    latencies = result["latencies_ms"]
    return {"clients": clients, "tool": "python httpx, 20 threads", "requests": result["requests"],
            "per_second": result["requests"] / result["seconds"],
            "p50_ms": percentile(latencies, 50), "p99_ms": percentile(latencies, 99)}


def load_wrk(base: str, path: str, clients: int, seconds: float) -> dict | None:
    """The same load from wrk, a C load generator that takes little CPU from the server it measures."""
    if shutil.which("wrk") is None:
        return None
    output = subprocess.run(["wrk", "-t2", f"-c{clients}", f"-d{seconds:g}s", "--latency", "-H", "Accept-Encoding: gzip",
                             base + path], check=True, capture_output=True, text=True).stdout

    def ms(label: str) -> float:
        value, unit = re.search(rf"^\s*{label}%\s+([\d.]+)(us|ms|s)\s*$", output, re.M).groups()
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    requests = int(re.search(r"(\d+) requests in", output).group(1))
    return {"clients": clients, "tool": "wrk", "requests": requests,
            "per_second": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),
            "p50_ms": ms("50"), "p99_ms": ms("99")}


def upload_reference(client: httpx.Client, path: Path) -> dict:
    """Seconds until the clone is answered, and until its automatic transcript is ready."""
    started = time.perf_counter()
    created = client.post("/api/clone", data={"name": "Five minutes"}, files={"audio": (path.name, path.read_bytes())})
    created.raise_for_status()
    answered = time.perf_counter() - started
    voice = created.json()
    while voice.get("transcription") == "transcribing":
        time.sleep(0.1)
        voice = client.get(f"/api/voices/{voice['id']}").json()
    return {"seconds_of_audio": round(voice["reference_seconds"]), "response_s": answered,
            "transcript_ready_s": time.perf_counter() - started, "transcription": voice.get("transcription"),
            "transcript_words": len((voice.get("transcript") or "").split())}


def median_run(runs: list[dict]) -> dict:
    """Medians of each timing over repeated runs; memory is the highest peak seen."""
    merged = {}
    for key in runs[0]:
        values = [run[key] for run in runs]
        merged[key] = max(values) if "rss" in key else statistics.median(values) if isinstance(values[0], float) else values[0]
    merged["runs"] = len(runs)
    return merged


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="shorter load phases, 2 runs per text")
    parser.add_argument("--repeats", type=int, help="runs per text (default 5, or 2 with --quick)")
    parser.add_argument("--json", default=str(ROOT / "benchmarks" / "results" / "service.json"))
    args = parser.parse_args()
    load_seconds = 5 if args.quick else 15
    repeats = args.repeats or (2 if args.quick else 5)

    engine = PiperEngine(reason="benchmark baseline")
    engine.load()
    results: dict = {"machine": {"cpus": os.cpu_count()}, "texts": [], "load": {}}
    with tempfile.TemporaryDirectory(prefix="utter-bench-") as tmp:
        folder = Path(tmp)
        database_url = f"sqlite:///{folder / 'utter.db'}"
        os.environ["BENCH_DATABASE_URL"] = database_url
        env = {**os.environ, "DATABASE_URL": database_url, "UTTER_DATA_DIR": str(folder), "UTTER_ENGINE": "piper",
               "UTTER_ASR": "auto", "UTTER_MAX_QUEUE": "1000"}
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        server = subprocess.Popen([sys.executable, "-m", "utter.cli", "--log-level", "warning", "serve",
                                   "--port", str(port)], cwd=folder, env=env,
                                  stdout=open(folder / "server.log", "wb"), stderr=subprocess.STDOUT)
        try:
            wait_until_up(base)
            client = httpx.Client(base_url=base, timeout=600)

            reference = make_reference(engine, folder, 15)
            voice = client.post("/api/clone", data={"name": "Bench", "transcript": " ".join(SENTENCES)},
                                files={"audio": (reference.name, reference.read_bytes())}).json()
            service_run(client, base, voice["id"], text_of(100), server.pid)  # warm-up

            for chars in (100, 500, 2000, 5000):
                text = text_of(chars)
                alone_runs, served_runs = [], []
                # Short texts are cheap and the noisiest relative to their length: twice the runs.
                for _ in range(repeats * 2 if chars <= 500 else repeats):
                    alone_runs.append(engine_alone(engine, text))
                    served_runs.append(service_run(client, base, voice["id"], text, server.pid))
                alone, served = median_run(alone_runs), median_run(served_runs)
                row = {"chars": len(text), "engine": alone, "service": served,
                       "rtf": served["total_s"] / served["audio_s"],
                       "overhead_ratio": served["total_s"] / alone["total_s"],
                       "overhead_ratio_per_run": [s["total_s"] / a["total_s"] for s, a in zip(served_runs, alone_runs)]}
                results["texts"].append(row)
                print(f"  {len(text):>5} chars (median of {len(served_runs)}): first audio {served['first_audio_s']:.2f} s, "
                      f"total {served['total_s']:.2f} s (engine alone {alone['total_s']:.2f} s), "
                      f"peak RSS {served['server_peak_rss_mb']:.0f} MB", flush=True)

            results["reference_upload"] = upload_reference(client, make_reference(engine, folder, 300))
            print(f"  5-minute reference: answered in {results['reference_upload']['response_s']:.1f} s, "
                  f"transcript ready in {results['reference_upload']['transcript_ready_s']:.1f} s", flush=True)

            seed_voices(base, 1000 - len(client.get("/api/voices").json()["voices"]), voice["id"])
            assert client.get("/api/voices").json()["total"] >= 1000
            voices_wrk = load_wrk(base, "/api/voices", 20, load_seconds)
            if voices_wrk:
                results["load"]["voices_list_1000"] = voices_wrk
            else:
                print("  (wrk is not installed: GET /api/voices is measured with the Python client only)", flush=True)
            results["load"]["voices_list_1000_python_client"] = load(base, "voices", 20, load_seconds)
            results["load"]["generate_cycle"] = load(base, "cycle", 20, load_seconds * 2, voice["id"])
        finally:
            server.terminate()
            server.wait(30)

    smallest, largest = results["texts"][0], results["texts"][-1]
    mid = min(results["texts"], key=lambda row: abs(row["chars"] - 500))
    results["targets"] = {
        "first_audio_5000_vs_100": largest["service"]["first_audio_s"] / smallest["service"]["first_audio_s"],
        "service_vs_engine_500": mid["overhead_ratio"],
        "memory_growth_100_to_5000_mb": largest["service"]["server_peak_rss_mb"] - smallest["service"]["server_peak_rss_mb"],
        "engine_alone_memory_growth_100_to_5000_mb": largest["engine"]["peak_rss_mb"] - smallest["engine"]["peak_rss_mb"],
    }
    voices = results["load"].get("voices_list_1000", results["load"]["voices_list_1000_python_client"])
    results["targets"]["voices_p99_ms"], results["targets"]["voices_tool"] = voices["p99_ms"], voices["tool"]
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(results, indent=2))
    print_table(results)
    print(f"\nJSON written to {args.json}")


def print_table(results: dict) -> None:
    print("\n(medians of " + ", ".join(str(row["service"]["runs"]) for row in results["texts"]) + " runs)")
    print("\n| chars | first audio | total | audio | RTF | engine alone | service / engine | server peak RSS |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for row in results["texts"]:
        s, e = row["service"], row["engine"]
        print(f"| {row['chars']} | {s['first_audio_s']:.2f} s | {s['total_s']:.2f} s | {s['audio_s']:.1f} s | "
              f"{row['rtf']:.3f} | {e['total_s']:.2f} s | {row['overhead_ratio']:.2f}× | {s['server_peak_rss_mb']:.0f} MB |")
    print("\n| load (separate process) | tool | clients | req/s | p50 | p99 |")
    print("|---|---|---:|---:|---:|---:|")
    for name, row in results["load"].items():
        print(f"| {name} | {row['tool']} | {row['clients']} | {row['per_second']:.1f} | {row['p50_ms']:.1f} ms | "
              f"{row['p99_ms']:.1f} ms |")
    ref = results["reference_upload"]
    print(f"\n5-minute reference upload: answered in {ref['response_s']:.1f} s; transcript {ref['transcription']} "
          f"({ref['transcript_words']} words) in {ref['transcript_ready_s']:.1f} s")
    t = results["targets"]
    print("\n| target | measured | goal |")
    print("|---|---:|---|")
    print(f"| first audio, 5,000 vs 100 chars | {t['first_audio_5000_vs_100']:.2f}× | ≤ 1.5× |")
    print(f"| service vs engine alone, 500 chars | {t['service_vs_engine_500']:.2f}× | ≤ 1.15× |")
    print(f"| server memory growth 100 → 5,000 chars | {t['memory_growth_100_to_5000_mb']:.0f} MB | < 100 MB |")
    print(f"| (Piper alone, same texts, this process) | {t['engine_alone_memory_growth_100_to_5000_mb']:.0f} MB | |")
    print(f"| GET /api/voices p99, 1,000 voices, 20 clients ({t['voices_tool']}) | {t['voices_p99_ms']:.1f} ms | < 50 ms |")


if __name__ == "__main__":
    main()
