"""``emotalk export``: a trained checkpoint -> ONNX with its metadata, checked against torch."""

import json
import sys

from emotalk_ros.training.export import export_onnx


def add_arguments(p) -> None:
    """Register the ``export`` options on ``p``."""
    p.add_argument("checkpoint", help="trained .pt checkpoint")
    p.add_argument("-o", "--output", required=True, help="output .onnx")
    p.add_argument("--no-check", action="store_true", help="skip the torch/ONNX agreement check")


def run(args) -> int:
    """Export the checkpoint to ONNX and print the result as JSON; 0."""
    res = export_onnx(args.checkpoint, args.output, check=not args.no_check)
    sys.stdout.write(json.dumps(res) + "\n")
    return 0
