"""``emotalk bench``: per-frame compute and offline speed (:mod:`emotalk_ros.generator.bench`),
plus the DDS latency and mesh benchmarks (:mod:`emotalk_ros.ros.bench`) with ``--ros`` and
``--mesh``; prints JSON."""

import json
import sys

from emotalk_ros.generator.bench import run_bench


def add_arguments(p) -> None:
    """Register the ``bench`` options on ``p``."""
    p.add_argument("--model", default=None,
                   help="model file or shipped name (default: the shipped default)")
    p.add_argument("--seconds", type=float, default=20.0, help="audio streamed per backend")
    p.add_argument("--json", default=None, help="also write the results here")
    p.add_argument("--no-startup", action="store_true")
    p.add_argument(
        "--ros", action="store_true", help="also run the DDS end-to-end benchmark (nodes)"
    )
    p.add_argument(
        "--mesh",
        action="store_true",
        help="also benchmark the face_mesh node (per frame, 60 Hz stream)",
    )


def run(args) -> int:
    """Run the benchmarks (plus ``--ros`` / ``--mesh``), print the JSON results; 0."""
    res = run_bench(args.model, args.seconds, include_startup=not args.no_startup)
    if args.ros:
        from emotalk_ros.ros.bench import run_ros_bench

        res["ros"] = run_ros_bench(args.model)
    if getattr(args, "mesh", False):
        from emotalk_ros.ros.bench import run_mesh_bench

        res["mesh"] = run_mesh_bench()
    text = json.dumps(res, indent=1)
    sys.stdout.write(text + "\n")
    if args.json:
        with open(args.json, "w") as f:
            f.write(text + "\n")
    return 0
