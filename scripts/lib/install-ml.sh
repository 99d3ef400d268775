#!/usr/bin/env bash
# Install the Qwen3-TTS + Modal stack into a virtualenv, idempotently, with the PyTorch build
# that suits the machine: CUDA where an NVIDIA driver answers (`nvidia-smi -L`), CPU otherwise.
#
#   scripts/lib/install-ml.sh /path/to/venv
#   INSTALL_ML_PLAN=1 scripts/lib/install-ml.sh /path/to/venv   # only say which torch it would install
#
# Order matters: torch first at a pinned version, then qwen-tts with a constraint that keeps that
# torch, so pip does not pull another build of another version as a dependency.
# PyPI's Linux torch wheel is the CUDA build (with several GB of NVIDIA libraries); on a machine
# without an NVIDIA driver the CPU build comes from PyTorch's CPU index (UTTER_TORCH_CPU_INDEX)
# when that answers. Where it does not (the project's machines, which reach only PyPI), a plain
# install runs: there a CPU wheel lies on disk and pip's global constraints pick it.
set -euo pipefail

VENV="${1:?usage: install-ml.sh /path/to/venv}"
PY="$VENV/bin/python"
[ -x "$PY" ] || { echo "install-ml: no python at $PY" >&2; exit 2; }
TORCH_CPU_INDEX="${UTTER_TORCH_CPU_INDEX:-https://download.pytorch.org/whl/cpu}"

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

nvidia_driver() { command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; }

reachable() {  # reachable URL -> 0 when it answers within a few seconds
    "$PY" - "$1" <<'PYEOF' >/dev/null 2>&1
import sys, urllib.request
urllib.request.urlopen(sys.argv[1].rstrip("/") + "/torch/", timeout=5)
PYEOF
}

# The pip arguments that install the torch this machine should run (printed as one line by the plan).
torch_plan() {
    if nvidia_driver; then
        echo "cuda torch==$TORCH_VERSION"
    elif reachable "$TORCH_CPU_INDEX"; then
        echo "cpu torch==$TORCH_VERSION --extra-index-url $TORCH_CPU_INDEX"
    else
        echo "cpu torch==$TORCH_VERSION"
    fi
}

if [ -n "${INSTALL_ML_PLAN:-}" ]; then
    torch_plan
    exit 0
fi

if ! installed torch "$TORCH_VERSION"; then
    read -r variant torch_args <<<"$(torch_plan)"
    echo "install-ml: $variant build of torch==$TORCH_VERSION"
    # shellcheck disable=SC2086  # torch_args is several words on purpose
    pip_install $torch_args
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
