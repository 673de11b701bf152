#!/usr/bin/env bash
# Create the environment (once), install the project with its test extras, run the whole suite.
# Extra arguments go to pytest, e.g. `./scripts/test.sh -k claim -x`.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then "$PYTHON" -m venv .venv; fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[test,bench]'
# The dashboard tests (tests/e2e/test_dashboard.py) drive Debian's Chromium; never `playwright install`.
if [ ! -x /usr/bin/chromium ] && command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then apt-get install -y -q chromium >/dev/null || true; fi
# The engine benchmark's smoke test also drives wrk, Debian's HTTP load generator, when it is there.
if ! command -v wrk >/dev/null && command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then apt-get install -y -q wrk >/dev/null || true; fi
exec .venv/bin/python -m pytest "$@"
