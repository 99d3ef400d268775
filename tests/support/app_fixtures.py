"""`server`: the real app over real HTTP, on each database (and storage, where a test asks)."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
import pytest

from utter.config import Settings

from .server import LiveServer, start_live_server


@pytest.fixture
def make_settings(database_url, tmp_path) -> Callable[..., Settings]:
    def make(**overrides) -> Settings:
        values = {"database_url": database_url, "data_dir": tmp_path, "engine": "piper", "workers": 1,
                  "_env_file": None}
        values.update(overrides)
        return Settings(**values)

    return make


@pytest.fixture
def make_server(make_settings, piper_engine) -> Callable[..., LiveServer]:
    servers: list[LiveServer] = []

    def make(*, engine=None, storage=None, **overrides) -> LiveServer:
        server = start_live_server(make_settings(**overrides), engine=engine or piper_engine, storage=storage)
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()


@pytest.fixture
def server(make_server) -> LiveServer:
    return make_server()


@pytest.fixture
def client(server) -> httpx.Client:
    with server.client() as client:
        yield client


def wait_for_generation(client: httpx.Client, status_url: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = client.get(status_url).json()
        if body["status"] in ("done", "failed", "cancelled"):
            return body
        time.sleep(0.1)
    raise TimeoutError(f"generation at {status_url} still {body['status']} after {timeout} s")
