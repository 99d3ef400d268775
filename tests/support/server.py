"""Running the real app over real HTTP for tests: in a thread, or as a separate `utter serve` process."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import uvicorn

from utter.config import Settings
from utter.main import create_app


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_up(base_url: str, timeout: float = 60.0, process: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"server exited with code {process.returncode}")
        try:
            if httpx.get(base_url + "/api/health", timeout=2).status_code in (200, 503):
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"server at {base_url} did not come up in {timeout} s")


@dataclass
class LiveServer:
    """The app served by uvicorn in a background thread of the test process."""

    settings: Settings
    app: object
    url: str
    _server: uvicorn.Server
    _thread: threading.Thread

    @property
    def ctx(self):
        return self.app.state.ctx

    @property
    def runner(self):
        """The generations runner of the app (None with workers=0)."""
        return self.app.state.runner

    def client(self, **kwargs) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30, **kwargs)

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(30)


def start_live_server(settings: Settings, **app_kwargs) -> LiveServer:
    app = create_app(settings, **app_kwargs)
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True, name=f"uvicorn-{port}")
    thread.start()
    url = f"http://127.0.0.1:{port}"
    wait_until_up(url)
    return LiveServer(settings, app, url, server, thread)


@dataclass
class ServerProcess:
    """`utter serve` (or `utter worker`) as its own OS process, for restart and kill tests."""

    process: subprocess.Popen
    url: str | None
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, timeout: float = 15) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


# Settings a newcomer's shell would not have: a process started "with nothing configured" runs without them.
CONFIG_PREFIXES = ("UTTER_", "DATABASE_URL", "MODAL_", "R2_", "ENV")


def start_process(env: dict[str, str], cwd: Path, *args: str, log_name: str = "server.log",
                  configured: bool = True) -> ServerProcess:
    """Start the `utter` CLI with `args` (e.g. "serve" or "worker") and the given UTTER_* environment.

    `configured=False` drops every Utter setting this test process has from the environment first.
    """
    inherited = {k: v for k, v in os.environ.items() if configured or not k.startswith(CONFIG_PREFIXES)}
    full_env = {**inherited, **env}
    log_path = cwd / log_name
    port = None
    command = [sys.executable, "-m", "utter.cli", *args]
    if args and args[0] == "serve":
        port = free_port()
        command += ["--host", "127.0.0.1", "--port", str(port)]
    with open(log_path, "ab") as log:
        process = subprocess.Popen(command, cwd=cwd, env=full_env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}" if port else None
    if url:
        try:
            wait_until_up(url, process=process)
        except Exception:
            process.kill()
            raise RuntimeError(f"utter {' '.join(args)} failed to start:\n{log_path.read_text(errors='replace')}")
    return ServerProcess(process, url, log_path)
