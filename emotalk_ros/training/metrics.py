"""Quality metrics (docs/INTERFACE.md, Metrics): lip sync, emotion response, continuity and jitter.

All functions take blendshape frames (T, 52) in the canonical streaming order, frame j
depicting t = j / fps. Lip-sync metrics use the lip aperture

    ap = max(0, jawOpen - mouthClose) + 0.5*mean(mouthUpperUp L/R) + 0.5*mean(mouthLowerDown L/R)

normalised per utterance by its 90th percentile over vowel frames. The per-utterance
dictionaries carry the raw counts and sums so that :func:`aggregate` pools over phones
and frames (not an average of per-utterance rates).
"""

from __future__ import annotations

import math
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from emotalk_ros.core.blendshapes import INDEX, NAMES, aperture, check_frames
from emotalk_ros.core.emotions import FACS_GROUPS, group_index
from emotalk_ros.core.phones import (
    BILABIALS,
    CLOSE_VOWELS,
    MID_VOWELS,
    OPEN_VOWELS,
    PHONES,
    VOWELS,
    openness,
)
from emotalk_ros.errors import EmotalkError

Phone = Tuple[float, float, str]      # (start_s, end_s, ARPAbet phone)

# Phone classes of the aperture profile (:func:`phone_class`), closed to open; "consonant" is
# every consonant but /p b m/.
PHONE_CLASSES: Tuple[str, ...] = ("pause", "bilabial", "consonant", "close vowel", "mid vowel",
                                  "open vowel")

MIN_BILABIAL_S = 0.040       # bilabials shorter than this are not scored
BILABIAL_PAD_S = 0.020       # closure may happen within the phone +- this
CLOSED_BELOW = 0.25          # normalised aperture below which the lips count as closed
MIN_OPEN_VOWEL_S = 0.060
OPEN_ABOVE = 0.5
MIN_PAUSE_S = 0.150
PAUSE_TRIM_S = 0.060
# Normalisation floor (absolute aperture units): a mouth whose vowel p90 aperture is below
# this barely moves; dividing by a tiny p90 would call noise "open", so the floor is used.
MIN_SCALE = 0.02
# Best-lag search range (s) around zero.
MAX_LAG_S = 0.15
# Emotion response: the group mean at intensity 1 must exceed intensity 0 by this much.
RESPONSE_MARGIN = 0.15

MOUTH_SHAPES: Tuple[str, ...] = tuple(
    n for n in NAMES if n.startswith(("jaw", "mouth")) or n in ("cheekPuff", "tongueOut"))
_MOUTH_INDEX = np.array([INDEX[n] for n in MOUTH_SHAPES], np.int64)


def _frame_phones(n: int, fps: float, phones: Sequence[Phone]) -> List[str]:
    """Phone label of each frame (frames outside every phone are 'sil')."""
    labels = ["sil"] * n
    for t0, t1, ph in phones:
        j0 = max(0, int(math.ceil(t0 * fps - 1e-9)))
        j1 = min(n, int(math.ceil(t1 * fps - 1e-9)))
        for j in range(j0, j1):
            labels[j] = ph
    return labels


def phone_class(phone: str) -> str:
    """The :data:`PHONE_CLASSES` entry of an ARPAbet phone ('sil' is a pause)."""
    if phone == "sil":
        return "pause"
    if phone in BILABIALS:
        return "bilabial"
    if phone in OPEN_VOWELS:
        return "open vowel"
    if phone in MID_VOWELS:
        return "mid vowel"
    if phone in CLOSE_VOWELS:
        return "close vowel"
    return "consonant"


def _class_stats(apn: np.ndarray, labels: Sequence[str]) -> Dict[str, List[float]]:
    """[frames, sum, sum of squares] of the normalised aperture per phone class."""
    cls = np.array([phone_class(lab) for lab in labels])
    out = {}
    for c in PHONE_CLASSES:
        x = apn[cls == c]
        out[c] = [float(x.size), float(x.sum()), float((x * x).sum())]
    return out


def _class_profile(stats: Dict[str, Sequence[float]]) -> Dict[str, Dict[str, Optional[float]]]:
    """Mean and standard deviation of the normalised aperture per phone class."""
    out: Dict[str, Dict[str, Optional[float]]] = {}
    for c in PHONE_CLASSES:
        n, s, ss = stats.get(c, (0.0, 0.0, 0.0))
        mean = s / n if n > 0 else None
        std = math.sqrt(max(ss / n - mean * mean, 0.0)) if n > 0 else None
        out[c] = {"frames": int(n), "mean": mean, "std": std}
    return out


