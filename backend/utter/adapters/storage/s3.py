"""Storage in an S3-compatible bucket: Cloudflare R2 in production; SeaweedFS or MinIO work too."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING
from urllib.parse import quote

import boto3
from boto3.exceptions import Boto3Error
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotoConnectionError

from .base import ObjectMissing, StorageError

if TYPE_CHECKING:
    from ...config import Settings

MB = 1024 * 1024
# Above 8 MB a file goes up in 8 MB parts, read from disk as it goes.
_TRANSFER = TransferConfig(multipart_threshold=8 * MB, multipart_chunksize=8 * MB, max_concurrency=4)
_MISSING_CODES = {"NoSuchKey", "404", "NotFound"}
_CREDENTIAL_CODES = {"InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "403", "Forbidden"}


def check_key(key: str) -> str:
    """The normalised key, refusing keys that the local backend would refuse too."""
    pure = PurePosixPath(key)
    if pure.is_absolute() or ".." in pure.parts or not pure.parts or "\x00" in key:
        raise StorageError("invalid_key", f"Invalid storage key {key!r}.")
    return pure.as_posix()


def content_disposition(filename: str) -> str:
    """`attachment` with an ASCII fallback name and the exact name in RFC 5987 form."""
    # Control characters would let a name inject headers; quotes and backslashes break the quoted form.
    clean = re.sub(r"[\x00-\x1f\x7f]", "", filename).strip() or "download"
    fallback = re.sub(r'[^\x20-\x7e]|["\\]', "_", clean)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(clean, safe='')}"


class S3Storage:
    name = "r2"

    def __init__(
        self,
        endpoint: str,
        access_key: str,
        secret_key: str,
        bucket: str,
        region: str = "auto",
        presign_seconds: int = 900,
    ):
        self.endpoint = endpoint.rstrip("/")
        self.bucket = bucket
        self.presign_seconds = presign_seconds
        config = Config(
            signature_version="s3v4",
            s3={"addressing_style": "path"},
            # Fail in seconds, not minutes, when the bucket cannot be reached.
            connect_timeout=3,
            read_timeout=30,
            retries={"mode": "standard", "max_attempts": 2},
            # boto3's default CRC checksums are not understood by every S3-compatible server.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
        # A private session: explicit keys, never ~/.aws or the process-wide default session.
        self.client = boto3.session.Session().client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=access_key,
            aws_secret_access_key=secret_key,
            region_name=region,
            config=config,
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> S3Storage:
        missing = [name for name in ("r2_endpoint", "r2_access_key", "r2_secret_key") if not getattr(settings, name)]
        if missing:
            raise StorageError(
                "storage_unavailable",
                f"STORAGE=r2 needs {', '.join(n.upper() for n in missing)} to be set.",
            )
        return cls(
            endpoint=settings.r2_endpoint,
            access_key=settings.r2_access_key,
            secret_key=settings.r2_secret_key,
            bucket=settings.r2_bucket,
            region=settings.r2_region,
            presign_seconds=settings.presign_seconds,
        )

    def _where(self) -> str:
        return f"bucket {self.bucket} at {self.endpoint}"

    def _reason(self, exc: Exception) -> str:
        """The cause in plain words; boto's messages never carry the secret key, and neither does this."""
        if isinstance(exc, ClientError):
            error = exc.response.get("Error", {})
            code = str(error.get("Code", ""))
            if code == "NoSuchBucket" or (code in ("404", "NotFound") and exc.operation_name == "HeadBucket"):
                return "the bucket does not exist"
            if code in _CREDENTIAL_CODES:
                return f"the access key or secret key was refused ({code})"
            return f"the server answered {code or 'an error'} {error.get('Message', '')}".rstrip()
        if isinstance(exc, BotoConnectionError):
            return f"the endpoint cannot be reached ({type(exc).__name__})"
        if isinstance(exc, HTTPClientError):
            return f"the connection to the endpoint failed ({type(exc).__name__})"
        return f"{type(exc).__name__}: {exc}"

    def _unavailable(self, exc: Exception) -> StorageError:
        return StorageError("storage_unavailable", f"Storage {self._where()} is unavailable: {self._reason(exc)}.")

    @contextmanager
    def _errors(self, key: str | None = None):
        """Turn boto errors into StorageError; `key` makes a 404 mean ObjectMissing."""
        try:
            yield
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if key is not None and code in _MISSING_CODES:
                raise ObjectMissing(key) from None
            raise self._unavailable(exc) from exc
        except (BotoCoreError, Boto3Error) as exc:
            raise self._unavailable(exc) from exc

    def put_file(self, key: str, source: Path, content_type: str) -> None:
        key = check_key(key)
        with self._errors():
            self.client.upload_file(
                str(source), self.bucket, key, ExtraArgs={"ContentType": content_type}, Config=_TRANSFER
            )

    def put_bytes(self, key: str, data: bytes, content_type: str) -> None:
        key = check_key(key)
        with self._errors():
            self.client.put_object(Bucket=self.bucket, Key=key, Body=data, ContentType=content_type)

    def get_bytes(self, key: str) -> bytes:
        key = check_key(key)
        with self._errors(key):
            return self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()

    def download(self, key: str, dest: Path) -> None:
        key = check_key(key)
        with self._errors(key):
            self.client.download_file(self.bucket, key, str(dest), Config=_TRANSFER)

    def iter_chunks(self, key: str, chunk_size: int = 64 * 1024) -> Iterator[bytes]:
        key = check_key(key)
        with self._errors(key):
            body = self.client.get_object(Bucket=self.bucket, Key=key)["Body"]
            try:
                yield from body.iter_chunks(chunk_size)
            finally:
                body.close()

    def exists(self, key: str) -> bool:
        key = check_key(key)
        try:
            with self._errors(key):
                self.client.head_object(Bucket=self.bucket, Key=key)
        except ObjectMissing:
            return False
        return True

    def delete(self, key: str) -> None:
        key = check_key(key)
        with self._errors():
            self.client.delete_object(Bucket=self.bucket, Key=key)

    def list_keys(self, prefix: str) -> list[str]:
        # A prefix names a folder, as in the local backend: "references" must not match "references2/".
        folder = prefix.strip("/") + "/" if prefix.strip("/") else ""
        keys: list[str] = []
        with self._errors():
            for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=folder):
                keys.extend(item["Key"] for item in page.get("Contents", []))
        return sorted(keys)

    @property
    def url_lifetime(self) -> int:
        return self.presign_seconds

    def local_path(self, key: str) -> None:
        check_key(key)
        return None

    def url(self, key: str, *, download_name: str | None = None) -> str:
        """A presigned GET URL valid for `presign_seconds`; signing needs no request to the server."""
        params = {"Bucket": self.bucket, "Key": check_key(key)}
        if download_name:
            params["ResponseContentDisposition"] = content_disposition(download_name)
        return self.client.generate_presigned_url("get_object", Params=params, ExpiresIn=self.presign_seconds)

    def health(self) -> dict[str, str]:
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except Exception as exc:  # health must report, never raise
            return {"status": "error", "backend": self.name, "detail": f"{self._where()}: {self._reason(exc)}"}
        return {"status": "ok", "backend": self.name, "detail": self._where()}

    def ensure_bucket(self) -> None:
        """Create the bucket if it is missing (first-run setup and tests; not done per request)."""
        with self._errors():
            try:
                self.client.head_bucket(Bucket=self.bucket)
                return
            except ClientError as exc:
                if str(exc.response.get("Error", {}).get("Code")) not in ("404", "NoSuchBucket", "NotFound"):
                    raise
            try:
                self.client.create_bucket(Bucket=self.bucket)
            except ClientError as exc:
                # Another process may have created it between the two calls.
                if exc.response.get("Error", {}).get("Code") != "BucketAlreadyOwnedByYou":
                    raise
