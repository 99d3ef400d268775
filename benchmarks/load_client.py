"""Load generator, run as its own process by service.py so it does not share the server's CPU time slice.

    python load_client.py BASE_URL MODE CLIENTS SECONDS [VOICE_ID]

MODE is `voices` (GET /api/voices in a loop) or `cycle` (generate → poll → download).
Prints one JSON object: requests, seconds, latencies (ms).
"""

from __future__ import annotations

import json
import sys
import threading
import time

import httpx


def voices_loop(client: httpx.Client, stop: float, latencies: list[float], voice_id: str | None) -> None:
    while time.perf_counter() < stop:
        started = time.perf_counter()
        response = client.get("/api/voices")
        response.raise_for_status()
        latencies.append((time.perf_counter() - started) * 1000)


def cycle_loop(client: httpx.Client, stop: float, latencies: list[float], voice_id: str | None) -> None:
    while time.perf_counter() < stop:
        started = time.perf_counter()
        queued = client.post("/api/generate", json={"voice_id": voice_id, "text": "A short sentence to say."})
        if queued.status_code == 503:  # queue full: back off like a polite client
            time.sleep(0.5)
            continue
        queued.raise_for_status()
        status_url = queued.json()["status_url"]
        while True:
            body = client.get(status_url).json()
            if body["status"] in ("done", "failed", "cancelled"):
                break
            time.sleep(0.1)
        if body["status"] == "done":
            client.get(body["audio_url"]).raise_for_status()
            latencies.append((time.perf_counter() - started) * 1000)


def main() -> None:
    base_url, mode, clients, seconds = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    voice_id = sys.argv[5] if len(sys.argv) > 5 else None
    loop = {"voices": voices_loop, "cycle": cycle_loop}[mode]
    latencies: list[float] = []
    stop = time.perf_counter() + seconds
    started = time.perf_counter()
    threads = []
    for _ in range(clients):
        client = httpx.Client(base_url=base_url, timeout=120)
        thread = threading.Thread(target=loop, args=(client, stop, latencies, voice_id))
        thread.start()
        threads.append(thread)
    for thread in threads:
        thread.join()
    print(json.dumps({"requests": len(latencies), "seconds": time.perf_counter() - started, "latencies_ms": latencies}))


if __name__ == "__main__":
    main()
