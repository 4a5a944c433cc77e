"""``emotalk calibrate``: per-emotion intensity calibration and output smoothing of a
checkpoint (see :mod:`emotalk_ros.training.calibrate`)."""

import json
import sys

import numpy as np

from emotalk_ros.core.emotions import EXPRESSIVE
from emotalk_ros.generator import checkpoint
from emotalk_ros.training.calibrate import READOUT_BILABIAL, READOUT_TEMPERATURE, calibrate


def add_readout_arguments(p, what: str) -> None:
    """Register ``--aperture-readout`` (help ``what``) and its two parameters on ``p`` (shared
    by ``calibrate`` and ``train``)."""
    p.add_argument("--aperture-readout", action="store_true", help=what)
    p.add_argument("--readout-bilabial", type=float, default=READOUT_BILABIAL,
                   help="with --aperture-readout: the dominance of /p b m/ (>= 1)")
    p.add_argument("--readout-temperature", type=float, default=READOUT_TEMPERATURE,
                   help="with --aperture-readout: the posteriors' temperature (> 0)")


def add_arguments(p) -> None:
    """Register the ``calibrate`` options on ``p``."""
    p.add_argument("checkpoint", help="trained .pt checkpoint")
    p.add_argument("-o", "--output", required=True, help="calibrated .pt (may equal the input)")
    p.add_argument("--smoothing", type=float, default=0.65,
                   help="run-time causal one-pole output smoothing stored with the model, [0, 1)")
    add_readout_arguments(p, "the jaw follows the expected phone openness under the phone "
                             "posteriors (a phone-mixture generator; docs/EVALUATION.md)")
    p.add_argument("--model-version", default=None,
                   help="version name stored in the calibrated model (default: the checkpoint's)")


def run(args) -> int:
    """Calibrate the checkpoint, write it, print the warp at intensity 0.5 as JSON; 0."""
    readout = ((args.readout_bilabial, args.readout_temperature)
               if args.aperture_readout else None)
    ck = calibrate(checkpoint.load(args.checkpoint), args.smoothing, readout)
    if args.model_version:
        ck["model_version"] = str(args.model_version)
    checkpoint.save(args.output, ck)
    cal = np.asarray(ck["emotion_space"]["calibration"])
    sys.stdout.write(
        json.dumps(
            {
                "output": args.output,
                "smoothing": args.smoothing,
                "aperture_readout": ck["generator_config"].get("aperture_readout", False),
                "model_version": ck.get("model_version"),
                "calibration_at_0.5": dict(
                    zip(EXPRESSIVE, np.round(cal[:, cal.shape[1] // 2], 3).tolist())
                ),
            }
        )
        + "\n"
    )
    return 0
