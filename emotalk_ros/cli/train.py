"""``emotalk train``: train (or fine-tune) the generator on synthesised corpora
(:mod:`emotalk_ros.training.train`)."""

import json
import sys

from emotalk_ros.cli.calibrate import add_readout_arguments
from emotalk_ros.training.train import TrainConfig, train


def add_arguments(p) -> None:
    """Register the ``train`` options on ``p`` (defaults from :class:`TrainConfig`)."""
    p.add_argument(
        "--data", required=True, help="folder of synth shards, or several separated by commas"
    )
    p.add_argument("--out", "-o", default="runs/emotalk.pt", help="output checkpoint (.pt)")
    p.add_argument("--steps", type=int, default=TrainConfig.steps)
    p.add_argument("--map-steps", type=int, default=TrainConfig.map_steps)
    p.add_argument("--batch", type=int, default=TrainConfig.batch)
    p.add_argument("--lr", type=float, default=TrainConfig.lr)
    p.add_argument("--lookahead-ms", type=float, default=None,
                   help="0..200 ms of look-ahead (default 80; with --init: the init model's, "
                        "or re-target the fine-tune to this value)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", default="auto", help="auto|cpu|cuda")
    p.add_argument("--model-version", default=None)
    p.add_argument("--w-bilabial", type=float, default=TrainConfig.w_bilabial)
    p.add_argument("--w-aperture", type=float, default=TrainConfig.w_aperture)
    p.add_argument("--freq-warp", type=float, default=TrainConfig.freq_warp,
                   help="vocal-tract-length augmentation: mel axis scaled by up to 1+x (0 = off)")
    p.add_argument("--tilt", type=float, default=TrainConfig.tilt,
                   help="spectral tilt augmentation, +-x log10 units across the band (0 = off)")
    p.add_argument(
        "--init", default=None, help="fine-tune from this checkpoint (keeps its emotion space)"
    )
    p.add_argument("--sil-fraction", type=float, default=TrainConfig.sil_fraction,
                   help="fraction of crops that are only silence or room noise, with a random "
                        "emotion, supervised at rest (0 = off)")
    p.add_argument("--pad-sil", type=float, default=TrainConfig.pad_sil,
                   help="fraction of crops whose frames past the clip are silence/noise, "
                        "supervised at rest (0 = off: masked)")
    p.add_argument("--target-lead", type=int, default=TrainConfig.target_lead,
                   help="10 ms frames the target is advanced to offset the output smoothing")
    p.add_argument("--w-consistency", type=float, default=TrainConfig.w_consistency,
                   help="weight of the emotional-consistency loss through the mapping network")
    p.add_argument("--w-symmetry", type=float, default=TrainConfig.w_symmetry,
                   help="weight of an L1 on left/right differences against the target's "
                        "(0 = off)")
    p.add_argument("--w-expression", type=float, default=TrainConfig.w_expression,
                   help="weight of an extra L1 on the emotions' held-expression shapes, which "
                        "the teacher holds steady through speech (0 = off)")
    p.add_argument("--w-accel", type=float, default=TrainConfig.w_accel,
                   help="weight of an L1 on the output's second differences against the "
                        "target's: smooth through the look-ahead, so less causal output "
                        "smoothing (and lag) is needed (0 = off)")
    p.add_argument("--w-aperture-corr", type=float, default=TrainConfig.w_aperture_corr,
                   help="weight of 1 - the correlation of each crop's lip aperture with the "
                        "target's: the shape of the opening over time, blind to its scale "
                        "(0 = off)")
    p.add_argument("--phone-after", type=int, default=TrainConfig.phone_after,
                   help="give the generator a phone bottleneck after this many blocks (a "
                        "fine-tune adds one to an init without; -1 = none / keep the init's)")
    p.add_argument("--w-phone", type=float, default=TrainConfig.w_phone,
                   help="weight of the cross-entropy of the bottleneck's phone logits "
                        "(0 = off)")
    p.add_argument("--phone-replace", action="store_true",
                   help="the phone bottleneck replaces the residual stream: what follows it "
                        "sees the phone posteriors only")
    p.add_argument("--phone-mixture", action="store_true",
                   help="the face is the posterior-weighted mean of the head's face for each "
                        "phone (linear in unsure posteriors; needs --phone-replace with the "
                        "bottleneck after the last block)")
    p.add_argument("--phone-dominance", action="store_true",
                   help="with --phone-mixture: each phone weighs each blendshape of the mean "
                        "by a learnt dominance (an unsure /p b m/ can still close the lips)")
    p.add_argument("--bilabial-via-posteriors", action="store_true",
                   help="with --phone-mixture: the bilabial loss reaches the phone posteriors "
                        "only, not the per-phone faces (closing a vowel's face to close an "
                        "unsure /p b m/ would shut the vowels)")
    p.add_argument("--freeze-trunk", action="store_true",
                   help="train only what follows the phone bottleneck (its phone head and "
                        "the blocks before it stay as the init has them)")
    p.add_argument("--w-neutral", type=float, default=TrainConfig.w_neutral,
                   help="with --init of a phone-mixture generator: weight of an L1 of the "
                        "per-phone faces at the neutral embedding against the init's, with "
                        "the dominance frozen, so that only how an emotion moves the faces "
                        "trains (0 = off)")
    add_readout_arguments(p, "train through the aperture readout (`emotalk calibrate "
                             "--aperture-readout`): the losses see the jaw read from the phone "
                             "posteriors; needs --init of a phone-mixture generator, and the "
                             "result keeps the readout")
    p.add_argument("--cons-speech-only", action="store_true",
                   help="emotional-consistency loss on windows that are mostly speech only "
                        "(the mapping network misreads a face held still)")
    p.add_argument("--data-weights", default="",
                   help="comma-separated sampling weight per --data directory (default: "
                        "uniform over clips)")
    p.add_argument("--smoothing", type=float, default=TrainConfig.output_smoothing,
                   help="run-time causal output smoothing stored with the model")
    p.add_argument("--no-progress", action="store_true")


