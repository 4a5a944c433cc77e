#!/usr/bin/env bash
# Reproduce the shipped models' recipes from scratch (`make model`):
#   1. synthesise the training corpora (espeak-ng 6 h, Festival 6 h) and the held-out Flite
#      set (an engine never used in training);
#   2. base model on espeak-ng, fine-tune on espeak-ng + Festival with a 70 ms look-ahead
#      (emotalk-default-3's recipe);
#   2b. emotalk-default-4: default-3 fine-tuned with silence and room-noise crops, the
#      emotional-consistency loss off, and the symmetry and held-expression terms (the
#      silence checks of docs/EVALUATION.md); INIT_FT replaces its starting point (the
#      shipped file was fine-tuned from the shipped default-3:
#      `git show c3a7226:models/emotalk_default.pt > runs/emotalk_default3.pt`);
#   2c. emotalk-default-5: default-4's fine-tune continued, then with the acceleration term
#      (--w-accel), which lets the run-time output smoothing drop from 0.55 to 0.2;
#   3. calibrate (output smoothing 0.2), export to models/, evaluate on the held-out Flite
#      voices (report in RUNS) and run the silence checks (emotalk-default-5; REAL=1 goes on
#      to the shipped emotalk-default-10, step k., which replaces it in models/);
#   4. emotalk-lowlatency-2, the 30 ms option: default-4's fine-tune re-targeted to a 30 ms
#      look-ahead with the same recipe (three stages of LL_STEPS, each from the last, the
#      third with the acceleration term, as the shipped file was made), calibrated at 0.2
#      and exported to models/emotalk_lowlatency.{pt,onnx}.
# REAL=1 adds the real-speech recipe: candidates a.-e. (docs/EVALUATION.md), then f.-h., j. and k.,
# which make the shipped default (i. is a candidate):
#   a. espeak-ng in 13 languages with pauses, breaths and real channels (3 h);
#   b. the language-independent phone classifier, the alignment of the real recordings
#      (fillets-ng cs/nl, asterisk es/fr/it/ru) and the speaker-held-out training and
#      development sets;
#   c. fine-tunes on synthetic + real speech with silence and room-noise crops at 70 and
#      30 ms look-ahead -> RUNS/emotalk_real_{70,30}.{pt,onnx}, evaluated on the dev set;
#   d. the phone-bottleneck candidate: default-5's fine-tune continued in four stages on the
#      synthetic + multilingual + real mixture, behind a strict phone bottleneck with a weak
#      bilabial term -> RUNS/emotalk_phones.{pt,onnx}, evaluated on the dev set, the Flite
#      voices and the silence checks (the best real-speech face measured, not yet shipped).
#   e. the phone-mixture experiment: default-5 fine-tuned in one stage on d.'s mixture with a
#      strict phone bottleneck and the face made the posterior-weighted mean of per-phone faces
#      -> RUNS/emotalk_phonemix.{pt,onnx}, evaluated the same way (MIX_BILABIAL, MIX_APERTURE:
#      its loss weights, default 0.5 and 1).
#   f. emotalk-default-6: e.'s fine-tune continued DOM_STEPS with a learnt phone
#      dominance (--phone-dominance, seed 82), calibrated at smoothing 0.2 ->
#      RUNS/emotalk_default6.{pt,onnx}, evaluated the same way.
#   g. emotalk-default-7: f.'s fine-tune continued DOM_STEPS at half the learning rate with
#      aperture weight 1.5 (seed 84), averaged 0.5/0.5 with f.'s (`emotalk average`),
#      calibrated at 0.2 -> RUNS/emotalk_default7.{pt,onnx}, evaluated the same way.
#   h. emotalk-default-8 (shipped before default-9): the real training set with the Spanish
#      and French prompts of asterisk-prompt-es-co and -fr-armelle (make_real_speech.py
#      --prompts), two continuations of g.'s mean on it (g.'s recipe, seed 87; with the
#      correlation term and bilabial weight 2, seed 88), averaged 0.5/0.5, calibrated at 0.2 ->
#      MODELS/emotalk_default.{pt,onnx} (and RUNS/emotalk_default8.*), evaluated the same way.
#   i. the aperture-readout candidate (not shipped): h.'s mean with the jaw read from its own
#      phone posteriors (`emotalk calibrate --aperture-readout`), chosen on the real training
#      speech by tools/readout_grid.py -> RUNS/emotalk_readout.{pt,onnx}, evaluated the same
#      way.
#   j. emotalk-default-9 (shipped before default-10): h.'s mean with its phone path retrained
#      on the real training speech, the rest frozen (`emotalk train-phones`), calibrated at
#      0.2 -> RUNS/emotalk_default9.{pt,onnx}, evaluated the same way.
#   k. emotalk-default-10 (shipped): h.'s mean with its phone path retrained on all the real
#      training speech without the KL term, then its face fine-tuned under every emotion with
#      the phone path frozen and the neutral faces held, calibrated at 0.175 ->
#      MODELS/emotalk_default.{pt,onnx} (and RUNS/emotalk_default10.*).
# Bit-reproducible on one machine from the code at hand: every step is seeded, shards are
# synthesised in fresh processes, training runs with fixed thread counts and deterministic
# algorithms, and no file stores a time or an absolute path (two reduced runs, SMALL=1, give
# the same sha256: models/README.md). The shipped emotalk-default-3 was trained before
# training was deterministic and before the teacher's articulation lead, so this script's
# result differs from it; models/README.md gives the measured run-to-run spread.
#
# ROOT: where the Debian packages with the recordings are installed or unpacked (REAL=1;
# fillets-ng-data{,-cs,-nl}, asterisk-core-sounds-{es,fr,it,ru}{,-g722}, and for step h.
# asterisk-prompt-es-co and asterisk-prompt-fr-armelle; with klettres-data also there, its
# English letters and words become DATA/real_dev_en, an English evaluation set that every
# candidate is also measured on); default /.
# DATA, RUNS, MODELS: output folders (default data, runs, models). SMALL=1: a reduced run
# (minutes of speech, a few training steps) for the reproducibility check. PHONES_ONLY=1: only
# what steps d.-i. need (REAL=1's data and the Flite set, then d.-i. from the shipped
# emotalk-default-5, taken from git as RUNS/emotalk_default5.pt since models/ now holds
# default-8), skipping steps 2-4 and c. (about 3 h of training). PH_CHAIN=0 skips d.'s four
# stages (e.-i. do not need them).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
ROOT=${ROOT:-/}
DATA=${DATA:-data}
RUNS=${RUNS:-runs}
MODELS=${MODELS:-models}
SMALL=${SMALL:-0}
PHONES_ONLY=${PHONES_ONLY:-0}
ph_stages=(phB r6B r6Bc r6Bb05)
REAL=${REAL:-0}
[ "$PHONES_ONLY" = 1 ] && REAL=1
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
if [ "$SMALL" = 1 ]; then
    H=0.01; STEPS=4; FT_STEPS=4; SIL_STEPS=4; LL_STEPS=2; ACC_STEPS=2; RT_STEPS=4; MAP_STEPS=3
    PH_STEPS=2; DOM_STEPS=2; PP_STEPS=2
    PN_CLIPS=40
    PN_STEPS=5
    REAL_OPTS="--max-train 6 --max-dev 4"; EVAL_CLIPS=3
