"""``emotalk render``: a Live Link Face CSV rendered on the face mesh to mp4 or GIF (headless).

    emotalk render IN.csv [--audio IN.wav] -o preview.mp4|preview.gif [--fps 30] [--size 480]
                   [--panel] [--motors RIG.yaml] [--yaw 0]
    emotalk render --contact-sheet docs/img/face_contact_sheet.png

Frames are rendered with the numpy rasteriser in :mod:`emotalk_ros.mesh.render` (no display,
no OpenGL) and piped to the ``ffmpeg`` binary (H.264 mp4 with the audio muxed in when
``--audio`` is given, or a palette GIF). The CSV is resampled to ``--fps`` by linear
interpolation; the video lasts as long as the CSV (rows x its frame period).

``--panel`` adds plots of the main blendshapes over time with a moving cursor
(matplotlib Agg, drawn once; only the cursor is drawn per frame); with ``--motors RIG``
it also plots the rig's motor channels (normalised to their ranges) through
:class:`emotalk_ros.retarget.safety.Retargeter` when that module is available.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import subprocess
import sys
import time
import warnings
from typing import Callable, List, Optional, Tuple

import numpy as np

from emotalk_ros.core.blendshapes import INDEX, read_live_link_csv, sanitize
from emotalk_ros.errors import EmotalkError

log = logging.getLogger(__name__)

PANEL_SHAPES = ("jawOpen", "mouthClose", "mouthSmileLeft", "mouthSmileRight", "browInnerUp",
                "eyeBlinkLeft")


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Arguments of ``emotalk render``."""
    p.add_argument("csv", nargs="?", help="Live Link Face CSV (blendshape frames)")
    p.add_argument("-o", "--output", help="preview.mp4 or preview.gif")
    p.add_argument("--audio", help="wav to mux into the mp4 (ignored for GIF)")
    p.add_argument("--fps", type=float, default=30.0, help="output frame rate (default 30)")
    p.add_argument(
        "--size", type=int, default=480, help="face image height = width in px (default 480)"
    )
    p.add_argument(
        "--panel", action="store_true", help="add blendshape (and motor) plots with a cursor"
    )
    p.add_argument("--motors", help="rig YAML: plot its motor channels in the panel")
    p.add_argument("--yaw", type=float, default=0.0, help="turn the face by this many degrees")
    p.add_argument(
        "--perspective", action="store_true", help="perspective instead of orthographic"
    )
    p.add_argument("--contact-sheet", metavar="PNG",
                   help="write a grid of reference poses to PNG (no CSV needed)")


def resample(times: np.ndarray, frames: np.ndarray, fps: float) -> Tuple[np.ndarray, float]:
    """(T,) s + (T, 52) frames -> ((N, 52) float32 at ``fps``, duration s = T x source period)."""
    if frames.shape[0] == 0:
        raise EmotalkError("the CSV has no frames")
    if frames.shape[0] > 1:
        period = float(np.median(np.diff(times)))
        if not period > 0:
            raise EmotalkError("CSV timecodes do not increase")
    else:
        period = 1.0 / 60.0
    duration = float(times[-1] - times[0]) + period
    n = max(1, int(round(duration * fps)))
    t = times[0] + np.arange(n) / fps                                  # (N,)
    out = np.stack([np.interp(t, times, frames[:, k]) for k in range(frames.shape[1])], axis=1)
    return sanitize(out), duration                                     # (N, 52)


def motor_traces(rig_path: str, frames: np.ndarray) -> Optional[Tuple[List[str], np.ndarray]]:
    """(motor names, (N, M) positions normalised to [0, 1]) or None when retarget is
    unavailable."""
    try:
        from emotalk_ros.retarget.rig import Rig
        from emotalk_ros.retarget.safety import Retargeter
    except ImportError as exc:
        log.warning("--motors ignored: emotalk_ros.retarget.rig is not available (%s)", exc)
        return None
    rig = Rig.load(rig_path)
    rt = Retargeter(rig)
    raw = np.stack([np.asarray(rt.map(f), np.float64) for f in frames])   # (N, M)
    lo, hi = np.asarray(rig.lower, np.float64), np.asarray(rig.upper, np.float64)
    return list(rig.motor_names), np.clip((raw - lo) / np.maximum(hi - lo, 1e-12), 0.0, 1.0)