def _window(n: int, fps: float, t0: float, t1: float) -> np.ndarray:
    """Frame indices with t0 <= j/fps <= t1; the nearest frame when none falls inside."""
    j0 = max(0, int(math.ceil(t0 * fps - 1e-9)))
    j1 = min(n - 1, int(math.floor(t1 * fps + 1e-9)))
    if j1 >= j0:
        return np.arange(j0, j1 + 1)
    return np.array([min(n - 1, max(0, int(round(0.5 * (t0 + t1) * fps))))])


def _merge_pauses(phones: Sequence[Phone]) -> List[Tuple[float, float]]:
    """Consecutive 'sil' phones merged into pauses (start_s, end_s)."""
    out: List[Tuple[float, float]] = []
    for t0, t1, ph in sorted(phones, key=lambda p: p[0]):
        if ph != "sil":
            continue
        if out and abs(out[-1][1] - t0) < 1e-6:
            out[-1] = (out[-1][0], t1)
        else:
            out.append((t0, t1))
    return out


def _rate(num: float, den: float) -> Optional[float]:
    return float(num) / den if den > 0 else None


def _pearson(stats: Sequence[float]) -> Optional[float]:
    """Pearson r from sufficient statistics [n, sx, sy, sxx, syy, sxy]."""
    n, sx, sy, sxx, syy, sxy = stats
    if n < 2:
        return None
    vx = sxx - sx * sx / n
    vy = syy - sy * sy / n
    if vx <= 1e-12 or vy <= 1e-12:
        return 0.0                     # a constant signal does not follow the phones
    return float((sxy - sx * sy / n) / math.sqrt(vx * vy))


def lip_sync_metrics(frames, fps: float, phones: Sequence[Phone]) -> Dict[str, object]:
    """The lip-sync metrics of one utterance (docs/INTERFACE.md, Metrics).

    frames: (T, 52), frame j depicts j / fps; phones: [(start_s, end_s, phone), ...] with
    ARPAbet names from ``emotalk_ros.core.phones`` ('sil' for pauses).
    Returns rates (``bilabial_closure``, ``bilabial_closure_p/_b/_m``,
    ``open_vowel_opening``, ``silence_closure`` (the pause opening: mean normalised
    aperture in pauses), ``aperture_correlation``, ``best_lag_frames``/``best_lag_ms``
    (the shift of the aperture against the phone openness that correlates best; positive
    = the mouth is late); None when there is nothing to score), ``aperture_profile`` (mean
    and standard deviation of the normalised aperture per :data:`PHONE_CLASSES` entry: where
    a low correlation comes from) plus the counts/sums :func:`aggregate` pools.
    """
    if not (fps > 0):
        raise EmotalkError(f"fps must be positive, got {fps}")
    for p in phones:
        if p[2] not in PHONES:
            raise EmotalkError(
                f"unknown phone {p[2]!r}; expected ARPAbet from emotalk_ros.core.phones"
            )
    ap = aperture(frames)                                                 # (T,)
    n = ap.shape[0]
    if n == 0:
        raise EmotalkError("no frames to score")
    labels = _frame_phones(n, fps, phones)
    vowel = np.array([lab in VOWELS for lab in labels])
    scale = float(np.percentile(ap[vowel], 90)) if vowel.any() else float(np.percentile(ap, 90))
    scale = max(scale, MIN_SCALE)
    apn = ap / scale                                                      # (T,)

    out: Dict[str, object] = {"n_frames": n, "scale": scale}
    closed = {"p": 0, "b": 0, "m": 0}
    count = {"p": 0, "b": 0, "m": 0}
    n_open = opened = 0
    for t0, t1, ph in phones:
        dur = t1 - t0
        if ph in BILABIALS and dur >= MIN_BILABIAL_S - 1e-9:
            w = _window(n, fps, t0 - BILABIAL_PAD_S, t1 + BILABIAL_PAD_S)
            count[ph] += 1
            closed[ph] += int(apn[w].min() < CLOSED_BELOW)
        elif ph in OPEN_VOWELS and dur >= MIN_OPEN_VOWEL_S - 1e-9:
            w = _window(n, fps, t0, t1 - 1e-9)
            n_open += 1
            opened += int(apn[w].max() > OPEN_ABOVE)
    for ph in ("p", "b", "m"):
        out[f"n_bilabial_{ph}"] = count[ph]
        out[f"closed_bilabial_{ph}"] = closed[ph]
    out["n_open_vowel"], out["opened_open_vowel"] = n_open, opened

    sil_sum, sil_n, n_pauses = 0.0, 0, 0
    for t0, t1 in _merge_pauses(phones):
        if t1 - t0 < MIN_PAUSE_S - 1e-9:
            continue
        j0 = max(0, int(math.ceil((t0 + PAUSE_TRIM_S) * fps - 1e-9)))
        j1 = min(n - 1, int(math.floor((t1 - PAUSE_TRIM_S) * fps + 1e-9)))
        if j1 < j0:
            continue
        n_pauses += 1
        sil_sum += float(apn[j0:j1 + 1].sum())
        sil_n += j1 - j0 + 1
    out["n_pauses"], out["silence_frames"], out["silence_sum"] = n_pauses, sil_n, sil_sum

    op = np.array([openness(lab) for lab in labels])                      # (T,)
    out["corr_stats"] = _stats(apn, op)
    out["class_stats"] = _class_stats(apn, labels)
    out["lag_fps"] = float(fps)
    out["lag_stats"] = lag_stats(apn, op, max_lag_frames(fps))
    _finish(out)
    return out


