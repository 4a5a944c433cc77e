"""The procedural articulation teacher: phone timings + emotion intensities -> 52 ARKit
blendshapes.

This is the supervision target for the generator (and a baseline in ``emotalk evaluate``).
It is deterministic and uses numpy only. Two parts are composed:

* :func:`articulation` turns a phone sequence into mouth, jaw and tongue motion. Each
  phone has articulatory targets (jaw opening, lip seal, lip raise/lower, rounding,
  spreading, lower-lip tuck, press, tongue) and a *dominance function* per target in
  the manner of Cohen and Massaro: a plateau over the middle of the phone that decays
  exponentially before (anticipation) and after (carry-over) it. A parameter's value at
  time t is the dominance-weighted mean of the targets of all phones. Bilabials dominate
  the lip seal so strongly that closure is reached even for 40 ms phones; rounded phones
  have long anticipatory tails, so rounding starts during preceding consonants; the jaw
  follows vowel height and rests at 0 in silence. Emotion modulates articulation (happy
  spreads the lips, sad narrows the jaw range, angry presses harder at closures,
  surprised opens wider).
* :func:`expression` maps the 7 emotion intensities linearly onto FACS prototypes
  (``emotions.FACS_GROUPS``), so every group mean rises continuously with intensity and
  mixtures are weighted sums.

:func:`compose` adds them with the ARKit lip-sync semantics kept intact: ``mouthClose``
is the lip seal times the *total* ``jawOpen`` (articulation plus the AU26 jaw drop of
surprise), and upper/lower lip raises are suppressed while the lips are sealed, so
bilabial closure holds at any emotion. Eye blinks and gaze are not the teacher's job
(the runtime idle overlay does them): ``eyeBlink*``/``eyeLook*`` stay 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

import numpy as np

from emotalk_ros.core.blendshapes import INDEX, NUM_BLENDSHAPES, sanitize
from emotalk_ros.core.emotions import EXPRESSIVE_INDEX, NUM_EXPRESSIVE
from emotalk_ros.core.phones import BILABIALS, LABIODENTALS, NUM_PHONES, PHONES
from emotalk_ros.errors import EmotalkError

# ------------------------------------------------------------------------------------------
# Articulatory channels
# ------------------------------------------------------------------------------------------
CHANNELS: Tuple[str, ...] = (
    "jaw",      # jaw opening (0 rest .. ~0.6 for /aa/)
    "seal",     # lip seal: 1 = lips together against the jaw (mouthClose = seal * jawOpen)
    "upper",    # upper-lip raise beyond the jaw (mouthUpperUp)
    "lower",    # lower-lip lowering beyond the jaw (mouthLowerDown)
    "funnel",   # lip funnelling (mouthFunnel)
    "pucker",   # lip protrusion/rounding (mouthPucker)
    "spread",   # lip spreading (mouthStretch)
    "tuck",     # lower lip rolled in under the upper teeth, /f v/ (mouthRollLower)
    "press",    # lips pressed together (mouthPress)
    "rollup",   # upper lip rolled in at bilabials (mouthRollUpper)
    "tongue",   # tongue tip visible (tongueOut), /th dh/ and a little for /l/
    "voice",    # speaking activity (1 in speech, 0 in pauses): gates speech-only emotion effects
)
_C: Dict[str, int] = {c: i for i, c in enumerate(CHANNELS)}
# Articulation leads the sound: every phone's plateau of dominance starts LEAD_S before its
# acoustic onset and still ends at its acoustic end (lips close, round and open tens of
# milliseconds before the sound they shape; a closure is released with the burst).
LEAD_S = 0.010
_LEAD = np.array([LEAD_S if c in ("jaw", "seal", "upper", "lower", "press", "rollup", "tuck",
                                  "voice") else 0.0 for c in CHANNELS])  # (K,) rounding has
#                                                  its own long anticipation (see _dominance)
K = len(CHANNELS)

# Articulatory targets per phone. Diphthongs are two targets (first 55 %, then 45 %).
_V = {  # vowels: jaw follows height; upper/lower add lip opening; rounding/spreading
    "aa": dict(jaw=0.60, upper=0.12, lower=0.30),
    "ae": dict(jaw=0.50, upper=0.18, lower=0.30, spread=0.25),
    "ah": dict(jaw=0.50, upper=0.12, lower=0.25),
    "ao": dict(jaw=0.50, upper=0.10, lower=0.22, funnel=0.35, pucker=0.10),
    "eh": dict(jaw=0.35, upper=0.12, lower=0.20, spread=0.20),
    "er": dict(jaw=0.32, upper=0.08, lower=0.12, funnel=0.30, pucker=0.15),
    "ih": dict(jaw=0.24, upper=0.08, lower=0.12, spread=0.30),
    "iy": dict(jaw=0.20, upper=0.08, lower=0.10, spread=0.45),
    "uh": dict(jaw=0.24, upper=0.05, lower=0.10, funnel=0.30, pucker=0.30),
    "uw": dict(jaw=0.20, upper=0.03, lower=0.06, funnel=0.35, pucker=0.65),
    "ow1": dict(jaw=0.42, upper=0.08, lower=0.16, funnel=0.45, pucker=0.20),
}
_DIPHTHONGS = {"aw": ("aa", "uh"), "ay": ("aa", "ih"), "ey": ("eh", "iy"), "ow": ("ow1", "uw"),
               "oy": ("ao", "ih")}
_CONS = {
    "p": dict(jaw=0.06, seal=1.0, press=0.40, rollup=0.12, tuck=0.10),
    "b": dict(jaw=0.06, seal=1.0, press=0.30, rollup=0.10, tuck=0.10),
    "m": dict(jaw=0.06, seal=1.0, press=0.30, rollup=0.10, tuck=0.10),
    "f": dict(jaw=0.08, tuck=0.70, upper=0.15),
    "v": dict(jaw=0.08, tuck=0.65, upper=0.12),
    "th": dict(jaw=0.12, upper=0.08, lower=0.08, tongue=0.30),
    "dh": dict(jaw=0.12, upper=0.08, lower=0.08, tongue=0.25),
    "t": dict(jaw=0.12, upper=0.07, lower=0.07),
    "d": dict(jaw=0.12, upper=0.07, lower=0.07),
    "n": dict(jaw=0.12, upper=0.06, lower=0.07),
    "s": dict(jaw=0.07, upper=0.10, lower=0.10, spread=0.20),
    "z": dict(jaw=0.07, upper=0.10, lower=0.10, spread=0.20),
    "sh": dict(jaw=0.10, upper=0.10, lower=0.10, funnel=0.45, pucker=0.25),
    "zh": dict(jaw=0.10, upper=0.10, lower=0.10, funnel=0.45, pucker=0.25),
    "ch": dict(jaw=0.10, upper=0.10, lower=0.10, funnel=0.40, pucker=0.25),
    "jh": dict(jaw=0.10, upper=0.10, lower=0.10, funnel=0.40, pucker=0.25),
    "l": dict(jaw=0.15, upper=0.06, lower=0.08, tongue=0.08),
    "r": dict(jaw=0.12, upper=0.05, lower=0.05, funnel=0.30, pucker=0.30),
    "w": dict(jaw=0.08, funnel=0.30, pucker=0.70),
    "y": dict(jaw=0.10, upper=0.05, lower=0.05, spread=0.30),
    "k": dict(jaw=0.15, upper=0.06, lower=0.06),
    "g": dict(jaw=0.15, upper=0.06, lower=0.06),
    "ng": dict(jaw=0.13, upper=0.05, lower=0.06),
    "hh": dict(jaw=0.20, upper=0.06, lower=0.08),
    "sil": dict(seal=1.0),
}
_ROUNDED = frozenset(("uw", "uh", "ow1", "ao", "er", "w", "r", "sh", "zh", "ch", "jh"))
_SPREAD = frozenset(("iy", "ih", "eh", "ae", "y", "s", "z"))


@dataclass(frozen=True)
class _Dom:
    """Dominance of one phone for one channel: strength, anticipation/carry-over time constants
    (s)."""

    alpha: float
    ant: float
    car: float


def _dominance(label: str, channel: str) -> _Dom:
    """Dominance spec of a (sub-)phone label for one articulatory channel."""
    if label == "sil":
        if channel in ("jaw", "voice"):
            return _Dom(3.0, 0.03, 0.04)
        if channel == "seal":
            return _Dom(2.0, 0.03, 0.03)
        if channel in ("funnel", "pucker"):
            return _Dom(2.0, 0.04, 0.04)                  # lips rest unrounded in pauses
        return _Dom(0.5, 0.04, 0.04)
    vowel = label in _V
    if channel in ("seal", "press", "rollup"):
        if label in BILABIALS:
            return _Dom(20.0, 0.010, 0.010)               # closure is reached even in 40 ms
        return _Dom(3.0 if vowel else 1.0, 0.03, 0.03)    # vowels resist the seal
    if channel == "tuck":
        if label in LABIODENTALS:
            return _Dom(20.0, 0.012, 0.012)
        if label in BILABIALS:
            return _Dom(5.0, 0.015, 0.015)
        return _Dom(1.0, 0.04, 0.04)
    if channel == "tongue":
        if label in ("th", "dh"):
            return _Dom(20.0, 0.012, 0.012)
        if label == "l":
            return _Dom(8.0, 0.012, 0.012)
        return _Dom(1.0, 0.04, 0.04)
    if channel in ("funnel", "pucker"):
        if label in _ROUNDED:
            return _Dom(2.5, 0.08, 0.05)                  # long anticipatory rounding
        if vowel:                                         # unrounded vowels resist rounding,
            return _Dom(3.0 if label in _SPREAD else 1.5, 0.04, 0.04)   # spread ones most
        return _Dom(0.15, 0.03, 0.03)                     # other consonants are transparent
    if channel == "spread":
        if label in _SPREAD:
            return _Dom(1.5, 0.05, 0.05)
        return _Dom(0.4 if vowel else 0.2, 0.04, 0.04)
    if channel == "lower" and label in LABIODENTALS:
        return _Dom(10.0, 0.02, 0.02)                     # lower lip held at the teeth
    if channel == "voice":
        return _Dom(1.0, 0.04, 0.04)
    # jaw, upper, lower
    if vowel:
        return _Dom(1.0, 0.035, 0.045)
    if label == "hh":
        return _Dom(0.05, 0.03, 0.03)                     # /h/ takes the next vowel's shape
    if label in BILABIALS:
        return _Dom(0.4, 0.02, 0.02)
    if label in LABIODENTALS or label in ("s", "z"):
        return _Dom(1.2, 0.02, 0.02)
    return _Dom(1.0, 0.02, 0.02)


def _core_fraction(label: str) -> float:
    """Fraction of a phone's duration over which its dominance is at its plateau."""
    if label == "sil":
        return 0.9
    if label in BILABIALS or label in LABIODENTALS:
        return 0.6
    return 0.5