def make_panel(frames: np.ndarray, fps: float, height: int, width: int,
               motors: Optional[Tuple[List[str], np.ndarray]] = None
               ) -> Tuple[np.ndarray, Callable[[float], int], Tuple[int, int]]:
    """Draw the plots once -> (panel (H, W, 3) uint8, time s -> cursor x px, (y_top, y_bottom)
    px)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    t = np.arange(frames.shape[0]) / fps
    nax = 2 if motors else 1
    fig = Figure(figsize=(width / 100.0, height / 100.0), dpi=100)
    canvas = FigureCanvasAgg(fig)
    axes = [fig.add_subplot(nax, 1, k + 1) for k in range(nax)]
    for name in PANEL_SHAPES:
        axes[0].plot(t, frames[:, INDEX[name]], lw=1.2, label=name)
    axes[0].set_ylim(-0.02, 1.02)
    axes[0].set_ylabel("blendshape")
    axes[0].legend(loc="upper right", fontsize=6, ncol=2, framealpha=0.6)
    if motors:
        names, vals = motors
        for k, n in enumerate(names[:8]):
            axes[1].plot(t, vals[:, k], lw=1.0, label=n)
        axes[1].set_ylim(-0.02, 1.02)
        axes[1].set_ylabel("motor (norm.)")
        axes[1].legend(loc="upper right", fontsize=6, ncol=2, framealpha=0.6)
    axes[-1].set_xlabel("time (s)")
    for ax in axes:
        ax.set_xlim(0.0, max(t[-1], 1e-3))
        ax.tick_params(labelsize=7)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # tiny panels cannot fit every label
        fig.tight_layout()
    canvas.draw()
    img = np.asarray(canvas.buffer_rgba())[:, :, :3].copy()          # (H, W, 3)
    hpx = img.shape[0]
    xa = axes[0].transData.transform([(0.0, 0.0), (max(t[-1], 1e-3), 0.0)])[:, 0]
    top = hpx - int(axes[0].get_window_extent().y1)
    bottom = hpx - int(axes[-1].get_window_extent().y0)
    span = max(t[-1], 1e-3)

    def x_of(sec: float) -> int:
        return int(round(xa[0] + (xa[1] - xa[0]) * min(max(sec / span, 0.0), 1.0)))

    return img, x_of, (max(top, 0), min(bottom, hpx))


class _FfmpegWriter:
    """Pipe RGB frames into ffmpeg (mp4: libx264 + optional audio; gif: palettegen/paletteuse)."""

    def __init__(self, path: str, size: Tuple[int, int], fps: float, audio: Optional[str],
                 duration: float):
        exe = shutil.which("ffmpeg")
        if exe is None:
            raise EmotalkError("ffmpeg not found: install the Debian package 'ffmpeg'")
        w, h = size
        cmd = [exe, "-y", "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "rgb24",
               "-s", f"{w}x{h}", "-r", f"{fps:g}", "-i", "-"]
        if path.lower().endswith(".gif"):
            cmd += [
                "-vf",
                "split[a][b];[a]palettegen=stats_mode=diff[p];[b][p]paletteuse",
                "-loop",
                "0",
            ]
        else:
            if audio:
                cmd += [
                    "-i",
                    audio,
                    "-map",
                    "0:v:0",
                    "-map",
                    "1:a:0",
                    "-c:a",
                    "aac",
                    "-b:a",
                    "128k",
                ]
            cmd += ["-c:v", "libx264", "-preset", "veryfast", "-crf", "20", "-pix_fmt", "yuv420p",
                    "-movflags", "+faststart"]
        cmd += ["-t", f"{duration:.3f}", path]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stderr=subprocess.PIPE)

    def write(self, frame: np.ndarray) -> None:
        try:
            self.proc.stdin.write(np.ascontiguousarray(frame, np.uint8).tobytes())
        except BrokenPipeError:
            self.close()

    def close(self) -> None:
        if self.proc.stdin and not self.proc.stdin.closed:
            try:
                self.proc.stdin.close()
            except BrokenPipeError:
                pass
        err = self.proc.stderr.read().decode(errors="replace") if self.proc.stderr else ""
        if self.proc.wait() != 0:
            raise EmotalkError(f"ffmpeg failed: {err.strip()[-500:]}")


def run(args: argparse.Namespace) -> int:
    """Render the CSV to ``args.output`` (or a contact sheet); returns the exit status."""
    from emotalk_ros.mesh.mesh import FaceMesh
    from emotalk_ros.mesh.render import THREE_QUARTER, Camera, render_contact_sheet, render_frame

    mesh = FaceMesh.load()
    if args.contact_sheet:
        render_contact_sheet(mesh, args.contact_sheet, camera=THREE_QUARTER)
        sys.stdout.write(f"wrote {args.contact_sheet}\n")
        if not args.csv:
            return 0
    if not args.csv or not args.output:
        raise EmotalkError("need IN.csv and -o OUT.mp4|OUT.gif (or --contact-sheet PNG)")
    if not args.output.lower().endswith((".mp4", ".gif", ".mov", ".mkv")):
        raise EmotalkError(f"output must end in .mp4 or .gif, got {args.output!r}")
    if not (1.0 <= args.fps <= 240.0):
        raise EmotalkError(f"--fps must be in [1, 240], got {args.fps}")
    if not (32 <= args.size <= 2048):
        raise EmotalkError(f"--size must be in [32, 2048], got {args.size}")
    if args.audio and not os.path.exists(args.audio):
        raise EmotalkError(f"audio file not found: {args.audio}")
    times, src = read_live_link_csv(args.csv)
    frames, duration = resample(times, src, args.fps)                # (N, 52)
    size = args.size + (args.size % 2)                                # even for yuv420p
    cam = Camera(yaw_deg=args.yaw, fov_deg=20.0 if args.perspective else 0.0)
    panel = None
    if args.panel:
        motors = motor_traces(args.motors, frames) if args.motors else None
        panel = make_panel(frames, args.fps, size, size + size // 4 * 2, motors)
    elif args.motors:
        log.warning("--motors is only used with --panel")
    out_w = size + (panel[0].shape[1] if panel else 0)
    out_w += out_w % 2
    audio = args.audio if args.output.lower().endswith((".mp4", ".mov", ".mkv")) else None
    writer = _FfmpegWriter(args.output, (out_w, size), args.fps, audio, duration)
    t0 = time.perf_counter()
    try:
        for i, wts in enumerate(frames):
            face = render_frame(mesh, wts, (size, size), cam)           # (H, H, 3)
            if panel:
                img, x_of, (y0, y1) = panel
                pimg = img.copy()
                x = x_of(i / args.fps)
                pimg[y0:y1, max(x - 1, 0):x + 1] = (220, 40, 40)
                face = np.concatenate([face, pimg], axis=1)
            if face.shape[1] < out_w:
                face = np.pad(face, ((0, 0), (0, out_w - face.shape[1]), (0, 0)))
            writer.write(face)
    finally:
        writer.close()
    dt = time.perf_counter() - t0
    sys.stdout.write(
        f"wrote {args.output}: {frames.shape[0]} frames, {duration:.2f} s at {args.fps:g} fps, "
        f"{1000.0 * dt / max(frames.shape[0], 1):.1f} ms/frame\n"
    )
    return 0
