#!/usr/bin/env bash
# Install the Qwen3-TTS + Modal stack into a virtualenv, CPU-only, idempotently.
#
#   scripts/lib/install-ml.sh /path/to/venv
#
# Order matters: torch first at a pinned version (on the project's machines a CPU
# wheel lies on disk and pip's global constraints pick it; elsewhere it is a normal
# PyPI install), then qwen-tts with a constraint that keeps that torch, so pip does
# not pull a multi-GB CUDA build of another version as a dependency.
set -euo pipefail

VENV="${1:?usage: install-ml.sh /path/to/venv}"
PY="$VENV/bin/python"
[ -x "$PY" ] || { echo "install-ml: no python at $PY" >&2; exit 2; }

TORCH_VERSION=2.13.0
QWEN_TTS_VERSION=0.1.1
MODAL_VERSION=1.6.4
# torchaudio has no torch pin in its metadata; qwen-tts only needs its pure-Python
# parts (torchaudio.compliance.kaldi), so any recent release will do.
TORCHAUDIO_VERSION=2.11.0

pip_install() { "$PY" -m pip install --quiet --disable-pip-version-check "$@"; }

installed() {  # installed NAME VERSION -> 0 when exactly that version is present
    "$PY" - "$1" "$2" <<'PYEOF'
import sys
from importlib.metadata import PackageNotFoundError, version
try:
    found = version(sys.argv[1])
except PackageNotFoundError:
    sys.exit(1)
sys.exit(0 if found.split("+")[0] == sys.argv[2] else 1)
PYEOF
}

if ! installed torch "$TORCH_VERSION"; then
    echo "install-ml: torch==$TORCH_VERSION"
    pip_install "torch==$TORCH_VERSION"
fi

constraints="$(mktemp)"
trap 'rm -f "$constraints"' EXIT
echo "torch==$("$PY" -c 'import torch; print(torch.__version__)')" >"$constraints"

if ! installed qwen-tts "$QWEN_TTS_VERSION" || ! installed modal "$MODAL_VERSION" || ! installed torchaudio "$TORCHAUDIO_VERSION"; then
    echo "install-ml: qwen-tts==$QWEN_TTS_VERSION torchaudio==$TORCHAUDIO_VERSION modal==$MODAL_VERSION"
    pip_install -c "$constraints" "qwen-tts==$QWEN_TTS_VERSION" "torchaudio==$TORCHAUDIO_VERSION" \
        "modal==$MODAL_VERSION" huggingface_hub
fi

# PyPI's torchaudio wheel is a CUDA build: its compiled libraries need libc10_cuda.so,
# which a CPU torch does not ship, so `import torchaudio` fails. Without those
# libraries torchaudio imports as pure Python, which is all qwen-tts uses.
if ! "$PY" -c 'import torchaudio' >/dev/null 2>&1; then
    ta_lib="$("$PY" -c 'import importlib.util, pathlib; print(pathlib.Path(importlib.util.find_spec("torchaudio").origin).parent / "lib")')"
    echo "install-ml: torchaudio's compiled libraries do not load beside this torch; removing $ta_lib/*.so"
    rm -f "$ta_lib"/*.so
fi

"$PY" - <<'PYEOF'
import importlib.metadata as md
import qwen_tts, torch, torchaudio, modal  # noqa: F401  (the check is that these import)
print(f"install-ml: ok (torch {torch.__version__}, qwen-tts {md.version('qwen-tts')}, "
      f"torchaudio {torchaudio.__version__}, modal {modal.__version__})")
PYEOF