def _build_tables():
    """Per sub-phone label tables: labels (L,), targets, alpha, ant, car (each (L, K) float64)
    and core fraction (L,)."""
    labels = list(_CONS) + list(_V)
    tgt = np.zeros((len(labels), K))
    alp, ant, car = (np.zeros((len(labels), K)) for _ in range(3))
    core = np.zeros(len(labels))
    for i, lab in enumerate(labels):
        spec = _V[lab] if lab in _V else _CONS[lab]
        for ch, v in spec.items():
            tgt[i, _C[ch]] = v
        tgt[i, _C["voice"]] = 0.0 if lab == "sil" else 1.0
        for ch in CHANNELS:
            d = _dominance(lab, ch)
            alp[i, _C[ch]], ant[i, _C[ch]], car[i, _C[ch]] = d.alpha, d.ant, d.car
        core[i] = _core_fraction(lab)
    return labels, tgt, alp, ant, car, core


_LABELS, _TGT, _ALP, _ANT, _CAR, _CORE = _build_tables()
_LABEL_INDEX = {lab: i for i, lab in enumerate(_LABELS)}


def _build_expansion() -> List[Tuple[Tuple[int, float], ...]]:
    """Per phone id: its sub-phone labels with their share of the phone (diphthongs split)."""
    out: List[Tuple[Tuple[int, float], ...]] = []
    for ph in PHONES:
        if ph in _DIPHTHONGS:
            first, second = _DIPHTHONGS[ph]
            out.append(((_LABEL_INDEX[first], 0.55), (_LABEL_INDEX[second], 0.45)))
        else:
            out.append(((_LABEL_INDEX[ph], 1.0),))
    return out


