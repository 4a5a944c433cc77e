"""The face in silence and room noise, with and without a held emotion.

What a robot hears between utterances is digital silence (the animator feeds zeros when
audio goes stale) or low room noise. :func:`silence_report` drives a predictor (no idle
overlay: the generator's own output) with each emotion held at full intensity through
3 s of digital silence and of room noise at -60, -50 and -40 dBFS, and checks, after the
first 0.5 s:

* gaze: every ``eyeLook*`` shape <= :data:`MAX_GAZE` (gaze belongs to the idle overlay);
* symmetry: ``|left - right|`` <= :data:`MAX_ASYMMETRY` for every symmetric pair
  (contempt, one-sided by definition, is exempt);
* jaw sideways: ``jawLeft`` and ``jawRight`` <= :data:`MAX_JAW_SIDEWAYS`;
* the held expression: the mean of the emotion's FACS group (``emotions.FACS_GROUPS``,
  without ``jawOpen`` and the upper/lower lip shapes, which the lip seal owns) within
  :data:`HELD_TOLERANCE` (20 %) of the same mean during speech with that emotion.
"""

from __future__ import annotations

from typing import Dict, List, Optional

import numpy as np

from emotalk_ros.core.blendshapes import INDEX, NAMES
from emotalk_ros.core.emotions import EXPRESSIVE, EXPRESSIVE_INDEX, FACS_GROUPS, NUM_EXPRESSIVE

MAX_GAZE = 0.05
MAX_ASYMMETRY = 0.05
MAX_JAW_SIDEWAYS = 0.03
HELD_TOLERANCE = 0.20
SETTLE_S = 0.5
SECONDS = 3.0
NOISE_DBFS = (-60.0, -50.0, -40.0)
SPEECH_TEXT = "Maybe we should bring the purple umbrella to the beach party this afternoon."

GAZE = [i for i, n in enumerate(NAMES) if n.startswith("eyeLook")]
PAIRS = [(INDEX[n], INDEX[n[:-4] + "Right"]) for n in NAMES
         if n.endswith("Left") and n[:-4] + "Right" in INDEX]
JAW_SIDE = [INDEX["jawLeft"], INDEX["jawRight"]]
_SEAL_OWNED = ("jawOpen", "mouthUpperUpLeft", "mouthUpperUpRight", "mouthLowerDownLeft",
               "mouthLowerDownRight")


def held_group(emotion: str) -> List[int]:
    """Indices of ``emotion``'s FACS group without the shapes the lip seal controls."""
    return [INDEX[n] for n in FACS_GROUPS[emotion] if n not in _SEAL_OWNED]


def quiet_audio(dbfs: Optional[float], seconds: float = SECONDS, seed: int = 0) -> np.ndarray:
    """Digital silence (``dbfs`` None) or pink room noise at ``dbfs`` RMS, (N,) float32 16 kHz."""
    n = int(seconds * 16000)
    if dbfs is None:
        return np.zeros(n, np.float32)
    from emotalk_ros.training.synth.augment import room_tone

    return room_tone(np.zeros(n, np.float32), np.random.default_rng(seed), dbfs, "pink")


def _onehot(emotion: Optional[str]) -> np.ndarray:
    a = np.zeros(NUM_EXPRESSIVE, np.float32)
    if emotion is not None:
        a[EXPRESSIVE_INDEX[emotion]] = 1.0
    return a


def silence_report(pred, speech: Optional[np.ndarray] = None) -> Dict[str, object]:
    """Run the checks on a :class:`~emotalk_ros.generator.predictor.StreamingPredictor`.

    speech: 16 kHz speech for the held-expression reference (default: espeak-ng speaking
    :data:`SPEECH_TEXT`). Returns {"rows": [{emotion, audio, gaze, asymmetry, pair,
    jaw_sideways, held_ratio, pass}], "pass": bool, "worst": {...}}; ``held_ratio`` is the
    silence group mean over the speech group mean (None at neutral).
    """
    if speech is None:
        from emotalk_ros.speech import espeak

        speech = espeak.synthesize(SPEECH_TEXT, "en-us").audio
    audios = [("digital silence", quiet_audio(None))] + [
        (f"noise {d:g} dBFS", quiet_audio(d, seed=k)) for k, d in enumerate(NOISE_DBFS)]
    rows = []
    for emo in (None,) + EXPRESSIVE:
        a = _onehot(emo)
        ref = None
        if emo is not None:
            sp = pred.animate(speech, emotion=a).values
            ref = float(sp[:, held_group(emo)].mean())
        for name, x in audios:
            fr = pred.animate(x, emotion=a)
            v = fr.values[fr.times >= SETTLE_S]                              # (T, 52)
            gaze = float(v[:, GAZE].max())
            diffs = [float(np.abs(v[:, i] - v[:, j]).max()) for i, j in PAIRS]
            k = int(np.argmax(diffs))
            asym = diffs[k] if emo != "contempt" else None
            jaw = float(v[:, JAW_SIDE].max())
            held = None if emo is None or ref is None or ref <= 1e-6 else \
                float(v[:, held_group(emo)].mean()) / ref
            ok = (gaze <= MAX_GAZE and (asym is None or asym <= MAX_ASYMMETRY)
                  and jaw <= MAX_JAW_SIDEWAYS
                  and (held is None or abs(held - 1.0) <= HELD_TOLERANCE))
            rows.append({"emotion": emo or "neutral", "audio": name, "gaze": gaze,
                         "asymmetry": asym, "pair": NAMES[PAIRS[k][0]][:-4],
                         "jaw_sideways": jaw, "held_ratio": held, "pass": bool(ok)})
    worst = {
        "gaze": max(r["gaze"] for r in rows),
        "asymmetry": max(r["asymmetry"] for r in rows if r["asymmetry"] is not None),
        "jaw_sideways": max(r["jaw_sideways"] for r in rows),
        "held_ratio_min": min(r["held_ratio"] for r in rows if r["held_ratio"] is not None),
        "held_ratio_max": max(r["held_ratio"] for r in rows if r["held_ratio"] is not None),
    }
    return {"rows": rows, "pass": all(r["pass"] for r in rows), "worst": worst}


def report_markdown(rep: Dict[str, object]) -> str:
    """The silence checks as a markdown table (one row per emotion and audio)."""
    md = ["| emotion | audio | gaze max | L/R asymmetry max | jaw sideways | held ratio | |",
          "|---|---|---|---|---|---|---|"]
    for r in rep["rows"]:
        asym = "-" if r["asymmetry"] is None else f"{r['asymmetry']:.3f} ({r['pair']})"
        held = "-" if r["held_ratio"] is None else f"{r['held_ratio']:.2f}"
        md.append(f"| {r['emotion']} | {r['audio']} | {r['gaze']:.3f} | {asym} | "
                  f"{r['jaw_sideways']:.3f} | {held} | {'PASS' if r['pass'] else 'FAIL'} |")
    return "\n".join(md) + "\n"