def _stats(x: np.ndarray, y: np.ndarray) -> List[float]:
    """Pearson sufficient statistics [n, sx, sy, sxx, syy, sxy] of two (T,) signals."""
    return [float(x.size), float(x.sum()), float(y.sum()), float((x * x).sum()),
            float((y * y).sum()), float((x * y).sum())]


def max_lag_frames(fps: float) -> int:
    """Lags searched by the best-lag metric: +-MAX_LAG_S in frames at ``fps``."""
    return max(1, int(round(MAX_LAG_S * fps)))


def lag_stats(apn: np.ndarray, op: np.ndarray, k: int) -> List[List[float]]:
    """Pearson statistics of (aperture[t + lag], openness[t]) for lag = -k..k frames
    -> (2k + 1) lists of 6 floats. A positive lag pairs the aperture with the phones that
    came ``lag`` frames before it (a late mouth)."""
    n = apn.shape[0]
    out = []
    for lag in range(-k, k + 1):
        if lag >= 0:
            a, o = apn[lag:], op[:n - lag]
        else:
            a, o = apn[:n + lag], op[-lag:]
        out.append(_stats(a, o) if a.size else [0.0] * 6)
    return out


def best_lag(stats: Sequence[Sequence[float]]) -> Optional[float]:
    """Lag (frames, sub-frame by a parabola through the peak) of the highest correlation in
    :func:`lag_stats` output; positive = the mouth trails the phones. None without data."""
    r = [_pearson(s) for s in stats]
    if not r or any(v is None for v in r):
        return None
    r_a = np.asarray(r, np.float64)
    if float(np.ptp(r_a)) < 1e-12:
        return None                    # a constant mouth has no lag
    k = (len(r) - 1) // 2
    i = int(np.argmax(r_a))
    off = 0.0
    if 0 < i < len(r) - 1:
        y0, y1, y2 = r_a[i - 1], r_a[i], r_a[i + 1]
        den = y0 - 2.0 * y1 + y2
        if den < -1e-12:
            off = float(np.clip(0.5 * (y0 - y2) / den, -0.5, 0.5))
    return float(i - k + off)


def _finish(d: Dict[str, object]) -> None:
    """Fill the rate fields of a metrics dict from its counts (in place)."""
    tot_n = sum(int(d[f"n_bilabial_{p}"]) for p in "pbm")
    tot_c = sum(int(d[f"closed_bilabial_{p}"]) for p in "pbm")
    d["n_bilabial"], d["closed_bilabial"] = tot_n, tot_c
    d["bilabial_closure"] = _rate(tot_c, tot_n)
    for p in "pbm":
        d[f"bilabial_closure_{p}"] = _rate(d[f"closed_bilabial_{p}"], d[f"n_bilabial_{p}"])
    d["open_vowel_opening"] = _rate(d["opened_open_vowel"], d["n_open_vowel"])
    d["silence_closure"] = _rate(d["silence_sum"], d["silence_frames"])
    d["aperture_correlation"] = _pearson(d["corr_stats"])
    if "class_stats" in d:
        d["aperture_profile"] = _class_profile(d["class_stats"])
    if d.get("lag_stats"):
        lag = best_lag(d["lag_stats"])
        d["best_lag_frames"] = lag
        d["best_lag_ms"] = None if lag is None else 1000.0 * lag / float(d["lag_fps"])


_COUNT_KEYS = ("n_frames", "n_open_vowel", "opened_open_vowel", "n_pauses", "silence_frames",
               "silence_sum") + tuple(f"{k}_{p}" for k in ("n_bilabial", "closed_bilabial")
                                      for p in "pbm")


