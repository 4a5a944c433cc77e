#!/usr/bin/env python3
"""Choose the aperture readout (``emotalk calibrate --aperture-readout``) on training speech.

    .venv/bin/python tools/readout_grid.py runs/emotalk_default8.pt \
        --train data/real_train_prompts [--dev data/real_dev] [--grid 16,0.7,0.15 ...] \
        [--out runs/readout_grid.json]

For each grid point (bilabial dominance D, temperature T, output smoothing S) the model gets
the readout and the smoothing, is exported to ONNX in a temporary folder and runs over the
real *training* speech (the first copy of each clip, no augmentation), exactly as
``emotalk evaluate`` runs a model; the model without the readout at its own smoothing is the
reference row (so give the calibrated file: the reference runs at its stored smoothing, as
it ships). The pick is the point with the highest aperture correlation on the training
speech among those that keep the reference's bilabial closure there and keep the lips
leading or meeting the sound (best lag <= 0 frames). The development set, when given, is
measured and printed beside it but plays no part in the choice.

Prints a markdown table and, last, the pick as ``D,T,S`` (empty when nothing qualifies);
``--out`` keeps every row as JSON. A phone-mixture checkpoint is required (one EmotalkError
line otherwise).
"""

import argparse
import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from emotalk_ros.errors import EmotalkError  # noqa: E402

KEYS = ("aperture_correlation", "bilabial_closure", "open_vowel_opening", "silence_closure",
        "best_lag_frames")
DEFAULT_GRID = ("16,0.7,0.1", "24,0.7,0.1", "32,0.7,0.1", "16,0.7,0.15", "24,0.7,0.15",
                "32,0.7,0.15", "24,0.5,0.15", "32,0.5,0.15", "48,0.5,0.15", "24,1,0.15",
                "32,1,0.15", "24,0.7,0.2")


def parse_point(text: str):
    """'D,T,S' -> (D, T, S) floats; EmotalkError for anything else."""
    try:
        d, t, s = (float(x) for x in text.split(","))
    except ValueError:
        raise EmotalkError(f"grid point {text!r}: expected D,T,S (e.g. 24,0.7,0.15)") from None
    return d, t, s


def measure(ckpt, utts_by_set, tmp: str):
    """A checkpoint dict -> {set: {metric: value}} over each set's utterances."""
    from emotalk_ros.generator import checkpoint
    from emotalk_ros.generator.loading import load_predictor
    from emotalk_ros.training import evaluate as ev
    from emotalk_ros.training import metrics
    from emotalk_ros.training.export import export_onnx

    pt, onnx = os.path.join(tmp, "m.pt"), os.path.join(tmp, "m.onnx")
    checkpoint.save(pt, ckpt)
    export_onnx(pt, onnx, check=False)
    system = ev.predictor_system(load_predictor(onnx))
    out = {}
    for name, utts in utts_by_set.items():
        pooled = metrics.aggregate([metrics.lip_sync_metrics(system(u), 60.0, u.phones)
                                    for u in utts])
        out[name] = {k: pooled[k] for k in KEYS}
    return out


def pick(rows, reference):
    """The grid point (key) with the highest training correlation among those that keep the
    reference's training closure and a best lag <= 0; None when none does."""
    ok = [k for k, r in rows.items()
          if r["train"]["bilabial_closure"] >= reference["train"]["bilabial_closure"] - 1e-9
          and r["train"]["best_lag_frames"] <= 0.0]
    return max(ok, key=lambda k: rows[k]["train"]["aperture_correlation"]) if ok else None


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model", help="a calibrated phone-mixture .pt (the reference row)")
    ap.add_argument("--train", required=True, help="real training speech (make_real_speech)")
    ap.add_argument("--dev", default=None, help="development set, measured, not used")
    ap.add_argument("--max-clips", type=int, default=50, help="dev clips per language")
    ap.add_argument("--grid", nargs="+", default=list(DEFAULT_GRID), help="points D,T,S")
    ap.add_argument("--out", default=None, help="JSON with every row")
    args = ap.parse_args(argv)
    try:
        from emotalk_ros.generator import checkpoint
        from emotalk_ros.training import evaluate as ev
        from emotalk_ros.training.calibrate import add_aperture_readout, without_readout

        points = [parse_point(p) for p in args.grid]
        base = without_readout(checkpoint.load(args.model))
        models = [add_aperture_readout(base, d, t) for d, t, _ in points]   # refusals first
        sets = {"train": ev.load_real_utterances(ev.open_corpus(args.train), None)}
        if args.dev:
            sets["dev"] = ev.load_real_utterances(ev.open_corpus(args.dev), args.max_clips)
        rows = {}
        with tempfile.TemporaryDirectory() as tmp:
            reference = measure(base, sets, tmp)
            for i, ((d, t, s), ck) in enumerate(zip(points, models)):
                ck["output_smoothing"] = s
                rows[f"{d:g},{t:g},{s:g}"] = measure(ck, sets, tmp)
                sys.stderr.write(f"[readout grid] {i + 1}/{len(points)}\n")
    except EmotalkError as exc:
        sys.stderr.write(f"readout_grid: error: {exc}\n")
        return 1
    best = pick(rows, reference)
    names = list(sets)
    print("| D, T, smoothing | " + " | ".join(
        f"{n}: corr. / closure / open v. / pause / lag" for n in names) + " |")
    print("|---|" + "---|" * len(names))
    for key, r in [("none (reference)", reference)] + list(rows.items()):
        mark = " **(pick)**" if key == best else ""
        print(f"| {key}{mark} | " + " | ".join(
            " / ".join(f"{r[n][k]:.4f}" if k != "best_lag_frames" else f"{r[n][k]:+.3f}"
                       for k in KEYS) for n in names) + " |")
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"model": os.path.basename(args.model), "reference": reference,
                       "rows": rows, "pick": best}, f, indent=1)
    print(best or "")
    return 0


if __name__ == "__main__":
    sys.exit(main())
