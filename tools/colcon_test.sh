#!/usr/bin/env bash
# The README's ROS 2 path as CI runs it (on the Kilted wheels of .venv, where no apt ROS exists):
# colcon build this package into a fresh workspace, source the workspace, then `colcon test`
# with it sourced, and print colcon's test results. The tests it runs (COLCON_TESTS) are the
# ones the sourced workspace changes: packaging and the installed executables (run as
# `ros2 run` runs them), the launch file, the rig URDFs and rosdep keys.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
TESTS=${COLCON_TESTS:-test/test_packaging.py test/test_rosdep_keys.py test/ros/test_launch.py \
test/retarget/test_rig_urdf.py}
WS=$(mktemp -d "${TMPDIR:-/tmp}/emotalk-colcon-XXXXXX")
trap 'rm -rf "$WS"' EXIT
export PATH="$PWD/$VENV/bin:$PATH"
export ROS_DOMAIN_ID=${ROS_DOMAIN_ID:-$(( (RANDOM % 100) + 100 ))}
export ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST
export PYTHONUNBUFFERED=1 OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} MPLBACKEND=Agg
paths=(--base-paths . --build-base "$WS/build" --install-base "$WS/install")

colcon --log-base "$WS/log" build "${paths[@]}"
# shellcheck disable=SC1091
set +u; . "$WS/install/setup.sh"; set -u
echo "[colcon] sourced $WS/install: AMENT_PREFIX_PATH=$AMENT_PREFIX_PATH"
rc=0
# shellcheck disable=SC2086
colcon --log-base "$WS/log" test "${paths[@]}" \
  --event-handlers console_direct+ --pytest-args -q -p no:cacheprovider $TESTS || rc=$?
colcon test-result --test-result-base "$WS/build" --verbose || rc=1
exit $rc