else
    H=1; STEPS=${STEPS:-5000}; FT_STEPS=${FT_STEPS:-2500}; SIL_STEPS=${SIL_STEPS:-2500}
    LL_STEPS=${LL_STEPS:-1500}; ACC_STEPS=${ACC_STEPS:-1500}
    RT_STEPS=${RT_STEPS:-600}; PH_STEPS=${PH_STEPS:-1500}; DOM_STEPS=${DOM_STEPS:-750}; PP_STEPS=${PP_STEPS:-300}
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

evaluate_candidate() {  # NAME: RUNS/emotalk_NAME.onnx on the real-speech development set, the
    # held-out Flite voices and the silence checks -> RUNS/EVALUATION_NAME_{real,flite}.md,
    # RUNS/silence_NAME.json
    local m="$RUNS/emotalk_$1.onnx"
    $PY -m emotalk_ros evaluate --data "$DATA/real_dev" --model "$m" --max-clips "$EVAL_CLIPS" \
        --report "$RUNS/EVALUATION_$1_real.md" --plots-dir ''
    $PY -m emotalk_ros evaluate --data "$DATA/heldout_flite" --model "$m" \
        --report "$RUNS/EVALUATION_$1_flite.md" --plots-dir '' --voice-model none
    $PY tools/silence_report.py "$m" --out "$RUNS/silence_$1.json"
    if [ -d "$DATA/real_dev_en" ]; then       # English real voices (KLettres), when built
        $PY -m emotalk_ros evaluate --data "$DATA/real_dev_en" --model "$m" \
            --report "$RUNS/EVALUATION_$1_en.md" --plots-dir ''
    fi
}

