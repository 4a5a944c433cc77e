"""``emotalk train-phones``: retrain the phone path (the last blocks and the phone layer) of a
phone-mixture checkpoint on speech with phone labels, the rest frozen (see
:mod:`emotalk_ros.training.phone_path`)."""

import json
import sys

from emotalk_ros.generator import checkpoint
from emotalk_ros.training.phone_path import PhonePathConfig, retrain_phone_path


def add_arguments(p) -> None:
    """Register the ``train-phones`` options on ``p``."""
    d = PhonePathConfig()
    p.add_argument("--data", required=True,
                   help="training data directory (or comma-separated list) with phone labels, "
                        "e.g. the real training speech of tools/make_real_speech.py")
    p.add_argument("--init", required=True, help="phone-mixture checkpoint (.pt) to start from")
    p.add_argument("-o", "--output", required=True, help="the retrained .pt")
    p.add_argument("--steps", type=int, default=d.steps, help="optimiser steps")
    p.add_argument("--blocks", type=int, default=d.blocks,
                   help="how many of the last blocks train with the phone layer")
    p.add_argument("--kl", type=float, default=d.kl,
                   help="weight of the KL divergence from the init's posteriors")
    p.add_argument("--lr", type=float, default=d.lr, help="Adam learning rate")
    p.add_argument("--clips-per-step", type=int, default=d.clips_per_step,
                   help="whole clips per step")
    p.add_argument("--seed", type=int, default=d.seed, help="clip-sampling seed")
    p.add_argument("--w-corr", type=float, default=d.w_corr,
                   help="weight of 1 - the correlation of the face's aperture with the "
                        "teacher's (0: phone labels and KL alone)")
    p.add_argument("--w-bilabial", type=float, default=d.w_bilabial,
                   help="weight of the face's aperture above the teacher's on /p b m/ frames")
    p.add_argument("--lead", type=int, default=d.lead,
                   help="frames the phone labels are advanced: network frame i learns the phone "
                        "of frame i - look-ahead + LEAD, so the mouth leads the sound by LEAD "
                        "frames (0 .. the look-ahead)")
    p.add_argument("--emotions", type=float, default=d.emotions,
                   help="fraction of neutral clips heard under one random emotion (seeded), so "
                        "that the phones are learnt under every emotion, not only neutral")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    p.add_argument("--model-version", default=None,
                   help="version name stored in the result (default: the init's)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")


def run(args) -> int:
    """Retrain, write the result, print its record as JSON; 0."""
    import time

    import torch

    from emotalk_ros.training.train import load_training_data

    torch.set_num_threads(max(1, int(args.threads)))
    cfg = PhonePathConfig(steps=args.steps, blocks=args.blocks, kl=args.kl, lr=args.lr,
                          clips_per_step=args.clips_per_step, seed=args.seed,
                          w_corr=args.w_corr, w_bilabial=args.w_bilabial, lead=args.lead,
                          emotions=args.emotions)
    t0 = time.monotonic()
    init = checkpoint.load(args.init)
    data = load_training_data(args.data, progress=not args.no_progress)
    ck, rec = retrain_phone_path(init, data, cfg, data_name=args.data,
                                 progress=not args.no_progress)
    ck["train"]["phone_path"]["init"] = args.init
    if args.model_version:
        ck["model_version"] = str(args.model_version)
    checkpoint.save(args.output, ck)
    sys.stdout.write(json.dumps({"output": args.output, "model_version": ck.get("model_version"),
                                 "clips": rec["clips"], "seconds": round(time.monotonic() - t0, 1),
                                 "last": rec["history"][-1]}) + "\n")
    return 0
