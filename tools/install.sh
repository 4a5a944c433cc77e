#!/usr/bin/env bash
# Create .venv with everything emotalk_ros needs, on a fresh Debian 12 machine or a ROS 2 host.
# Idempotent: re-running only installs what is missing. Used by `make demo` and `make test`.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
PY=${PYTHON:-python3}

apt_pkgs=(espeak-ng libespeak-ng1 libportaudio2 pulseaudio pulseaudio-utils libasound2-plugins
          ffmpeg flite festival festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts sox)
missing=()
if command -v dpkg-query >/dev/null 2>&1; then
  for p in "${apt_pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
fi
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1 && SUDO="sudo -n"
  if [ "$(id -u)" -eq 0 ] || [ -n "$SUDO" ]; then
    echo "[install] apt: ${missing[*]}"
    $SUDO apt-get update -qq || true
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
      || echo "[install] WARNING: some Debian packages failed to install: ${missing[*]}"
  else
    echo "[install] WARNING: missing Debian packages (install them yourself): ${missing[*]}"
  fi
fi

# A sourced ROS 2 (e.g. Humble on a Jetson) provides rclpy: reuse it instead of the PyPI wheels.
SYSTEM_ROS=0
if [ -n "${ROS_DISTRO:-}" ] && "$PY" -c "import rclpy" >/dev/null 2>&1; then SYSTEM_ROS=1; fi

stamp="$VENV/.emotalk-installed"
want="$(cat tools/requirements.txt tools/requirements-ros.txt | sha256sum | cut -c1-16)-ros$SYSTEM_ROS"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then exit 0; fi

if [ ! -x "$VENV/bin/python" ]; then
  if [ "$SYSTEM_ROS" = 1 ]; then
    echo "[install] using the sourced ROS 2 $ROS_DISTRO rclpy (venv with system site packages)"
    "$PY" -m venv --system-site-packages "$VENV"
  else
    "$PY" -m venv "$VENV"
  fi
fi
t0=$(date +%s)
"$VENV/bin/python" -m pip install -q --disable-pip-version-check -r tools/requirements.txt 2>&1 \
  | grep -v "is ignored: it is neither a file nor a directory" || true
if [ "$SYSTEM_ROS" = 0 ]; then
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check -r tools/requirements-ros.txt 2>&1 \
    | grep -v "is ignored: it is neither a file nor a directory" || true
fi
"$VENV/bin/python" -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e . 2>&1 \
  | grep -v "is ignored: it is neither a file nor a directory" || true
"$VENV/bin/python" -c "import torch, onnxruntime, numpy, rclpy, emotalk_ros" \
  || { echo "[install] ERROR: the environment is incomplete"; exit 1; }
echo "$want" > "$stamp"
echo "[install] environment ready in $(( $(date +%s) - t0 )) s"
