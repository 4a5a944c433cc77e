"""The safety stage between blendshapes and motors (:class:`Retargeter`).

:meth:`Retargeter.map` turns a (52,) blendshape vector into raw motor targets through the
rig's weights and response curves; :meth:`Retargeter.step` advances the stateful stage:
causal filter, soft start, stale-input watchdog, exit ease, deadband and velocity and
acceleration limits with braking before the range ends. Whatever comes in (NaN, Inf, huge
values, bursts, gaps, dt of 0 or negative), every command stays within each motor's
[min, max]. :func:`merge_named` reads a named, possibly partial, input message.
"""

import math
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from emotalk_ros.core.blendshapes import INDEX, NAMES, NUM_BLENDSHAPES, parse_name
from emotalk_ros.core.easing import EasedRamp
from emotalk_ros.core.limits import quote
from emotalk_ros.errors import EmotalkError
from emotalk_ros.retarget.rig import _FILTER_MAX_DT_S, Rig


def merge_named(previous: np.ndarray, names: Sequence[str],
                values: Sequence[float]) -> Tuple[np.ndarray, List[str], int]:
    """Update a (52,) blendshape vector from a named, possibly partial, message.

    Missing names are **held** at their previous value (start from zeros for "missing
    means 0"). Non-finite values are ignored (held), finite ones are clamped to [0, 1].
    Unknown names are skipped and returned. Raises :class:`EmotalkError` when
    ``names``/``values`` lengths differ or no name is a blendshape.

    Returns (vector (52,) float64, unknown names, number of non-finite values ignored).
    """
    if len(names) != len(values):
        raise EmotalkError(f"message has {len(names)} names but {len(values)} positions")
    out = np.array(previous, dtype=np.float64).reshape(NUM_BLENDSHAPES)  # (52,)
    unknown: List[str] = []
    used = 0
    bad = 0
    for n, v in zip(names, values):
        try:
            i = INDEX[parse_name(str(n))]
        except EmotalkError:
            unknown.append(str(n))
            continue
        used += 1
        v = float(v)
        if math.isfinite(v):
            out[i] = min(1.0, max(0.0, v))
        else:
            bad += 1
    if used == 0:
        raise EmotalkError(f"message names no ARKit blendshape (got {quote(list(names)[:5])}); "
                           f"expected names such as {', '.join(NAMES[:3])}")
    return out, unknown, bad


