#!/usr/bin/env python3
"""Train the language-independent phone classifier used to align real speech
(``emotalk_ros/speech/phonenet.py``); ``make model`` runs this.

    .venv/bin/python tools/train_phonenet.py --root / --out runs/phonenet.pt

Training speech: espeak-ng speaking fillets-ng dialogue in twelve languages (the real-speech
development transcripts left out) and the English sentence generator, with many voices,
rates and channel augmentations. Deterministic for --seed and --threads.
"""

import argparse
import json
import logging
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from emotalk_ros.speech import phonenet as PN  # noqa: E402
from emotalk_ros.training import realspeech as R  # noqa: E402
from emotalk_ros.training.synth.text import sentences  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--root", default="/")
    p.add_argument("--out", default="runs/phonenet.pt")
    p.add_argument("--clips", type=int, default=2500)
    p.add_argument("--steps", type=int, default=700)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args(argv)
    t0 = time.time()
    ex_texts = R.dev_texts(a.root)
    texts = {lang: R.fillets_texts(a.root, lang, ex_texts) for lang in R.FILLETS_TEXT_LANGS
             if lang != "en"}
    texts = {k: v for k, v in texts.items() if v}
    texts["en"] = sentences(12345, 3000)
    logging.basicConfig(level=logging.INFO, format="%(message)s")   # progress lines
    ex = PN.make_examples(texts, a.clips, seed=a.seed, progress=True)
    t_data = time.time() - t0
    ck = PN.train(ex, steps=a.steps, seed=a.seed, threads=a.threads, progress=True)
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    PN.PhonePosteriors.save_checkpoint(ck, a.out)
    print(json.dumps({"out": a.out, "clips": len(ex), "languages": sorted(texts),
                      "train_acc": round(ck["train_acc"], 3), "data_seconds": round(t_data, 1),
                      "seconds": round(time.time() - t0, 1)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
