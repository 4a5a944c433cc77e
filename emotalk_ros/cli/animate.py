"""``emotalk animate``: speech wav files -> blendshapes (Live Link CSV, JSON or npy).

The model loads once for all inputs; each input is animated by
:func:`emotalk_ros.animation.offline.animate_samples` (the node's code path) and written.
A bad input gets a clear message and a non-zero exit status, and the other inputs are
still processed.
"""

import json
import os
import sys

import numpy as np

from emotalk_ros.animation.offline import animate_samples, emotion_from_args
from emotalk_ros.core.audio import load_audio
from emotalk_ros.core.blendshapes import NAMES, write_live_link_csv
from emotalk_ros.errors import EmotalkError
from emotalk_ros.generator.predictor import Frames

FORMATS = ("csv", "json", "npy")


def write_frames(path: str, frames: Frames, fps: float, fmt: str, meta: dict) -> None:
    """Write ``frames`` as Live Link CSV, ``.npy`` (T, 52) float32 or JSON (times s, frames,
    ``meta``); raises :class:`EmotalkError` when the folder is missing or the write fails."""
    d = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(d):
        raise EmotalkError(f"cannot write {path}: folder {d} does not exist")
    try:
        if fmt == "csv":
            write_live_link_csv(path, frames.values, fps)
        elif fmt == "npy":
            np.save(path, frames.values.astype(np.float32))
        else:
            with open(path, "w") as f:
                json.dump(
                    {
                        "fps": fps,
                        "names": list(NAMES),
                        "times": frames.times.round(6).tolist(),
                        "frames": np.round(frames.values, 6).tolist(),
                        **meta,
                    },
                    f,
                )
    except OSError as exc:
        raise EmotalkError(f"cannot write {path}: {exc.strerror or exc}") from None


def add_arguments(p) -> None:
    """Register the ``animate`` options on ``p``."""
    p.add_argument(
        "inputs", nargs="+", metavar="IN.wav", help="speech audio (any rate / channels)"
    )
    out = p.add_mutually_exclusive_group(required=True)
    out.add_argument("--output", "-o", help="output file (one input only)")
    out.add_argument("--output-dir", help="write <input stem>.<format> files here")
    p.add_argument(
        "--format",
        choices=FORMATS,
        default=None,
        help="default: from --output's extension, else csv",
    )
    p.add_argument("--emotion", default=None, help="emotion SPEC, e.g. 'happy:0.6 surprised:0.3'")
    p.add_argument(
        "--emotion-track", default=None, help='JSON keyframes [{"t": 0, "happy": 0.5}, ...]'
    )
    p.add_argument("--fps", type=float, default=60.0)
    p.add_argument(
        "--model",
        default=None,
        help="model file (.onnx/.pt), default: shipped; 'baseline' for the amplitude baseline",
    )
    p.add_argument("--backend", default="auto", choices=("auto", "torch", "onnxruntime"))
    p.add_argument(
        "--no-idle",
        action="store_true",
        help="no blinks/gaze/breathing overlay (deterministic output)",
    )
    p.add_argument("--seed", type=int, default=0, help="idle overlay seed")
    p.add_argument("--max-intensity", type=float, default=1.0)
    p.add_argument("--style", default=None, metavar="PATH|NAME",
                   help="per-robot style YAML, or a shipped name (subtle, expressive)")
    p.add_argument("--emotion-source", choices=("command", "voice", "blend"), default="command",
                   help="command: --emotion/--emotion-track only; voice: the emotion detected in "
                        "the speech; blend: both, mixed by --voice-blend")
    p.add_argument("--voice-blend", type=float, default=0.5,
                   help="weight of the detected emotion for --emotion-source blend (0..1)")
    p.add_argument(
        "--voice-model", default="", help="voice emotion model (.npz); default: shipped"
    )


def run(args) -> int:
    """Animate each input wav and write its frames; 1 when any input failed, else 0."""
    from emotalk_ros.generator.loading import load_predictor

    if args.output and len(args.inputs) > 1:
        raise EmotalkError("--output takes one input; use --output-dir for several")
    fmt = args.format
    if fmt is None:
        ext = os.path.splitext(args.output or "")[1].lstrip(".").lower()
        fmt = ext if ext in FORMATS else "csv"
    if args.output_dir:
        os.makedirs(args.output_dir, exist_ok=True)
    from emotalk_ros.animation.style import load_style
    from emotalk_ros.animation.voice_mix import blend_weight, load_voice_tracker

    emotion = emotion_from_args(args.emotion, args.emotion_track, args.max_intensity)
    if not (0.0 <= args.voice_blend <= 1.0):
        raise EmotalkError(f"--voice-blend must be in [0, 1], got {args.voice_blend}")
    style = load_style(args.style) if args.style else None
    tracker = (load_voice_tracker(args.voice_model) if args.emotion_source != "command" else None)
    b = blend_weight(args.emotion_source, args.voice_blend)
    predictor = load_predictor(args.model, backend=args.backend, fps=args.fps)
    failed = 0
    for path in args.inputs:
        try:
            x = load_audio(path)
            frames = animate_samples(predictor, x, emotion, None if args.no_idle else args.seed,
                                     style=style, voice=tracker, voice_blend=b)
            dest = args.output or os.path.join(
                args.output_dir, os.path.splitext(os.path.basename(path))[0] + "." + fmt)
            write_frames(dest, frames, args.fps, fmt, {"source": os.path.basename(path),
                                                       "model": predictor.info.model_version})
            sys.stdout.write(f"{path} -> {dest} ({len(frames)} frames)\n")
        except EmotalkError as exc:
            failed += 1
            msg = str(exc)
            sys.stderr.write(
                f"emotalk animate: {msg if msg.startswith(path) else path + ': ' + msg}\n"
            )
    return 1 if failed else 0
