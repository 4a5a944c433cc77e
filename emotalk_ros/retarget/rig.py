"""Retargeting ARKit blendshapes onto the motors of a physical head, with a safety stage.

Two parts, both plain numpy (no rclpy):

* :class:`Rig` is a validated rig file (``config/rigs/*.yaml``): the motors of a head,
  how each is driven from the 52 blendshapes, and its safety limits.
* :class:`Retargeter` turns blendshape frames into motor commands:
  ``map(blendshapes (52,)) -> raw targets (M,)`` (stateless, clamped to each motor's
  range) and the stateful ``step(target (M,) or None, dt) -> command (M,)`` which
  filters, applies a deadband, limits velocity and acceleration, soft-starts, eases to
  neutral when the input goes stale, and eases to neutral on request (safe exit).

Rig file format (YAML)::

    name: my_head                 # optional
    description: ...              # optional
    safety:                       # optional; these are the defaults
      stale_timeout_s: 0.5        # no new input for this long -> ease to neutral
      stale_ease_s: 1.0           # duration of that ease
      soft_start_s: 1.0           # ease from the initial pose into tracking (also on resume)
      exit_ease_s: 1.5            # ease to neutral on shutdown
      max_step_dt_s: 0.1          # a longer gap between steps moves no further than this dt
      filter: {type: one_euro, min_cutoff_hz: 3.0, beta: 0.5, d_cutoff_hz: 1.0}
              # or {type: critically_damped, cutoff_hz: 8.0} or {type: none}
    defaults:                     # optional: any motor field, used where a motor omits it
      max_velocity: 2.0
    motors:                       # the order is the order of face/motor_commands
      - name: jaw
        units: us                 # free text: us, rad, deg, normalized, ...
        min: 1100                 # motor units; min < max
        max: 1900
        neutral: 1100             # the safe rest pose, within [min, max]
        input: {jawOpen: 1.0, mouthClose: -1.0}   # weighted sum, any name spelling
        offset: 0.0               # optional, added to the weighted sum
        curve: [[0, 0], [1, 1]]   # optional piecewise-linear response (see below)
        curve_units: fraction     # 'fraction' (default) or 'motor'
        invert: false             # reflect the position within [min, max]
        max_velocity: 4000        # motor units / s   (required here or in defaults)
        max_acceleration: 60000   # motor units / s^2 (required here or in defaults)
        deadband: 4               # motor units; target changes smaller than this are ignored
        latency_ms: 40            # optional: actuation latency; with frames that arrive ahead of
                                  # their stamps the command is sent this much early
      - name: jaw_mirror_example
        mirror: jaw               # copy another motor's definition with Left/Right swapped
        invert: true              # ... then override any field given here

Mapping of one motor: ``x = offset + sum_i w_i * b_i`` (blendshapes ``b`` in [0, 1]).
Without ``curve``, ``f = clip(x, 0, 1)`` is the fraction of the range and the position is
``min + f * (max - min)``. With ``curve: [[x0, y0], [x1, y1], ...]`` (x strictly
increasing, at least two points), ``y = interp(x)`` with constant extrapolation past
the ends; with ``curve_units: fraction`` y is a fraction of the range in [0, 1], with
``curve_units: motor`` y is a position in motor units within [min, max]. ``invert``
finally maps a position ``p`` to ``min + max - p``. Example rigs are written so that
the all-zero (neutral) face maps to the ``neutral`` pose.

A ``mirror`` motor starts from its partner's full definition (the partner must be a
motor of the same file that is not itself a mirror), with ``Left`` and ``Right``
swapped in every input blendshape name, and then applies the fields it gives itself.

Safety stage guarantees (checked by property tests under adversarial input): for every
step with a finite ``dt > 0`` the command lies in ``[min, max]``, moves at most
``max_velocity * dt`` and its velocity ``(c_k - c_{k-1}) / dt_k`` changes by at most
``max_acceleration * dt_k`` (up to float rounding of the positions). A step whose ``dt``
is zero, negative or not finite returns the previous command unchanged and advances no
state (a target given with it is still stored). Bad target entries: NaN holds that
motor's previous target, +-Inf and out-of-range values are clamped to the range.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
import yaml

from emotalk_ros import resources
from emotalk_ros.core.blendshapes import INDEX, NUM_BLENDSHAPES, parse_name
from emotalk_ros.core.limits import finite_number, quote
from emotalk_ros.errors import EmotalkError

log = logging.getLogger(__name__)

DEFAULT_RIG = "hobby_servo_head"
EXAMPLE_RIGS = ("hobby_servo_head", "morpheus_head", "arkit_passthrough")
FILTER_TYPES = ("one_euro", "critically_damped", "none")
CURVE_UNITS = ("fraction", "motor")

_MOTOR_FIELDS = ("name", "units", "min", "max", "neutral", "input", "offset", "curve",
                 "curve_units", "invert", "max_velocity", "max_acceleration", "deadband",
                 "latency_ms", "mirror")
MAX_LATENCY_MS = 1000.0
_DEFAULTABLE = tuple(f for f in _MOTOR_FIELDS if f not in ("name", "mirror"))
_TOP_FIELDS = ("name", "description", "safety", "defaults", "motors")
_SAFETY_FIELDS = ("stale_timeout_s", "stale_ease_s", "soft_start_s", "exit_ease_s",
                  "max_step_dt_s", "filter")
_FILTER_FIELDS = {"one_euro": ("type", "min_cutoff_hz", "beta", "d_cutoff_hz"),
                  "critically_damped": ("type", "cutoff_hz"), "none": ("type",)}
# A filter run after a gap longer than this is simply settled (avoids inf * 0 in exp forms).
_FILTER_MAX_DT_S = 10.0
MAX_RIG_FILE_BYTES = 1 << 20     # a rig file is a few kB; bigger ones are refused
MAX_MOTORS = 256
MAX_CURVE_POINTS = 256
MAX_NAME_CHARS = 64


# --------------------------------------------------------------------------------------------
# Rig file
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class FilterConfig:
    """Causal low-pass filter on the live target, run in normalised range units (0..1).

    ``one_euro``: cutoff = ``min_cutoff_hz + beta * |d target / dt|`` (range fractions / s),
    derivative smoothed at ``d_cutoff_hz``. ``critically_damped``: 2nd-order, no overshoot
    for a step, natural frequency ``cutoff_hz``; solved exactly per step (stable for any dt).
    """

    type: str = "one_euro"
    min_cutoff_hz: float = 3.0
    beta: float = 0.5
    d_cutoff_hz: float = 1.0
    cutoff_hz: float = 8.0


@dataclass(frozen=True)
class SafetyConfig:
    """Timing of the safety stage (all seconds); see the module docstring."""

    stale_timeout_s: float = 0.5
    stale_ease_s: float = 1.0
    soft_start_s: float = 1.0
    exit_ease_s: float = 1.5
    max_step_dt_s: float = 0.1
    filter: FilterConfig = field(default_factory=FilterConfig)


@dataclass(frozen=True)
class Motor:
    """One motor, fully resolved (mirrors expanded, defaults applied).

    ``weights`` are (canonical blendshape name, weight) pairs; ``curve`` is None or a
    tuple of (x, y) points. Positions, limits and deadband are in the motor's ``units``.
    """

    name: str
    units: str
    min: float
    max: float
    neutral: float
    weights: Tuple[Tuple[str, float], ...]
    max_velocity: float
    max_acceleration: float
    offset: float = 0.0
    curve: Optional[Tuple[Tuple[float, float], ...]] = None
    curve_units: str = "fraction"
    invert: bool = False
    deadband: float = 0.0
    mirror_of: Optional[str] = None
    latency_ms: float = 0.0

    def to_dict(self) -> Dict[str, Any]:
        """Plain-YAML form (explicit: a mirror is written out in full)."""
        d: Dict[str, Any] = {"name": self.name, "units": self.units, "min": self.min,
                             "max": self.max, "neutral": self.neutral,
                             "input": {n: w for n, w in self.weights}}
        if self.offset:
            d["offset"] = self.offset
        if self.curve is not None:
            d["curve"] = [[x, y] for x, y in self.curve]
            d["curve_units"] = self.curve_units
        if self.invert:
            d["invert"] = True
        d.update(max_velocity=self.max_velocity, max_acceleration=self.max_acceleration,
                 deadband=self.deadband)
        if self.latency_ms:
            d["latency_ms"] = self.latency_ms
        return d


def _err(src: str, where: str, msg: str) -> EmotalkError:
    return EmotalkError(f"rig {src}: {where}: {msg}")


def _number(value: Any, src: str, where: str, name: str) -> float:
    try:
        return finite_number(value, f"field '{name}'")
    except EmotalkError as exc:
        raise _err(src, where, str(exc)) from None


def _swap_left_right(name: str) -> str:
    """``mouthSmileLeft`` <-> ``mouthSmileRight`` (canonical names; others unchanged)."""
    return parse_name(name.replace("Left", "\0").replace("Right", "Left").replace("\0", "Right"))


def _parse_filter(raw: Any, src: str) -> FilterConfig:
    where = "safety.filter"
    if raw is None:
        return FilterConfig()
    if not isinstance(raw, dict):
        raise _err(src, where, f"must be a mapping with a 'type', got {quote(raw)}")
    ftype = raw.get("type", "one_euro")
    if ftype not in FILTER_TYPES:
        raise _err(src, where,
                   f"unknown filter type {quote(ftype)}; expected one of {FILTER_TYPES}")
    unknown = sorted(str(k) for k in set(raw) - set(_FILTER_FIELDS[ftype]))
    if unknown:
        raise _err(src, where, f"unknown field(s) {quote(unknown)} for type {quote(ftype)}; "
                               f"allowed: {list(_FILTER_FIELDS[ftype])}")
    kw: Dict[str, Any] = {"type": ftype}
    for k in _FILTER_FIELDS[ftype][1:]:
        if k in raw:
            kw[k] = _number(raw[k], src, where, k)
    cfg = FilterConfig(**kw)
    for k in ("min_cutoff_hz", "d_cutoff_hz", "cutoff_hz"):
        if getattr(cfg, k) <= 0:
            raise _err(src, where, f"field '{k}' must be > 0, got {getattr(cfg, k)}")
    if cfg.beta < 0:
        raise _err(src, where, f"field 'beta' must be >= 0, got {cfg.beta}")
    return cfg


def _parse_safety(raw: Any, src: str) -> SafetyConfig:
    if raw is None:
        return SafetyConfig()
    if not isinstance(raw, dict):
        raise _err(src, "safety", f"must be a mapping, got {quote(raw)}")
    unknown = sorted(str(k) for k in set(raw) - set(_SAFETY_FIELDS))
    if unknown:
        raise _err(src, "safety",
                   f"unknown field(s) {quote(unknown)}; allowed: {list(_SAFETY_FIELDS)}")
    kw: Dict[str, Any] = {}
    for k in _SAFETY_FIELDS[:-1]:
        if k in raw:
            v = _number(raw[k], src, "safety", k)
            strict = k in ("stale_timeout_s", "max_step_dt_s")
            if v < 0 or (strict and v == 0):
                raise _err(
                    src, "safety", f"field '{k}' must be {'>' if strict else '>='} 0, got {v}"
                )
            kw[k] = v
    kw["filter"] = _parse_filter(raw.get("filter"), src)
    return SafetyConfig(**kw)


def _parse_weights(raw: Any, src: str, where: str) -> Tuple[Tuple[str, float], ...]:
    if isinstance(raw, str):
        raw = {raw: 1.0}
    if not isinstance(raw, dict) or not raw:
        raise _err(src, where, "field 'input' must be a non-empty mapping of blendshape name -> "
                               f"weight (e.g. {{jawOpen: 1.0}}), got {quote(raw)}")
    out: Dict[str, float] = {}
    for name, w in raw.items():
        try:
            canon = parse_name(str(name))
        except EmotalkError as exc:
            raise _err(src, where, f"input: {exc}") from None
        if canon in out:
            raise _err(src, where, f"input names blendshape {quote(canon)} twice")
        out[canon] = _number(w, src, where, f"input.{name}")
    return tuple(out.items())


def _resolve_motor(raw: Dict[str, Any], src: str, where: str) -> Motor:
    """Validate one motor mapping (defaults and mirror already merged in)."""
    for req in ("units", "min", "max", "neutral", "input", "max_velocity", "max_acceleration"):
        if req not in raw:
            raise _err(src, where, f"missing field '{req}'")
    name = raw["name"]
    lo = _number(raw["min"], src, where, "min")
    hi = _number(raw["max"], src, where, "max")
    if not lo < hi:
        raise _err(src, where, f"min ({lo}) must be < max ({hi})")
    neutral = _number(raw["neutral"], src, where, "neutral")
    if not lo <= neutral <= hi:
        raise _err(src, where, f"neutral ({neutral}) must lie within [min, max] = [{lo}, {hi}]")
    vmax = _number(raw["max_velocity"], src, where, "max_velocity")
    amax = _number(raw["max_acceleration"], src, where, "max_acceleration")
    if vmax <= 0:
        raise _err(src, where, f"max_velocity must be > 0 (units/s), got {vmax}")
    if amax <= 0:
        raise _err(src, where, f"max_acceleration must be > 0 (units/s^2), got {amax}")
    deadband = _number(raw.get("deadband", 0.0), src, where, "deadband")
    if not 0 <= deadband < hi - lo:
        raise _err(src, where, f"deadband ({deadband}) must be >= 0 and smaller than the range")
    latency = _number(raw.get("latency_ms", 0.0), src, where, "latency_ms")
    if not 0 <= latency <= MAX_LATENCY_MS:
        raise _err(src, where, f"latency_ms ({latency}) must be in [0, {MAX_LATENCY_MS:g}] ms")
    units = raw["units"]
    if not isinstance(units, str) or not units.strip():
        raise _err(src, where, f"field 'units' must be a non-empty string, got {quote(units)}")
    invert = raw.get("invert", False)
    if not isinstance(invert, bool):
        raise _err(src, where, f"field 'invert' must be true or false, got {quote(invert)}")
    curve_units = raw.get("curve_units", "fraction")
    if curve_units not in CURVE_UNITS:
        raise _err(src, where,
                   f"curve_units must be one of {CURVE_UNITS}, got {quote(curve_units)}")
    curve = None
    if raw.get("curve") is not None:
        pts = raw["curve"]
        if not isinstance(pts, (list, tuple)) or not 2 <= len(pts) <= MAX_CURVE_POINTS:
            raise _err(src, where, "curve must be a list of 2 to "
                                   f"{MAX_CURVE_POINTS} [x, y] points")
        parsed = []
        for j, pt in enumerate(pts):
            if not isinstance(pt, (list, tuple)) or len(pt) != 2:
                raise _err(src, where, f"curve point {j} must be [x, y], got {quote(pt)}")
            parsed.append((_number(pt[0], src, where, f"curve[{j}].x"),
                           _number(pt[1], src, where, f"curve[{j}].y")))
        xs = [p[0] for p in parsed]
        if any(b <= a for a, b in zip(xs, xs[1:])):
            raise _err(src, where, f"curve x values must be strictly increasing, got {quote(xs)}")
        ys = [p[1] for p in parsed]
        ylo, yhi = (0.0, 1.0) if curve_units == "fraction" else (lo, hi)
        if min(ys) < ylo or max(ys) > yhi:
            raise _err(src, where, f"curve y values must lie in [{ylo}, {yhi}] "
                                   f"(curve_units: {curve_units}), got {quote(ys)}")
        curve = tuple(parsed)
    return Motor(name=name, units=units.strip(), min=lo, max=hi, neutral=neutral,
                 weights=_parse_weights(raw["input"], src, where),
                 max_velocity=vmax, max_acceleration=amax,
                 offset=_number(raw.get("offset", 0.0), src, where, "offset"),
                 curve=curve, curve_units=curve_units, invert=invert, deadband=deadband,
                 mirror_of=raw.get("mirror"), latency_ms=latency)


@dataclass(frozen=True)
class Rig:
    """A validated rig: motors in command order plus the safety timing.

    Arrays (float64, shape (M,) unless noted) for vectorised use: ``lower``, ``upper``,
    ``neutral``, ``max_velocity``, ``max_acceleration``, ``deadband``, ``offset`` and the
    weight matrix ``weights`` (M, 52) in canonical streaming order.
    """

    motors: Tuple[Motor, ...]
    safety: SafetyConfig = field(default_factory=SafetyConfig)
    name: str = "rig"
    description: str = ""
    source: str = "<dict>"

    @property
    def motor_names(self) -> List[str]:
        """Motor names in command order."""
        return [m.name for m in self.motors]

    def __len__(self) -> int:
        return len(self.motors)

    def _vec(self, attr: str) -> np.ndarray:
        return np.array([getattr(m, attr) for m in self.motors], dtype=np.float64)  # (M,)

    @property
    def lower(self) -> np.ndarray:
        """(M,) float64 lower limits in motor units."""
        return self._vec("min")

    @property
    def upper(self) -> np.ndarray:
        """(M,) float64 upper limits in motor units."""
        return self._vec("max")

    @property
    def neutral(self) -> np.ndarray:
        """(M,) float64 neutral positions in motor units."""
        return self._vec("neutral")

    @property
    def max_velocity(self) -> np.ndarray:
        """(M,) float64 velocity limits in motor units/s."""
        return self._vec("max_velocity")

    @property
    def max_acceleration(self) -> np.ndarray:
        """(M,) float64 acceleration limits in motor units/s^2."""
        return self._vec("max_acceleration")

    @property
    def deadband(self) -> np.ndarray:
        """(M,) float64 deadbands in motor units (smaller target changes are ignored)."""
        return self._vec("deadband")

    @property
    def latency_s(self) -> np.ndarray:
        """(M,) float64 actuation latencies in seconds (0 where a motor gives none)."""
        return self._vec("latency_ms") / 1000.0

    @property
    def offset(self) -> np.ndarray:
        """(M,) float64 offsets added to the weighted blendshape sum (input units, not motor)."""
        return self._vec("offset")

    @property
    def weights(self) -> np.ndarray:
        """(M, 52) float64 blendshape weights in canonical streaming order."""
        w = np.zeros((len(self.motors), NUM_BLENDSHAPES), dtype=np.float64)  # (M, 52)
        for i, m in enumerate(self.motors):
            for name, wt in m.weights:
                w[i, INDEX[name]] = wt
        return w

    # ---------------------------------------------------------------- loading / saving
    @classmethod
    def load(cls, path: str) -> "Rig":
        """Load and validate a rig file (a path, or an example rig name such as
        ``hobby_servo_head``)."""
        path = resolve_rig_path(path)
        try:
            with open(path, "r", encoding="utf-8") as f:
                text = f.read(MAX_RIG_FILE_BYTES + 1)
        except OSError as exc:
            raise EmotalkError(f"cannot read rig file {path}: {exc}") from None
        except UnicodeDecodeError:
            raise EmotalkError(f"rig {path}: not UTF-8 text") from None
        if len(text) > MAX_RIG_FILE_BYTES:
            raise EmotalkError(f"rig {path}: larger than {MAX_RIG_FILE_BYTES} bytes")
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise EmotalkError(f"rig {path}: not valid YAML: {quote(str(exc), 300)}") from None
        except (ValueError, RecursionError, OverflowError) as exc:   # e.g. a huge integer
            raise EmotalkError(f"rig {path}: unreadable YAML value "
                               f"({type(exc).__name__}: {quote(str(exc))})") from None
        return cls.from_dict(data, source=path)

    @classmethod
    def from_dict(cls, data: Any, source: str = "<dict>") -> "Rig":
        """Validate a parsed rig mapping; raises :class:`EmotalkError` naming motor and field."""
        src = source
        if not isinstance(data, dict):
            raise EmotalkError(f"rig {src}: top level must be a mapping with a 'motors' list")
        unknown = sorted(str(k) for k in set(data) - set(_TOP_FIELDS))
        if unknown:
            raise EmotalkError(f"rig {src}: unknown top-level field(s) {quote(unknown)}; "
                               f"allowed: {list(_TOP_FIELDS)}")
        safety = _parse_safety(data.get("safety"), src)
        defaults = data.get("defaults") or {}
        if not isinstance(defaults, dict):
            raise EmotalkError(f"rig {src}: 'defaults' must be a mapping of motor fields")
        bad = sorted(str(k) for k in set(defaults) - set(_DEFAULTABLE))
        if bad:
            raise EmotalkError(f"rig {src}: defaults: unknown or non-defaultable field(s) "
                               f"{quote(bad)}; "
                               f"allowed: {list(_DEFAULTABLE)}")
        raw_motors = data.get("motors")
        if not isinstance(raw_motors, list) or not raw_motors:
            raise EmotalkError(f"rig {src}: 'motors' must be a non-empty list")
        if len(raw_motors) > MAX_MOTORS:
            raise EmotalkError(f"rig {src}: {len(raw_motors)} motors (at most {MAX_MOTORS})")
        by_name: Dict[str, Dict[str, Any]] = {}
        order: List[str] = []
        for i, rm in enumerate(raw_motors):
            if not isinstance(rm, dict):
                raise EmotalkError(f"rig {src}: motors[{i}] must be a mapping, got {quote(rm)}")
            name = rm.get("name")
            if not isinstance(name, str) or not name.strip():
                raise EmotalkError(f"rig {src}: motors[{i}]: missing or empty field 'name'")
            if len(name) > MAX_NAME_CHARS:
                raise EmotalkError(f"rig {src}: motors[{i}]: name {quote(name, 40)} is longer "
                                   f"than {MAX_NAME_CHARS} characters")
            where = f"motor '{name}'"
            if name in by_name:
                raise _err(src, where, "duplicate motor name")
            unknown = sorted(str(k) for k in set(rm) - set(_MOTOR_FIELDS))
            if unknown:
                raise _err(
                    src, where,
                    f"unknown field(s) {quote(unknown)}; allowed: {list(_MOTOR_FIELDS)}"
                )
            by_name[name] = rm
            order.append(name)
        motors = []
        for name in order:
            rm = by_name[name]
            where = f"motor '{name}'"
            merged: Dict[str, Any] = dict(defaults)
            partner = rm.get("mirror")
            if partner is not None:
                if not isinstance(partner, str) or partner not in by_name:
                    raise _err(
                        src, where, f"mirror partner {quote(partner)} is not a motor of this rig"
                    )
                if partner == name or by_name[partner].get("mirror") is not None:
                    raise _err(src, where, f"mirror partner {quote(partner)} must be a motor "
                                           "that is "
                                           "not itself a mirror")
                merged.update(by_name[partner])
                if "input" in by_name[partner] and "input" not in rm:
                    pw = _parse_weights(by_name[partner]["input"], src, f"motor '{partner}'")
                    merged["input"] = {_swap_left_right(n): w for n, w in pw}
            merged.update(rm)
            merged["name"] = name
            merged["mirror"] = partner
            motors.append(_resolve_motor(merged, src, where))
        name = data.get("name", os.path.splitext(os.path.basename(src))[0])
        return cls(motors=tuple(motors), safety=safety, name=str(name),
                   description=str(data.get("description", "") or ""), source=src)

    def to_dict(self) -> Dict[str, Any]:
        """Plain-YAML form of the whole rig (mirrors written out in full)."""
        s = self.safety
        f = s.filter
        filt: Dict[str, Any] = {"type": f.type}
        if f.type == "one_euro":
            filt.update(min_cutoff_hz=f.min_cutoff_hz, beta=f.beta, d_cutoff_hz=f.d_cutoff_hz)
        elif f.type == "critically_damped":
            filt.update(cutoff_hz=f.cutoff_hz)
        return {"name": self.name, "description": self.description,
                "safety": {"stale_timeout_s": s.stale_timeout_s, "stale_ease_s": s.stale_ease_s,
                           "soft_start_s": s.soft_start_s, "exit_ease_s": s.exit_ease_s,
                           "max_step_dt_s": s.max_step_dt_s, "filter": filt},
                "motors": [m.to_dict() for m in self.motors]}

    def save(self, path: str) -> None:
        """Write the rig as YAML (validated again on the next :meth:`load`), atomically (a
        temporary file renamed on success)."""
        from emotalk_ros.core.files import atomic_write

        with atomic_write(path, "w", encoding="utf-8") as fh:
            yaml.safe_dump(self.to_dict(), fh, sort_keys=False, default_flow_style=None)


def rigs_dir() -> str:
    """``config/rigs``: the source tree's, or the installed share/emotalk_ros/config/rigs."""
    return resources.resource_dir("rig")


def resolve_rig_path(name_or_path: str) -> str:
    """An existing file path as is; a bare example name (``morpheus_head``) -> its installed
    file; '' -> the default example rig. Raises :class:`EmotalkError` naming the shipped rigs."""
    return resources.resolve("rig", name_or_path or DEFAULT_RIG)


# --------------------------------------------------------------------------------------------
# Named input (JointState-like) -> (52,) vector
# --------------------------------------------------------------------------------------------


# --------------------------------------------------------------------------------------------
# Retargeter
# --------------------------------------------------------------------------------------------


