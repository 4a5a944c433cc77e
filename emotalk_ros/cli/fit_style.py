"""``emotalk fit-style``: a per-person style YAML from Live Link Face captures."""

import os
import sys
from typing import List, Sequence, Tuple

import numpy as np

from emotalk_ros.core.blendshapes import read_live_link_csv
from emotalk_ros.errors import EmotalkError
from emotalk_ros.training.fit_style import default_reference, fit_style, style_distance


def add_arguments(p) -> None:
    """Register the ``fit-style`` options on ``p``."""
    p.add_argument("captures", nargs="+", metavar="CAPTURE.csv",
                   help="Live Link Face CSV captures of the person speaking (>= 5 s in total)")
    p.add_argument("-o", "--output", required=True, help="style YAML to write")
    p.add_argument(
        "--reference",
        nargs="+",
        default=None,
        metavar="REF.csv",
        help="Live Link CSVs of our generator's output (e.g. `emotalk animate --no-idle`); "
        "default: the procedural teacher on synthetic speech",
    )
    p.add_argument("--name", default=None, help="style name (default: the output file's stem)")
    p.add_argument("--description", default="", help="free text stored in the file")


def _read_csvs(paths: Sequence[str]) -> List[Tuple[np.ndarray, float]]:
    """Live Link CSVs -> [(frames (T, 52), fps)] (fps from the median timecode step)."""
    out = []
    for path in paths:
        times, frames = read_live_link_csv(path)
        fps = 1.0 / float(np.median(np.diff(times))) if times.size > 1 else 60.0
        out.append((frames, fps))
    return out


def run(args) -> int:
    """Fit a style from the captures (all at one fps), write the YAML, print the fit; 0."""
    caps = _read_csvs(args.captures)
    fps = caps[0][1]
    for (_, f), path in zip(caps, args.captures):
        if abs(f - fps) > 0.5:
            raise EmotalkError(
                f"{path}: {f:.1f} fps differs from the first capture's {fps:.1f} fps"
            )
    if args.reference:
        ref = np.concatenate([f for f, _ in _read_csvs(args.reference)])
    else:
        ref = default_reference(fps)
    name = args.name or os.path.splitext(os.path.basename(args.output))[0]
    cap_frames = [f for f, _ in caps]
    style = fit_style(cap_frames, ref, fps=fps, name=name, description=args.description)
    cap = np.concatenate(cap_frames)
    before, after = style_distance(ref, cap), style_distance(style.apply(ref), cap)
    fit = {
        "captures": [os.path.basename(p) for p in args.captures],
        "capture_seconds": round(cap.shape[0] / fps, 2),
        "reference": [os.path.basename(p) for p in args.reference]
        if args.reference
        else "teacher",
        "distance_before": round(before, 4),
        "distance_after": round(after, 4),
    }
    style.save(args.output, fit)
    sys.stdout.write(f"{args.output}: style '{name}' from {fit['capture_seconds']} s of capture; "
                     f"mean/std distance to the capture {before:.3f} -> {after:.3f}\n")
    return 0