class Retargeter:
    """Blendshapes -> motor targets (:meth:`map`) and the stateful safety stage (:meth:`step`).

    Pipeline of :meth:`step`: clamp -> causal filter (live input) -> ease blend (soft start,
    stale watchdog, exit) -> deadband -> velocity/acceleration limits with braking before
    the range ends -> clamp. The ease blends from a snapshot pose to the goal ("live"
    input or ``neutral``) with a smoothstep over its duration; the hard limits apply on top.

    Watchdog: call ``step(None, dt)`` on every control tick without a *new* input; once
    the time since the last input exceeds ``stale_timeout_s`` the target eases to neutral
    (over ``stale_ease_s``); the next input eases back into tracking (over ``soft_start_s``).
    Before the first input the live target is ``neutral``.

    ``initial`` (M,) is the pose the motors are known to be in at start (e.g. read back
    from the hardware); it defaults to neutral. The soft start eases from it.
    """

    def __init__(self, rig: Rig, initial: Optional[np.ndarray] = None, *,
                 stale_timeout_s: Optional[float] = None, stale_ease_s: Optional[float] = None,
                 soft_start_s: Optional[float] = None, exit_ease_s: Optional[float] = None):
        self.rig = rig
        s = rig.safety
        self.stale_timeout_s = float(
            s.stale_timeout_s if stale_timeout_s is None else stale_timeout_s
        )
        self.stale_ease_s = float(s.stale_ease_s if stale_ease_s is None else stale_ease_s)
        self.soft_start_s = float(s.soft_start_s if soft_start_s is None else soft_start_s)
        self.exit_ease_s = float(s.exit_ease_s if exit_ease_s is None else exit_ease_s)
        self.max_step_dt_s = float(s.max_step_dt_s)
        self._lo = rig.lower  # (M,)
        self._hi = rig.upper  # (M,)
        self._span = self._hi - self._lo  # (M,)
        self._neutral = rig.neutral  # (M,)
        self._vmax = rig.max_velocity  # (M,)
        self._amax = rig.max_acceleration  # (M,)
        self._deadband = rig.deadband  # (M,)
        self._W = rig.weights  # (M, 52)
        self._offset = rig.offset  # (M,)
        self._ease = EasedRamp(rig.neutral)  # (M,) soft start / stale / exit ease
        self.counts: Dict[str, np.ndarray] = {}
        self.reset(initial)

    # ---------------------------------------------------------------- mapping
    def map(self, blendshapes: np.ndarray) -> np.ndarray:
        """(52,) blendshapes in streaming order -> (M,) float64 raw targets in motor units.

        Input is sanitised first (NaN -> 0, +Inf -> 1, clamp to [0, 1]); the result is
        clamped to each motor's [min, max]. ``counts['saturated']`` counts, per motor, the
        calls whose weighted input fell outside the response's domain.
        """
        try:
            b = np.asarray(blendshapes, dtype=np.float64).reshape(-1)  # (52,)
        except (TypeError, ValueError):
            raise EmotalkError("blendshapes must be 52 numbers in streaming order") from None
        if b.shape != (NUM_BLENDSHAPES,):
            raise EmotalkError(f"blendshapes must have shape (52,), got {np.shape(blendshapes)}")
        b = np.clip(np.nan_to_num(b, nan=0.0, posinf=1.0, neginf=0.0), 0.0, 1.0)  # (52,)
        x = self._W @ b + self._offset  # (M,)
        out = np.empty_like(x)  # (M,)
        for i, mo in enumerate(self.rig.motors):
            if mo.curve is None:
                xs, ys = (0.0, 1.0), (0.0, 1.0)
            else:
                xs = tuple(p[0] for p in mo.curve)
                ys = tuple(p[1] for p in mo.curve)
            if x[i] < xs[0] or x[i] > xs[-1]:
                self.counts["saturated"][i] += 1
            y = float(np.interp(x[i], xs, ys))
            in_units = mo.curve is not None and mo.curve_units == "motor"
            pos = y if in_units else mo.min + y * (mo.max - mo.min)
            if mo.invert:
                pos = mo.min + mo.max - pos
            out[i] = pos
        return np.clip(out, self._lo, self._hi)

    # ---------------------------------------------------------------- state
    def reset(self, initial: Optional[np.ndarray] = None) -> None:
        """Forget all state; the motors are at ``initial`` (M,) (default neutral), at rest."""
        m = len(self.rig.motors)
        if initial is None:
            p0 = self._neutral.copy()
        else:
            p0 = np.asarray(initial, dtype=np.float64).reshape(-1)  # (M,)
            if p0.shape != (m,):
                raise EmotalkError(f"initial pose must have {m} values, got {p0.shape}")
            p0 = np.clip(np.where(np.isfinite(p0), p0, self._neutral), self._lo, self._hi)
        self._pos = p0  # (M,) commanded position
        self._vel = np.zeros(m)  # (M,) velocity of the last step (units/s)
        self._raw = self._neutral.copy()  # (M,) latest clamped live target
        self._have_input = False
        self._filter_state: Optional[Tuple[np.ndarray, np.ndarray]] = None
        self._eff = p0.copy()  # (M,) last eased target
        self._held = p0.copy()  # (M,) deadbanded target
        self._age = 0.0
        self._stale = False
        self._exiting = False
        self._start_ease(p0, "live", self.soft_start_s)
        self.counts = {k: np.zeros(m, dtype=np.int64)
                       for k in ("saturated", "clamped", "nonfinite", "limited")}

    def _start_ease(self, start: np.ndarray, goal: str, duration_s: float) -> None:
        """Ease from ``start`` (M,) toward ``goal`` ("live" input or "neutral") over
        ``duration_s`` of stepped time (a cubic ease; the goal may move while it runs)."""
        self._ease_goal = goal
        self._ease_t = 0.0                                     # stepped time since the start
        self._ease.move(start, 0.0, duration_s, "cubic", start=start)

    def ease_to_neutral(self, duration_s: Optional[float] = None) -> None:
        """Exit mode: ignore input, ease to neutral over ``duration_s`` (default
        ``exit_ease_s``)."""
        self._exiting = True
        self._start_ease(
            self._eff, "neutral", self.exit_ease_s if duration_s is None else duration_s
        )

    def resume(self) -> None:
        """Leave the exit mode and ease back into tracking over ``soft_start_s``."""
        if self._exiting:
            self._exiting = False
            self._filter_state = None
            self._start_ease(self._eff, "live", self.soft_start_s)

    @property
    def position(self) -> np.ndarray:
        """(M,) last command (motor units)."""
        return self._pos.copy()

    @property
    def velocity(self) -> np.ndarray:
        """(M,) velocity of the last step (units/s)."""
        return self._vel.copy()

    @property
    def stale(self) -> bool:
        """True while the watchdog holds the motors at (or eases them to) neutral."""
        return self._stale

    @property
    def exiting(self) -> bool:
        """True in exit mode (input ignored, easing to neutral) until :meth:`resume`."""
        return self._exiting

    @property
    def input_age_s(self) -> float:
        """Seconds of stepped time since the last input (since start if none yet)."""
        return self._age

    @property
    def at_neutral(self) -> bool:
        """True once the neutral ease is complete and every motor rests at neutral."""
        if self._ease_goal != "neutral" or not self._ease.done(self._ease_t):
            return False
        tol = 1e-6 * self._span
        return bool(np.all(np.abs(self._pos - self._neutral) <= tol)
                    and np.all(np.abs(self._vel) <= tol))

    # ---------------------------------------------------------------- filter
    @property
    def filter_delay_s(self) -> float:
        """Nominal delay (s) of the causal filter for slow motion: its low-frequency group
        delay (``one_euro``: 1 / (2 pi min_cutoff_hz), an upper bound: faster motion raises
        the cutoff; ``critically_damped``: 2 / (2 pi cutoff_hz); ``none``: 0)."""
        cfg = self.rig.safety.filter
        if cfg.type == "one_euro":
            return 1.0 / (2.0 * math.pi * cfg.min_cutoff_hz)
        if cfg.type == "critically_damped":
            return 2.0 / (2.0 * math.pi * cfg.cutoff_hz)
        return 0.0

    def _filter(self, x: np.ndarray, dt: float) -> np.ndarray:
        """Causal low-pass of the live target (M,) in normalised range units."""
        cfg = self.rig.safety.filter
        u = (x - self._lo) / self._span  # (M,)
        if cfg.type == "none":
            return x
        h = min(dt, _FILTER_MAX_DT_S)
        if self._filter_state is None:
            self._filter_state = (u.copy(), np.zeros_like(u))
            return x
        y, d = self._filter_state
        if cfg.type == "one_euro":
            def alpha(fc):
                k = 2.0 * math.pi * fc * h
                return k / (1.0 + k)
            dx = (u - y) / h  # (M,) range fractions / s
            d = d + alpha(cfg.d_cutoff_hz) * (dx - d)
            fc = cfg.min_cutoff_hz + cfg.beta * np.abs(d)  # (M,)
            k = 2.0 * math.pi * fc * h
            y = y + (k / (1.0 + k)) * (u - y)
        else:  # critically damped, exact for input held over the step
            w = 2.0 * math.pi * cfg.cutoff_hz
            e0 = y - u
            decay = math.exp(-w * h)
            c = d + w * e0
            y = u + (e0 + c * h) * decay
            d = (d - w * c * h) * decay
        y = np.clip(y, 0.0, 1.0)
        self._filter_state = (y, d)
        return self._lo + y * self._span

    # ---------------------------------------------------------------- step
    def step(self, target: Optional[np.ndarray], dt: float) -> np.ndarray:
        """Advance the safety stage by ``dt`` seconds -> (M,) float64 command (motor units).

        ``target`` (M,) is a new raw target (usually from :meth:`map`) or None when no new
        input arrived this tick (the watchdog counts that time). See the module docstring
        for the guarantees and the handling of bad ``target`` entries and bad ``dt``.
        """
        m = self._pos.shape[0]
        if target is not None:
            try:
                t = np.asarray(target, dtype=np.float64).reshape(-1)  # (M,)
            except (TypeError, ValueError):
                raise EmotalkError(f"target must be {m} numbers (rig motor order)") from None
            if t.shape != (m,):
                raise EmotalkError(
                    f"target must have {m} values (rig motor order), got {np.shape(target)}"
                )
            nan = np.isnan(t)
            self.counts["nonfinite"] += ~np.isfinite(t)
            t = np.where(nan, self._raw, t)
            out_of_range = (t < self._lo) | (t > self._hi)
            self.counts["clamped"] += out_of_range
            self._raw = np.clip(t, self._lo, self._hi)  # +-inf -> range ends
            self._have_input = True
            self._age = 0.0
            if self._stale and not self._exiting:
                self._stale = False
                self._filter_state = None
                self._start_ease(self._eff, "live", self.soft_start_s)
        try:
            dt = float(dt)
        except (TypeError, ValueError):
            dt = float("nan")
        if not (math.isfinite(dt) and dt > 0.0):
            return self._pos.copy()

        if target is None:
            self._age += dt
            if not self._stale and not self._exiting and self._age > self.stale_timeout_s:
                self._stale = True
                self._start_ease(self._eff, "neutral", self.stale_ease_s)

        # live target, filtered; then the ease blend
        live = self._filter(self._raw, dt) if self._have_input else self._neutral  # (M,)
        self._ease_t += dt
        goal = live if self._ease_goal == "live" else self._neutral  # (M,)
        eff = self._ease.at(self._ease_t, goal=goal)  # (M,)
        self._eff = eff
        if self._ease_goal == "live":
            move = np.abs(eff - self._held) > self._deadband  # (M,) bool
            self._held = np.where(move, eff, self._held)
        else:
            self._held = eff.copy()

        # velocity / acceleration limits with braking before the range ends
        p, v = self._pos, self._vel
        a, vm = self._amax, self._vmax
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            adt = a * dt  # (M,)

            def vbrake(dist):
                """Largest speed toward a point ``dist`` away that can still stop before it."""
                dist = np.maximum(dist, 0.0)
                den = adt + np.sqrt(adt * adt + 2.0 * a * dist)
                return np.where(den > 0, 2.0 * a * dist / den, 0.0)

            e = self._held - p  # (M,)
            dist = np.abs(e)
            vdes = np.sign(e) * np.minimum(np.minimum(vm, vbrake(dist)), dist / dt)  # (M,)
            cap = vm * min(
                1.0, self.max_step_dt_s / dt
            )  # (M,) long gaps move no more than one max step
            lo = np.maximum(np.maximum(v - adt, -vm), -vbrake(p - self._lo))  # (M,)
            hi = np.minimum(np.minimum(v + adt, vm), vbrake(self._hi - p))  # (M,)
            vnew = np.clip(vdes, -cap, cap)
            vnew = np.minimum(np.maximum(vnew, lo), hi)
            vnew = np.nan_to_num(vnew, nan=0.0, posinf=0.0, neginf=0.0)
        self.counts["limited"] += np.abs(vnew - vdes) > 1e-12 * self._span
        pnew = np.clip(p + vnew * dt, self._lo, self._hi)  # (M,)
        self._vel = (pnew - p) / dt
        self._pos = pnew
        return pnew.copy()
