#!/usr/bin/env bash
# Run the test suite in .venv with an isolated ROS graph (own domain id, localhost only).
# VENV=.venv-jazzy runs it in another venv; TESTS=test/ros runs a part of the suite.
set -euo pipefail
cd "$(dirname "$0")/.."
export ROS_DOMAIN_ID=${ROS_DOMAIN_ID:-$(( (RANDOM % 100) + 100 ))}
export ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST
export ROS_LOCALHOST_ONLY=1
export PYTHONUNBUFFERED=1
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
export MPLBACKEND=Agg
exec "${VENV:-.venv}/bin/python" -m pytest -q -p no:cacheprovider --timeout=900 "$@" ${TESTS:-test}