_EXPANSION = _build_expansion()

# How emotion modulates articulation (per expressive emotion, at intensity 1).
_JAW_GAIN = {"happy": 0.05, "sad": -0.35, "angry": -0.15, "surprised": 0.30, "fearful": 0.10,
             "disgusted": -0.10, "contempt": -0.05}
_SPREAD_GAIN = {"happy": 0.30, "fearful": 0.15}     # extra mouthStretch while speaking
_ROUND_GAIN = {"happy": -0.30}                       # happy speech rounds less
_PRESS_GAIN = {"angry": 0.45, "sad": 0.10}           # extra mouthPress at closures


def _gain_vector(table: Dict[str, float]) -> np.ndarray:
    v = np.zeros(NUM_EXPRESSIVE, np.float64)
    for k, g in table.items():
        v[EXPRESSIVE_INDEX[k]] = g
    return v


_JAW_G, _SPREAD_G, _ROUND_G, _PRESS_G = (_gain_vector(t) for t in
                                         (_JAW_GAIN, _SPREAD_GAIN, _ROUND_GAIN, _PRESS_GAIN))

# ------------------------------------------------------------------------------------------
# Expression prototypes (FACS, intensity 1). Slight deterministic asymmetry keeps it alive
# (at most 0.02 between the sides of a pair; contempt is one-sided by definition).
# ------------------------------------------------------------------------------------------
_PROTOTYPES: Dict[str, Dict[str, float]] = {
    # AU6 cheek raiser + AU12 lip corner puller (+ a little lid tightening of a Duchenne smile)
    "happy": dict(cheekSquintLeft=0.54, cheekSquintRight=0.52, mouthSmileLeft=0.66,
                  mouthSmileRight=0.64, eyeSquintLeft=0.21, eyeSquintRight=0.20,
                  mouthDimpleLeft=0.10, mouthDimpleRight=0.10),
    # AU1 inner brow raiser + AU4 brow lowerer + AU15 lip corner depressor (+ AU17 chin raiser)
    "sad": dict(browInnerUp=0.65, browDownLeft=0.32, browDownRight=0.31, mouthFrownLeft=0.53,
                mouthFrownRight=0.51, mouthShrugLower=0.20),
    # AU4 + AU5 upper lid raiser + AU7 lid tightener + AU23 lip tightener
    "angry": dict(browDownLeft=0.72, browDownRight=0.70, eyeWideLeft=0.28, eyeWideRight=0.28,
                  eyeSquintLeft=0.47, eyeSquintRight=0.46, mouthPressLeft=0.44,
                  mouthPressRight=0.43, noseSneerLeft=0.12, noseSneerRight=0.12),
    # AU1 + AU2 outer brow raiser + AU5 + AU26 jaw drop
    "surprised": dict(browInnerUp=0.72, browOuterUpLeft=0.69, browOuterUpRight=0.67,
                      eyeWideLeft=0.70, eyeWideRight=0.68, jawOpen=0.20),
    # AU1 + AU2 + AU4 + AU5 + AU20 lip stretcher
    "fearful": dict(browInnerUp=0.68, browOuterUpLeft=0.42, browOuterUpRight=0.40,
                    browDownLeft=0.32, browDownRight=0.30, eyeWideLeft=0.66, eyeWideRight=0.64,
                    mouthStretchLeft=0.49, mouthStretchRight=0.47, jawOpen=0.04),
    # AU9 nose wrinkler + AU10 upper lip raiser + AU15
    "disgusted": dict(noseSneerLeft=0.60, noseSneerRight=0.58, mouthUpperUpLeft=0.44,
                      mouthUpperUpRight=0.42, mouthFrownLeft=0.37, mouthFrownRight=0.35,
                      browDownLeft=0.28, browDownRight=0.26, mouthShrugUpper=0.20,
                      eyeSquintLeft=0.18, eyeSquintRight=0.18),
    # unilateral AU12 + AU14 dimpler, right side
    "contempt": dict(mouthSmileRight=0.48, mouthDimpleRight=0.55, mouthRight=0.06,
                     eyeSquintRight=0.10),
}


