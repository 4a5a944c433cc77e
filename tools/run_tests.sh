#!/usr/bin/env bash
# Run the test suite in .venv with an isolated ROS graph (localhost only). Every ROS domain id
# a run uses is locked for it alone and its nodes live under a namespace of their own
# (test/conftest.py), so concurrent runs on one machine never cross-talk.
# Arguments go to pytest; without a test path the whole test/ folder runs:
#   bash tools/run_tests.sh                   # everything
#   bash tools/run_tests.sh test/ros -x       # one folder
# VENV=.venv-jazzy runs it in another venv; TESTS=test/ros sets the default test path.
set -euo pipefail
cd "$(dirname "$0")/.."
export ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST
export ROS_LOCALHOST_ONLY=1
export PYTHONUNBUFFERED=1
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
export MPLBACKEND=Agg
paths=0
for a in "$@"; do
  case "$a" in
    -*) ;;
    *) [ -e "${a%%::*}" ] && paths=1 ;;
  esac
done
[ "$paths" = 1 ] || set -- "$@" ${TESTS:-test}
exec "${VENV:-.venv}/bin/python" -m pytest -q -p no:cacheprovider --timeout=900 "$@"
