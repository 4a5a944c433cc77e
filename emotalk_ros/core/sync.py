"""Measuring sound against motion: onsets, their pairing, envelope lag, blink counts (numpy).

Used by the speech benchmark (``python -m emotalk_ros.ros.speech_bench``), ``make demo`` and
the tests to compare what the loudspeaker played (recorded from a null sink's monitor) with
what the face did (``face/blendshapes`` by receive time, or motor commands):

* :func:`envelope_db` -- the level (dBFS) of a recording on a regular time grid.
* :func:`rising_onsets` -- times a signal rises through ``hi`` after having been below ``lo``
  (hysteresis): syllable onsets in a level envelope, jaw-opening onsets in ``jawOpen``.
* :func:`pair_offsets` -- for each reference onset, the nearest other onset within a window:
  the offsets (other - reference) whose median and spread are the sync figures.
* :func:`best_lag` -- the lag that best aligns two signals (cross-correlation), the
  robust whole-signal figure.
* :func:`blink_onsets` / :func:`blinks_per_minute` -- blinks in an ``eyeBlink`` track.
"""

from __future__ import annotations

from typing import Tuple

import numpy as np

from emotalk_ros.errors import EmotalkError


def envelope_db(t: np.ndarray, x: np.ndarray, hop_s: float = 0.005,
                window_s: float = 0.02) -> Tuple[np.ndarray, np.ndarray]:
    """Level of samples ``x`` (N,) at times ``t`` (N,) s (increasing, regularly sampled) ->
    (grid times (M,) s, RMS level (M,) dBFS over ``window_s`` centred on each grid time)."""
    t = np.asarray(t, np.float64).reshape(-1)
    x = np.asarray(x, np.float64).reshape(-1)
    if t.shape != x.shape or t.size < 2:
        raise EmotalkError("envelope_db: t and x must be the same length (>= 2)")
    dt = float(np.median(np.diff(t)))
    w = max(1, int(round(window_s / dt)))
    hop = max(1, int(round(hop_s / dt)))
    p = np.convolve(x * x, np.ones(w) / w, mode="same")
    idx = np.arange(0, x.size, hop)
    return t[idx], 10.0 * np.log10(p[idx] + 1e-12)


def rising_onsets(t: np.ndarray, y: np.ndarray, hi: float, lo: float,
                  min_gap_s: float = 0.0) -> np.ndarray:
    """Times (K,) at which ``y`` rises through ``hi`` after having been at or below ``lo``
    (``lo < hi``), linearly interpolated between samples; onsets closer than ``min_gap_s`` to
    the previous one are dropped."""
    t = np.asarray(t, np.float64).reshape(-1)
    y = np.asarray(y, np.float64).reshape(-1)
    if lo >= hi:
        raise EmotalkError("rising_onsets: lo must be below hi")
    out = []
    armed = False
    for i in range(1, y.size):
        if y[i - 1] <= lo:
            armed = True
        if armed and y[i - 1] < hi <= y[i]:
            f = (hi - y[i - 1]) / max(y[i] - y[i - 1], 1e-12)
            tc = t[i - 1] + f * (t[i] - t[i - 1])
            if not out or tc - out[-1] >= min_gap_s:
                out.append(tc)
            armed = False
    return np.array(out, np.float64)


def pair_offsets(reference: np.ndarray, other: np.ndarray, window_s: float = 0.1) -> np.ndarray:
    """For each reference onset, ``other - reference`` of the nearest other onset within
    ``window_s`` (each other onset used once) -> offsets (K,) s."""
    ref = np.sort(np.asarray(reference, np.float64))
    oth = np.sort(np.asarray(other, np.float64))
    used = np.zeros(oth.size, bool)
    out = []
    for r in ref:
        if oth.size == 0:
            break
        d = np.abs(oth - r)
        d[used] = np.inf
        j = int(np.argmin(d))
        if d[j] <= window_s:
            used[j] = True
            out.append(oth[j] - r)
    return np.array(out, np.float64)


def best_lag(t: np.ndarray, a: np.ndarray, b: np.ndarray, max_lag_s: float = 0.3) -> float:
    """The lag (s) by which ``b`` follows ``a`` (both (N,) on the regular grid ``t``): the
    shift of ``b`` that maximises its correlation with ``a`` (positive: ``b`` is late)."""
    t = np.asarray(t, np.float64)
    a = np.asarray(a, np.float64) - np.mean(a)
    b = np.asarray(b, np.float64) - np.mean(b)
    dt = float(np.median(np.diff(t)))
    k = int(max_lag_s / dt)
    best, lag = -np.inf, 0
    for s in range(-k, k + 1):
        if s >= 0:
            c = float(np.dot(a[:a.size - s], b[s:]))
        else:
            c = float(np.dot(a[-s:], b[:b.size + s]))
        if c > best:
            best, lag = c, s
    return lag * dt


def blink_onsets(t: np.ndarray, blink: np.ndarray, hi: float = 0.5,
                 lo: float = 0.2) -> np.ndarray:
    """Blink onsets (K,) s in an ``eyeBlink`` track (N,) at times ``t`` (N,) s."""
    return rising_onsets(t, blink, hi, lo)


def blinks_per_minute(t: np.ndarray, blink: np.ndarray, mask=None) -> Tuple[float, int, float]:
    """(blinks per minute, blinks, minutes) of an ``eyeBlink`` track, counted where ``mask``
    (N,) bool is True (e.g. during speech; default everywhere); minutes = frames in the mask
    times the median frame period."""
    t = np.asarray(t, np.float64)
    b = np.asarray(blink, np.float64)
    m = np.ones(t.size, bool) if mask is None else np.asarray(mask, bool)
    on = blink_onsets(t, b)
    idx = np.clip(np.searchsorted(t, on), 0, t.size - 1)
    n = int(np.sum(m[idx])) if on.size else 0
    minutes = float(m.sum() * np.median(np.diff(t))) / 60.0 if t.size > 1 else 0.0
    return (n / minutes if minutes > 0 else float("nan")), n, minutes
