"""``emotalk average``: the weighted mean of fine-tunes of one checkpoint ("model soup", see
:mod:`emotalk_ros.training.average`)."""

import json
import sys

from emotalk_ros.generator import checkpoint
from emotalk_ros.training.average import average, parse_weights


def add_arguments(p) -> None:
    """Register the ``average`` options on ``p``."""
    p.add_argument("checkpoints", nargs="+", help="two or more .pt fine-tunes of one checkpoint")
    p.add_argument("-o", "--output", required=True, help="the averaged .pt")
    p.add_argument("--weights", default="",
                   help="comma-separated weight per checkpoint, normalised to sum 1 "
                        "(default: equal)")
    p.add_argument("--model-version", default=None,
                   help="version name stored in the result (default: the first's)")


def run(args) -> int:
    """Average the checkpoints, write the result, print what was averaged as JSON; 0."""
    w = parse_weights(args.weights, len(args.checkpoints))
    ckpts = [checkpoint.load(p) for p in args.checkpoints]
    ck = average(ckpts, w, names=args.checkpoints)
    if args.model_version:
        ck["model_version"] = str(args.model_version)
    checkpoint.save(args.output, ck)
    sys.stdout.write(json.dumps({"output": args.output, "model_version": ck.get("model_version"),
                                 "average": ck["train"]["average"]}) + "\n")
    return 0
