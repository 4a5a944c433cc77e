"""``emotalk train-voice``: train the voice emotion detector on shards or labelled folders."""

import json
import sys

from emotalk_ros.errors import EmotalkError
from emotalk_ros.training.voice_train import train_voice_emotion


def add_arguments(p) -> None:
    """Register the ``train-voice`` options on ``p``."""
    p.add_argument("data", nargs="+", help="shard directories (emotalk synth) and/or labelled "
                   "folders (wavs + labels.csv: file,label[,start,end])")
    p.add_argument("-o", "--out", required=True, help="output model (.npz)")
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--holdout-speakers", type=float, default=0.2,
                   help="fraction of speakers held out for the reported held-out metrics")


def run(args) -> int:
    """Train the voice emotion detector, print its metrics as JSON; 0."""
    if not (0.0 <= args.holdout_speakers < 1.0):
        raise EmotalkError("--holdout-speakers must be in [0, 1)")
    info = train_voice_emotion(args.data, args.out, steps=args.steps, seed=args.seed,
                               holdout_speakers=args.holdout_speakers)
    sys.stdout.write(json.dumps(info, indent=1) + "\n")
    sys.stdout.write(f"wrote {args.out}\n")
    return 0