def _prototype_matrix() -> np.ndarray:
    """(7, 52) float32: row e = blendshapes of emotion e's FACS prototype at intensity 1."""
    m = np.zeros((NUM_EXPRESSIVE, NUM_BLENDSHAPES), np.float32)
    for emo, shapes in _PROTOTYPES.items():
        for name, v in shapes.items():
            m[EXPRESSIVE_INDEX[emo], INDEX[name]] = v
    return m


PROTOTYPES = _prototype_matrix()   # (7, 52)


# ------------------------------------------------------------------------------------------
# Public API
# ------------------------------------------------------------------------------------------
@dataclass
class Articulation:
    """Output of :func:`articulation`.

    ``frames`` (T, 52) float32 in [0, 1]: mouth/jaw/tongue only (other shapes 0), with
    ``mouthClose = seal * jawOpen``; ``seal`` (T,) float32 in [0, 1]: the lip seal, which
    :func:`compose` needs to keep the lips closed over any expression jaw drop; ``voice``
    (T,) float32 in [0, 1]: speaking activity (0 in pauses), or None (treated as 1).
    """

    frames: np.ndarray
    seal: np.ndarray
    voice: Optional[np.ndarray] = None


def _validate(phone_start, phone_end, phone_id, alpha, rate) -> Tuple[np.ndarray, ...]:
    s = np.asarray(phone_start, np.float64).reshape(-1)
    e = np.asarray(phone_end, np.float64).reshape(-1)
    pid = np.asarray(phone_id).reshape(-1)
    a = np.asarray(alpha, np.float32)
    if not (s.shape == e.shape == pid.shape):
        raise EmotalkError(f"phone_start/phone_end/phone_id lengths differ: "
                           f"{s.shape[0]}, {e.shape[0]}, {pid.shape[0]}")
    if a.ndim != 2 or a.shape[1] != NUM_EXPRESSIVE:
        raise EmotalkError(f"alpha must be (T, {NUM_EXPRESSIVE}), got {a.shape}")
    if not (np.isfinite(rate) and rate > 0):
        raise EmotalkError(f"rate must be a positive frame rate in Hz, got {rate}")
    if pid.size and (not np.issubdtype(pid.dtype, np.integer) or pid.min() < 0
                     or pid.max() >= NUM_PHONES):
        raise EmotalkError(
            f"phone_id must be integers in [0, {NUM_PHONES}) (emotalk_ros.core.phones)"
        )
    if not (np.all(np.isfinite(s)) and np.all(np.isfinite(e))) or np.any(e < s):
        raise EmotalkError("phone times must be finite with phone_end >= phone_start")
    if not np.all(np.isfinite(a)):
        raise EmotalkError("alpha contains NaN/Inf")
    return s, e, pid.astype(np.int64), a


