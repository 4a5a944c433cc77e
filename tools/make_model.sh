#!/usr/bin/env bash
# Reproduce the shipped default model from scratch (`make model`): synthesise the training
# corpus and a held-out evaluation set, train, export to ONNX, evaluate, print checksums.
# Deterministic for the seeds below. See models/README.md for the measured time.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
STEPS=${STEPS:-5000}
HOURS=${HOURS:-6}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
t0=$(date +%s)
[ -f data/train${HOURS}h/meta.json ] || $PY -m emotalk_ros synth --out data/train${HOURS}h --hours "$HOURS" --seed 0 --workers 2
[ -f data/heldout/meta.json ] || $PY -m emotalk_ros synth --out data/heldout --hours 0.25 --seed 101 \
    --engines flite,festival --save-audio --workers 2
$PY -m emotalk_ros train --data data/train${HOURS}h --out runs/emotalk_default_raw.pt --steps "$STEPS" \
    --map-steps 800 --seed 0 --threads 2 --model-version emotalk-default-1
$PY -m emotalk_ros calibrate runs/emotalk_default_raw.pt -o models/emotalk_default.pt --smoothing 0.55
$PY -m emotalk_ros export models/emotalk_default.pt -o models/emotalk_default.onnx
$PY -m emotalk_ros evaluate --data data/heldout --model models/emotalk_default.onnx \
    --report docs/EVALUATION.md --plots-dir docs/img
sha256sum models/emotalk_default.pt models/emotalk_default.onnx
echo "[make model] done in $(( $(date +%s) - t0 )) s"
