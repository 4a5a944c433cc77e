#!/usr/bin/env python3
"""Where a model's aperture correlation is lost: against the phones and against the teacher.

    .venv/bin/python tools/aperture_diagnosis.py models/emotalk_default.onnx data/real_dev \
        [more corpora...] [--max-clips 50]

For each corpus (a real-speech set from ``tools/make_real_speech.py`` or a synthetic one
written with ``emotalk synth --save-audio``) it runs the model, the amplitude baseline and
the teacher on the clips' own phones, exactly as ``emotalk evaluate`` does, and prints per
system (markdown):

* the aperture correlation with the phone openness (``emotalk evaluate``'s figure);
* the correlation with the *teacher's* aperture on the same frames: how closely the system
  reproduces its training target (the teacher is the target the generator is trained on);
* the aperture profile by phone class (mean ± spread of the normalised aperture,
  docs/INTERFACE.md, Metrics);
* for open and mid vowels of at least 60 ms: the spread of the per-vowel mean (between
  vowels), the mean spread inside one vowel, and the share of vowels whose mean stays
  below 0.3 of the utterance's vowel opening (a vowel the mouth hardly opens for).

A checkpoint (``.pt``) with a phone bottleneck (``emotalk train --phone-after``) adds a
fourth system, ``phones``: the expected phone openness under the bottleneck's own phone
posteriors (neutral emotion), which shows how much of the phones the network hears, apart
from how much of it reaches the face.

A synthetic espeak-ng set with a seed of its own (``emotalk synth --hours 0.08 --seed 777
--save-audio``) measures the fit on the training distribution; the held-out Flite set and
the real-speech set measure what carries to other voices.
"""

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from emotalk_ros.core.audio import log_mel  # noqa: E402
from emotalk_ros.core.blendshapes import INDEX, NUM_BLENDSHAPES, aperture  # noqa: E402
from emotalk_ros.core.phones import PHONES, VOWELS, openness  # noqa: E402
from emotalk_ros.generator.loading import load_predictor  # noqa: E402
from emotalk_ros.generator.predictor import AmplitudeJawBaseline  # noqa: E402
from emotalk_ros.training import evaluate as ev  # noqa: E402
from emotalk_ros.training import metrics  # noqa: E402

FPS = 60.0
MIN_VOWEL_S = 0.06
LOW_VOWEL = 0.3


def phones_system(path: str):
    """The expected openness under a checkpoint's bottleneck posteriors as a system (its
    value in ``jawOpen``), or None when the checkpoint has no bottleneck."""
    import torch

    from emotalk_ros.emotion.space import EmotionSpace
    from emotalk_ros.generator import checkpoint
    from emotalk_ros.generator.model import Generator, GeneratorConfig

    ck = checkpoint.load(path)
    cfg = GeneratorConfig.from_dict(ck["generator_config"])
    if cfg.phone_after < 0:
        return None
    gen = Generator(cfg)
    gen.load_state_dict(ck["generator"], strict=True)
    gen.eval()
    zn = torch.from_numpy(EmotionSpace.from_dict(ck["emotion_space"]).z_neutral)
    op = torch.tensor([openness(p) for p in PHONES])
    L = cfg.lookahead_frames

    def run(u):
        m = log_mel(u.audio)
        m = np.concatenate([m, np.full((L + 2, m.shape[1]), np.log10(1e-5), np.float32)])
        with torch.no_grad():
            _, _, logits = gen.forward_with_phones(torch.from_numpy(m)[None],
                                                   zn.expand(1, m.shape[0], -1),
                                                   gen.initial_state(1))
        e = (torch.softmax(logits[0], -1) @ op).numpy()[L:]        # frame j depicts j / 100
        n = int(np.ceil(u.duration * FPS - 1e-9))
        out = np.zeros((n, NUM_BLENDSHAPES), np.float32)
        out[:, INDEX["jawOpen"]] = np.interp(np.arange(n) * 100.0 / FPS, np.arange(e.size), e)
        return out
    return run