finish_candidate() {  # NAME VERSION [ship] [SMOOTHING]: RUNS/emotalk_NAME_ft.pt calibrated at
    # SMOOTHING (default 0.2) and exported -> RUNS/emotalk_NAME.{pt,onnx} (added to SUMS; with
    # "ship", copied to MODELS/emotalk_default.*), then evaluated like every candidate (not in
    # SMALL runs)
    local n=$1 version=$2
    $PY -m emotalk_ros calibrate "$RUNS/emotalk_${n}_ft.pt" -o "$RUNS/emotalk_${n}.pt" \
        --smoothing "${4:-0.2}" --model-version "$version"
    $PY -m emotalk_ros export "$RUNS/emotalk_${n}.pt" -o "$RUNS/emotalk_${n}.onnx"
    if [ "${3:-}" = ship ]; then
        cp "$RUNS/emotalk_${n}.pt" "$MODELS/emotalk_default.pt"
        cp "$RUNS/emotalk_${n}.onnx" "$MODELS/emotalk_default.onnx"
    fi
    SUMS+=("$RUNS/emotalk_${n}.pt" "$RUNS/emotalk_${n}.onnx")
    if [ "$SMALL" != 1 ]; then evaluate_candidate "$n"; fi
}

# 1. synthesis
synth train6h 6 0
synth festival1h 1 202 --engines festival
synth festival2h 2 204 --engines festival
[ "$PHONES_ONLY" = 1 ] || synth festival3h 3 205 --engines festival
synth heldout_flite 0.25 303 --engines flite --save-audio
stamp synthesis
if [ "$PHONES_ONLY" != 1 ]; then
    # 2. emotalk-default-3's recipe: base model on espeak-ng, fine-tune on espeak-ng + Festival
    $PY -m emotalk_ros train --data "$DATA/train6h" --out "$RUNS/emotalk_default_base.pt" \
        --steps "$STEPS" --map-steps "$MAP_STEPS" --seed 0 --threads 2 \
        --model-version emotalk-default-1 --no-progress
    $PY -m emotalk_ros train --data "$DATA/train6h,$DATA/festival1h,$DATA/festival2h,$DATA/festival3h" \
        --out "$RUNS/emotalk_default_ft.pt" --steps "$FT_STEPS" --seed 5 --threads 2 \
        --init "$RUNS/emotalk_default_base.pt" --lookahead-ms 70 --w-bilabial 3.0 --w-aperture 0.5 \
        --lr 1e-3 --model-version emotalk-default-3 --no-progress
    stamp "synthetic training"
    # 2b. emotalk-default-4: the silence fine-tune (one thread, as the shipped file's run;
    #     --cons-speech-only is inert with --w-consistency 0, kept to match that run's config)
    $PY -m emotalk_ros train --data "$DATA/train6h,$DATA/festival1h,$DATA/festival2h" \
        --out "$RUNS/emotalk_default4_ft.pt" --steps "$SIL_STEPS" --batch 24 --seed 5 --threads 1 \
        --init "${INIT_FT:-$RUNS/emotalk_default_ft.pt}" --lookahead-ms 70 --w-bilabial 3.0 \
        --w-aperture 0.5 --lr 5e-4 --sil-fraction 0.3 --pad-sil 0.5 --w-consistency 0 \
        --cons-speech-only --w-symmetry 4 --w-expression 2 --smoothing 0.65 \
        --model-version emotalk-default-4 --no-progress
    stamp "silence fine-tune"
    # 2c. emotalk-default-5: default-4's fine-tune continued in two stages of ACC_STEPS, as the
    #     shipped file was made: more of default-4's recipe (seed 7), then the same with the
    #     acceleration term (seed 21), so the network is smooth through its look-ahead and needs
    #     little causal output smoothing (0.2 against 0.55: the lips no longer trail the sound)
    acc_init="$RUNS/emotalk_default4_ft.pt"
    for stage in 1 2; do
        if [ "$stage" = 1 ]; then seed=7; accel=0; else seed=21; accel=4; fi
        $PY -m emotalk_ros train --data "$DATA/train6h,$DATA/festival1h,$DATA/festival2h" \
            --out "$RUNS/emotalk_default5_ft${stage}.pt" --steps "$ACC_STEPS" --batch 24 \
            --seed "$seed" --threads 1 --init "$acc_init" --lookahead-ms 70 --w-bilabial 3.0 \
            --w-aperture 0.5 --lr 5e-4 --sil-fraction 0.3 --pad-sil 0.5 --w-consistency 0 \
            --cons-speech-only --w-symmetry 4 --w-expression 2 --w-accel "$accel" \
            --smoothing 0.65 --model-version emotalk-default-5 --no-progress
        acc_init="$RUNS/emotalk_default5_ft${stage}.pt"
    done
    stamp "acceleration fine-tune"
    # 3. calibrate, export, evaluate on the held-out Flite voices, silence checks
    $PY -m emotalk_ros calibrate "$acc_init" -o "$MODELS/emotalk_default.pt" --smoothing 0.2 \
        --model-version emotalk-default-5
    $PY -m emotalk_ros export "$MODELS/emotalk_default.pt" -o "$MODELS/emotalk_default.onnx"
    stamp export
    if [ "$SMALL" != 1 ]; then
        $PY -m emotalk_ros evaluate --data "$DATA/heldout_flite" --model "$MODELS/emotalk_default.onnx" \
            --report "$RUNS/EVALUATION_flite.md" --plots-dir "$RUNS/img"
        $PY tools/silence_report.py "$MODELS/emotalk_default.onnx" --out "$RUNS/silence_default.json"
        stamp evaluation
    fi
    # 4. emotalk-lowlatency-2: the same recipe re-targeted to a 30 ms look-ahead, three stages
    #    (each continues the last with the same seed, the third with the acceleration term: how
    #    the shipped file was made; the first two stages were emotalk-lowlatency-1)
    ll_init="$RUNS/emotalk_default4_ft.pt"
    for stage in 1 2 3; do
        accel=0; [ "$stage" = 3 ] && accel=8
        $PY -m emotalk_ros train --data "$DATA/train6h,$DATA/festival1h,$DATA/festival2h" \
            --out "$RUNS/emotalk_lowlatency_ft${stage}.pt" --steps "$LL_STEPS" --batch 24 --seed 5 \
            --threads 1 --init "$ll_init" --lookahead-ms 30 --w-bilabial 3.0 --w-aperture 0.5 \
            --lr 5e-4 --sil-fraction 0.3 --pad-sil 0.5 --w-consistency 0 --cons-speech-only \
            --w-symmetry 4 --w-expression 2 --w-accel "$accel" --smoothing 0.65 \
            --model-version emotalk-lowlatency-2 --no-progress
        ll_init="$RUNS/emotalk_lowlatency_ft${stage}.pt"
    done
    $PY -m emotalk_ros calibrate "$ll_init" -o "$MODELS/emotalk_lowlatency.pt" --smoothing 0.2 \
        --model-version emotalk-lowlatency-2
    $PY -m emotalk_ros export "$MODELS/emotalk_lowlatency.pt" -o "$MODELS/emotalk_lowlatency.onnx"
    if [ "$SMALL" != 1 ]; then
        $PY -m emotalk_ros evaluate --data "$DATA/heldout_flite" \
            --model "$MODELS/emotalk_lowlatency.onnx" --report "$RUNS/EVALUATION_lowlatency_flite.md" \
            --plots-dir '' --voice-model none
        $PY tools/silence_report.py "$MODELS/emotalk_lowlatency.onnx" \
            --out "$RUNS/silence_lowlatency.json"
    fi
    stamp "low-latency fine-tune"
