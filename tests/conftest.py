"""Fixtures shared by all tests: real databases, real HTTP servers, real audio, real S3, tiny Qwen."""

import os

# Tests never reach a model hub; the tiny Qwen checkpoints are built locally.
os.environ.setdefault("HF_HUB_OFFLINE", "1")

pytest_plugins = [
    "tests.support.db_fixtures",
    "tests.support.audio_fixtures",
    "tests.support.app_fixtures",
    "tests.support.s3_fixtures",
    "tests.support.qwen_fixtures",
    "tests.support.fake_hub",
]
