#!/usr/bin/env bash
# Create the environment (once), install, apply migrations, seed endpoints and serve on
# http://127.0.0.1:8000 (SQLite file taskmanager.db unless TASKMANAGER_DATABASE_URL says otherwise).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then "$PYTHON" -m venv .venv; fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e .
exec .venv/bin/taskmanager serve --migrate "$@"
