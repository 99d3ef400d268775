"""Pytest fixtures for a real S3 server: register with `pytest_plugins = ["tests.support.s3_fixtures"]`."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest

from utter.adapters.storage.s3 import S3Storage

from .seaweed import S3ServerInfo, running_seaweed


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> S3ServerInfo:
    """One SeaweedFS server for the whole session (it takes a second or two to start and stop)."""
    with running_seaweed(tmp_path_factory.mktemp("s3")) as info:
        yield info


@pytest.fixture
def make_s3_storage(s3_server: S3ServerInfo) -> Callable[..., S3Storage]:
    """A factory for S3Storage on the test server; keyword arguments replace constructor arguments.

    The bucket is a fresh name that does not exist yet (call ensure_bucket to create it).
    """

    def make(**overrides) -> S3Storage:
        args = {
            "endpoint": s3_server.endpoint,
            "access_key": s3_server.access_key,
            "secret_key": s3_server.secret_key,
            "bucket": f"utter-test-{uuid.uuid4().hex[:16]}",
            "region": "auto",  # what R2 expects, so requests are signed as in production
            "presign_seconds": 60,
        }
        return S3Storage(**{**args, **overrides})

    return make


@pytest.fixture
def s3_storage(make_s3_storage: Callable[..., S3Storage]) -> S3Storage:
    """A fresh, empty bucket per test, so tests never see each other's objects."""
    storage = make_s3_storage()
    storage.ensure_bucket()
    return storage