def _segments(s: np.ndarray, e: np.ndarray, pid: np.ndarray):
    """Expand phones into sub-phone segments -> (label idx (S,), start (S,), end (S,))."""
    lab, ss, ee = [], [], []
    for t0, t1, p in zip(s, e, pid, strict=True):
        t = t0
        for li, share in _EXPANSION[p]:
            t_next = t + share * (t1 - t0)
            lab.append(li)
            ss.append(t)
            ee.append(t_next)
            t = t_next
    return np.array(lab, np.int64), np.array(ss), np.array(ee)


def _blend(times: np.ndarray, lab: np.ndarray, ss: np.ndarray, ee: np.ndarray,
           block: int = 256, reach_s: float = 2.0) -> np.ndarray:
    """Dominance-weighted targets at ``times`` (T,) s -> (T, K) float64 articulatory parameters.

    Frames before the first / after the last segment are treated as silence.
    """
    T = times.shape[0]
    out = np.zeros((T, K))
    # pad with silence on both sides so the ends rest
    sil = _LABEL_INDEX["sil"]
    t_first = float(ss[0]) if ss.size else 0.0
    t_last = float(ee[-1]) if ee.size else 0.0
    t_lo = min(t_first, float(times[0])) - 1.0
    t_hi = max(t_last, float(times[-1])) + 1.0
    lab = np.concatenate([[sil], lab, [sil]]).astype(np.int64)
    ss = np.concatenate([[t_lo], ss, [t_last]])
    ee = np.concatenate([[t_first], ee, [t_hi]])
    # earlier onsets (per channel: the opening and closing of the lips and jaw lead)
    prev_start = np.concatenate([[ss[0]], ss[:-1]])
    ss_k = np.maximum(ss[:, None] - _LEAD[None, :], prev_start[:, None])  # (S, K)
    centre = 0.5 * (ss_k + ee[:, None])                                   # (S, K)
    half = 0.5 * _CORE[lab][:, None] * (ee[:, None] - ss_k)               # (S, K)
    tgt, alp, ant, car = _TGT[lab], _ALP[lab], _ANT[lab], _CAR[lab]      # (S, K)
    for b0 in range(0, T, block):
        t = times[b0:b0 + block]                                          # (B,)
        sel = (ee > t[0] - reach_s) & (ss < t[-1] + reach_s)
        c, h = centre[sel], half[sel]
        d = t[:, None, None] - c[None, :, :]                              # (B, S', K)
        before = np.maximum(-d - h[None], 0.0)                            # (B, S', K) before core
        after = np.maximum(d - h[None], 0.0)                              # (B, S', K) after core
        dom = alp[sel][None] * np.exp(-before / ant[sel][None]
                                      - after / car[sel][None])           # (B, S', K)
        num = np.einsum("bsk,sk->bk", dom, tgt[sel])                      # (B, K)
        den = dom.sum(axis=1)                                             # (B, K)
        out[b0:b0 + block] = num / np.maximum(den, 1e-12)
    return out


