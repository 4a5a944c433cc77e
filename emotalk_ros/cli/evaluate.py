"""``emotalk evaluate``: lip-sync and emotion metrics of a model on a held-out corpus.

The metrics and the report live in :mod:`emotalk_ros.training.evaluate`; this module only
parses the command line, resolves the voice model and prints the verdicts.
"""

import argparse
import os
import sys
from typing import Optional

from emotalk_ros.errors import EmotalkError
from emotalk_ros.resources import VOICE_MODEL_FILE, shipped_file
from emotalk_ros.training import evaluate


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Register the ``evaluate`` options on ``p``."""
    p.add_argument("--data", required=True, help="held-out corpus directory (saved with audio)")
    p.add_argument("--model", default=None,
                   help="model file (.onnx/.pt) or shipped name, 'baseline', or empty for the "
                        "shipped default")
    p.add_argument("--backend", default="auto", help="auto | torch | onnxruntime")
    p.add_argument("--fps", type=float, default=60.0, help="output frame rate (Hz)")
    p.add_argument("--report", default="docs/EVALUATION.md", help="markdown report path "
                   "(a JSON file with the same stem is written next to it)")
    p.add_argument("--plots-dir", default="docs/img", help="where PNG plots go ('' for none)")
    p.add_argument("--max-clips", type=int, default=100,
                   help="clips to evaluate (spread evenly; per language on a real-speech set)")
    p.add_argument("--emotion-clips", type=int, default=12,
                   help="clips used for closure at full intensity of each emotion")
    p.add_argument("--voice-model", default=None,
                   help="voice emotion model (.npz) to score; default: the shipped "
                        "models/voice_emotion.npz when it exists; 'none' skips the section")
    p.add_argument("--strict", action="store_true",
                   help="exit with status 1 when the model fails any target")


def _voice_model_path(spec: Optional[str]) -> Optional[str]:
    """--voice-model -> a path to score, or None (no section)."""
    if spec == "none":
        return None
    if spec:
        if not os.path.isfile(spec):
            raise EmotalkError(f"--voice-model {spec}: no such file")
        return spec
    path = shipped_file("voice_model", VOICE_MODEL_FILE)
    return path if os.path.isfile(path) else None


def run(args) -> int:
    """Evaluate, write the report and its JSON, print the table; 1 with --strict on a miss."""
    voice_spec = getattr(args, "voice_model", None)
    res = evaluate.run_evaluation(args.data, args.model, args.backend, args.fps,
                                  max_clips=args.max_clips, emotion_clips=args.emotion_clips,
                                  voice_model=_voice_model_path(voice_spec),
                                  voice_required=bool(voice_spec))
    report, js = evaluate.write_report(res, args.report, args.plots_dir or None)
    if res.get("kind") == "real":
        sys.stdout.write(evaluate.format_real_table(res))
        sys.stdout.write(f"report: {report}\njson: {js}\n")
        failed = [r for rows in res["real_checks"].values() for r in rows if r["pass"] is False]
        return 1 if (failed and args.strict) else 0
    sys.stdout.write(evaluate.format_table(res))
    sys.stdout.write(f"report: {report}\njson: {js}\n")
    if res.get("voice_emotion"):
        a = res["voice_emotion"]["engines"]["all"]
        sys.stdout.write(f"voice emotion: accuracy {a['model']['frame_accuracy']:.3f} macro-F1 "
                         f"{a['model']['macro_f1']:.3f} switches/min "
                         f"{a['model']['switches_per_min']:.2f} (majority baseline accuracy "
                         f"{a['majority']['frame_accuracy']:.3f} macro-F1 "
                         f"{a['majority']['macro_f1']:.3f})\n")
    elif res.get("voice_emotion_skipped"):
        sys.stdout.write(f"voice emotion: skipped ({res['voice_emotion_skipped']})\n")
    failed = [r["check"] for r in res["checks"]["model"] if r["pass"] is False]
    if failed:
        sys.stdout.write("model FAILS: " + ", ".join(failed) + "\n")
    return 1 if (failed and args.strict) else 0
