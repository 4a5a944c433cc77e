"""The ``emotalk`` command line (also ``python -m emotalk_ros``).

Each subcommand lives in its own module exposing ``add_arguments(parser)`` and
``run(args) -> int``; this file only dispatches, importing a module when its command
is used (so ``emotalk render`` never imports torch).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from typing import List, Optional

from emotalk_ros import __version__
from emotalk_ros.errors import EmotalkError

# command -> (module in emotalk_ros.cli, one-line help)
COMMANDS = {
    "animate": ("animate", "speech wav(s) -> ARKit blendshapes (Live Link CSV, JSON, npy)"),
    "synth": ("synth", "synthesise paired speech/phoneme/emotion training data"),
    "train": ("train", "train the generator"),
    "calibrate": ("calibrate",
                  "per-emotion intensity calibration + output smoothing of a checkpoint"),
    "average": ("average", "weighted mean of fine-tunes of one checkpoint (model soup)"),
    "train-phones": ("train_phones",
                     "retrain the phone path of a phone-mixture checkpoint on labelled speech"),
    "export": ("export", "export a trained model to ONNX with metadata"),
    "evaluate": ("evaluate", "lip-sync and emotion metrics on held-out voices"),
    "render": ("render", "render a blendshape CSV on the face mesh to mp4/gif"),
    "bench": ("bench", "measure per-frame compute, latency, memory"),
    "fit-rig": ("fit_rig", "fit a rig file from paired blendshape/motor samples"),
    "fit-style": ("fit_style", "fit a per-person style from Live Link captures"),
    "train-voice": ("train_voice", "train the voice emotion detector"),
}


def build_parser() -> argparse.ArgumentParser:
    """The top-level ``emotalk`` parser: --version, -v and one stub sub-parser per command."""
    p = argparse.ArgumentParser(prog="emotalk", description=__doc__.splitlines()[0])
    p.add_argument("--version", action="version", version=f"emotalk_ros {__version__}")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    for name, (_mod, help_) in COMMANDS.items():
        sub.add_parser(name, help=help_, add_help=False)
    return p


def main(argv: Optional[List[str]] = None) -> int:
    """``emotalk [-v] COMMAND ...``: dispatch to the command's module -> exit status (2 usage,
    1 :class:`EmotalkError` or an unexpected error, one line each; ``-v`` shows tracebacks;
    130 Ctrl-C)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    verbose = bool(argv) and argv[0] in ("-v", "--verbose")
    if verbose:
        argv = argv[1:]
    top = build_parser()
    if not argv or argv[0] not in COMMANDS:
        args = top.parse_args(argv)  # handles --help/--version/unknown commands
        top.print_help()
        return 2
    name = argv[0]
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        mod = importlib.import_module(f"emotalk_ros.cli.{COMMANDS[name][0]}")
    except ModuleNotFoundError as exc:
        sys.stderr.write(f"emotalk {name}: not available in this build ({exc})\n")
        return 2
    sub = argparse.ArgumentParser(prog=f"emotalk {name}", description=COMMANDS[name][1])
    mod.add_arguments(sub)
    args = sub.parse_args(argv[1:])
    try:
        return int(mod.run(args) or 0)
    except EmotalkError as exc:
        sys.stderr.write(f"emotalk {name}: error: {exc}\n")
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # the command line's outermost boundary: one line, not a trace
        if verbose:
            raise
        sys.stderr.write(f"emotalk {name}: internal error ({type(exc).__name__}: "
                         f"{str(exc)[:200]}); run `emotalk -v {name} ...` for the traceback\n")
        return 1


if __name__ == "__main__":
    sys.exit(main())
