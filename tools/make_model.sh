#!/usr/bin/env bash
# Reproduce the shipped default model from scratch (`make model`): synthesise the training
# corpora (espeak-ng 6 h + Festival 6 h) and the held-out evaluation set (Flite, an engine
# never used in training), train on espeak-ng, fine-tune on both engines with a 70 ms
# look-ahead, calibrate, export, evaluate.
# Deterministic for the seeds below. See models/README.md for the measured time.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
STEPS=${STEPS:-5000}
FT_STEPS=${FT_STEPS:-2500}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
t0=$(date +%s)
[ -f data/train6h/meta.json ] || $PY -m emotalk_ros synth --out data/train6h --hours 6 --seed 0 --workers 2
[ -f data/festival1h/meta.json ] || $PY -m emotalk_ros synth --out data/festival1h --hours 1 --seed 202 \
    --engines festival --workers 2
[ -f data/festival2h/meta.json ] || $PY -m emotalk_ros synth --out data/festival2h --hours 2 --seed 204 \
    --engines festival --workers 2
[ -f data/festival3h/meta.json ] || $PY -m emotalk_ros synth --out data/festival3h --hours 3 --seed 205 \
    --engines festival --workers 2
[ -f data/heldout_flite/meta.json ] || $PY -m emotalk_ros synth --out data/heldout_flite --hours 0.25 --seed 303 \
    --engines flite --save-audio --workers 1
# 1. base model on espeak-ng
$PY -m emotalk_ros train --data data/train6h --out runs/emotalk_default_base.pt --steps "$STEPS" \
    --map-steps 800 --seed 0 --threads 2 --model-version emotalk-default-1
# 2. fine-tune on espeak-ng + Festival (keeps the emotion space), aperture term on, the
#    look-ahead re-targeted from 80 to 70 ms (an odd number of 10 ms frames lines the
#    frames up with 20 ms audio chunks: see docs/BENCHMARKS.md, latency)
$PY -m emotalk_ros train --data data/train6h,data/festival1h,data/festival2h,data/festival3h \
    --out runs/emotalk_default_ft.pt --steps "$FT_STEPS" --seed 5 --threads 2 \
    --init runs/emotalk_default_base.pt --lookahead-ms 70 --w-bilabial 3.0 --w-aperture 0.5 \
    --lr 1e-3 --model-version emotalk-default-3
# 3. intensity calibration + output smoothing, export, evaluate on held-out Flite voices
$PY -m emotalk_ros calibrate runs/emotalk_default_ft.pt -o models/emotalk_default.pt --smoothing 0.65
$PY -m emotalk_ros export models/emotalk_default.pt -o models/emotalk_default.onnx
$PY -m emotalk_ros evaluate --data data/heldout_flite --model models/emotalk_default.onnx \
    --report docs/EVALUATION.md --plots-dir docs/img
sha256sum models/emotalk_default.pt models/emotalk_default.onnx
echo "[make model] done in $(( $(date +%s) - t0 )) s"
