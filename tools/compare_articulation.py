"""Which articulation should the robot's own speech (``say``) use by default?

Scores, with ``emotalk evaluate``'s metrics (docs/INTERFACE.md, Metrics) and in one run:

* ``generator``: the shipped model on the synthesised audio (what ``articulation:
  generator`` does; offline, so no look-ahead penalty, exactly as the speech path runs it);
* ``teacher``: the procedural teacher on the engine's own phone timings (``articulation:
  teacher``);
* ``baseline``: loudness driving the jaw;

on speech from the ``say`` engines with voices the model was never trained on: espeak-ng
voice variants outside the training list (``emotalk_ros.speech.espeak.VARIANTS``), Flite and
Festival (no Flite or Festival speech was used for the shipped model's espeak pre-training;
Festival was in its fine-tuning mix, see models/README.md), sentences from a held-out seed.
The clips are made by the speech node's own code (:func:`emotalk_ros.speech.tts.make_engine`).

Usage: ``python tools/compare_articulation.py [--clips-per-voice 4] [--out
docs/SPEECH_ARTICULATION.md]``; writes the markdown report and a JSON next to it.
"""

import argparse
import json
import os
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from emotalk_ros.core.blendshapes import INDEX, aperture  # noqa: E402
from emotalk_ros.core.emotions import NUM_EXPRESSIVE  # noqa: E402
from emotalk_ros.core.phones import PHONE_INDEX, PHONES, openness  # noqa: E402
from emotalk_ros.core.sync import best_lag, envelope_db, pair_offsets, rising_onsets  # noqa: E402
from emotalk_ros.generator.loading import load_predictor  # noqa: E402
from emotalk_ros.generator.predictor import AmplitudeJawBaseline  # noqa: E402
from emotalk_ros.speech.espeak import VARIANTS  # noqa: E402
from emotalk_ros.speech.marks import MarkedText  # noqa: E402
from emotalk_ros.speech.tts import make_engine  # noqa: E402
from emotalk_ros.training import evaluate  # noqa: E402
from emotalk_ros.training.synth.text import sentences  # noqa: E402

HELD_OUT_ESPEAK = ["en-us+adam", "en-us+Alex", "en+Andrea", "en-us+boris", "en+Diogo",
                   "en-us+ed", "en+Hugo", "en-us+Jacky", "en+Marco", "en-us+pablo",
                   "en-us+Storm", "en+grandpa"]
FLITE = ["slt", "rms", "awb"]
FESTIVAL = ["kal_diphone", "ked_diphone", "cmu_us_slt_arctic_hts"]
SEED = 20271


def clips(per_voice: int):
    """evaluate.Utterance clips from every engine and voice (neutral emotion)."""
    texts = sentences(SEED, 200)
    out, k = [], 0
    for engine, voices in (("espeak", HELD_OUT_ESPEAK), ("flite", FLITE),
                           ("festival", FESTIVAL)):
        for v in voices:
            base = v.split("+")[-1]
            assert engine != "espeak" or base not in VARIANTS, f"{v} is a training voice"
            try:
                eng = make_engine(engine, v)
            except Exception as exc:                       # noqa: BLE001 (report and go on)
                print(f"skip {engine}:{v}: {exc}", file=sys.stderr)
                continue
            for _ in range(per_voice):
                text = texts[k % len(texts)]
                k += 1
                sp = eng.speak(MarkedText(text))
                s = np.array([a for _, a, _ in sp.phones])
                e = np.array([b for _, _, b in sp.phones])
                pid = np.array([PHONE_INDEX[p] for p, _, _ in sp.phones], np.int64)
                n100 = int(np.ceil(sp.duration * 100.0))
                out.append(evaluate.Utterance(sp.audio, s, e, pid,
                                              np.zeros((n100, NUM_EXPRESSIVE), np.float32),
                                              engine, v, len(out)))
    return out


def timing(utts, systems, fps):
    """Per system: jaw-opening onsets against the sound's onsets (the loudspeaker measure of
    the speech benchmark, offline: what the articulation itself contributes), and the lag of
    the lip aperture behind the phones' openness (cross-correlation)."""
    out = {}
    for name, system in systems.items():
        offs, lags = [], []
        for u in utts:
            fr = system(u)
            t = np.arange(fr.shape[0]) / fps
            ta = np.arange(u.audio.size) / 16000.0
            te, env = envelope_db(ta, u.audio)
            peak = float(np.percentile(env[env > -50], 95))
            s_on = rising_onsets(te, env, peak - 20.0, peak - 30.0, 0.06)
            j_on = rising_onsets(t, fr[:, INDEX["jawOpen"]], 0.15, 0.08)
            offs.extend(pair_offsets(s_on, j_on, 0.1))
            op = np.zeros(t.size)
            for a, b, pid in zip(u.phone_start, u.phone_end, u.phone_id):
                op[(t >= a) & (t < b)] = openness(PHONES[int(pid)])
            lags.append(best_lag(t, op, aperture(fr), 0.15))
        offs = np.array(offs)
        out[name] = {"jaw_vs_sound_p50_ms": 1000 * float(np.median(offs)),
                     "jaw_vs_sound_abs_p95_ms": 1000 * float(np.percentile(np.abs(offs), 95)),
                     "n": int(offs.size),
                     "aperture_lag_p50_ms": 1000 * float(np.median(lags))}
    return out


