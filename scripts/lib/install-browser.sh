#!/usr/bin/env bash
# Make sure Debian's Chromium is installed for the browser tests (tests/browser), idempotently.
#
#   scripts/lib/install-browser.sh
#
# Playwright drives /usr/bin/chromium through `executable_path`; `playwright install`
# cannot download its own browsers on machines without general internet access, but
# the Debian archive is reachable, so Chromium comes from apt. Set UTTER_CHROMIUM to use
# a browser somewhere else (then nothing is installed).
set -euo pipefail

CHROMIUM="${UTTER_CHROMIUM:-/usr/bin/chromium}"

if [ -x "$CHROMIUM" ]; then
    echo "install-browser: $CHROMIUM is present"
    exit 0
fi
if [ -n "${UTTER_CHROMIUM:-}" ]; then
    echo "install-browser: UTTER_CHROMIUM=$CHROMIUM does not exist or is not executable" >&2
    exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "install-browser: no apt-get here; install Chromium yourself and point UTTER_CHROMIUM at it" \
         "(the browser tests are skipped without it)" >&2
    exit 1
fi

source "$(dirname "${BASH_SOURCE[0]}")/apt.sh"
if ! apt_can_install; then
    echo "install-browser: Chromium is missing and installing it needs root:" >&2
    echo "    sudo apt-get update && sudo apt-get install -y chromium" >&2
    exit 1
fi

echo "install-browser: installing Debian's chromium (about 475 MB; takes about a minute)"
apt_install chromium
if [ ! -x "$CHROMIUM" ]; then
    echo "install-browser: apt-get finished but $CHROMIUM is still missing" >&2
    exit 1
fi
echo "install-browser: installed $("$CHROMIUM" --version 2>/dev/null || echo chromium)"
