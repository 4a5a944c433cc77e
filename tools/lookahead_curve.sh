#!/usr/bin/env bash
# Quality against look-ahead (docs/EVALUATION.md): `make model REAL=1`'s real-speech fine-tune
# (step c. of tools/make_model.sh) at 0, 30, 50, 70 and 100 ms, each with seeds 7 and 8,
# calibrated, exported and evaluated on the real-speech development set and the held-out
# Flite voices. Two fine-tunes run at once (one thread each); about 4 min per pair on 2 cores.
#
#   DATA=data RUNS=runs bash tools/lookahead_curve.sh     # after `REAL=1 make model`
#
# DATA: train6h, intl3h, real_train, real_dev, heldout_flite (from make_model.sh); RUNS: where
# emotalk_default_ft.pt is (the initial checkpoint) and the results go (RUNS/curve/).
# LOOKAHEADS and SEEDS override the grid, STEPS the fine-tune length (600). Then point the
# "lookahead" entry of the spec of tools/summarize_evaluation.py at
# RUNS/curve/eval/la<L>_s<S>_{real,flite}.json.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-data}
RUNS=${RUNS:-runs}
LOOKAHEADS=${LOOKAHEADS:-"0 30 50 70 100"}
SEEDS=${SEEDS:-"7 8"}
STEPS=${STEPS:-600}
OUT="$RUNS/curve"
mkdir -p "$OUT/eval"
one() {  # look-ahead seed
    local la=$1 seed=$2 name="la$1_s$2" py=.venv/bin/python t0 t1
    t0=$(date +%s)
    OMP_NUM_THREADS=1 $py -m emotalk_ros train \
        --data "$DATA/train6h:1500,$DATA/intl3h:1500,$DATA/real_train" \
        --data-weights 0.3,0.35,0.35 --out "$OUT/${name}_ft.pt" --steps "$STEPS" --batch 12 \
        --seed "$seed" --threads 1 --init "$RUNS/emotalk_default_ft.pt" --lookahead-ms "$la" \
        --w-bilabial 3.0 --w-aperture 1.0 --lr 1e-3 --sil-fraction 0.1 --pad-sil 0.5 \
        --target-lead 2 --smoothing 0.65 --no-progress \
        --model-version "emotalk-real-la${la}-s${seed}" > "$OUT/${name}_train.log" 2>&1
    t1=$(date +%s)
    $py -m emotalk_ros calibrate "$OUT/${name}_ft.pt" -o "$OUT/$name.pt" --smoothing 0.65 \
        > "$OUT/${name}_cal.log" 2>&1
    $py -m emotalk_ros export "$OUT/$name.pt" -o "$OUT/$name.onnx" > "$OUT/${name}_export.log" 2>&1
    $py -m emotalk_ros evaluate --data "$DATA/real_dev" --model "$OUT/$name.onnx" \
        --max-clips 50 --report "$OUT/eval/${name}_real.md" --plots-dir '' \
        > "$OUT/eval/${name}_real.log" 2>&1
    $py -m emotalk_ros evaluate --data "$DATA/heldout_flite" --model "$OUT/$name.onnx" \
        --report "$OUT/eval/${name}_flite.md" --plots-dir '' --voice-model none \
        > "$OUT/eval/${name}_flite.log" 2>&1
    echo "[curve] $name: fine-tune $((t1 - t0)) s, calibrate + export + evaluate $(($(date +%s) - t1)) s"
}
export -f one
export DATA RUNS OUT STEPS
for seed in $SEEDS; do for la in $LOOKAHEADS; do echo "$la $seed"; done; done \
    | xargs -P 2 -L 1 bash -c 'one "$0" "$1"'
