#!/usr/bin/env bash
# Create the environment (once), install the project with its test extras, run the whole suite.
# Extra arguments go to pytest, e.g. `./scripts/test.sh -k claim -x`.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then "$PYTHON" -m venv .venv; fi
.venv/bin/python -m pip install --quiet --upgrade pip
# mysqlclient (the optional C MySQL driver, tests/e2e/test_mysql_drivers.py) builds against libmariadb.
if ! pkg-config --exists libmariadb 2>/dev/null && command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then apt-get install -y -q libmariadb-dev pkg-config >/dev/null || true; fi
if pkg-config --exists libmariadb 2>/dev/null; then EXTRAS=test,bench,mysqlclient; else EXTRAS=test,bench; fi
.venv/bin/python -m pip install --quiet -e ".[$EXTRAS]"
# The dashboard tests (tests/e2e/test_dashboard.py) drive Debian's Chromium; never `playwright install`.
if [ ! -x /usr/bin/chromium ] && command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then apt-get install -y -q chromium >/dev/null || true; fi
# The engine benchmark's smoke test also drives wrk, Debian's HTTP load generator, when it is there.
if ! command -v wrk >/dev/null && command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then apt-get install -y -q wrk >/dev/null || true; fi
exec .venv/bin/python -m pytest "$@"
