"""``emotalk fit-rig``: fit a rig file from paired blendshape / motor samples.

Usage::

    emotalk fit-rig SAMPLES.csv -o rig.yaml [--base RIG.yaml] [--motors a,b,c] [--ridge 1e-4]

Samples CSV: a header row, then one row per sample (a face pose and the motor positions
that reproduce it on the robot, e.g. collected by posing the head by hand while a
Live Link capture runs). Columns:

* blendshape columns, named with any accepted spelling (``jawOpen``, ``JawOpen``,
  ``eyeBlink_L``); values in [0, 1];
* motor columns, either prefixed ``motor:`` (``motor:jaw``) or listed with
  ``--motors jaw,brow_left`` (then unprefixed); values in motor units;
* ``Timecode``, ``BlendShapeCount`` and the Live Link head/eye angle columns are ignored,
  so a Live Link Face CSV with motor columns appended works as is.

Lines that are empty or start with ``#`` are skipped. Every other cell must be a finite
number.

Each motor is fitted independently as ``motor = c + sum_i w_i * b_i`` by ridge regression
(intercept not penalised) over all blendshape columns of the file. The data are refused,
with a non-zero exit, when they are too few (fewer than 5 samples per blendshape column),
when a column is constant, or when the blendshape columns are (nearly) linearly dependent.

The written rig maps the fitted line onto each motor's range: ``min``/``max`` come from the
motor's sample range (or from ``--base`` for motors that rig has, together with its
units, limits, deadband and safety section), ``neutral`` is the fitted value of the
neutral face (all blendshapes 0) clamped to the range (or the base's). Motors of the base
that the samples lack are copied unchanged. The fit error (RMSE in motor units and R^2 per
motor) is computed by running the *written* rig over the samples.
"""

from __future__ import annotations

import csv
import logging
import math
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from emotalk_ros.core.blendshapes import INDEX, LIVE_LINK_HEAD_COLUMNS, NUM_BLENDSHAPES, parse_name
from emotalk_ros.errors import EmotalkError
from emotalk_ros.retarget.rig import Rig
from emotalk_ros.retarget.safety import Retargeter

log = logging.getLogger(__name__)

MOTOR_PREFIX = "motor:"
SAMPLES_PER_INPUT = 5
IGNORED_COLUMNS = ("Timecode", "BlendShapeCount") + LIVE_LINK_HEAD_COLUMNS
# Conservative placeholders for motors without a base rig: full travel in 0.5 s.
DEFAULT_VELOCITY_RANGES_PER_S = 2.0
DEFAULT_ACCELERATION_RANGES_PER_S2 = 20.0