def run(args) -> int:
    """Train the generator and print the run summary (history left out) as JSON; 0."""
    cfg = TrainConfig(steps=args.steps, map_steps=args.map_steps, batch=args.batch, lr=args.lr,
                      seed=args.seed, threads=args.threads, device=args.device,
                      w_bilabial=args.w_bilabial, w_aperture=args.w_aperture,
                      freq_warp=args.freq_warp, tilt=args.tilt,
                      sil_fraction=args.sil_fraction, pad_sil=args.pad_sil,
                      target_lead=args.target_lead, output_smoothing=args.smoothing,
                      w_consistency=args.w_consistency, cons_speech_only=args.cons_speech_only,
                      w_symmetry=args.w_symmetry, w_expression=args.w_expression,
                      w_accel=args.w_accel, w_aperture_corr=args.w_aperture_corr,
                      phone_after=args.phone_after,
                      w_phone=args.w_phone, phone_replace=args.phone_replace,
                      phone_mixture=args.phone_mixture,
                      phone_dominance=args.phone_dominance,
                      bilabial_via_posteriors=args.bilabial_via_posteriors,
                      freeze_trunk=args.freeze_trunk, w_neutral=args.w_neutral,
                      readout_bilabial=args.readout_bilabial if args.aperture_readout else 0.0,
                      readout_temperature=args.readout_temperature,
                      data_weights=tuple(float(w) for w in args.data_weights.split(",") if w))
    info = train(args.data, args.out, cfg, lookahead_ms=args.lookahead_ms,
                 progress=not args.no_progress, model_version=args.model_version, init=args.init)
    sys.stdout.write(
        json.dumps({k: v for k, v in info.items() if k != "history"}, indent=1, default=str) + "\n"
    )
    return 0