def normalised(ap: np.ndarray, vowel: np.ndarray) -> np.ndarray:
    """Aperture over its vowel p90 (the evaluation's per-utterance normalisation)."""
    ref = ap[vowel] if vowel.any() else ap
    return ap / max(float(np.percentile(ref, 90)), metrics.MIN_SCALE)


def diagnose(utts, systems):
    """-> {system: {"corr", "corr_teacher", "profile", "between", "within", "low"}}."""
    frames = {k: [] for k in systems}
    op_all, cls_all, tok = [], [], {k: [] for k in systems}
    for u in utts:
        aps = {k: aperture(s(u)) for k, s in systems.items()}
        n = min(a.shape[0] for a in aps.values())
        labels = metrics._frame_phones(n, FPS, u.phones)
        vowel = np.array([lab in VOWELS for lab in labels])
        apn = {k: normalised(a[:n], vowel) for k, a in aps.items()}
        op_all.append(np.array([openness(lab) for lab in labels]))
        cls_all += [metrics.phone_class(lab) for lab in labels]
        for k in systems:
            frames[k].append(apn[k])
        for t0, t1, ph in u.phones:
            if openness(ph) >= 0.7 and t1 - t0 >= MIN_VOWEL_S:
                w = metrics._window(n, FPS, t0, t1 - 1e-9)
                for k in systems:
                    seg = apn[k][w]
                    tok[k].append((float(seg.mean()), float(seg.std())))
    op, cls = np.concatenate(op_all), np.array(cls_all)
    teacher = np.concatenate(frames["teacher"])
    out = {}
    for k in systems:
        x = np.concatenate(frames[k])
        t = np.array(tok[k]) if tok[k] else np.zeros((0, 2))
        out[k] = {
            "corr": float(np.corrcoef(x, op)[0, 1]),
            "corr_teacher": float(np.corrcoef(x, teacher)[0, 1]),
            "profile": {c: (float(x[cls == c].mean()), float(x[cls == c].std()))
                        for c in metrics.PHONE_CLASSES if (cls == c).any()},
            "between": float(t[:, 0].std()) if t.size else float("nan"),
            "within": float(t[:, 1].mean()) if t.size else float("nan"),
            "low": float((t[:, 0] < LOW_VOWEL).mean()) if t.size else float("nan"),
            "vowels": int(t.shape[0]),
        }
    return out


def markdown(name: str, n_clips: int, res) -> str:
    classes = [c for c in metrics.PHONE_CLASSES if c in res["teacher"]["profile"]]
    md = [f"### {name} ({n_clips} clips)", "",
          "| system | corr. with phones | corr. with teacher | " + " | ".join(classes)
          + " | vowel means: spread between / inside / share < 0.3 |",
          "|---|---|---|" + "---|" * len(classes) + "---|"]
    for k, r in res.items():
        md.append(f"| {k} | {r['corr']:.3f} | {r['corr_teacher']:.3f} | " + " | ".join(
            "{:.3f} ± {:.3f}".format(*r["profile"][c]) for c in classes)
            + f" | {r['between']:.3f} / {r['within']:.3f} / {r['low']:.3f} ({r['vowels']}) |")
    return "\n".join(md) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model", help="model file or shipped name")
    ap.add_argument("data", nargs="+", help="corpora with audio")
    ap.add_argument("--max-clips", type=int, default=50,
                    help="per language on real-speech sets, in all on synthetic ones")
    a = ap.parse_args(argv)
    pred = load_predictor(a.model, "onnxruntime" if a.model.endswith(".onnx") else "auto",
                          fps=FPS)
    systems = {"model": ev.predictor_system(pred),
               "baseline": ev.predictor_system(AmplitudeJawBaseline(fps=FPS)),
               "teacher": ev.teacher_system(FPS)}
    if a.model.endswith(".pt"):
        phones = phones_system(a.model)
        if phones is not None:
            systems["phones"] = phones
    for path in a.data:
        corpus = ev.open_corpus(path)
        utts = (ev.load_real_utterances(corpus, a.max_clips) if ev.is_real_corpus(corpus)
                else ev.load_utterances(corpus, a.max_clips))
        sys.stdout.write(markdown(path, len(utts), diagnose(utts, systems)) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