def aggregate(items: Sequence[Dict[str, object]]) -> Dict[str, object]:
    """Pool per-utterance :func:`lip_sync_metrics` dicts: closure/opening rates over all phones,
    silence over all pause frames, correlation over all frames (normalised per utterance)."""
    out: Dict[str, object] = {k: 0 for k in _COUNT_KEYS}
    out["silence_sum"] = 0.0
    stats = np.zeros(6)
    cls = {c: np.zeros(3) for c in PHONE_CLASSES}
    lag = None
    fps = {float(d["lag_fps"]) for d in items if "lag_fps" in d}
    for d in items:
        for k in _COUNT_KEYS:
            out[k] += d[k]
        stats += np.asarray(d["corr_stats"], np.float64)
        for c, v in d.get("class_stats", {}).items():
            cls[c] += np.asarray(v, np.float64)
        if len(fps) == 1 and d.get("lag_stats"):
            ls = np.asarray(d["lag_stats"], np.float64)
            lag = ls if lag is None else lag + ls
    out["n_utterances"] = len(items)
    out["corr_stats"] = [float(v) for v in stats]
    if any("class_stats" in d for d in items):
        out["class_stats"] = {c: [float(x) for x in v] for c, v in cls.items()}
    if lag is not None:
        out["lag_fps"] = fps.pop()
        out["lag_stats"] = lag.tolist()
    _finish(out)
    return out


def emotion_group_mean(frames, emotion: str) -> float:
    """Mean over frames and shapes of ``emotion``'s FACS group (emotions.FACS_GROUPS)."""
    if emotion not in FACS_GROUPS:
        raise EmotalkError(f"no FACS group for emotion {emotion!r}; valid: "
                           f"{', '.join(FACS_GROUPS)}")
    f = check_frames(frames)
    if f.shape[0] == 0:
        raise EmotalkError("no frames")
    return float(f[:, group_index(emotion)].mean())


def emotion_response(means: Sequence[float], min_margin: float = RESPONSE_MARGIN
                     ) -> Tuple[bool, float]:
    """Group means at intensity (0, 0.5, 1) -> (ok, margin).

    margin = mean(1) - mean(0); ok when the means strictly increase
    (mean(0) < mean(0.5) < mean(1)) and margin >= ``min_margin``.
    """
    m = np.asarray(means, np.float64)
    if m.shape != (3,):
        raise EmotalkError(f"emotion_response needs the means at 0, 0.5 and 1, got {m.shape}")
    margin = float(m[2] - m[0])
    ok = bool(m[0] < m[1] < m[2] and margin >= min_margin)
    return ok, margin


def continuity(means: Sequence[float], max_ratio: float = 2.0) -> Tuple[bool, float]:
    """Group means over an intensity sweep (0, 0.1, ..., 1) -> (ok, max_step / mean_step).

    ok when the sweep is monotonic (no step below -1e-6), rises overall, and no step is
    larger than ``max_ratio`` times the mean step. The ratio is inf for a flat sweep.
    """
    m = np.asarray(means, np.float64).reshape(-1)
    if m.size < 3:
        raise EmotalkError("continuity needs at least 3 sweep points")
    steps = np.diff(m)
    mean_step = float(steps.mean())
    if mean_step <= 1e-9:
        return False, float("inf")
    ratio = float(steps.max() / mean_step)
    ok = bool(np.all(steps >= -1e-6) and ratio <= max_ratio)
    return ok, ratio


def resample_frames(frames, fps_in: float, fps_out: float) -> np.ndarray:
    """Linear-interpolation resampling of (T, C) frames from fps_in to fps_out (same start)."""
    f = np.asarray(frames, np.float64)
    if fps_in == fps_out or f.shape[0] < 2:
        return f
    dur = (f.shape[0] - 1) / fps_in
    t_out = np.arange(int(math.floor(dur * fps_out + 1e-9)) + 1) / fps_out   # (T',)
    t_in = np.arange(f.shape[0]) / fps_in
    return np.stack([np.interp(t_out, t_in, f[:, c]) for c in range(f.shape[1])], axis=1)


def jitter(frames, fps: float = 60.0) -> float:
    """Mean absolute second difference of the mouth blendshapes (jaw*, mouth*, cheekPuff,
    tongueOut) at 60 fps; frames (T, 52) at ``fps`` are resampled to 60 fps first."""
    f = check_frames(frames)
    f = resample_frames(f[:, _MOUTH_INDEX], fps, 60.0)                     # (T', M)
    if f.shape[0] < 3:
        return 0.0
    d2 = f[2:] - 2.0 * f[1:-1] + f[:-2]
    return float(np.abs(d2).mean())
