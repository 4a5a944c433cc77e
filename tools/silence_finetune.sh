#!/usr/bin/env bash
# One row of docs/EVALUATION.md's fine-tune table ("Silence fixed in a fine-tune, at a cost"):
# fine-tune default-3's 70 ms checkpoint, calibrate, export, then measure the silence checks,
# the real-speech development set and the held-out Flite voices.
#
#   bash tools/silence_finetune.sh NAME STEPS DATA [emotalk train options...]
#   e.g. bash tools/silence_finetune.sh sym4 600 data/train6h --seed 5 --w-aperture 0.5 \
#          --sil-fraction 0.3 --pad-sil 0.5 --cons-speech-only --w-symmetry 4
#
# INIT: the checkpoint to start from (default runs/emotalk_default_ft.pt, `make model`'s
# default-3 fine-tune); DATA_DIR: where real_dev and heldout_flite are (default data, after
# `REAL=1 make model`); OUT: output folder (default runs/silence); SMOOTHING: the output
# smoothing `emotalk calibrate` stores (default 0.65; emotalk-default-4 uses 0.55). Options
# given after DATA override the defaults below (the last one wins).
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 3 ] || { echo "usage: $0 NAME STEPS DATA [train options...]" >&2; exit 2; }
name=$1; steps=$2; data=$3; shift 3
PY=.venv/bin/python
INIT=${INIT:-runs/emotalk_default_ft.pt}
DATA_DIR=${DATA_DIR:-data}
OUT=${OUT:-runs/silence}
SMOOTHING=${SMOOTHING:-0.65}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
mkdir -p "$OUT"
t0=$(date +%s)
$PY -m emotalk_ros train --data "$data" --out "$OUT/${name}_ft.pt" --steps "$steps" --batch 12 \
    --threads 1 --init "$INIT" --lookahead-ms 70 --w-bilabial 3.0 --lr 1e-3 --smoothing 0.65 \
    --no-progress --model-version "emotalk-silence-$name" "$@" > "$OUT/${name}_train.log" 2>&1
$PY -m emotalk_ros calibrate "$OUT/${name}_ft.pt" -o "$OUT/${name}.pt" --smoothing "$SMOOTHING"
$PY -m emotalk_ros export "$OUT/${name}.pt" -o "$OUT/${name}.onnx"
$PY tools/silence_report.py "$OUT/${name}.onnx" --out "$OUT/${name}_silence.json" \
    > "$OUT/${name}_silence.txt"
$PY -m emotalk_ros evaluate --data "$DATA_DIR/real_dev" --model "$OUT/${name}.onnx" \
    --max-clips 50 --report "$OUT/${name}_real.md" --plots-dir ''
$PY -m emotalk_ros evaluate --data "$DATA_DIR/heldout_flite" --model "$OUT/${name}.onnx" \
    --report "$OUT/${name}_flite.md" --plots-dir '' --voice-model none
echo "[silence_finetune] $name done in $(( $(date +%s) - t0 )) s"
