#!/usr/bin/env bash
# Set everything up (a virtualenv with fedshare, its nats-server and the dev tools) and run the
# checks and the tests. Set FEDSHARE_TEST_POSTGRES_URL to run the database tests on PostgreSQL too.
set -euo pipefail
cd "$(dirname "$0")"
PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[dev]'
bash console/check-build.sh
.venv/bin/ruff check node tests bench
.venv/bin/mypy node
exec .venv/bin/python -m pytest "$@"
