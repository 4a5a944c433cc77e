#!/usr/bin/env bash
# Create .venv-jazzy: ROS 2 Jazzy's rclpy and messages from PyPI wheels plus what the nodes and
# the real-DDS node tests need (tools/requirements-jazzy.txt). emotalk_ros itself is not
# installed: the tests run the source tree (test/conftest.py and the node processes put the
# repository first on the path). Idempotent and cached like tools/install.sh: a stamp holds the
# hash of the requirements, and a venv whose stamp matches is reused as it is. Used by
# `make test-jazzy` (the Jazzy leg of .ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${JAZZY_VENV:-.venv-jazzy}
PY=${PYTHON:-python3}

stamp="$VENV/.emotalk-installed"
want="$(sha256sum tools/requirements-jazzy.txt | cut -c1-16)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then exit 0; fi

[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
t0=$(date +%s)
"$VENV/bin/python" -m pip install -q --disable-pip-version-check -r tools/requirements-jazzy.txt \
  2>&1 | grep -v "is ignored: it is neither a file nor a directory" || true
# (checked away from the source tree, so nothing is found there by accident)
venv_py="$(cd "$VENV" && pwd)/bin/python"
(cd / && "$venv_py" -c "import rclpy, std_msgs.msg, numpy, scipy, yaml, onnxruntime, pytest") \
  || { echo "[install-jazzy] ERROR: the Jazzy environment is incomplete"; exit 1; }
echo "$want" > "$stamp"
echo "[install-jazzy] $VENV ready in $(( $(date +%s) - t0 )) s"
