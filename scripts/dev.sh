#!/usr/bin/env bash
# The main job on the embedded default: creates .venv when missing, installs
# tgflow, then runs `tgflow dev` (Temporal dev server + Web UI, both simulators,
# webhook receiver, worker). Extra arguments go to `tgflow dev`.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e .
export PATH="$PWD/.venv/bin:$PATH"
exec .venv/bin/tgflow dev "$@"
