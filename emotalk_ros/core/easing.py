"""Easing curves and the one eased ramp every transition in the package uses.

* :func:`smoothstep` (cubic, ``3u^2 - 2u^3``: zero velocity at both ends) and
  :func:`smootherstep` (quintic, ``6u^5 - 15u^4 + 10u^3``: zero velocity and acceleration at
  both ends), on progress clipped to [0, 1]; :func:`ease_curve` picks one by name.
* :class:`EasedRamp`: a value (scalar or vector) that moves from where it is to a target
  over a duration with an easing, as a pure function of time. Emotion transitions, the voice
  blend weight, keyframe cross-fades and the retargeter's soft start / stale / exit eases
  are all one of these.

Ease names: ``linear``, ``smooth`` (smootherstep, the emotion grammar's default) and
``cubic`` (smoothstep, the motors' ease and idle motion).
"""

from __future__ import annotations

import math
from typing import Optional, Union

import numpy as np

EASES = ("linear", "smooth", "cubic")
ArrayLike = Union[float, np.ndarray]


def smoothstep(u: ArrayLike) -> ArrayLike:
    """Cubic ease ``3u^2 - 2u^3`` of progress ``u`` clipped to [0, 1] (float or array, same
    shape; peak slope 1.5)."""
    if isinstance(u, np.ndarray):
        v = np.clip(u.astype(np.float64, copy=False), 0.0, 1.0)
    else:
        v = min(1.0, max(0.0, float(u)))
    return v * v * (3.0 - 2.0 * v)


def smootherstep(u: ArrayLike) -> ArrayLike:
    """Quintic ease ``6u^5 - 15u^4 + 10u^3`` of progress ``u`` clipped to [0, 1] (float or
    array, same shape; peak slope 1.875)."""
    if isinstance(u, np.ndarray):
        v = np.clip(u.astype(np.float64, copy=False), 0.0, 1.0)
    else:
        v = min(1.0, max(0.0, float(u)))
    return v * v * v * (v * (v * 6.0 - 15.0) + 10.0)


def smoothstep_between(edge0: float, edge1: float, x: ArrayLike) -> ArrayLike:
    """GLSL-style ``smoothstep(edge0, edge1, x)``: 0 at ``edge0``, 1 at ``edge1`` (either
    order), cubic in between; ``x`` float or array."""
    return smoothstep((np.asarray(x, np.float64) - edge0) / (edge1 - edge0))


def ease_curve(u: ArrayLike, ease: str) -> np.ndarray:
    """Easing of progress ``u`` (any shape, clipped to [0, 1]) -> same shape, float64.

    ``linear`` = u; ``smooth`` = :func:`smootherstep`; ``cubic`` = :func:`smoothstep`.
    """
    u = np.clip(np.asarray(u, dtype=np.float64), 0.0, 1.0)
    if ease == "linear":
        return u
    if ease == "cubic":
        return smoothstep(u)
    return smootherstep(u)


def progress(t: np.ndarray, t0: float, duration_s: float, ease: str) -> np.ndarray:
    """Eased progress in [0, 1] of a move that starts at ``t0`` and lasts ``duration_s``.

    ``t`` (N,) s -> (N,) float64: 0 before ``t0``, 1 from ``t0 + duration_s`` on; a move of
    zero duration is a step at ``t0``; with ``t0 = -inf`` the move is over at every time.
    """
    t = np.asarray(t, np.float64).reshape(-1)
    if not math.isfinite(t0):
        return np.ones_like(t)
    if duration_s <= 0.0:
        return (t >= t0).astype(np.float64)
    return ease_curve((t - t0) / duration_s, ease)


