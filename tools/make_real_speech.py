#!/usr/bin/env python3
"""Build the real-speech corpora: align every recording, write the training and development
sets (``make model`` runs this; see docs/EVALUATION.md, Real speech).

    .venv/bin/python tools/make_real_speech.py --root / --aligner runs/phonenet.pt \\
        --train data/real_train --dev data/real_dev

``--root``: where the Debian packages are installed or unpacked (fillets-ng-data{,-cs,-nl},
asterisk-core-sounds-{es,fr,it,ru}{,-g722}, asterisk-prompt-{es-co,fr-armelle}, and for
``--klettres`` klettres-data). Alignments
are cached in ``<dev>/../real_alignments.json``. Training clips are written ``--copies``
times, every copy after the first through the real-channel augmentation; development clips
once, clean.
"""

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from emotalk_ros.errors import EmotalkError  # noqa: E402
from emotalk_ros.speech.phonenet import PhonePosteriors  # noqa: E402
from emotalk_ros.training import realspeech as R  # noqa: E402
from emotalk_ros.training.synth import corpus as C  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--root", default="/")
    p.add_argument("--aligner", required=True, help="phone classifier checkpoint")
    p.add_argument("--train", default="data/real_train")
    p.add_argument("--dev", default="data/real_dev")
    p.add_argument("--copies", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-cost", type=float, default=2.5)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--max-train", type=int, default=0,
                   help="at most this many training clips per language, spread evenly over "
                        "its clips (0 = all)")
    p.add_argument("--max-dev", type=int, default=0,
                   help="at most this many development clips per language (0 = all)")
    p.add_argument("--prompts", action="store_true",
                   help="also train on the Spanish and French prompts of asterisk-prompt-es-co "
                        "and -fr-armelle (other speakers; texts not in development)")
    p.add_argument("--prompt-languages", default=",".join(R.DEFAULT_PROMPT_LANGS),
                   metavar="LANGS",
                   help="with --prompts: the languages whose other speaker trains "
                        f"(comma-separated, of {', '.join(sorted(R.PROMPT_PACKAGES))}; 'it' is "
                        "asterisk-prompt-it-menardi-gsm)")
    p.add_argument("--klettres", action="store_true",
                   help="also train on the letters and syllables of klettres-data (one speaker "
                        "per language, 15 languages; texts not in development)")
    p.add_argument("--english-dev", default=None, metavar="PATH",
                   help="also write the English development set (KLettres' English letters "
                        "and words, two speakers never trained on) to PATH")
    p.add_argument("--train-sources", default=None,
                   help="comma-separated sources to keep in training (fillets, "
                        "asterisk-prompt, klettres; default all that are selected)")
    p.add_argument("--only", choices=("train", "dev", "english"), default=None,
                   help="build one split only (two processes can share the work; 'english': "
                        "only the --english-dev set)")
    p.add_argument("--cache", default=None, help="alignment cache (JSON); default "
                   "<dev>/../real_alignments[_<split>].json")
    a = p.parse_args(argv)
    if a.only == "english" and not a.english_dev:
        print("make_real_speech: --only english needs --english-dev PATH", file=sys.stderr)
        return 2
    import torch

    torch.set_num_threads(a.threads)
    t0 = time.time()
    langs = [x.strip() for x in a.prompt_languages.split(",") if x.strip()]
    unknown = sorted(set(langs) - set(R.PROMPT_PACKAGES))
    if unknown or not langs:
        print(f"make_real_speech: --prompt-languages: unknown {', '.join(unknown) or '(none)'} "
              f"(use {', '.join(sorted(R.PROMPT_PACKAGES))})", file=sys.stderr)
        return 2
    split = R.split_clips(a.root, a.max_dev, prompts=a.prompts, klettres=a.klettres,
                          prompt_langs=langs)
    if a.train_sources:
        keep = {x.strip() for x in a.train_sources.split(",") if x.strip()}
        unknown = keep - set(R.TRAIN_SOURCES)
        if unknown:
            print(f"make_real_speech: --train-sources: unknown {', '.join(sorted(unknown))} "
                  f"(use {', '.join(R.TRAIN_SOURCES)})", file=sys.stderr)
            return 2
        split["train"] = [c for c in split["train"] if c.source in keep]
    # --max-train spreads each source's clips of a language on their own, so adding a source
    # never thins out another's
    kept = {id(c) for src in {c.source for c in split["train"]} for c in
            R.spread([c for c in split["train"] if c.source == src], a.max_train)}
    split["train"] = [c for c in split["train"] if id(c) in kept]
    if a.prompts:
        missing = [R.PROMPT_PACKAGES[lang][0] for lang in sorted(langs)
                   if not any(c.source == "asterisk-prompt" and c.lang == lang
                              for c in split["train"])]
        if missing:
            print(f"make_real_speech: --prompts: no prompts of {', '.join(missing)} under "
                  f"{a.root} (install or unpack them there)", file=sys.stderr)
            return 2
    if a.klettres and not any(c.source == "klettres" for c in split["train"]):
        print(f"make_real_speech: --klettres: no KLettres sounds under {a.root} "
              f"(install or unpack klettres-data there)", file=sys.stderr)
        return 2
    english = []
    if a.english_dev:
        try:
            english = R.english_dev_clips(a.root)
        except EmotalkError as exc:
            print(f"make_real_speech: --english-dev: {exc}", file=sys.stderr)
            return 2
    pp = PhonePosteriors.load(a.aligner)
    names = [] if a.only == "english" else [a.only] if a.only else ["dev", "train"]
    cache = a.cache or os.path.join(os.path.dirname(os.path.abspath(a.dev)),
                                    "real_alignments" + (f"_{a.only}" if a.only else "") + ".json")
    al = R.align_clips([c for n in names for c in split[n]] + english, pp, cache)
    t_align = time.time() - t0
    out = {"align_seconds": round(t_align, 1)}
    jobs = [(n, split[n], a.dev if n == "dev" else a.train, 1 if n == "dev" else a.copies,
             n == "train") for n in ("dev", "train") if n in names]
    if english:
        jobs.append(("english_dev", english, a.english_dev, 1, False))
    for name, clips, path, copies, aug in jobs:
        meta = C.build_real_corpus(clips, al, path, copies=copies, augment=aug, seed=a.seed,
                                   max_cost=a.max_cost)
        out[name] = {"clips": meta["clips"], "hours": round(meta["hours"], 3),
                     "rejected": len(meta["rejected"]), "speakers": len(meta["speakers"]),
                     "per_speaker": meta["per_speaker"]}
    out["seconds"] = round(time.time() - t0, 1)
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
