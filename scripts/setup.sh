#!/usr/bin/env bash
# Set up .venv with musclethick (CPU-only torch first, so the package's torch>=... is already met).
# Usage: bash scripts/setup.sh [EXTRAS]    e.g. bash scripts/setup.sh napari,dev
# Also installs Debian's tesseract-ocr (the OCR engine's English model, for reading the numbers
# of on-screen rulers) when apt is there; without it rulers are read but flagged unconfirmed.
set -euo pipefail
cd "$(dirname "$0")/.."
if command -v apt-get >/dev/null 2>&1 && ! dpkg -s tesseract-ocr >/dev/null 2>&1; then
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  if $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq \
      --no-install-recommends tesseract-ocr >/dev/null; then :; else
    echo "scripts/setup.sh: could not install tesseract-ocr: on-screen rulers will be flagged" \
      "unconfirmed (install it with your package manager)" >&2
  fi
fi
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
# the package's bytecode, as a wheel install writes it (an editable install writes it on first
# import, unless PYTHONDONTWRITEBYTECODE is set: then every run compiled it again, ~0.1 s)
PYTHONDONTWRITEBYTECODE= .venv/bin/python -m compileall -q src/musclethick >/dev/null
