#!/usr/bin/env bash
# Reproduce the shipped models from scratch (`make model`):
#   1. synthesise the training corpora (espeak-ng 6 h, Festival 6 h, espeak-ng in 13 languages
#      with pauses, breaths and real channels 3 h) and the held-out Flite set;
#   2. base model on espeak-ng, fine-tune on espeak-ng + Festival (emotalk-default-3's recipe);
#   3. train the language-independent phone classifier, align the real recordings
#      (fillets-ng cs/nl/en, asterisk es/fr/it/ru) and write the speaker-held-out
#      training and development sets;
#   4. fine-tune on synthetic + real speech with silence and room-noise crops at the 70 ms
#      default look-ahead and at 30 ms (the low-latency option);
#   5. calibrate, export, evaluate (held-out Flite voices, the real-speech development set,
#      silence and room noise).
# Bit-reproducible on one machine: every step is seeded, training runs with fixed thread
# counts and deterministic algorithms, and no file stores a time or an absolute path (two
# reduced runs, SMALL=1, give the same sha256; docs/EVALUATION.md, Reproducibility).
#
# ROOT: where the Debian packages with the recordings are installed or unpacked
# (fillets-ng-data{,-cs,-nl}, asterisk-core-sounds-{es,fr,it,ru}{,-g722}); default /.
# DATA, RUNS, MODELS: output folders (default data, runs, models). SMALL=1: a reduced run
# (minutes of speech, a few training steps) for the reproducibility check.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
ROOT=${ROOT:-/}
DATA=${DATA:-data}
RUNS=${RUNS:-runs}
MODELS=${MODELS:-models}
SMALL=${SMALL:-0}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
if [ "$SMALL" = 1 ]; then
    H=0.01; STEPS=4; FT_STEPS=4; RT_STEPS=4; MAP_STEPS=3; PN_CLIPS=40; PN_STEPS=5
    REAL_OPTS="--max-train 6 --max-dev 4"; EVAL_CLIPS=3
else
    H=1; STEPS=${STEPS:-5000}; FT_STEPS=${FT_STEPS:-2500}; RT_STEPS=${RT_STEPS:-600}
    MAP_STEPS=800; PN_CLIPS=2500; PN_STEPS=700; REAL_OPTS="--max-train 300 --max-dev 50"
    EVAL_CLIPS=50
fi
hours() { $PY -c "print($1 * $H)"; }
mkdir -p "$DATA" "$RUNS" "$MODELS"
TIMES="$RUNS/make_model_times.txt"
: > "$TIMES"
t0=$(date +%s)
stamp() { echo "$1 $(( $(date +%s) - t0 )) s" | tee -a "$TIMES"; }
synth() {  # out hours seed [options...]
    local out=$1 hrs=$2 seed=$3; shift 3
    [ -f "$DATA/$out/meta.json" ] || $PY -m emotalk_ros synth --out "$DATA/$out" \
        --hours "$(hours "$hrs")" --seed "$seed" --workers 2 --no-progress "$@"
}

# 1. synthesis
synth train6h 6 0
synth festival1h 1 202 --engines festival
synth festival2h 2 204 --engines festival
synth festival3h 3 205 --engines festival
synth heldout_flite 0.25 303 --engines flite --save-audio
synth intl3h 3 11 --engines espeak-intl,espeak --channel real --text-root "$ROOT"
stamp synthesis
# 2. emotalk-default-3's recipe: base model on espeak-ng, fine-tune on espeak-ng + Festival
$PY -m emotalk_ros train --data "$DATA/train6h" --out "$RUNS/emotalk_default_base.pt" \
    --steps "$STEPS" --map-steps "$MAP_STEPS" --seed 0 --threads 2 \
    --model-version emotalk-default-1 --no-progress
$PY -m emotalk_ros train --data "$DATA/train6h,$DATA/festival1h,$DATA/festival2h,$DATA/festival3h" \
    --out "$RUNS/emotalk_default_ft.pt" --steps "$FT_STEPS" --seed 5 --threads 2 \
    --init "$RUNS/emotalk_default_base.pt" --lookahead-ms 70 --w-bilabial 3.0 --w-aperture 0.5 \
    --lr 1e-3 --model-version emotalk-default-3 --no-progress
stamp "synthetic training"
# 3. real speech: phone classifier, alignment, training and development sets
$PY tools/train_phonenet.py --root "$ROOT" --out "$RUNS/phonenet.pt" --clips "$PN_CLIPS" \
    --steps "$PN_STEPS" --seed 0 --threads 2
$PY tools/make_real_speech.py --root "$ROOT" --aligner "$RUNS/phonenet.pt" \
    --train "$DATA/real_train" --dev "$DATA/real_dev" --copies 3 --seed 0 $REAL_OPTS
stamp alignment
# 4. fine-tune on synthetic + real speech, silence and room noise; 70 ms and 30 ms
MIX="$DATA/train6h:1500,$DATA/intl3h:1500,$DATA/real_train"
for la in 70 30; do
    $PY -m emotalk_ros train --data "$MIX" --data-weights 0.3,0.35,0.35 \
        --out "$RUNS/emotalk_real_${la}.pt" --steps "$RT_STEPS" --batch 12 --seed 7 --threads 1 \
        --init "$RUNS/emotalk_default_ft.pt" --lookahead-ms "$la" --w-bilabial 3.0 \
        --w-aperture 1.0 --lr 1e-3 --sil-fraction 0.1 --pad-sil 0.5 --target-lead 2 \
        --smoothing 0.65 --model-version "emotalk-default-4$([ "$la" = 70 ] || echo "-${la}ms")" \
        --no-progress
    stamp "real-speech fine-tune ${la} ms"
done
# 5. calibrate, export, evaluate
$PY -m emotalk_ros calibrate "$RUNS/emotalk_real_70.pt" -o "$MODELS/emotalk_default.pt" --smoothing 0.65
$PY -m emotalk_ros export "$MODELS/emotalk_default.pt" -o "$MODELS/emotalk_default.onnx"
$PY -m emotalk_ros calibrate "$RUNS/emotalk_real_30.pt" -o "$MODELS/emotalk_lowlatency.pt" --smoothing 0.65
$PY -m emotalk_ros export "$MODELS/emotalk_lowlatency.pt" -o "$MODELS/emotalk_lowlatency.onnx"
stamp export
if [ "$SMALL" != 1 ]; then
    $PY -m emotalk_ros evaluate --data "$DATA/heldout_flite" --model "$MODELS/emotalk_default.onnx" \
        --report docs/EVALUATION.md --plots-dir docs/img
    $PY -m emotalk_ros evaluate --data "$DATA/real_dev" --model "$MODELS/emotalk_default.onnx" \
        --max-clips "$EVAL_CLIPS" --report docs/EVALUATION_real_speech.md
    stamp evaluation
fi
sha256sum "$MODELS"/emotalk_default.pt "$MODELS"/emotalk_default.onnx \
    "$MODELS"/emotalk_lowlatency.pt "$MODELS"/emotalk_lowlatency.onnx | tee -a "$TIMES"
echo "[make model] done in $(( $(date +%s) - t0 )) s"