def read_samples(path: str, motors: Optional[Sequence[str]] = None
                 ) -> Tuple[List[str], np.ndarray, List[str], np.ndarray]:
    """Read a samples CSV -> (blendshape names, X (N, P) float64, motor names, Y (N, M) float64).

    Blendshape names are canonical camelCase in file order; see the module docstring for
    the format. Raises :class:`EmotalkError` naming the row/column of any problem.
    """
    try:
        with open(path, newline="", encoding="utf-8") as f:
            rows = [r for r in csv.reader(f) if r and any(c.strip() for c in r)
                    and not r[0].lstrip().startswith("#")]
    except OSError as exc:
        raise EmotalkError(f"cannot read samples {path}: {exc}") from None
    if not rows:
        raise EmotalkError(f"samples {path}: the file is empty (expected a header row)")
    header = [h.strip() for h in rows[0]]
    motor_set = {m.strip() for m in motors} if motors else set()
    bs_cols: List[Tuple[int, str]] = []
    motor_cols: List[Tuple[int, str]] = []
    seen: Dict[str, str] = {}
    for j, h in enumerate(header):
        if h in IGNORED_COLUMNS:
            continue
        if h.startswith(MOTOR_PREFIX) or h in motor_set:
            name = h[len(MOTOR_PREFIX):].strip() if h.startswith(MOTOR_PREFIX) else h
            if not name:
                raise EmotalkError(f"samples {path}: column {j + 1} has an empty motor name")
            if name in seen:
                raise EmotalkError(f"samples {path}: motor {name!r} appears twice")
            seen[name] = h
            motor_cols.append((j, name))
            continue
        try:
            canon = parse_name(h)
        except EmotalkError:
            raise EmotalkError(
                f"samples {path}: column {h!r} is neither a blendshape nor a motor; prefix motor "
                f"columns with '{MOTOR_PREFIX}' or list them with --motors") from None
        if canon in seen:
            raise EmotalkError(f"samples {path}: blendshape {canon!r} appears twice "
                               f"(columns {seen[canon]!r} and {h!r})")
        seen[canon] = h
        bs_cols.append((j, canon))
    missing = sorted(motor_set - {n for _, n in motor_cols})
    if missing:
        raise EmotalkError(f"samples {path}: --motors names column(s) {missing} not in the header")
    if not motor_cols:
        raise EmotalkError(f"samples {path}: no motor columns; prefix them with '{MOTOR_PREFIX}' "
                           "(motor:jaw) or list them with --motors jaw,brow_left")
    if not bs_cols:
        raise EmotalkError(f"samples {path}: no blendshape columns (e.g. jawOpen, JawOpen)")
    data = np.empty((len(rows) - 1, len(header)), dtype=np.float64)  # (N, C)
    used = [j for j, _ in bs_cols] + [j for j, _ in motor_cols]
    for i, r in enumerate(rows[1:]):
        if len(r) != len(header):
            raise EmotalkError(f"samples {path}: row {i + 2} has {len(r)} fields, "
                               f"expected {len(header)}")
        for j in used:
            try:
                v = float(r[j])
            except ValueError:
                raise EmotalkError(f"samples {path}: row {i + 2}, column {header[j]!r}: "
                                   f"not a number: {r[j]!r}") from None
            if not math.isfinite(v):
                raise EmotalkError(f"samples {path}: row {i + 2}, column {header[j]!r}: "
                                   f"not finite: {r[j]!r}")
            data[i, j] = v
    X = data[:, [j for j, _ in bs_cols]]  # (N, P)
    Y = data[:, [j for j, _ in motor_cols]]  # (N, M)
    return [n for _, n in bs_cols], X, [n for _, n in motor_cols], Y


def check_data(bs_names: Sequence[str], X: np.ndarray, motor_names: Sequence[str],
               Y: np.ndarray) -> None:
    """Refuse too-small or degenerate data with an :class:`EmotalkError` that says why.

    X (N, P) blendshapes, Y (N, M) motors. Needs N >= 5 * P, no constant column, and
    blendshape columns that are not (nearly) linearly dependent.
    """
    n, p = X.shape
    if n < SAMPLES_PER_INPUT * p:
        raise EmotalkError(
            f"too few samples: {n} rows for {p} blendshape columns; need at least "
            f"{SAMPLES_PER_INPUT * p} ({SAMPLES_PER_INPUT} per blendshape). Record more poses "
            "or drop blendshape columns that the motors do not depend on")
    xstd = X.std(axis=0)  # (P,)
    const = [bs_names[i] for i in range(p) if xstd[i] <= 1e-9]
    if const:
        raise EmotalkError(f"degenerate samples: blendshape column(s) {const} are constant, so "
                           "their effect cannot be fitted; vary them or drop the columns")
    ystd = Y.std(axis=0)  # (M,)
    yscale = np.maximum(1.0, np.abs(Y).max(axis=0))  # (M,)
    const = [motor_names[i] for i in range(Y.shape[1]) if ystd[i] <= 1e-12 * yscale[i]]
    if const:
        raise EmotalkError(f"degenerate samples: motor column(s) {const} are constant; a range "
                           "cannot be derived and nothing can be fitted")
    Z = (X - X.mean(axis=0)) / xstd  # (N, P) standardised
    s = np.linalg.svd(Z, compute_uv=False)  # (P,)
    if s[-1] <= 1e-6 * s[0]:
        # name the columns that carry the (near) null direction
        _, _, vt = np.linalg.svd(Z, full_matrices=False)
        null = vt[-1]  # (P,)
        involved = [bs_names[i] for i in np.argsort(-np.abs(null)) if abs(null[i]) > 0.1]
        raise EmotalkError(
            f"degenerate samples: the blendshape columns are rank-deficient (linearly "
            f"dependent, e.g. {involved}); record poses that move them independently or drop "
            "redundant columns")


