"""Fitting a per-person :class:`~emotalk_ros.animation.style.Style` from Live Link captures.

:func:`fit_style` moves the statistics of a reference performance (the teacher on espeak-ng
speech, :func:`default_reference`) onto those of a person's captures: per-blendshape means
and spreads become gains and offsets, and the speaking amplitude is matched through the
aperture profile. Captures shorter than 5 s in total, or flat ones, are refused.
"""

from typing import Optional, Sequence

import numpy as np

from emotalk_ros.animation.style import (
    _NO_OFFSET,
    _UNSTYLED,
    FIT_GAIN_RANGE,
    FLAT_STD,
    MIN_CAPTURE_S,
    PROFILE_QUANTILES,
    Style,
)
from emotalk_ros.core.blendshapes import INDEX, NUM_BLENDSHAPES, aperture
from emotalk_ros.errors import EmotalkError


def check_capture(frames, i: int, fps: float) -> np.ndarray:
    """Capture ``i`` (0-based) -> (N, 52) float64 clipped to [0, 1]; raises
    :class:`EmotalkError` on a wrong shape or NaN/Inf."""
    f = np.asarray(frames, np.float64)
    if f.ndim != 2 or f.shape[1] != NUM_BLENDSHAPES:
        raise EmotalkError(
            f"capture {i + 1}: frames must be (N, {NUM_BLENDSHAPES}), got {f.shape}"
        )
    if not np.isfinite(f).all():
        raise EmotalkError(f"capture {i + 1}: contains NaN/Inf values")
    return np.clip(f, 0.0, 1.0)


def style_distance(frames: np.ndarray, target: np.ndarray) -> float:
    """Sum over styled shapes of |mean - mean_target| + |std - std_target| (a fit quality
    score)."""
    a = np.asarray(frames, np.float64)
    b = np.asarray(target, np.float64)
    keep = np.setdiff1d(np.arange(NUM_BLENDSHAPES), _UNSTYLED)
    return float(np.abs(a[:, keep].mean(0) - b[:, keep].mean(0)).sum()
                 + np.abs(a[:, keep].std(0) - b[:, keep].std(0)).sum())


def fit_style(captures: Sequence[np.ndarray], reference: Optional[np.ndarray] = None,
              fps: float = 60.0, name: str = "fitted", description: str = "") -> Style:
    """Learn a style that moves ``reference`` statistics onto the captures'.

    captures: list of (N_i, 52) frames at ``fps`` (a person's Live Link Face captures,
    speech); reference: (M, 52) frames of our generator (or the teacher) on speech; None
    uses :func:`default_reference`. Raises :class:`EmotalkError` when the captures total
    less than 5 s or are flat (jawOpen or aperture std < 0.01).
    """
    if not (fps > 0):
        raise EmotalkError(f"fps must be positive, got {fps}")
    if not captures:
        raise EmotalkError("fit-style needs at least one capture")
    caps = [check_capture(c, i, fps) for i, c in enumerate(captures)]
    cap = np.concatenate(caps)                                                 # (N, 52)
    secs = cap.shape[0] / fps
    if secs < MIN_CAPTURE_S:
        raise EmotalkError(
            f"capture too short: {secs:.1f} s of frames at {fps:g} fps; need at least "
            f"{MIN_CAPTURE_S:g} s of the person speaking"
        )
    ap_c = aperture(cap)                                                       # (N,)
    jaw_std, ap_std = float(cap[:, INDEX["jawOpen"]].std()), float(ap_c.std())
    if jaw_std < FLAT_STD or ap_std < FLAT_STD:
        raise EmotalkError(
            f"capture is flat: jawOpen std {jaw_std:.4f}, lip aperture std {ap_std:.4f} "
            f"(need >= {FLAT_STD}); was the face tracked while the person spoke?"
        )
    ref = default_reference(fps) if reference is None else check_capture(reference, -1, fps)
    if ref.shape[0] < 10:
        raise EmotalkError("the reference needs at least 10 frames")

    mc, sc = cap.mean(0), cap.std(0)                                           # (52,)
    mr, sr = ref.mean(0), ref.std(0)
    gain = np.ones(NUM_BLENDSHAPES)
    offset = np.zeros(NUM_BLENDSHAPES)
    moving = sr > 1e-3
    gain[moving] = np.clip(sc[moving] / sr[moving], *FIT_GAIN_RANGE)
    offset = np.clip(mc - gain * mr, -1.0, 1.0)
    # multiplicative shapes: match the RMS (a pure scale cannot match mean and std both)
    rms_c = np.sqrt((cap ** 2).mean(0))
    rms_r = np.sqrt((ref ** 2).mean(0))
    for i in _NO_OFFSET:
        gain[i] = np.clip(rms_c[i] / rms_r[i], *FIT_GAIN_RANGE) if rms_r[i] > 1e-3 else 1.0
        offset[i] = 0.0
    gain[_UNSTYLED], offset[_UNSTYLED] = 1.0, 0.0
    base = Style(gain, offset, name=name, description=description)
    # speaking-amplitude profile: match aperture quantiles of the capture
    ap_r = aperture(ref)
    ap_b = aperture(base.apply(ref))
    knots, gains = [], []
    for q in PROFILE_QUANTILES:
        a_r = float(np.quantile(ap_r, q))
        if a_r <= 1e-3 or (knots and a_r <= knots[-1] + 1e-4):
            continue
        b = float(np.quantile(ap_b, q))
        knots.append(a_r)
        gains.append(float(np.clip(np.quantile(ap_c, q) / max(b, 1e-4), *FIT_GAIN_RANGE)))
    if not knots:
        knots, gains = [0.0], [1.0]
    return Style(
        gain, offset, np.array(knots), np.array(gains), name=name, description=description
    )


def default_reference(fps: float = 60.0, n_sentences: int = 12, seed: int = 0) -> np.ndarray:
    """Reference statistics when no generator frames are given: the procedural teacher (what the
    generator learns to imitate) on espeak-ng speech of generated sentences, neutral emotion.

    Returns (M, 52) float64 frames at ``fps``. Raises :class:`EmotalkError` when espeak-ng is
    not available (pass reference frames instead).
    """
    from emotalk_ros.animation import teacher
    from emotalk_ros.core.emotions import NUM_EXPRESSIVE
    from emotalk_ros.core.phones import PHONE_INDEX

    try:
        from emotalk_ros.speech.espeak import synthesize
        from emotalk_ros.training.synth.text import sentences
    except (ImportError, OSError) as exc:
        raise EmotalkError(f"no default reference (espeak-ng unavailable: {exc}); pass "
                           "--reference frames of the generator") from None
    parts = []
    for text in sentences(seed, n_sentences):
        u = synthesize(text)
        s = np.array([p[1] for p in u.phones])
        e = np.array([p[2] for p in u.phones])
        pid = np.array([PHONE_INDEX[p[0]] for p in u.phones], np.int64)
        n = int(u.duration * fps)
        parts.append(
            teacher.render(s, e, pid, np.zeros((n, NUM_EXPRESSIVE), np.float32), rate=fps)
        )
    return np.concatenate(parts).astype(np.float64)