fi
SUMS=()
[ "$PHONES_ONLY" = 1 ] || SUMS=("$MODELS"/emotalk_default.pt "$MODELS"/emotalk_default.onnx
                                "$MODELS"/emotalk_lowlatency.pt "$MODELS"/emotalk_lowlatency.onnx)
if [ "$REAL" = 1 ]; then
    # a. multilingual espeak-ng with real channels
    synth intl3h 3 11 --engines espeak-intl,espeak --channel real --text-root "$ROOT"
    # b. real speech: phone classifier, alignment, training and development sets
    $PY tools/train_phonenet.py --root "$ROOT" --out "$RUNS/phonenet.pt" --clips "$PN_CLIPS" \
        --steps "$PN_STEPS" --seed 0 --threads 2
    $PY tools/make_real_speech.py --root "$ROOT" --aligner "$RUNS/phonenet.pt" \
        --train "$DATA/real_train" --dev "$DATA/real_dev" --copies 3 --seed 0 $REAL_OPTS
    if [ -d "$ROOT/usr/share/klettres/en" ]; then
        # English real voices for evaluation only (klettres-data's English letters and words)
        $PY tools/make_real_speech.py --root "$ROOT" --aligner "$RUNS/phonenet.pt" \
            --only english --english-dev "$DATA/real_dev_en" --dev "$DATA/real_dev" \
            --cache "$DATA/real_alignments_english.json" --seed 0 $REAL_OPTS
    fi
    stamp alignment
    if [ "$PHONES_ONLY" != 1 ]; then
        # c. fine-tunes on synthetic + real speech, silence and room noise; 70 ms and 30 ms
        MIX="$DATA/train6h:1500,$DATA/intl3h:1500,$DATA/real_train"
        for la in 70 30; do
            $PY -m emotalk_ros train --data "$MIX" --data-weights 0.3,0.35,0.35 \
                --out "$RUNS/emotalk_real_${la}_ft.pt" --steps "$RT_STEPS" --batch 12 --seed 7 \
                --threads 1 --init "$RUNS/emotalk_default_ft.pt" --lookahead-ms "$la" \
                --w-bilabial 3.0 --w-aperture 1.0 --lr 1e-3 --sil-fraction 0.1 --pad-sil 0.5 \
                --target-lead 2 --smoothing 0.65 --no-progress \
                --model-version "emotalk-real-candidate$([ "$la" = 70 ] || echo "-${la}ms")"
            $PY -m emotalk_ros calibrate "$RUNS/emotalk_real_${la}_ft.pt" \
                -o "$RUNS/emotalk_real_${la}.pt" --smoothing 0.65
            $PY -m emotalk_ros export "$RUNS/emotalk_real_${la}.pt" -o "$RUNS/emotalk_real_${la}.onnx"
            SUMS+=("$RUNS/emotalk_real_${la}.pt" "$RUNS/emotalk_real_${la}.onnx")
            if [ "$SMALL" != 1 ]; then
                $PY -m emotalk_ros evaluate --data "$DATA/real_dev" \
                    --model "$RUNS/emotalk_real_${la}.onnx" --max-clips "$EVAL_CLIPS" \
                    --report "$RUNS/EVALUATION_real_${la}.md"
            fi
            stamp "real-speech fine-tune ${la} ms"
        done
    fi
    # d. the phone-bottleneck candidate (docs/EVALUATION.md, "The network hears the phones"):
    #    emotalk-default-5 (the calibrated file: a fine-tune reads neither the warp nor the
