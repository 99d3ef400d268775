"""A local HTTP server that speaks the part of the Hugging Face hub's API that downloads use.

What huggingface_hub 0.36 calls through its endpoint (HF_ENDPOINT, or `endpoint=`):

- `GET /api/models/{repo}/revision/{rev}` (`?blobs=true` for `files_metadata=True`):
  the commit (`sha`) and `siblings`, each with `size`, `blobId` (git's sha1 of the blob) and,
  for LFS files, `lfs: {size, sha256, pointerSize}`.
- `HEAD/GET /{repo}/resolve/{rev}/{path}`: small files answered directly, with `ETag` (the
  blob id) and `X-Repo-Commit`; LFS files answered with a redirect to another address (the
  hub's CDN) carrying `X-Linked-Etag` (the sha256), `X-Linked-Size` and `X-Repo-Commit`, which
  `get_hf_file_metadata` reads from the redirect itself. `Range` requests answer 206.

It serves folders the tests build (the tiny Qwen3-TTS checkpoints) as repos, and can misbehave
on purpose: serve a file damaged (`corrupt`), drop the connection part-way once (`cut_once`),
send slowly (`bytes_per_second`) or hold every file request until released (`hold`). Every
request is logged (`requests`), so a test can see the Range a resumed download asked for.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

LFS_SUFFIXES = (".safetensors", ".bin", ".pt", ".onnx")


@dataclass
class HubRepo:
    repo_id: str
    folder: Path
    commit: str
    files: dict[str, bytes] = field(default_factory=dict)

    def is_lfs(self, path: str) -> bool:
        return path.endswith(LFS_SUFFIXES)

    def sibling(self, path: str) -> dict:
        data = self.files[path]
        blob = hashlib.sha1(f"blob {len(data)}\0".encode() + data).hexdigest()
        entry = {"rfilename": path, "size": len(data), "blobId": blob}
        if self.is_lfs(path):
            entry["lfs"] = {"size": len(data), "sha256": hashlib.sha256(data).hexdigest(), "pointerSize": 134}
        return entry


@dataclass
class LoggedRequest:
    method: str
    path: str
    range: str | None


class FakeHub:
    def __init__(self) -> None:
        self.repos: dict[str, HubRepo] = {}
        self.requests: list[LoggedRequest] = []
        self.content_gets: list[tuple[str, str | None]] = []  # (file path, Range asked) of each content GET
        self.corrupt: set[str] = set()  # file paths served with one byte changed
        self.cut_once: dict[str, int] = {}  # path -> bytes after which the connection drops (once)
        self.bytes_per_second: float | None = None
        self.hold = threading.Event()  # cleared: file bodies wait until it is set again
        self.hold.set()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-hub", daemon=True)

    def start(self) -> FakeHub:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.hold.set()
        self._server.shutdown()
        self._server.server_close()

    def add_repo(self, repo_id: str, folder: Path) -> HubRepo:
        folder = Path(folder)
        files = {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}
        repo = HubRepo(repo_id, folder, secrets.token_hex(20), files)
        self.repos[repo_id] = repo
        return repo

    def total_bytes(self, repo_id: str) -> int:
        return sum(len(data) for data in self.repos[repo_id].files.values())

    def ranges_asked(self, path: str) -> list[str | None]:
        """The Range header of each GET of one file's content, in order (None: the whole file)."""
        return [asked for served, asked in self.content_gets if served == path]

    # -- the HTTP side -----------------------------------------------------------------

    def _handler(self):
        hub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"  # one request per connection: a dropped one is plainly dropped

            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                self._answer(head=False)

            def do_HEAD(self) -> None:
                self._answer(head=True)

            def _answer(self, head: bool) -> None:
                url = urlsplit(self.path)
                path = unquote(url.path)
                hub.requests.append(LoggedRequest(self.command, path, self.headers.get("Range")))
                api = re.fullmatch(r"/api/models/(.+?)(?:/revision/([^/]+))?", path)
                if api:
                    return self._model_info(api.group(1), unquote(api.group(2) or "main"), "blobs=true" in url.query.lower())
                cdn = re.fullmatch(r"/cdn/(.+)/([0-9a-f]{40})/(.+)", path)
                if cdn:
                    repo = hub.repos.get(cdn.group(1))
                    if repo is None or cdn.group(3) not in repo.files:
                        return self._error(404, "EntryNotFound")
                    return self._content(repo, cdn.group(3), head)
                for repo_id, repo in hub.repos.items():
                    prefix = f"/{repo_id}/resolve/"
                    if path.startswith(prefix):
                        revision, _, file_path = path[len(prefix):].partition("/")
                        return self._resolve(repo, revision, file_path, head)
                self._error(404, "RepoNotFound")

            def _model_info(self, repo_id: str, revision: str, blobs: bool) -> None:
                repo = hub.repos.get(repo_id)
                if repo is None:
                    return self._error(404, "RepoNotFound", "Repository not found")
                if revision not in ("main", repo.commit):
                    return self._error(404, "RevisionNotFound", "Invalid rev id")
                siblings = [repo.sibling(p) if blobs else {"rfilename": p} for p in repo.files]
                body = {"_id": repo.commit[:24], "id": repo_id, "modelId": repo_id, "sha": repo.commit,
                        "private": False, "disabled": False, "gated": False, "downloads": 0, "likes": 0,
                        "tags": ["text-to-speech"], "library_name": "qwen-tts", "siblings": siblings,
                        "lastModified": "2026-01-01T00:00:00.000Z", "createdAt": "2026-01-01T00:00:00.000Z"}
                self._json(200, body)

            def _resolve(self, repo: HubRepo, revision: str, file_path: str, head: bool) -> None:
                if revision not in ("main", repo.commit):
                    return self._error(404, "RevisionNotFound", "Invalid rev id")
                if file_path not in repo.files:
                    return self._error(404, "EntryNotFound", "Entry not found")
                sibling = repo.sibling(file_path)
                if repo.is_lfs(file_path):
                    # As the hub does: the metadata on the redirect, the bytes at another address.
                    self.send_response(302)
                    self.send_header("Location", f"{hub.url}/cdn/{repo.repo_id}/{repo.commit}/{file_path}")
                    self.send_header("X-Repo-Commit", repo.commit)
                    self.send_header("X-Linked-Etag", f'"{sibling["lfs"]["sha256"]}"')
                    self.send_header("X-Linked-Size", str(sibling["size"]))
                    self.send_header("ETag", f'"{sibling["blobId"]}"')
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self._content(repo, file_path, head)

            def _content(self, repo: HubRepo, file_path: str, head: bool) -> None:
                data = repo.files[file_path]
                if not head:
                    hub.content_gets.append((file_path, self.headers.get("Range")))
                if file_path in hub.corrupt:
                    middle = len(data) // 2
                    data = data[:middle] + bytes([data[middle] ^ 0xFF]) + data[middle + 1:]
                sibling = repo.sibling(file_path)
                etag = sibling["lfs"]["sha256"] if "lfs" in sibling else sibling["blobId"]
                start, status = 0, 200
                wanted = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range", "") or "")
                if wanted:
                    start = int(wanted.group(1))
                    if start >= len(data):
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(data)}")
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    status = 206
                body = data[start:]
                self.send_response(status)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Accept-Ranges", "bytes")
                self.send_header("ETag", f'"{etag}"')
                self.send_header("X-Repo-Commit", repo.commit)
                if status == 206:
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                self.end_headers()
                if head:
                    return
                cut = hub.cut_once.pop(file_path, None)
                self._send_body(body if cut is None else body[:max(cut - start, 0)])
                if cut is not None:
                    self.close_connection = True  # fewer bytes than Content-Length said: the client sees the drop

            def _send_body(self, body: bytes) -> None:
                step = 64 * 1024
                for offset in range(0, len(body), step):
                    if not hub.hold.wait(30):
                        return
                    try:
                        self.wfile.write(body[offset:offset + step])
                    except (BrokenPipeError, ConnectionResetError):
                        return
                    if hub.bytes_per_second:
                        time.sleep(step / hub.bytes_per_second)

            def _json(self, status: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            def _error(self, status: int, code: str, message: str = "") -> None:
                # huggingface_hub tells errors apart by this header.
                data = json.dumps({"error": message or code}).encode()
                self.send_response(status)
                self.send_header("X-Error-Code", code)
                self.send_header("X-Error-Message", message or code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

        return Handler


# -- fixtures ---------------------------------------------------------------------------------

import pytest  # noqa: E402  (the server above is usable without pytest)

BASE_MODEL = "Qwen/Qwen3-TTS-12Hz-0.6B-Base"  # the default UTTER_QWEN_MODEL, served with the tiny checkpoint


@pytest.fixture
def hub_reachable(monkeypatch):
    """The suite runs offline (HF_HUB_OFFLINE=1, read by huggingface_hub at import); a test that talks
    to the fake hub lifts it for itself, sessions included."""
    from huggingface_hub import constants
    from huggingface_hub.utils import reset_sessions

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    reset_sessions()
    yield
    reset_sessions()


@pytest.fixture
def fake_hub(tiny_qwen_base_dir, hub_reachable):
    """A hub serving the tiny Base checkpoint as Qwen/Qwen3-TTS-12Hz-0.6B-Base."""
    hub = FakeHub().start()
    hub.add_repo(BASE_MODEL, tiny_qwen_base_dir)
    yield hub
    hub.stop()
