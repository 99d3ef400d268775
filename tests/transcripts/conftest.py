"""The transcript tests use the shared `transcriber` and `make_server` fixtures from tests/support."""