def fit_linear(X: np.ndarray, Y: np.ndarray, ridge: float = 1e-4) -> Tuple[np.ndarray, np.ndarray]:
    """Ridge least squares with an unpenalised intercept.

    X (N, P), Y (N, M) -> (W (P, M), c (M,)) with ``Y ~ X @ W + c``; the penalty is
    ``ridge * N * |W|^2``.
    """
    xm = X.mean(axis=0)  # (P,)
    ym = Y.mean(axis=0)  # (M,)
    Xc = X - xm  # (N, P)
    A = Xc.T @ Xc + ridge * X.shape[0] * np.eye(X.shape[1])  # (P, P)
    W = np.linalg.solve(A, Xc.T @ (Y - ym))  # (P, M)
    c = ym - xm @ W  # (M,)
    return W, c


def build_rig(bs_names: Sequence[str], motor_names: Sequence[str], W: np.ndarray, c: np.ndarray,
              Y: np.ndarray, base: Optional[Rig] = None, units: str = "raw",
              name: str = "fitted_rig") -> Rig:
    """Turn a fitted map into a validated :class:`Rig` (see the module docstring)."""
    base_motors = {m.name: m for m in base.motors} if base is not None else {}
    fitted: Dict[str, dict] = {}
    for j, mname in enumerate(motor_names):
        bm = base_motors.get(mname)
        if bm is not None:
            lo, hi, neutral = bm.min, bm.max, bm.neutral
            extra = dict(units=bm.units, max_velocity=bm.max_velocity,
                         max_acceleration=bm.max_acceleration, deadband=bm.deadband)
        else:
            lo, hi = float(Y[:, j].min()), float(Y[:, j].max())
            neutral = float(min(hi, max(lo, c[j])))
            extra = dict(units=units, max_velocity=DEFAULT_VELOCITY_RANGES_PER_S * (hi - lo),
                         max_acceleration=DEFAULT_ACCELERATION_RANGES_PER_S2 * (hi - lo),
                         deadband=0.0)
        span = hi - lo
        weights = {bs: float(W[i, j] / span) for i, bs in enumerate(bs_names) if W[i, j] != 0.0}
        if not weights:
            raise EmotalkError(f"motor {mname!r}: the fit has no non-zero weight")
        fitted[mname] = dict(name=mname, min=lo, max=hi, neutral=neutral, input=weights,
                             offset=float((c[j] - lo) / span), **extra)
    motors = []
    if base is not None:
        for m in base.motors:
            motors.append(fitted.pop(m.name) if m.name in fitted else m.to_dict())
    motors.extend(fitted[m] for m in motor_names if m in fitted)
    data = {"name": name,
            "description": f"fitted by emotalk fit-rig from {len(Y)} samples"
                           + (f" on base {base.source}" if base is not None else ""),
            "motors": motors}
    if base is not None:
        data["safety"] = base.to_dict()["safety"]
    return Rig.from_dict(data, source=f"<fit-rig {name}>")


def evaluate(rig: Rig, bs_names: Sequence[str], X: np.ndarray, motor_names: Sequence[str],
             Y: np.ndarray) -> Dict[str, Tuple[float, float]]:
    """Run ``rig.map`` over the samples -> {motor: (RMSE in motor units, R^2)}."""
    r = Retargeter(rig)
    B = np.zeros((X.shape[0], NUM_BLENDSHAPES))  # (N, 52); columns not in the file stay 0
    for i, n in enumerate(bs_names):
        B[:, INDEX[n]] = X[:, i]
    idx = [rig.motor_names.index(m) for m in motor_names]
    pred = np.stack([r.map(b)[idx] for b in B])  # (N, M)
    out = {}
    for j, m in enumerate(motor_names):
        err = pred[:, j] - Y[:, j]
        ss_res = float(np.sum(err ** 2))
        ss_tot = float(np.sum((Y[:, j] - Y[:, j].mean()) ** 2))
        out[m] = (math.sqrt(ss_res / len(err)), 1.0 - ss_res / ss_tot)
    return out


