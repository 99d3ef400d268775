#!/usr/bin/env bash
# The tests need a real PostgreSQL: a running server at 127.0.0.1:5432, or the binaries to
# start a throwaway one. Install the binaries (Debian/Ubuntu, as root or with sudo) when neither exists.
set -uo pipefail
if (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null; then
    exit 0
fi
if command -v pg_ctl >/dev/null || ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1; then
    exit 0
fi
source "$(dirname "${BASH_SOURCE[0]}")/apt.sh"
if apt_can_install; then
    echo "Installing PostgreSQL binaries for the database tests ..."
    apt_install postgresql \
        || echo "Could not install PostgreSQL; the PostgreSQL leg of the tests will be skipped." >&2
else
    echo "No PostgreSQL server or binaries: the PostgreSQL leg of the tests will be skipped" \
         "(install them with: sudo apt-get install postgresql)." >&2
fi
exit 0
