"""What only the S3/R2 backend does: presigned URLs, and failing clearly when the bucket is out of reach."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx
import pytest

from utter.config import Settings
from utter.adapters.storage import StorageError, build_storage
from utter.adapters.storage.s3 import S3Storage, content_disposition
from tests.support.seaweed import S3ServerInfo

pytest_plugins = ["tests.support.s3_fixtures"]

MakeStorage = Callable[..., S3Storage]


def tamper_signature(url: str) -> str:
    parts = urlsplit(url)
    query = parse_qsl(parts.query)
    tampered = []
    for name, value in query:
        if name == "X-Amz-Signature":
            value = ("1" if value[0] != "1" else "2") + value[1:]
        tampered.append((name, value))
    return urlunsplit(parts._replace(query=urlencode(tampered)))


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_presigned_url_serves_the_bytes(s3_storage: S3Storage) -> None:
    s3_storage.put_bytes("generated/g1.mp3", b"ID3-mp3-bytes", "audio/mpeg")
    url = s3_storage.url("generated/g1.mp3")
    assert url.startswith(s3_storage.endpoint + "/")
    response = httpx.get(url)
    assert response.status_code == 200
    assert response.content == b"ID3-mp3-bytes"
    assert response.headers["content-type"] == "audio/mpeg"


def test_presigned_url_with_download_name(s3_storage: S3Storage) -> None:
    s3_storage.put_bytes("generated/g1.mp3", b"mp3", "audio/mpeg")
    response = httpx.get(s3_storage.url("generated/g1.mp3", download_name="Café \"intro\".mp3"))
    assert response.status_code == 200
    disposition = response.headers["content-disposition"]
    assert disposition.startswith("attachment;")
    assert "filename*=UTF-8''Caf%C3%A9%20%22intro%22.mp3" in disposition
    assert 'filename="Caf_ _intro_.mp3"' in disposition


def test_content_disposition_cannot_inject_headers() -> None:
    value = content_disposition("a\r\nSet-Cookie: x=1.mp3")
    assert "\r" not in value and "\n" not in value
    assert value.startswith('attachment; filename="aSet-Cookie: x=1.mp3"')


def test_tampered_presigned_url_is_refused(s3_storage: S3Storage) -> None:
    s3_storage.put_bytes("generated/g1.mp3", b"mp3", "audio/mpeg")
    url = s3_storage.url("generated/g1.mp3")
    assert httpx.get(tamper_signature(url)).status_code == 403


def test_expired_presigned_url_is_refused(make_s3_storage: MakeStorage) -> None:
    storage = make_s3_storage(presign_seconds=1)
    storage.ensure_bucket()
    storage.put_bytes("generated/g1.mp3", b"mp3", "audio/mpeg")
    url = storage.url("generated/g1.mp3")
    deadline = time.monotonic() + 15
    while (status := httpx.get(url).status_code) == 200 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert status == 403


def test_wrong_secret_key(s3_server: S3ServerInfo, s3_storage: S3Storage, make_s3_storage: MakeStorage) -> None:
    wrong = make_s3_storage(bucket=s3_storage.bucket, secret_key="not-the-secret")
    with pytest.raises(StorageError) as caught:
        wrong.get_bytes("references/v1.wav")
    assert caught.value.code == "storage_unavailable"
    assert s3_storage.bucket in caught.value.message and s3_server.endpoint in caught.value.message
    assert "secret key was refused" in caught.value.message
    assert "not-the-secret" not in caught.value.message and s3_server.secret_key not in caught.value.message
    health = wrong.health()
    assert health["status"] == "error" and "refused" in health["detail"]


def test_unreachable_endpoint_fails_fast(make_s3_storage: MakeStorage, tmp_path: Path) -> None:
    storage = make_s3_storage(endpoint=f"http://127.0.0.1:{closed_port()}")
    started = time.monotonic()
    with pytest.raises(StorageError) as caught:
        storage.get_bytes("references/v1.wav")
    assert caught.value.code == "storage_unavailable"
    assert "cannot be reached" in caught.value.message
    source = tmp_path / "f.wav"
    source.write_bytes(b"x")
    with pytest.raises(StorageError, match="cannot be reached"):
        storage.put_file("references/v1.wav", source, "audio/wav")
    health = storage.health()
    assert health["status"] == "error"
    assert storage.endpoint in health["detail"] and "cannot be reached" in health["detail"]
    assert time.monotonic() - started < 10


def test_missing_bucket(s3_server: S3ServerInfo, make_s3_storage: MakeStorage) -> None:
    storage = make_s3_storage(bucket="utter-test-never-created")
    health = storage.health()
    assert health == {
        "status": "error",
        "backend": "r2",
        "detail": f"bucket utter-test-never-created at {s3_server.endpoint}: the bucket does not exist",
    }
    # A missing bucket is an outage, not a missing file.
    with pytest.raises(StorageError) as caught:
        storage.get_bytes("references/v1.wav")
    assert caught.value.code == "storage_unavailable"


def test_ensure_bucket_is_idempotent(s3_storage: S3Storage) -> None:
    s3_storage.put_bytes("references/v1.wav", b"wav", "audio/wav")
    s3_storage.ensure_bucket()
    assert s3_storage.get_bytes("references/v1.wav") == b"wav"


def test_built_from_settings(s3_server: S3ServerInfo, s3_storage: S3Storage) -> None:
    settings = Settings(
        storage="r2",
        r2_endpoint=s3_server.endpoint,
        r2_access_key=s3_server.access_key,
        r2_secret_key=s3_server.secret_key,
        r2_bucket=s3_storage.bucket,
        presign_seconds=30,
    )
    storage = build_storage(settings)
    assert isinstance(storage, S3Storage)
    assert storage.presign_seconds == 30
    assert storage.health()["status"] == "ok"


def test_settings_without_endpoint_are_refused() -> None:
    with pytest.raises(StorageError, match="R2_ENDPOINT"):
        build_storage(Settings(storage="r2", r2_endpoint="", r2_access_key="k", r2_secret_key="s"))


def test_large_file_goes_up_in_parts(s3_storage: S3Storage, tmp_path: Path) -> None:
    source = tmp_path / "nine.mp3"
    source.write_bytes(b"\0" * (9 * 1024 * 1024))
    s3_storage.put_file("generated/nine.mp3", source, "audio/mpeg")
    head = s3_storage.client.head_object(Bucket=s3_storage.bucket, Key="generated/nine.mp3")
    # A multipart upload's ETag ends in the part count.
    assert head["ETag"].strip('"').endswith("-2")
    assert head["ContentType"] == "audio/mpeg"