#    smoothing, so it trains as from default-5's fine-tune; PH_INIT overrides) continued in
#    four stages of PH_STEPS, each from the last, with
    #    default-5's recipe on the synthetic + multilingual + real mixture: a phone bottleneck
    #    after block 6 trained with the cross-entropy (phB, seed 31); made strict (r6B, 41);
    #    at lr 1e-3 (r6Bc, 51); bilabial weight 0.5 and aperture 1 (r6Bb05, 62); calibrated
    #    at smoothing 0.3 -> RUNS/emotalk_phones.{pt,onnx}, evaluated like the shipped model
    PH_MIX="$DATA/train6h,$DATA/festival1h,$DATA/festival2h,$DATA/intl3h,$DATA/real_train"
    if [ "$PHONES_ONLY" = 1 ] && [ -z "${PH_INIT:-}" ]; then
        # models/ holds default-9, made (via default-8) from default-5: take the shipped default-5 from git
        PH_INIT="$RUNS/emotalk_default5.pt"
        [ -f "$PH_INIT" ] || git show efc60e8:models/emotalk_default.pt > "$PH_INIT"
    fi
    ph_init="${PH_INIT:-$MODELS/emotalk_default.pt}"
    [ "${PH_CHAIN:-1}" = 1 ] || ph_stages=()
    for stage in "${ph_stages[@]}"; do
        case $stage in
            phB) opts=(--seed 31 --phone-after 6 --w-phone 1 --lr 5e-4 --w-bilabial 3.0
                       --w-aperture 0.5) ;;
            r6B) opts=(--seed 41 --phone-replace --lr 5e-4 --w-bilabial 3.0 --w-aperture 0.5) ;;
            r6Bc) opts=(--seed 51 --lr 1e-3 --w-bilabial 3.0 --w-aperture 0.5) ;;
            r6Bb05) opts=(--seed 62 --lr 1e-3 --w-bilabial 0.5 --w-aperture 1.0) ;;
        esac
        $PY -m emotalk_ros train --data "$PH_MIX" --data-weights 0.4,0.1,0.15,0.2,0.15 \
            --out "$RUNS/emotalk_phones_${stage}_ft.pt" --steps "$PH_STEPS" --batch 24 \
            --threads 1 --init "$ph_init" --lookahead-ms 70 "${opts[@]}" --sil-fraction 0.3 \
            --pad-sil 0.5 --w-consistency 0 --cons-speech-only --w-symmetry 4 \
            --w-expression 2 --w-accel 4 --smoothing 0.65 \
            --model-version emotalk-phones-candidate --no-progress
        ph_init="$RUNS/emotalk_phones_${stage}_ft.pt"
    done
    if [ "${PH_CHAIN:-1}" = 1 ]; then
        $PY -m emotalk_ros calibrate "$ph_init" -o "$RUNS/emotalk_phones.pt" --smoothing 0.3 \
            --model-version emotalk-phones-candidate
        $PY -m emotalk_ros export "$RUNS/emotalk_phones.pt" -o "$RUNS/emotalk_phones.onnx"
        SUMS+=("$RUNS/emotalk_phones.pt" "$RUNS/emotalk_phones.onnx")
        if [ "$SMALL" != 1 ]; then evaluate_candidate phones; fi
        stamp "phone-bottleneck candidate"
    fi
    # e. the phone-mixture experiment (docs/EVALUATION.md, "The face as the expected face of
    #    the phones"): emotalk-default-5 (as d., PH_INIT overrides) fine-tuned in ONE stage of
    #    PH_STEPS on d.'s mixture, adding a strict phone bottleneck after block 6 trained with
    #    the cross-entropy and making the face the posterior-weighted mean of per-phone faces
    #    (seed 81; bilabial MIX_BILABIAL, aperture MIX_APERTURE); calibrated at 0.3 ->
    #    RUNS/emotalk_phonemix.{pt,onnx}, evaluated like d. (mixA of EVALUATION.md is this
    #    recipe on data/train6h alone)
    $PY -m emotalk_ros train --data "$PH_MIX" --data-weights 0.4,0.1,0.15,0.2,0.15 \
        --out "$RUNS/emotalk_phones_mix_ft.pt" --steps "$PH_STEPS" --batch 24 --threads 1 \
        --init "${PH_INIT:-$MODELS/emotalk_default.pt}" --lookahead-ms 70 --seed 81 \
        --phone-after 6 --phone-replace --phone-mixture --w-phone 1 --lr 1e-3 \
        --w-bilabial "${MIX_BILABIAL:-0.5}" --w-aperture "${MIX_APERTURE:-1.0}" \
        --sil-fraction 0.3 --pad-sil 0.5 --w-consistency 0 --cons-speech-only --w-symmetry 4 \
        --w-expression 2 --w-accel 4 --smoothing 0.65 \
        --model-version emotalk-phonemix-candidate --no-progress
    $PY -m emotalk_ros calibrate "$RUNS/emotalk_phones_mix_ft.pt" -o "$RUNS/emotalk_phonemix.pt" \
        --smoothing 0.3 --model-version emotalk-phonemix-candidate
    $PY -m emotalk_ros export "$RUNS/emotalk_phonemix.pt" -o "$RUNS/emotalk_phonemix.onnx"
    SUMS+=("$RUNS/emotalk_phonemix.pt" "$RUNS/emotalk_phonemix.onnx")
    if [ "$SMALL" != 1 ]; then evaluate_candidate phonemix; fi
    stamp "phone-mixture candidate"
    # f. emotalk-default-6 (docs/EVALUATION.md, "emotalk-default-6"): e.'s fine-tune continued
    #    DOM_STEPS with its recipe and a learnt dominance per phone and blendshape (the
    #    log-dominance at 20x the learning rate), seed 82; calibrated at 0.2 -> models/
    $PY -m emotalk_ros train --data "$PH_MIX" --data-weights 0.4,0.1,0.15,0.2,0.15 \
        --out "$RUNS/emotalk_default6_ft.pt" --steps "$DOM_STEPS" --batch 24 --threads 1 \
        --init "$RUNS/emotalk_phones_mix_ft.pt" --lookahead-ms 70 --seed 82 \
        --phone-after 6 --phone-replace --phone-mixture --phone-dominance --w-phone 1 \
        --lr 1e-3 --w-bilabial "${MIX_BILABIAL:-0.5}" --w-aperture "${MIX_APERTURE:-1.0}" \
        --sil-fraction 0.3 --pad-sil 0.5 --w-consistency 0 --cons-speech-only --w-symmetry 4 \
        --w-expression 2 --w-accel 4 --smoothing 0.65 \
        --model-version emotalk-default-6 --no-progress
    finish_candidate default6 emotalk-default-6
    stamp "emotalk-default-6"
    # g. emotalk-default-7 (docs/EVALUATION.md, "emotalk-default-7"): f.'s fine-tune continued
    #    DOM_STEPS at half the learning rate with the aperture weight 1.5 (seed 84), then the
    #    mean of the weights of f. and of that run (`emotalk average`, 0.5/0.5: f. closes the
    #    lips better, the continuation follows the phones better, their mean does both);
    #    calibrated at 0.2 -> RUNS/emotalk_default7.{pt,onnx}
    $PY -m emotalk_ros train --data "$PH_MIX" --data-weights 0.4,0.1,0.15,0.2,0.15 \
        --out "$RUNS/emotalk_default7_cont_ft.pt" --steps "$DOM_STEPS" --batch 24 --threads 1 \
        --init "$RUNS/emotalk_default6_ft.pt" --lookahead-ms 70 --seed 84 \
        --phone-after 6 --phone-replace --phone-mixture --phone-dominance --w-phone 1 \
        --lr 5e-4 --w-bilabial "${MIX_BILABIAL:-0.5}" --w-aperture 1.5 \
        --sil-fraction 0.3 --pad-sil 0.5 --w-consistency 0 --cons-speech-only --w-symmetry 4 \
        --w-expression 2 --w-accel 4 --smoothing 0.65 \
        --model-version emotalk-default-7 --no-progress
    $PY -m emotalk_ros average "$RUNS/emotalk_default6_ft.pt" "$RUNS/emotalk_default7_cont_ft.pt" \
        --weights 0.5,0.5 -o "$RUNS/emotalk_default7_ft.pt" --model-version emotalk-default-7
    finish_candidate default7 emotalk-default-7
    stamp "emotalk-default-7"
    # h. emotalk-default-8 (docs/EVALUATION.md, "emotalk-default-8"): real_train with the
    #    Spanish and French prompts of two more speakers (asterisk-prompt-es-co, -fr-armelle;
    #    make_real_speech.py --prompts), then two continuations of g.'s mean, DOM_STEPS each on
    #    it with the real speech at 0.2 (espeak-ng 0.35): g.'s recipe (seed 87), and g.'s
    #    recipe with the correlation term 0.5 and the bilabial weight 2 (seed 88); the mean of
    #    the two (0.5/0.5), calibrated at 0.2 -> MODELS/emotalk_default.{pt,onnx} (and
    #    RUNS/emotalk_default8.*; step j. replaces it in MODELS)
    $PY tools/make_real_speech.py --root "$ROOT" --aligner "$RUNS/phonenet.pt" --prompts \
        --only train --train "$DATA/real_train_prompts" --dev "$DATA/real_dev" \
        --cache "$DATA/real_alignments_prompts.json" --copies 3 --seed 0 $REAL_OPTS
    stamp "alignment of the prompts"
    PR_MIX="$DATA/train6h,$DATA/festival1h,$DATA/festival2h,$DATA/intl3h,$DATA/real_train_prompts"
    for run in plain corr; do
        case $run in
            plain) opts=(--seed 87 --w-bilabial "${MIX_BILABIAL:-0.5}") ;;
            corr) opts=(--seed 88 --w-bilabial 2 --w-aperture-corr 0.5) ;;
        esac
        $PY -m emotalk_ros train --data "$PR_MIX" --data-weights 0.35,0.1,0.15,0.2,0.2 \
            --out "$RUNS/emotalk_default8_${run}_ft.pt" --steps "$DOM_STEPS" --batch 24 \
            --threads 1 --init "$RUNS/emotalk_default7_ft.pt" --lookahead-ms 70 "${opts[@]}" \
            --phone-after 6 --phone-replace --phone-mixture --phone-dominance --w-phone 1 \
            --lr 5e-4 --w-aperture 1.5 --sil-fraction 0.3 --pad-sil 0.5 --w-consistency 0 \
            --cons-speech-only --w-symmetry 4 --w-expression 2 --w-accel 4 --smoothing 0.65 \
            --model-version emotalk-default-8 --no-progress
    done
    $PY -m emotalk_ros average "$RUNS/emotalk_default8_plain_ft.pt" \
        "$RUNS/emotalk_default8_corr_ft.pt" --weights 0.5,0.5 -o "$RUNS/emotalk_default8_ft.pt" \
        --model-version emotalk-default-8
    finish_candidate default8 emotalk-default-8 ship
    stamp "emotalk-default-8"
    # i. the aperture-readout candidate (docs/EVALUATION.md, "The aperture readout"; not
    #    shipped): h.'s mean with the jaw read from its own phone posteriors, the bilabial
    #    dominance, temperature and output smoothing chosen on the real training speech by
    #    tools/readout_grid.py (the highest training correlation that keeps h.'s training
    #    closure and the lips leading; SMALL=1 takes 24,0.7,0.15) -> RUNS/emotalk_readout.*
    if [ "$SMALL" = 1 ]; then
        pick=24,0.7,0.15
    else
        pick=$($PY tools/readout_grid.py "$RUNS/emotalk_default8.pt" \
            --train "$DATA/real_train_prompts" --dev "$DATA/real_dev" \
            --out "$RUNS/readout_grid.json" | tail -n 1)
    fi
    if [ -n "$pick" ]; then
        IFS=, read -r ro_d ro_t ro_s <<< "$pick"
        $PY -m emotalk_ros calibrate "$RUNS/emotalk_default8_ft.pt" \
            -o "$RUNS/emotalk_readout.pt" --smoothing "$ro_s" --aperture-readout \
            --readout-bilabial "$ro_d" --readout-temperature "$ro_t" \
            --model-version emotalk-readout-candidate
        $PY -m emotalk_ros export "$RUNS/emotalk_readout.pt" -o "$RUNS/emotalk_readout.onnx"
        SUMS+=("$RUNS/emotalk_readout.pt" "$RUNS/emotalk_readout.onnx")
        if [ "$SMALL" != 1 ]; then evaluate_candidate readout; fi
    else
        echo "[make model] i.: no aperture readout keeps h.'s training closure" >&2
    fi
    stamp "aperture-readout candidate ($pick)"
    # j. emotalk-default-9 (shipped before default-10; docs/EVALUATION.md,
    #    "emotalk-default-9"): h.'s mean with its phone path (the last block and the phone
    #    layer) retrained on the real training speech, the rest frozen (`emotalk
    #    train-phones`: 300 steps, 16 clips a step, phone cross-entropy + 0.5 x the KL
    #    divergence from h.'s posteriors, seed 0), calibrated at 0.2 ->
    #    RUNS/emotalk_default9.{pt,onnx} (step k. ships its successor)
    $PY -m emotalk_ros train-phones --data "$DATA/real_train_prompts" \
        --init "$RUNS/emotalk_default8.pt" -o "$RUNS/emotalk_default9_ft.pt" \
        --steps "$PP_STEPS" --seed 0 --threads 1 --no-progress
    finish_candidate default9 emotalk-default-9
    stamp "emotalk-default-9"
    # k. emotalk-default-10 (shipped; docs/EVALUATION.md, "emotalk-default-10"): the phone
    #    path retrained on all the real training speech (every fillets-ng line and the es/fr
    #    prompts, no --max-train: DATA/real_train_all) without the KL term, then the face
    #    (head, posteriors' projection) fine-tuned under every emotion with the bilabial
    #    term, the trunk and phone path frozen (--freeze-trunk) and the neutral per-phone
    #    faces held at the phone path's (--w-neutral 100, dominance frozen), on espeak-ng 2 h
    #    + real_train_all; calibrated at 0.175 -> MODELS/emotalk_default.{pt,onnx} (and
    #    RUNS/emotalk_default10.*)
    if [ "$SMALL" = 1 ]; then ALL_OPTS="$REAL_OPTS"; else ALL_OPTS="--max-dev 50"; fi
    $PY tools/make_real_speech.py --root "$ROOT" --aligner "$RUNS/phonenet.pt" --prompts \
        --only train --train "$DATA/real_train_all" --dev "$DATA/real_dev" \
        --cache "$DATA/real_alignments_prompts.json" --copies 3 --seed 0 $ALL_OPTS
    synth train2h 2 0
    stamp "all the real training speech, espeak-ng 2 h"
    $PY -m emotalk_ros train-phones --data "$DATA/real_train_all" \
        --init "$RUNS/emotalk_default8.pt" -o "$RUNS/emotalk_pp_all_ft.pt" \
        --steps "$PP_STEPS" --seed 0 --threads 1 --kl 0 --no-progress
    $PY -m emotalk_ros train --data "$DATA/train2h,$DATA/real_train_all" --data-weights 0.5,0.5 \
        --out "$RUNS/emotalk_default10_ft.pt" --steps "$PP_STEPS" --batch 24 --threads 1 \
        --init "$RUNS/emotalk_pp_all_ft.pt" --lookahead-ms 70 --seed 91 --w-bilabial 2 \
        --freeze-trunk --w-neutral 100 --phone-after 6 --phone-replace --phone-mixture \
        --phone-dominance --w-phone 0 --lr 5e-4 --w-aperture 1.5 --sil-fraction 0.3 \
        --pad-sil 0.5 --w-consistency 0 --cons-speech-only --w-symmetry 4 --w-expression 2 \
        --w-accel 4 --smoothing 0.65 --model-version emotalk-default-10 --no-progress
    finish_candidate default10 emotalk-default-10 ship 0.175
    stamp "emotalk-default-10"
fi
sha256sum "${SUMS[@]}" | tee -a "$TIMES"
echo "[make model] done in $(( $(date +%s) - t0 )) s"
