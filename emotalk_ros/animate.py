"""``emotalk animate``: offline speech -> 52 ARKit blendshapes, built on the streaming predictor.

The model loads once for all inputs. Each input is loaded (any rate/channels ->
16 kHz mono), pushed through :meth:`StreamingPredictor.animate` (reset + push +
flush: the same code path as the node), optionally styled (``--style``, a per-robot
:class:`~emotalk_ros.style.Style`, applied before idle exactly as the node's
``style.path``), optionally driven by the emotion heard in the voice (``--emotion-source
voice|blend``, the node's ``emotion.source``), optionally overlaid with the seeded idle
behaviour, and written as Live Link Face CSV (contract section 2), JSON or npy. A bad
input gets a clear message and a non-zero exit status, and the other inputs are
still processed.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from typing import Optional

import numpy as np

from .audio import load_audio
from .blendshapes import NAMES, write_live_link_csv
from .errors import EmotalkError
from .predictor import EmotionLike, Frames, StreamingPredictor, resolve_emotion

log = logging.getLogger(__name__)
FORMATS = ("csv", "json", "npy")


def emotion_from_args(spec: Optional[str], track: Optional[str], max_intensity: float = 1.0) -> EmotionLike:
    """--emotion SPEC / --emotion-track FILE -> an EmotionLike (None for neutral).

    A SPEC without ``transition=`` holds from t = 0; with it, the face eases from neutral.
    """
    from .emotion_command import parse_emotion_command
    from .emotion_state import EmotionState, EmotionTrack

    if spec and track:
        raise EmotalkError("give either --emotion or --emotion-track, not both")
    if track:
        return EmotionTrack.load(track)
    if not spec:
        return None
    cmd = parse_emotion_command(spec, max_intensity=max_intensity)
    state = EmotionState(max_intensity=max(1.0, max_intensity))
    if cmd.transition_s is None:
        state.reset(cmd.alpha)
    else:
        state.command(cmd, 0.0)
    return state.at_many


def animate_samples(predictor: StreamingPredictor, samples: np.ndarray, emotion: EmotionLike = None,
                    idle_seed: Optional[int] = None, style=None, voice=None,
                    voice_blend: float = 1.0) -> Frames:
    """Frames for one utterance; ``idle_seed`` None -> no idle overlay (deterministic).

    samples (N,) float32 at the predictor's rate. ``style``: a Style or None, applied to the
    generator frames before idle. ``voice``: a VoiceEmotionTracker or None (command only);
    the emotion is then ``blend(emotion(t), voice(t), voice_blend)`` computed as the node
    does (same feed order and pieces), so the output equals the node's for the same audio.
    """
    if voice is None:
        out = predictor.animate(samples, emotion)
    else:
        out = _animate_with_voice(predictor, samples, emotion, voice, voice_blend)
    if style is not None and len(out):
        out = Frames(out.times, style.apply(out.values))                          # (N, 52)
    if idle_seed is not None and len(out):
        from .idle import IdleAnimator, IdleConfig
        from .metrics import aperture

        speaking = aperture(out.values) > 0.08
        out = Frames(out.times, IdleAnimator(IdleConfig(seed=idle_seed)).apply(out.times, out.values, speaking))
    return out


def _animate_with_voice(predictor: StreamingPredictor, samples: np.ndarray, emotion: EmotionLike,
                        tracker, voice_blend: float) -> Frames:
    """reset + push (voice fed first) + flush, with the voice/command blend as the emotion."""
    from .runtime import VoiceEmotion, mix_voice, push_with_voice

    x = np.asarray(samples, np.float32).reshape(-1)
    predictor.reset()
    voice = VoiceEmotion(tracker, predictor)
    voice.reset()
    b = float(voice_blend)

    def fn(t: np.ndarray) -> np.ndarray:                                   # (N,) -> (N, 7)
        return mix_voice(resolve_emotion(emotion, t), voice.alpha_at(t), np.full(t.shape[0], b))

    parts = [push_with_voice(predictor, x, fn, voice), predictor.flush(fn)]
    out = Frames.concat(parts)
    keep = out.times < x.size / predictor.sample_rate - 1e-9
    return Frames(out.times[keep], out.values[keep])


def write_frames(path: str, frames: Frames, fps: float, fmt: str, meta: dict) -> None:
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
                json.dump({"fps": fps, "names": list(NAMES), "times": frames.times.round(6).tolist(),
                           "frames": np.round(frames.values, 6).tolist(), **meta}, f)
    except OSError as exc:
        raise EmotalkError(f"cannot write {path}: {exc.strerror or exc}") from None


def add_arguments(p) -> None:
    p.add_argument("inputs", nargs="+", metavar="IN.wav", help="speech audio (any rate / channels)")
    out = p.add_mutually_exclusive_group(required=True)
    out.add_argument("--output", "-o", help="output file (one input only)")
    out.add_argument("--output-dir", help="write <input stem>.<format> files here")
    p.add_argument("--format", choices=FORMATS, default=None, help="default: from --output's extension, else csv")
    p.add_argument("--emotion", default=None, help="emotion SPEC, e.g. 'happy:0.6 surprised:0.3'")
    p.add_argument("--emotion-track", default=None, help="JSON keyframes [{\"t\": 0, \"happy\": 0.5}, ...]")
    p.add_argument("--fps", type=float, default=60.0)
    p.add_argument("--model", default=None, help="model file (.onnx/.pt), default: shipped; 'baseline' for the amplitude baseline")
    p.add_argument("--backend", default="auto", choices=("auto", "torch", "onnxruntime"))
    p.add_argument("--no-idle", action="store_true", help="no blinks/gaze/breathing overlay (deterministic output)")
    p.add_argument("--seed", type=int, default=0, help="idle overlay seed")
    p.add_argument("--max-intensity", type=float, default=1.0)
    p.add_argument("--style", default=None, metavar="PATH|NAME",
                   help="per-robot style YAML, or a shipped name (subtle, expressive)")
    p.add_argument("--emotion-source", choices=("command", "voice", "blend"), default="command",
                   help="command: --emotion/--emotion-track only; voice: the emotion detected in "
                        "the speech; blend: both, mixed by --voice-blend")
    p.add_argument("--voice-blend", type=float, default=0.5,
                   help="weight of the detected emotion for --emotion-source blend (0..1)")
    p.add_argument("--voice-model", default="", help="voice emotion model (.npz); default: shipped")


def run(args) -> int:
    from .model_io import load_predictor

    if args.output and len(args.inputs) > 1:
        raise EmotalkError("--output takes one input; use --output-dir for several")
    fmt = args.format
    if fmt is None:
        ext = os.path.splitext(args.output or "")[1].lstrip(".").lower()
        fmt = ext if ext in FORMATS else "csv"
    if args.output_dir:
        os.makedirs(args.output_dir, exist_ok=True)
    from .runtime import blend_weight, load_style, load_voice_tracker

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
            sys.stderr.write(f"emotalk animate: {msg if msg.startswith(path) else path + ': ' + msg}\n")
    return 1 if failed else 0
