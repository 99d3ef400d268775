# Sourced by scripts/serve and scripts/test: a project virtualenv in .venv with the given extras.
# Re-running is cheap: pip runs again only when pyproject.toml or the extras change.

source "$(dirname "${BASH_SOURCE[0]}")/apt.sh"

ensure_python() {
    PYTHON_BIN="${PYTHON:-python3}"
    if ! command -v "$PYTHON_BIN" >/dev/null 2>&1; then
        echo "Utter needs Python 3.11 or newer (python3 was not found)." >&2
        exit 1
    fi
    if ! "$PYTHON_BIN" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
        echo "Utter needs Python 3.11 or newer; $("$PYTHON_BIN" --version) was found. Set PYTHON=/path/to/python3.11." >&2
        exit 1
    fi
}

ensure_venv() {
    local extras="$1"
    ensure_python
    if [ ! -x .venv/bin/python ]; then
        if ! "$PYTHON_BIN" -m venv .venv 2>/dev/null; then
            # Debian and Ubuntu ship venv support separately.
            rm -rf .venv
            local version
            version="$("$PYTHON_BIN" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')"
            if apt_can_install; then
                apt_install "python${version}-venv" || apt_install python3-venv
            else
                echo "Creating a virtualenv failed: install python${version}-venv (sudo apt-get install python3-venv)." >&2
                exit 1
            fi
            "$PYTHON_BIN" -m venv .venv
        fi
        .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
    fi
    local stamp=".venv/.utter-installed"
    local want
    want="$(cat pyproject.toml | sha256sum | cut -c1-16) $extras"
    if [ ! -f "$stamp" ] || ! grep -qxF "$want" "$stamp"; then
        echo "Installing Utter with extras [$extras] into .venv ..."
        .venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".[$extras]"
        echo "$want" >> "$stamp"
    fi
}