def articulation(phone_start, phone_end, phone_id, alpha, rate: float = 100.0) -> Articulation:
    """Mouth, jaw and tongue motion from phones, modulated by emotion.

    phone_start, phone_end: (P,) float seconds; phone_id: (P,) int into ``phones.PHONES``;
    alpha: (T, 7) float intensities over ``EXPRESSIVE``; frame j depicts t = j / rate.
    Returns :class:`Articulation` with frames (T, 52) float32 and seal (T,) float32.
    """
    s, e, pid, a = _validate(phone_start, phone_end, phone_id, alpha, rate)
    T = a.shape[0]
    frames = np.zeros((T, NUM_BLENDSHAPES), np.float32)
    if T == 0:
        return Articulation(frames, np.zeros(0, np.float32))
    times = np.arange(T) / float(rate)                                    # (T,)
    lab, ss, ee = _segments(s, e, pid)
    p = _blend(times, lab, ss, ee)                                        # (T, K)
    a64 = np.clip(a.astype(np.float64), 0.0, None)                       # (T, 7)
    jaw_gain = np.clip(1.0 + a64 @ _JAW_G, 0.4, 1.6)                      # (T,)
    voice = np.clip(p[:, _C["voice"]], 0.0, 1.0)                          # (T,)
    seal = np.clip(p[:, _C["seal"]], 0.0, 1.0)  # (T,)
    lip_gain = np.sqrt(jaw_gain)  # lips move less than the jaw
    round_gain = np.clip(1.0 + a64 @ _ROUND_G, 0.3, 1.5)

    jaw = p[:, _C["jaw"]] * jaw_gain
    frames[:, INDEX["jawOpen"]] = jaw
    frames[:, INDEX["mouthClose"]] = seal * jaw
    upper = p[:, _C["upper"]] * lip_gain * (1.0 - seal)
    lower = p[:, _C["lower"]] * lip_gain * (1.0 - seal)
    for side, k in (("Left", 1.0), ("Right", 0.96)):
        frames[:, INDEX["mouthUpperUp" + side]] = upper * k
        frames[:, INDEX["mouthLowerDown" + side]] = lower * k
        spread = p[:, _C["spread"]] + voice * (a64 @ _SPREAD_G)
        frames[:, INDEX["mouthStretch" + side]] = spread * k
        press = p[:, _C["press"]] * (1.0 + 0.5 * (a64 @ _PRESS_G)) + seal * (a64 @ _PRESS_G)
        frames[:, INDEX["mouthPress" + side]] = press * k
    frames[:, INDEX["mouthFunnel"]] = p[:, _C["funnel"]] * round_gain
    frames[:, INDEX["mouthPucker"]] = p[:, _C["pucker"]] * round_gain
    frames[:, INDEX["mouthRollLower"]] = p[:, _C["tuck"]]
    frames[:, INDEX["mouthRollUpper"]] = p[:, _C["rollup"]]
    frames[:, INDEX["tongueOut"]] = p[:, _C["tongue"]]
    frames[np.abs(frames) < 1e-9] = 0.0          # no float32 denormals (slow arithmetic)
    return Articulation(sanitize(frames), seal.astype(np.float32), voice.astype(np.float32))


