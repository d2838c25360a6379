#!/usr/bin/env bash
# Set up everything the test suite needs (Debian packages for a virtual X display and the OCR
# engine's model, .venv with the napari and dev extras) and run the whole suite.
# Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
apt_packages=(xvfb xauth libgl1 libegl1 libxkbcommon-x11-0 libxcb-icccm4 libxcb-keysyms1
  libxcb-xinerama0 libxcb-cursor0 libdbus-1-3 libfontconfig1 tesseract-ocr)
if ! dpkg -s "${apt_packages[@]}" >/dev/null 2>&1; then
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
    "${apt_packages[@]}" >/dev/null
fi
bash scripts/setup.sh napari,dev
set +e
.venv/bin/python -m pytest "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
  echo "scripts/test.sh: pytest collected no tests: failing" >&2
  exit 1
fi
exit "$rc"