def markdown(res, utts, seconds) -> str:
    eng = sorted({u.engine for u in utts})
    voices = {e: sorted({u.voice for u in utts if u.engine == e}) for e in eng}
    lines = ["# Articulation of the robot's own speech: generator or teacher", "",
             f"Generated by `python tools/compare_articulation.py` on "
             f"{time.strftime('%Y-%m-%d %H:%M')} in {seconds:.0f} s: {len(utts)} clips "
             f"(sentences from seed {SEED}), output {res['fps']:g} fps, the metrics of "
             "docs/INTERFACE.md (Metrics) computed by `emotalk evaluate`'s code, all three "
             "systems in the same run.", "",
             "Voices (none used to train the shipped model's espeak-ng part): "
             + "; ".join(f"{e}: {', '.join(voices[e])}" for e in eng) + ".", "",
             "* `generator`: the shipped model on the synthesised audio (`articulation: "
             "generator`).",
             "* `teacher`: the procedural teacher on the engine's own phone timings "
             "(`articulation: teacher`).",
             "* `baseline`: loudness driving the jaw.", "",
             "Caveat: the lip metrics measure against the same phone timings the teacher is "
             "driven by, and the model was trained to imitate the teacher, so the teacher is "
             "the upper bound here by construction. The question is how much the generator "
             "loses on speech whose timings are known exactly.", "",
             "## Lip sync (pooled and per engine)", "",
             "| system | engine | /p b m/ closure | /p/ | /b/ | /m/ | open vowels | silence "
             "| aperture corr. | jitter |", "|---|---|---|---|---|---|---|---|---|---|"]
    for name in ("model", "teacher", "baseline"):
        s = res["systems"][name]
        label = "generator" if name == "model" else name
        rows = [("**all**", s["lip"]["pooled"])] + sorted(s["lip"]["per_engine"].items())
        for e, d in rows:
            lines.append(
                f"| {label} | {e} | {d['bilabial_closure']:.3f} | "
                f"{d['bilabial_closure_p']:.3f} | {d['bilabial_closure_b']:.3f} | "
                f"{d['bilabial_closure_m']:.3f} | "
                f"{d['open_vowel_opening']:.3f} | {d['silence_closure']:.3f} | "
                f"{d['aperture_correlation']:.3f} | "
                + (f"{s['jitter']:.4f} |" if e == "**all**" else " |"))
    lines += ["", "## Timing of the mouth against the sound", "",
              "Jaw-opening onsets (`jawOpen` rising through 0.15 after 0.08) against syllable "
              "onsets of the audio (its level rising 20 dB below its speech peak after a 10 dB "
              "dip), paired within 100 ms, offline on the depicted time axis: what each "
              "articulation contributes to the loudspeaker sync measured in docs/BENCHMARKS.md "
              "(positive: the jaw opens after the sound). Aperture lag: the shift that best "
              "aligns the lip aperture with the phones' openness (positive: late).", "",
              "| system | onset pairs | jaw - sound p50 ms | abs p95 ms | aperture lag p50 ms |",
              "|---|---|---|---|---|"]
    for name, d in res["timing"].items():
        label = "generator" if name == "model" else name
        lines.append(f"| {label} | {d['n']} | {d['jaw_vs_sound_p50_ms']:.1f} | "
                     f"{d['jaw_vs_sound_abs_p95_ms']:.1f} | {d['aperture_lag_p50_ms']:.1f} |")
    lines += ["", "## Targets (`emotalk evaluate`'s checks)", "", "```",
              evaluate.format_table(res).rstrip(), "```", ""]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips-per-voice", type=int, default=4)
    ap.add_argument("--out", default=os.path.join(ROOT, "docs", "SPEECH_ARTICULATION.md"))
    ap.add_argument("--model", default="")
    args = ap.parse_args(argv)
    t0 = time.monotonic()
    utts = clips(args.clips_per_voice)
    fps = 60.0
    pred = load_predictor(args.model or None, "onnxruntime", fps)
    systems = {"model": evaluate.predictor_system(pred),
               "teacher": evaluate.teacher_system(fps),
               "baseline": evaluate.predictor_system(AmplitudeJawBaseline(fps=fps))}
    res = evaluate.evaluate(utts, systems, fps, emotion_clips=8, keep_frames=False)
    res["timing"] = timing(utts, systems, fps)
    seconds = time.monotonic() - t0
    with open(args.out, "w") as f:
        f.write(markdown(res, utts, seconds))
    with open(os.path.splitext(args.out)[0] + ".json", "w") as f:
        json.dump({k: v for k, v in res.items() if k != "plot_data"}, f, indent=1,
                  default=lambda o: o.tolist() if hasattr(o, "tolist") else str(o))
    sys.stdout.write(evaluate.format_table(res))
    sys.stdout.write(f"report: {args.out}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
