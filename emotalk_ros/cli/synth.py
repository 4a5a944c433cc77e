"""``emotalk synth``: generate the paired speech / phone / emotion training corpus.

Example: ``emotalk synth --out data/synth --hours 20 --seed 1 --workers 2``.
Held-out evaluation sets use the other engines: ``--engines flite,festival``.
"""

from __future__ import annotations

import argparse

from emotalk_ros.errors import EmotalkError
from emotalk_ros.training.synth.corpus import ENGINES, WORLD_FRACTION, build_corpus


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the ``synth`` options on ``parser``."""
    parser.add_argument("--out", required=True, help="output directory (shards + meta.json)")
    parser.add_argument("--hours", type=float, required=True, help="hours of audio to generate")
    parser.add_argument("--seed", type=int, default=0, help="corpus seed (default 0)")
    parser.add_argument("--engines", default="espeak",
                        help=f"comma-separated engines from {','.join(ENGINES)} (default espeak; "
                             "flite/festival are for held-out evaluation sets)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    parser.add_argument("--clips-per-shard", type=int, default=300, help="clips per shard file")
    parser.add_argument("--save-audio", action="store_true", help="also store 16 kHz int16 audio")
    parser.add_argument("--no-augment", action="store_true", help="clean audio, no augmentation")
    parser.add_argument(
        "--world-fraction",
        type=float,
        default=WORLD_FRACTION,
        help=f"fraction of clips given a pyworld voice change (default {WORLD_FRACTION})",
    )
    parser.add_argument("--channel", default="v1", choices=("v1", "real"),
                        help="augmentation: v1 (the original chain) or real (pauses, breaths, "
                             "room, microphone colouration, 10-30 dB SNR noise, level changes)")
    parser.add_argument("--text-root", default="/",
                        help="where fillets-ng-data is installed or unpacked (espeak-intl text)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    """Build the corpus and print a one-paragraph summary; 0 on success."""
    engines = tuple(e.strip() for e in str(args.engines).split(",") if e.strip())
    if not engines:
        raise EmotalkError("--engines: give at least one engine")
    if not 0.0 <= args.world_fraction <= 1.0:
        raise EmotalkError(f"--world-fraction must be in [0, 1], got {args.world_fraction}")
    meta = build_corpus(args.out, args.hours, args.seed, engines=engines, workers=args.workers,
                        save_audio=args.save_audio, augment=not args.no_augment,
                        progress=not args.no_progress, clips_per_shard=args.clips_per_shard,
                        world_fraction=args.world_fraction, channel=args.channel,
                        text_root=args.text_root)
    c = meta["counts"]
    print(f"synth: {meta['hours']:.3f} h in {meta['clips']} clips ({len(meta['shards'])} shards) "
          f"-> {args.out}")
    print(f"synth: {meta['seconds']:.1f} s wall, real-time factor {meta['realtime_factor']:.0f}x, "
          f"{meta['hours'] / max(meta['seconds'], 1e-9) * 60.0:.3f} h of audio per minute")
    print(
        f"synth: engines {c['engines']}, {len(c['voices'])} voices, "
        f"segment emotions {c['segment_kinds']}, "
        f"emotion-change clips {c['emotion_change_clips']}, "
        f"augmentations {c['augmentations']}"
    )
    return 0
