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


class FrameWriter:
    """Writes frames to an open file as they come: Live Link CSV (row by row), ``.npy``
    (T, 52) float32 (the header is rewritten with the final shape on :meth:`close`) or JSON
    (``fps``, ``names``, ``frames``, then ``times`` and ``meta``). Memory does not grow with
    the number of frames except for the JSON times (8 bytes per frame)."""

    NPY_HEADER = 128          # bytes reserved for the .npy header (any shape fits)

    def __init__(self, f, fmt: str, fps: float, meta: dict):
        self.f, self.fmt, self.fps, self.meta = f, fmt, float(fps), meta
        self.rows = 0
        self._times = []
        if fmt == "npy":
            f.write(self._npy_header(0))
        elif fmt == "json":
            f.write('{"fps": ' + json.dumps(fps) + ', "names": ' + json.dumps(list(NAMES))
                    + ', "frames": [')

    def _npy_header(self, rows: int) -> bytes:
        d = f"{{'descr': '<f4', 'fortran_order': False, 'shape': ({rows}, {len(NAMES)}), }}"
        body = d.encode("latin1")
        pad = self.NPY_HEADER - 10 - len(body) - 1
        return b"\x93NUMPY\x01\x00" + (self.NPY_HEADER - 10).to_bytes(2, "little") \
            + body + b" " * pad + b"\n"

    def write(self, frames: Frames) -> None:
        """Append a batch of frames (values (N, 52) in [0, 1])."""
        n = len(frames)
        if not n:
            return
        if self.fmt == "csv":
            write_live_link_csv(self.f, frames.values, self.fps, start_row=self.rows,
                                header=self.rows == 0)
        elif self.fmt == "npy":
            self.f.write(np.ascontiguousarray(frames.values, "<f4").tobytes())
        else:
            for i in range(0, n, JSON_ROWS):
                if self.rows + i:
                    self.f.write(", ")
                self.f.write(json.dumps(np.round(frames.values[i:i + JSON_ROWS], 6).tolist())
                             [1:-1])
            self._times.append(frames.times.round(6))
        self.rows += n

    def close(self) -> None:
        """Finish the file (CSV: a header even without frames; npy: the real shape; JSON: the
        times and the metadata)."""
        if self.fmt == "csv" and self.rows == 0:
            write_live_link_csv(self.f, np.zeros((0, len(NAMES))), self.fps)
        elif self.fmt == "npy":
            self.f.seek(0)
            self.f.write(self._npy_header(self.rows))
            self.f.seek(0, os.SEEK_END)
        elif self.fmt == "json":
            times = np.concatenate(self._times) if self._times else np.zeros(0)
            self.f.write('], "times": ' + json.dumps(times.tolist()))
            for k, v in self.meta.items():
                self.f.write(", " + json.dumps(k) + ": " + json.dumps(v))
            self.f.write("}")


def write_frames(path: str, frames, fps: float, fmt: str, meta: dict) -> int:
    """Write ``frames`` (one Frames, or an iterable of Frames batches) as Live Link CSV,
    ``.npy`` (T, 52) float32 or JSON, streaming, atomically (a temporary file renamed on
    success). Returns the number of frames. Raises :class:`EmotalkError` when the folder is
    missing or the write fails (the previous file, if any, is then unchanged)."""
    batches = [frames] if isinstance(frames, Frames) else frames
    with atomic_write(path, "wb" if fmt == "npy" else "w",
                      **({"newline": ""} if fmt == "csv" else {})) as f:
        w = FrameWriter(f, fmt, fps, meta)
        for b in batches:
            w.write(b)
        w.close()
    return w.rows


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
        help="model file (.onnx/.pt) or shipped name (emotalk_lowlatency), default: the shipped "
        "default; 'baseline' for the amplitude baseline",
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
            batches = animate_stream(predictor, iter_audio(path, predictor.sample_rate),
                                     emotion, None if args.no_idle else args.seed,
                                     style=style, voice=tracker, voice_blend=b)
            dest = args.output or os.path.join(
                args.output_dir, os.path.splitext(os.path.basename(path))[0] + "." + fmt)
            n = write_frames(dest, batches, args.fps, fmt, {"source": os.path.basename(path),
                                                            "model": predictor.info.model_version})
            sys.stdout.write(f"{path} -> {dest} ({n} frames)\n")
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
