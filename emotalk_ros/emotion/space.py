"""Boundary-aware emotion embedding space (EditEmoTalk), numpy only.

The space is learned by the mapping network (motion window -> embedding z). In it we
fit linear decision boundaries between neutral and each emotion (and between pairs
of emotions). Their unit normals ``n_k`` are the edit directions; the calibration
``s_k`` is the distance along ``n_k`` from the neutral centroid to the centroid of
full-intensity emotion ``k``. A target embedding for intensities alpha (7,) is

    z = z_neutral + sum_k alpha_k * s_k * n_k

so intensities, mixtures and valence/arousal all live in one continuous space, and
alpha = 0 is exactly neutral. This module is shared by the torch and ONNX backends
(the ONNX graph takes z as an input; the directions travel in its metadata).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Dict, Optional

import numpy as np

from emotalk_ros.core.emotions import EXPRESSIVE, NUM_EXPRESSIVE
from emotalk_ros.errors import ModelMismatchError


@dataclass(frozen=True)
class EmotionSpace:
    """z_neutral (D,), normals (7, D) unit rows, scales (7,), pair_normals (7, 7, D) or None.

    ``calibration`` (7, G) optionally maps a commanded intensity on the uniform grid
    linspace(0, 1, G) to the intensity used along the normal (monotone, 0 -> 0, 1 -> 1):
    it makes equal intensity steps give equal expression steps (see
    :mod:`emotalk_ros.training.calibrate`). Beyond 1 the last segment is extended linearly.
    """

    z_neutral: np.ndarray
    normals: np.ndarray
    scales: np.ndarray
    pair_normals: Optional[np.ndarray] = None
    calibration: Optional[np.ndarray] = None

    def warp(self, alpha: np.ndarray) -> np.ndarray:
        """Commanded intensities (..., 7) -> calibrated intensities (..., 7) (identity without
        calibration)."""
        a = np.asarray(alpha, np.float32)
        if self.calibration is None:
            return a
        cal = self.calibration
        grid = np.linspace(0.0, 1.0, cal.shape[1])
        flat = a.reshape(-1, NUM_EXPRESSIVE)
        out = np.empty_like(flat)
        for k in range(NUM_EXPRESSIVE):
            x = flat[:, k]
            slope = (cal[k, -1] - cal[k, -2]) / (grid[1] - grid[0])
            out[:, k] = np.where(
                x <= 1.0, np.interp(x, grid, cal[k]), cal[k, -1] + (x - 1.0) * slope
            )
        return out.reshape(a.shape)

    @property
    def dim(self) -> int:
        """Embedding size D."""
        return int(self.z_neutral.shape[0])

    def embed(self, alpha: np.ndarray) -> np.ndarray:
        """alpha (..., 7) float -> z (..., D) float32 (linear in alpha; alpha=0 -> z_neutral)."""
        a = self.warp(alpha)
        dirs = (self.scales[:, None] * self.normals).astype(np.float32)      # (7, D)
        return (self.z_neutral[None, :] + a.reshape(-1, NUM_EXPRESSIVE) @ dirs).reshape(
            a.shape[:-1] + (self.dim,)).astype(np.float32)

    def project(self, z: np.ndarray) -> np.ndarray:
        """Least-squares inverse of :meth:`embed`: z (..., D) -> alpha (..., 7)."""
        dirs = (self.scales[:, None] * self.normals).astype(np.float64)      # (7, D)
        zz = np.asarray(z, np.float64).reshape(-1, self.dim) - self.z_neutral[None]
        a, *_ = np.linalg.lstsq(dirs.T, zz.T, rcond=None)
        a = a.T
        if self.calibration is not None:                                     # invert the warp
            grid = np.linspace(0.0, 1.0, self.calibration.shape[1])
            a = np.stack(
                [np.interp(a[:, k], self.calibration[k], grid) for k in range(NUM_EXPRESSIVE)], 1
            )
        return a.reshape(np.asarray(z).shape[:-1] + (NUM_EXPRESSIVE,)).astype(np.float32)

    def to_dict(self) -> Dict:
        """JSON-able mapping (nested lists); pair_normals and calibration only when set."""
        d = {"emotions": list(EXPRESSIVE), "z_neutral": self.z_neutral.tolist(),
             "normals": self.normals.tolist(), "scales": self.scales.tolist()}
        if self.pair_normals is not None:
            d["pair_normals"] = self.pair_normals.tolist()
        if self.calibration is not None:
            d["calibration"] = self.calibration.tolist()
        return d

    def to_json(self) -> str:
        """The :meth:`to_dict` mapping as a JSON string."""
        return json.dumps(self.to_dict())

    @staticmethod
    def from_dict(d: Dict) -> "EmotionSpace":
        """Parse :meth:`to_dict` output (arrays as float32); raises
        :class:`ModelMismatchError` when the emotion names differ."""
        if list(d.get("emotions", [])) != list(EXPRESSIVE):
            raise ModelMismatchError(f"model emotion names {d.get('emotions')} do not match this "
                                     f"code's {list(EXPRESSIVE)}")
        pn = d.get("pair_normals")
        cal = d.get("calibration")
        return EmotionSpace(np.asarray(d["z_neutral"], np.float32),
                            np.asarray(d["normals"], np.float32),
                            np.asarray(d["scales"], np.float32),
                            None if pn is None else np.asarray(pn, np.float32),
                            None if cal is None else np.asarray(cal, np.float32))


def _logistic_normal(
    x0: np.ndarray, x1: np.ndarray, l2: float = 1e-2, iters: int = 300
) -> np.ndarray:
    """Unit normal of an L2-regularised logistic-regression boundary separating x0 (label 0) from
    x1 (1).

    x0 (N0, D), x1 (N1, D) float. Newton's method on standardised-free inputs; returns (D,).
    """
    x = np.concatenate([x0, x1]).astype(np.float64)
    y = np.concatenate([np.zeros(len(x0)), np.ones(len(x1))])
    sw = np.where(y == 1, 0.5 / len(x1), 0.5 / len(x0))                 # class-balanced weights
    xb = np.concatenate([x, np.ones((len(x), 1))], axis=1)              # (N, D+1)
    w = np.zeros(xb.shape[1])
    reg = np.full(xb.shape[1], l2)
    reg[-1] = 0.0
    for _ in range(iters):
        p = 1.0 / (1.0 + np.exp(-np.clip(xb @ w, -30, 30)))
        g = xb.T @ (sw * (p - y)) + reg * w
        h = (xb * (sw * p * (1 - p))[:, None]).T @ xb + np.diag(reg + 1e-9)
        step = np.linalg.solve(h, g)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    n = w[:-1]
    return (n / max(np.linalg.norm(n), 1e-12)).astype(np.float32)


def fit_emotion_space(z: np.ndarray, alpha: np.ndarray, pure_threshold: float = 0.05,
                      full_threshold: float = 0.8) -> EmotionSpace:
    """Fit the boundary-aware space from embeddings of labelled motion windows.

    z (N, D) embeddings; alpha (N, 7) the windows' mean intensities. Neutral windows have
    all intensities < pure_threshold; a window is "pure k" when alpha_k >= 0.3 and every
    other intensity < pure_threshold. Normals: neutral-vs-k logistic boundaries (oriented
    toward k); scales: mean projection of windows with alpha_k >= full_threshold, divided by
    their mean alpha_k (so alpha = 1 reaches the full-intensity centroid).
    """
    z = np.asarray(z, np.float64)
    alpha = np.asarray(alpha, np.float64)
    others_small = lambda k: np.all(np.delete(alpha, k, axis=1) < pure_threshold, axis=1)  # noqa: E731
    neutral = np.all(alpha < pure_threshold, axis=1)
    if neutral.sum() < 10:
        raise ValueError("too few neutral windows to fit the emotion space")
    zn = z[neutral].mean(axis=0)
    d = z.shape[1]
    normals = np.zeros((NUM_EXPRESSIVE, d), np.float32)
    scales = np.zeros(NUM_EXPRESSIVE, np.float32)
    pure = []
    for k in range(NUM_EXPRESSIVE):
        pk = others_small(k) & (alpha[:, k] >= 0.3)
        if pk.sum() < 10:
            raise ValueError(f"too few windows of {EXPRESSIVE[k]} to fit the emotion space")
        pure.append(pk)
        n = _logistic_normal(z[neutral], z[pk])
        full = pk & (alpha[:, k] >= full_threshold)
        sel = full if full.sum() >= 5 else pk
        proj = (z[sel] - zn) @ n / alpha[sel, k]
        normals[k] = n
        scales[k] = float(np.mean(proj))
    pair = np.zeros((NUM_EXPRESSIVE, NUM_EXPRESSIVE, d), np.float32)
    for a in range(NUM_EXPRESSIVE):
        for b in range(a + 1, NUM_EXPRESSIVE):
            n = _logistic_normal(z[pure[a]], z[pure[b]])
            pair[a, b], pair[b, a] = n, -n
    return EmotionSpace(zn.astype(np.float32), normals, scales, pair)
