"""The design tests use `qwen_engine` and `qwen_server` from tests/support/qwen_fixtures.py."""
