"""``emotalk calibrate``: per-emotion intensity calibration and the run-time output smoothing.

EditEmoTalk calibrates each edit direction so that alpha = 1 reaches the emotion's full
expression (``s_k``). This extends it to the whole range: for each emotion we sweep the
commanded intensity over a grid on a fixed *calibration* signal (a deterministic
speech-like test signal, never evaluation data), measure the mean of the emotion's FACS
blendshape group, make it monotone, and store the intensity warp that makes that mean
rise linearly with the command. Mixtures warp each component independently; the space
stays linear in the warped intensities, and 0 stays exactly neutral.
"""

from __future__ import annotations

from typing import Dict

import numpy as np

from emotalk_ros.core.emotions import EXPRESSIVE, NUM_EXPRESSIVE, group_index
from emotalk_ros.emotion.space import EmotionSpace

GRID = 11


def warp_from_response(g: np.ndarray, min_rise: float = 1e-3) -> np.ndarray:
    """Response g (G,) measured at linspace(0, 1, G) -> warp (G,) with g(warp) rising linearly.

    g is made monotone first; a response that does not rise by ``min_rise`` gets the
    identity warp (a calibration must never make the control worse).
    """
    g = np.asarray(g, np.float64)
    return refine_warp(np.linspace(0.0, 1.0, g.shape[0]), g, g.shape[0], min_rise)


def refine_warp(intensity: np.ndarray, response: np.ndarray, grid: int,
                min_rise: float = 1e-3) -> np.ndarray:
    """Warp (grid,) from every (intensity, response) pair measured so far: the response made
    monotone in intensity and inverted at the linear targets. Pairs measured at the warp's
    own points put samples where the response bends, so a steep onset inside the first grid
    cell is no longer read as a straight line."""
    order = np.argsort(intensity, kind="stable")
    x = np.asarray(intensity, np.float64)[order]
    g = np.asarray(response, np.float64)[order]
    keep = np.concatenate([[True], np.diff(x) > 1e-6])
    x, g = x[keep], g[keep]
    levels = np.linspace(0.0, 1.0, grid)
    if g[-1] - g[0] < min_rise:
        return levels.astype(np.float32)
    gm = np.maximum.accumulate(g) + 1e-9 * np.arange(g.shape[0])           # monotone, strictly
    w = np.interp(gm[0] + levels * (gm[-1] - gm[0]), gm, x)
    w[0], w[-1] = 0.0, 1.0
    return w.astype(np.float32)


def intensity_calibration(ckpt: Dict, seconds: float = 4.0, grid: int = GRID,
                          passes: int = 3) -> np.ndarray:
    """(7, grid) calibrated intensities for the uniform grid linspace(0, 1, grid).

    The response is measured on the grid, inverted (:func:`warp_from_response`), then
    measured again at the warped intensities ``passes`` times (:func:`refine_warp`)."""
    from emotalk_ros.core.signals import speech_like_signal as test_signal
    from emotalk_ros.generator.backends import TorchPredictor

    ck = dict(ckpt)
    space = dict(ck["emotion_space"])
    space.pop("calibration", None)                      # measure without any warp
    ck["emotion_space"] = space
    pred = TorchPredictor(ck, device="cpu")
    x = test_signal(seconds, seed=11)
    levels = np.linspace(0.0, 1.0, grid)
    cal = np.zeros((NUM_EXPRESSIVE, grid), np.float32)
    for k, name in enumerate(EXPRESSIVE):
        idx = group_index(name)

        def response(a: float) -> float:
            alpha = np.zeros(NUM_EXPRESSIVE, np.float32)
            alpha[k] = a
            return float(pred.animate(x, alpha).values[:, idx].mean())

        xs = list(levels)
        gs = [response(a) for a in levels]
        w = warp_from_response(np.asarray(gs))
        for _ in range(passes):
            if np.allclose(w, levels, atol=1e-6):
                break                                   # identity: nothing to refine
            new = [float(a) for a in w[1:-1] if np.abs(np.asarray(xs) - a).min() > 1e-4]
            xs += new
            gs += [response(a) for a in new]
            w = refine_warp(np.asarray(xs), np.asarray(gs), grid)
        cal[k] = w
    return cal


def calibrate(ckpt: Dict, smoothing: float) -> Dict:
    """Checkpoint -> a copy with the intensity calibration (7, GRID) measured and
    ``output_smoothing`` set (one-pole coefficient in [0, 1))."""
    out = dict(ckpt)
    space = EmotionSpace.from_dict(ckpt["emotion_space"])
    cal = intensity_calibration(ckpt)
    out["emotion_space"] = EmotionSpace(
        space.z_neutral, space.normals, space.scales, space.pair_normals, cal
    ).to_dict()
    out["output_smoothing"] = float(smoothing)
    return out


