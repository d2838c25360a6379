#!/usr/bin/env bash
# Set up .venv with musclethick (CPU-only torch first, so the package's torch>=... is already met).
# Usage: bash scripts/setup.sh [EXTRAS]    e.g. bash scripts/setup.sh napari,dev
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-}"
py="${PYTHON:-}"
if [ -z "$py" ]; then
  for candidate in python3.11 python3; do
    if command -v "$candidate" >/dev/null 2>&1; then py="$candidate"; break; fi
  done
fi
[ -x .venv/bin/python ] || "$py" -m venv .venv
pip=(.venv/bin/python -m pip install -q --disable-pip-version-check)
"${pip[@]}" --upgrade pip
"${pip[@]}" torch==2.13.0
if [ -n "$extras" ]; then "${pip[@]}" -e ".[${extras}]"; else "${pip[@]}" -e .; fi
