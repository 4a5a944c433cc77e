#!/usr/bin/env python3
"""Measure the phone aligners' error on synthetic speech with known phone timings.

    .venv/bin/python tools/align_error.py --aligner runs/phonenet.pt --out runs/align_error.json

Cases: (1) English sentences spoken by Flite (slt, rms, awb) and Festival (kal), engines
the phone classifier never heard, half of them with reverb and noise at 25 dB SNR, timed
at 0.75-1.25x; (2) every aligned language spoken by espeak-ng with voice variants the
aligner's rendition does not use, at 130-230 words per minute (optimistic for the
classifier, which was trained on espeak-ng); (3) the Spanish and French cases of (2) and every
fourth English case of (1) again through a GSM 06.10 telephone codec at 8 kHz (ffmpeg), the
channel of the asterisk-prompt recordings that ``make_real_speech.py --prompts`` aligns. Both
aligners run on every case: DTW
against an espeak-ng rendition (``align``) and the phone classifier with Viterbi
(``align_hmm``). The error is the onset difference of the speech phones the two phone
sequences share (``boundary_errors``).
"""

import argparse
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from emotalk_ros.speech import align as A  # noqa: E402
from emotalk_ros.speech import engines, espeak  # noqa: E402
from emotalk_ros.speech.phonenet import PhonePosteriors  # noqa: E402
from emotalk_ros.training.synth import augment as aug  # noqa: E402
from emotalk_ros.training.synth.text import sentences  # noqa: E402

LANG_TEXT = {
    "es-419": ["Mi abuela prepara una sopa muy rica los domingos.",
               "El barco grande navega despacio hacia el puerto viejo."],
    "fr": ["Mon petit frere mange une pomme bien rouge au jardin.",
           "Le bateau blanc passe lentement sous le vieux pont."],
    "it": ["Mia nonna prepara una buona minestra ogni domenica.",
           "La barca bianca passa piano sotto il vecchio ponte."],
    "ru": ["Моя бабушка варит вкусный суп по воскресеньям.",
           "Большая лодка медленно плывёт к старому мосту."],
    "cs": ["Moje babicka vari kazdou nedeli vybornou polevku.",
           "Velka lod pomalu pluje ke staremu mostu."],
    "nl": ["Mijn oma maakt elke zondag een heerlijke soep.",
           "De grote boot vaart langzaam naar de oude brug."],
}


def gsm_round_trip(x: np.ndarray) -> np.ndarray:
    """16 kHz float samples -> GSM 06.10 at 8 kHz -> 16 kHz (the prompts' channel)."""
    import subprocess
    import tempfile

    from emotalk_ros.core.audio import write_wav
    from emotalk_ros.training.realspeech import decode

    with tempfile.TemporaryDirectory() as d:
        wav, gsm = os.path.join(d, "x.wav"), os.path.join(d, "x.gsm")
        write_wav(wav, np.asarray(x, np.float32), 16000)
        subprocess.run(["ffmpeg", "-v", "error", "-nostdin", "-i", wav, "-ar", "8000", "-ac", "1",
                        "-f", "gsm", gsm], check=True)
        y = decode(gsm, "gsm")
    return y[: x.size] if y.size >= x.size else np.pad(y, (0, x.size - y.size))


def run_case(x, text, voice, truth, pp, out, key):
    for name, fn in (("dtw", lambda: A.align(x, text, voice)),
                     ("hmm", lambda: A.align_hmm(x, text, voice, pp))):
        e = A.boundary_errors(fn().phones, truth)
        out.setdefault(name, {}).setdefault(key, []).append(e)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--aligner", required=True)
    p.add_argument("--out", default="runs/align_error.json")
    p.add_argument("--n", type=int, default=24, help="English sentences")
    a = p.parse_args(argv)
    t0 = time.time()
    pp = PhonePosteriors.load(a.aligner)
    errs = {}
    cases = [("flite", "slt"), ("flite", "rms"), ("flite", "awb"), ("festival", "kal_diphone")]
    for k, text in enumerate(sentences(999, a.n)):
        eng, voice = cases[k % len(cases)]
        u = engines.synthesize(eng, text, voice, 1.0 + 0.25 * ((k % 3) - 1), None)
        x = u.audio
        if k % 2:
            rng = np.random.default_rng(k)
            x = aug.add_noise(aug.reverb(x, 16000, rng, 0.3, 0.3), rng, 25.0, "pink")
        run_case(x, text, "en-us", A.utterance_phones(u), pp, errs, f"en ({eng})")
        if k % 4 == 0:
            run_case(gsm_round_trip(x), text, "en-us", A.utterance_phones(u), pp, errs,
                     "en (Flite, Festival; GSM 8 kHz)")
    for lang, texts in LANG_TEXT.items():
        for k, text in enumerate(texts * 2):
            v = espeak.voice_name(lang, ("m3", "f4", "klatt", "Andy")[k % 4])
            u = espeak.synthesize(text, v, espeak.Prosody(rate=130 + 33 * k, pitch=40 + 8 * k))
            run_case(u.audio, text, lang, A.utterance_phones(u), pp, errs,
                     f"{espeak.language_of(lang)} (espeak-ng voices)")
            if lang in ("es-419", "fr"):
                run_case(gsm_round_trip(u.audio), text, lang, A.utterance_phones(u), pp, errs,
                         f"{espeak.language_of(lang)} (espeak-ng voices; GSM 8 kHz)")
    summary = {}
    for name, per in errs.items():
        summary[name] = {key: A.error_summary(np.concatenate(v)) for key, v in per.items()}
        summary[name]["cross-engine (Flite, Festival)"] = A.error_summary(np.concatenate(
            [np.concatenate(v) for key, v in per.items()
             if key.startswith("en (") and "GSM" not in key]))
    summary["seconds"] = round(time.time() - t0, 1)
    with open(a.out, "w") as f:
        json.dump(summary, f, indent=1)
    for name in ("dtw", "hmm"):
        for key, s in summary[name].items():
            print(f"{name:4s} {key:34s} n={s['n']:4d} median {s['median_abs_ms']:5.1f} ms "
                  f"p90 {s['p90_abs_ms']:6.1f} ms within 20 ms {s['within_20ms']:.2f} "
                  f"within 50 ms {s['within_50ms']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
