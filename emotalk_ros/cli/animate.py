"""``emotalk animate``: speech wav files -> blendshapes (Live Link CSV, JSON or npy).

The model loads once for all inputs; each input is read and animated in streaming chunks
(:func:`emotalk_ros.core.audio.iter_audio` -> :func:`emotalk_ros.animation.offline.animate_stream`,
the node's code path), so memory stays flat with the length of the file, and written through
a temporary file renamed on success (:func:`emotalk_ros.core.files.atomic_write`: a failed
write never leaves a partial file nor harms the previous one). Each input succeeds or fails
on its own: a bad input gets one clear line, the others are still processed, a summary line
follows a batch, and the exit status is non-zero when any input failed.
"""

import json
import logging
import os
import sys

import numpy as np

from emotalk_ros.animation.offline import animate_stream, emotion_from_args
from emotalk_ros.core.audio import iter_audio
from emotalk_ros.core.blendshapes import NAMES, write_live_link_csv
from emotalk_ros.core.files import atomic_write
from emotalk_ros.errors import EmotalkError
from emotalk_ros.generator.predictor import Frames

log = logging.getLogger(__name__)
JSON_ROWS = 4096   # frames formatted at a time when writing JSON

FORMATS = ("csv", "json", "npy")


def write_frames(path: str, frames: Frames, fps: float, fmt: str, meta: dict) -> None:
    """Write ``frames`` as Live Link CSV, ``.npy`` (T, 52) float32 or JSON (times s, frames,
    ``meta``), atomically (a temporary file renamed on success); raises
    :class:`EmotalkError` when the folder is missing or the write fails (the previous file,
    if any, is then unchanged)."""
    if fmt == "csv":
        with atomic_write(path, "w", newline="") as f:
            write_live_link_csv(f, frames.values, fps)
    elif fmt == "npy":
        with atomic_write(path, "wb") as f:
            np.save(f, frames.values.astype(np.float32))
    else:
        with atomic_write(path, "w") as f:
            _write_json(f, frames, fps, meta)


def _write_json(f, frames: Frames, fps: float, meta: dict) -> None:
    """The text of ``json.dump({"fps", "names", "times", "frames", **meta})``, written a few
    thousand rows at a time (a long file never becomes one huge list of Python floats)."""
    f.write('{"fps": ' + json.dumps(fps) + ', "names": ' + json.dumps(list(NAMES))
            + ', "times": ' + json.dumps(frames.times.round(6).tolist()) + ', "frames": [')
    for i in range(0, len(frames), JSON_ROWS):
        if i:
            f.write(", ")
        f.write(json.dumps(np.round(frames.values[i:i + JSON_ROWS], 6).tolist())[1:-1])
    f.write("]")
    for k, v in meta.items():
        f.write(", " + json.dumps(k) + ": " + json.dumps(v))
    f.write("}")


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
            parts = list(animate_stream(predictor, iter_audio(path, predictor.sample_rate),
                                        emotion, None if args.no_idle else args.seed,
                                        style=style, voice=tracker, voice_blend=b))
            frames = Frames.concat(parts)
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
        except Exception as exc:  # one input's outermost boundary: the others still run
            failed += 1
            log.debug("traceback for %s", path, exc_info=True)
            sys.stderr.write(f"emotalk animate: {path}: internal error ({type(exc).__name__}: "
                             f"{str(exc)[:200]}); run `emotalk -v animate ...` for the "
                             "traceback\n")
    n = len(args.inputs)
    if n > 1 or failed:
        (sys.stderr if failed else sys.stdout).write(
            f"emotalk animate: {n - failed} of {n} input(s) done, {failed} failed\n")
    return 1 if failed else 0