class EasedRamp:
    """A value that eases from where it is to a target, as a pure function of time.

    ``value`` is the initial value: a float or an array of any shape (held at all times
    until the first :meth:`move`). :meth:`move` starts a transition at time ``now`` from the
    ramp's value at ``now`` (so a move in the middle of another continues from where the
    value is, without a jump) to ``target`` over ``duration_s`` with ``ease``.

    Evaluation at times before the last move's start gives the value *at* that start (time
    never runs backwards past a command): for a step (duration 0) that is already the
    target. A move stamped earlier than the previous one starts at the previous one's time.
    """

    def __init__(self, value: ArrayLike = 0.0):
        v = np.asarray(value, np.float64)
        self._start = v.copy()
        self._target = v.copy()
        self._t0 = -math.inf
        self._dur = 0.0
        self._ease = "linear"

    @property
    def target(self) -> np.ndarray:
        """The target of the last move (a copy, float64)."""
        return self._target.copy()

    @property
    def start_time(self) -> float:
        """Time (s) the last move started (-inf before any)."""
        return self._t0

    @property
    def duration_s(self) -> float:
        """Duration (s) of the last move."""
        return self._dur

    def copy(self) -> "EasedRamp":
        """An independent copy (its arrays copied), much cheaper than ``copy.deepcopy``."""
        c = EasedRamp.__new__(EasedRamp)
        c._start, c._target = self._start.copy(), self._target.copy()
        c._t0, c._dur, c._ease = self._t0, self._dur, self._ease
        return c

    def reset(self, value: ArrayLike) -> None:
        """Forget every move; hold ``value`` at all times."""
        self.__init__(value)

    def move(self, target: ArrayLike, now: float, duration_s: float, ease: str = "smooth",
             start: Optional[ArrayLike] = None) -> None:
        """Start a move to ``target`` at time ``now`` (s) over ``duration_s`` (s).

        ``start`` overrides the value the move starts from (default: the ramp's value at
        ``now``).
        """
        now = max(float(now), self._t0)
        self._start = (np.array(self.at(now), np.float64) if start is None
                       else np.asarray(start, np.float64).copy())
        self._target = np.asarray(target, np.float64).copy()
        self._t0 = now
        self._dur = max(0.0, float(duration_s))
        self._ease = ease

    def weight(self, times: np.ndarray) -> np.ndarray:
        """Eased progress (N,) float64 in [0, 1] of the last move at ``times`` (N,) s."""
        t = np.asarray(times, np.float64).reshape(-1)
        return progress(np.maximum(t, self._t0), self._t0, self._dur, self._ease)

    def at_many(self, times: np.ndarray, goal: Optional[ArrayLike] = None) -> np.ndarray:
        """Values at ``times`` (N,) s -> (N, *shape) float64.

        ``goal`` replaces the target for this evaluation (a moving goal, e.g. live input that
        the retargeter eases into).
        """
        w = self.weight(times)                                                # (N,)
        tgt = self._target if goal is None else np.asarray(goal, np.float64)
        w = w.reshape((-1,) + (1,) * self._start.ndim)
        return self._start[None, ...] + w * (tgt - self._start)[None, ...]

    def _weight_at(self, t: float) -> float:
        """:meth:`weight` at one time, in plain floats (the same arithmetic, bit for bit)."""
        if not math.isfinite(self._t0):
            return 1.0
        t = max(t, self._t0)
        if self._dur <= 0.0:
            return 1.0 if t >= self._t0 else 0.0
        v = min(1.0, max(0.0, (t - self._t0) / self._dur))
        if self._ease == "linear":
            return v
        if self._ease == "cubic":
            return v * v * (3.0 - 2.0 * v)
        return v * v * v * (v * (v * 6.0 - 15.0) + 10.0)

    def at(self, t: float, goal: Optional[ArrayLike] = None) -> np.ndarray:
        """The value at time ``t`` (s): a float64 array of the value's shape (equal to
        ``at_many([t], goal)[0]``)."""
        tgt = self._target if goal is None else np.asarray(goal, np.float64)
        return self._start + self._weight_at(float(t)) * (tgt - self._start)

    def done(self, t: float) -> bool:
        """True once the last move is complete at time ``t``."""
        return not math.isfinite(self._t0) or float(t) >= self._t0 + self._dur