def expression(alpha) -> np.ndarray:
    """Facial expression from emotion intensities: alpha (T, 7) -> (T, 52) float32 in [0, 1].

    Linear in alpha (a mixture is the weighted sum of FACS prototypes), clamped to [0, 1].
    """
    a = np.asarray(alpha, np.float32)
    if a.ndim != 2 or a.shape[1] != NUM_EXPRESSIVE:
        raise EmotalkError(f"alpha must be (T, {NUM_EXPRESSIVE}), got {a.shape}")
    return sanitize(np.clip(a, 0.0, None) @ PROTOTYPES)                  # (T, 52)


_GATED = [INDEX[n] for n in ("mouthUpperUpLeft", "mouthUpperUpRight", "mouthLowerDownLeft",
                             "mouthLowerDownRight")]


def compose(art: Articulation, expr: np.ndarray) -> np.ndarray:
    """Articulation + expression -> (T, 52) float32 in [0, 1], keeping lip closure intact.

    Channels add (clamped); then ``mouthClose = seal * jawOpen`` of the total jaw, and the
    expression's lip raise/lower is suppressed by the seal.
    """
    expr = np.asarray(expr, np.float32)
    if expr.shape != art.frames.shape:
        raise EmotalkError(
            f"expression shape {expr.shape} != articulation shape {art.frames.shape}"
        )
    seal = art.seal[:, None]                                              # (T, 1)
    gated = expr.copy()
    gated[:, _GATED] *= (1.0 - seal)
    out = np.clip(art.frames + gated, 0.0, 1.0)                           # (T, 52)
    out[:, INDEX["mouthClose"]] = art.seal * out[:, INDEX["jawOpen"]]
    return sanitize(out)


def render(phone_start, phone_end, phone_id, alpha, rate: float = 100.0) -> np.ndarray:
    """The teacher: phones + emotion -> (T, 52) float32 ARKit blendshapes in [0, 1].

    phone_start, phone_end: (P,) float seconds; phone_id: (P,) int into ``phones.PHONES``;
    alpha: (T, 7) float intensities over ``EXPRESSIVE`` (T = number of output frames);
    frame j depicts t = j / rate seconds.
    """
    art = articulation(phone_start, phone_end, phone_id, alpha, rate)
    return compose(art, expression(alpha))


def phones_from_names(items) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """[(start_s, end_s, 'aa'), ...] -> (phone_start (P,), phone_end (P,), phone_id (P,) int64)."""
    idx = {p: i for i, p in enumerate(PHONES)}
    s, e, pid = [], [], []
    for t0, t1, name in items:
        if name not in idx:
            raise EmotalkError(
                f"unknown phone {name!r}; expected ARPAbet from emotalk_ros.core.phones"
            )
        s.append(float(t0))
        e.append(float(t1))
        pid.append(idx[name])
    return np.array(s), np.array(e), np.array(pid, np.int64)


__all__ = ["CHANNELS", "PROTOTYPES", "Articulation", "articulation", "expression", "compose",
           "render", "phones_from_names"]
