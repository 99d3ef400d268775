"""The README's one command installs the whole studio (issue 20): scripts/serve installs the packages
cloning needs, with the PyTorch build that suits the machine, by the same script the tests use."""

from __future__ import annotations

import re
import subprocess
import sys
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
INSTALL_ML = ROOT / "scripts" / "lib" / "install-ml.sh"


def torch_plan(tmp_path: Path, *, nvidia_smi_exit: int | None, index: str) -> str:
    """What install-ml.sh would install for torch, on a PATH holding only a stand-in for nvidia-smi."""
    venv, tools = tmp_path / "venv", tmp_path / "tools"
    (venv / "bin").mkdir(parents=True, exist_ok=True)
    tools.mkdir(exist_ok=True)
    if not (venv / "bin" / "python").exists():
        (venv / "bin" / "python").symlink_to(sys.executable)
    smi = tools / "nvidia-smi"
    smi.unlink(missing_ok=True)
    if nvidia_smi_exit is not None:  # a driver that answers (0), or a tool whose driver is missing (9)
        smi.write_text(f"#!/bin/sh\nexit {nvidia_smi_exit}\n")
        smi.chmod(0o755)
    env = {"PATH": str(tools), "INSTALL_ML_PLAN": "1", "UTTER_TORCH_CPU_INDEX": index}
    done = subprocess.run(["/bin/bash", str(INSTALL_ML), str(venv)], env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.fixture
def cpu_index(tmp_path):
    """A package index that answers (PyTorch's CPU index, as far as the script can tell)."""
    root = tmp_path / "index"
    (root / "torch").mkdir(parents=True)
    (root / "torch" / "index.html").write_text("<html></html>")
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(SimpleHTTPRequestHandler, directory=str(root)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_an_nvidia_driver_gets_the_cuda_build(tmp_path, cpu_index):
    assert torch_plan(tmp_path, nvidia_smi_exit=0, index=cpu_index) == "cuda torch==2.13.0"


def test_no_driver_gets_the_cpu_build_from_pytorchs_cpu_index(tmp_path, cpu_index):
    for smi in (None, 9):  # no nvidia-smi at all, or one that finds no driver
        assert torch_plan(tmp_path, nvidia_smi_exit=smi, index=cpu_index) == \
            f"cpu torch==2.13.0 --extra-index-url {cpu_index}"


def test_without_the_cpu_index_a_plain_install_runs(tmp_path):
    """Machines that reach only PyPI (the project's, with a CPU wheel on disk) install plainly."""
    assert torch_plan(tmp_path, nvidia_smi_exit=None, index="http://127.0.0.1:9") == "cpu torch==2.13.0"


def test_scripts_serve_installs_what_cloning_needs_with_the_same_script_as_the_tests():
    serve = (ROOT / "scripts" / "serve").read_text()
    assert 'ensure_venv "piper,asr,normalize"' in serve  # Piper, automatic transcripts, numbers said in words
    assert re.search(r"^if ! bash scripts/lib/install-ml\.sh \.venv; then$", serve, flags=re.MULTILINE)
    assert "bash scripts/lib/install-ml.sh .venv" in (ROOT / "scripts" / "test").read_text()
    # The slim image for a web tier calling Modal stays without torch.
    assert "install-ml" not in (ROOT / "Dockerfile").read_text()
