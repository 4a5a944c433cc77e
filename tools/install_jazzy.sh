#!/usr/bin/env bash
# Create .venv-jazzy: ROS 2 Jazzy's rclpy and messages from PyPI wheels plus what the nodes and
# the real-DDS node tests need (tools/requirements-jazzy.txt), and emotalk_ros itself (editable).
# Idempotent and cached like tools/install.sh: a stamp holds the hash of the requirements, and
# a venv whose stamp matches is reused as it is. Used by .ci/run for the Jazzy leg.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${JAZZY_VENV:-.venv-jazzy}
PY=${PYTHON:-python3}

stamp="$VENV/.emotalk-installed"
want="$(sha256sum tools/requirements-jazzy.txt | cut -c1-16)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then exit 0; fi

[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
t0=$(date +%s)
"$VENV/bin/python" -m pip install -q --disable-pip-version-check -r tools/requirements-jazzy.txt
"$VENV/bin/python" -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation \
  -e . 2>&1 | grep -v "is ignored: it is neither a file nor a directory" || true
"$VENV/bin/python" -c "import rclpy, numpy, onnxruntime, emotalk_ros" \
  || { echo "[install-jazzy] ERROR: the Jazzy environment is incomplete"; exit 1; }
echo "$want" > "$stamp"
echo "[install-jazzy] $VENV ready in $(( $(date +%s) - t0 )) s"
