#!/usr/bin/env bash
# Create the environment (once), install the project with its test extras, run the whole suite.
# Extra arguments go to pytest, e.g. `./scripts/test.sh -k claim -x`.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then "$PYTHON" -m venv .venv; fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[test]'
exec .venv/bin/python -m pytest "$@"
