"""``emotalk fit-rig``: a rig file fitted from paired blendshape/motor samples
(:mod:`emotalk_ros.retarget.fit`)."""

import argparse
import math
import os
import sys

import numpy as np

from emotalk_ros.errors import EmotalkError
from emotalk_ros.retarget.fit import build_rig, check_data, evaluate, fit_linear, read_samples
from emotalk_ros.retarget.rig import Rig


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the ``fit-rig`` options on ``parser``."""
    parser.add_argument("samples", help="CSV of paired samples: blendshape columns (any spelling) "
                        "and motor columns ('motor:NAME' or listed with --motors)")
    parser.add_argument("-o", "--output", required=True, help="rig YAML to write")
    parser.add_argument("--base", help="rig YAML whose min/max/neutral, units, limits and safety "
                        "section are used for the motors it has (others come from the data)")
    parser.add_argument("--motors", help="comma-separated motor column names (instead of the "
                        "'motor:' prefix)")
    parser.add_argument("--ridge", type=float, default=1e-4,
                        help="ridge penalty per sample (default 1e-4; inputs are in [0, 1])")
    parser.add_argument("--units", default="raw",
                        help="units written for motors not in --base (default 'raw')")
    parser.add_argument("--name", default=None, help="rig name (default: the output file stem)")


def run(args: argparse.Namespace) -> int:
    """Fit, write the rig, print the per-motor error; data problems raise EmotalkError (exit 1)."""
    if not (args.ridge >= 0 and math.isfinite(args.ridge)):
        raise EmotalkError(f"--ridge must be a finite number >= 0, got {args.ridge}")
    motors = [m for m in args.motors.split(",") if m.strip()] if args.motors else None
    bs_names, X, motor_names, Y = read_samples(args.samples, motors)
    check_data(bs_names, X, motor_names, Y)
    base = Rig.load(args.base) if args.base else None
    W, c = fit_linear(X, Y, args.ridge)
    name = args.name or os.path.splitext(os.path.basename(args.output))[0]
    rig = build_rig(bs_names, motor_names, W, c, Y, base=base, units=args.units, name=name)
    scores = evaluate(rig, bs_names, X, motor_names, Y)
    try:
        rig.save(args.output)
    except OSError as exc:
        raise EmotalkError(f"cannot write {args.output}: {exc}") from None
    out = sys.stdout
    out.write(f"fitted {len(motor_names)} motor(s) from {X.shape[0]} samples and "
              f"{X.shape[1]} blendshape columns (ridge {args.ridge:g})\n")
    out.write(f"{'motor':<28}{'RMSE':>12}{'R^2':>10}\n")
    for m in motor_names:
        rmse, r2 = scores[m]
        out.write(f"{m:<28}{rmse:>12.4g}{r2:>10.4f}\n")
    mean_r2 = float(np.mean([s[1] for s in scores.values()]))
    out.write(f"{'mean':<28}{'':>12}{mean_r2:>10.4f}\n")
    out.write(f"wrote {args.output}\n")
    if base is None:
        out.write("note: max_velocity/max_acceleration are placeholders (full travel in 0.5 s); "
                  "tune them for your hardware, or pass --base\n")
    return 0
