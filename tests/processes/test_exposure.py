"""Access keys from the command line, and `utter serve` refusing to be open to the network by accident."""

from __future__ import annotations

import os
import subprocess
import sys

import httpx
import pytest

from tests.support.server import CONFIG_PREFIXES, free_port, wait_until_up
from utter.cli import main

pytestmark = pytest.mark.slow


@pytest.fixture
def fresh(tmp_path, monkeypatch):
    """A working directory with nothing configured, as a newcomer's."""
    for name in list(os.environ):
        if name.startswith(CONFIG_PREFIXES):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))
    return tmp_path


def test_keys_are_made_listed_and_revoked_from_the_command_line(fresh, capsys):
    assert main(["keys", "list"]) == 0
    assert "No access keys" in capsys.readouterr().err
    assert main(["keys", "create", "My", "laptop"]) == 0
    made = capsys.readouterr()
    key = made.out.strip()
    assert key.startswith("utk_") and len(key) > 30 and "shown this once" in made.err
    assert main(["keys", "list"]) == 0
    listed = capsys.readouterr().out
    assert key[:10] in listed and "active" in listed and "My laptop" in listed and key not in listed
    assert main(["keys", "revoke", key[:10]]) == 0
    assert main(["keys", "list"]) == 0
    assert "revoked" in capsys.readouterr().out
    assert main(["keys", "revoke", "utk_nothing"]) == 1
    assert "No access key" in capsys.readouterr().err


def _on_the_network(folder, **settings) -> tuple[subprocess.Popen, str]:
    """`utter serve --host 0.0.0.0`, nothing configured but `settings`."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(CONFIG_PREFIXES)}
    process = subprocess.Popen([sys.executable, "-m", "utter.cli", "serve", "--host", "0.0.0.0", "--port", str(port)],
                               cwd=folder, env={**env, "UTTER_ASR": "off", **settings},
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    return process, f"http://127.0.0.1:{port}"


def test_serve_on_the_network_without_a_key_refuses_unless_told(fresh):
    refused, _ = _on_the_network(fresh)
    assert refused.wait(120) == 2
    assert "Refusing to serve on 0.0.0.0 with no access key" in refused.stderr.read()

    process, url = _on_the_network(fresh, UTTER_OPEN_ACCESS="1")
    try:
        wait_until_up(url, process=process)
        assert httpx.get(url + "/api/voices").status_code == 200  # open, as the operator said
    finally:
        process.terminate()
        process.wait(30)


def test_serve_on_the_network_with_a_key_starts_and_asks_for_it(fresh, capsys):
    assert main(["keys", "create", "Server"]) == 0
    key = capsys.readouterr().out.strip()
    process, url = _on_the_network(fresh)
    try:
        wait_until_up(url, process=process)
        assert httpx.get(url + "/api/voices").status_code == 401
        assert httpx.get(url + "/api/voices", headers={"Authorization": f"Bearer {key}"}).status_code == 200
    finally:
        process.terminate()
        process.wait(30)
