"""Per-robot / per-person style: blendshape gains and offsets plus a speaking-amplitude profile.

A :class:`Style` maps generator frames (T, 52) to styled frames (T, 52), frame by frame
(stateless, so streaming and offline give the same result):

* **Expression and other shapes**: ``y = clip(gain * x + offset, 0, 1)``.
* **Aperture shapes** (``jawOpen``, ``mouthLowerDown*``, ``mouthUpperUp*``): purely
  multiplicative, ``y = x * gain * m(ap)``, where ``m`` is the *speaking-amplitude
  profile*: a piecewise-linear gain over the source lip aperture ``ap``
  (:func:`emotalk_ros.core.blendshapes.aperture`). Any amplification (``gain * m > 1``) fades in
  over source apertures [0, 0.03], so a small residual gap is never enlarged.
  ``mouthFunnel`` is multiplicative too (no offset).
* **Lip closure** stays intact: ``mouthClose`` is scaled by the same factor as
  ``jawOpen`` and capped at the new ``jawOpen``, so closed lips (``mouthClose`` ≈
  ``jawOpen``, lips raised/lowered ≈ 0) stay closed, and an exactly closed mouth is never
  opened (no offset ever applies to a shape that parts the lips).
* ``eyeBlink*`` and ``eyeLook*`` are not styled (blinks and gaze are the idle overlay's job,
  and a capture's gaze only says where the person looked).

:func:`fit_style` learns a style from Live Link Face captures of a person, matching the
per-blendshape mean and standard deviation of a reference (frames of our generator, or by
default the procedural teacher on synthetic speech) to the capture's; the aperture shapes
match their RMS and the aperture's quantiles through the profile. It refuses captures that
are too short (< 5 s) or flat (the mouth barely moves).

Style files are YAML (see ``config/styles/``)::

    format: emotalk_style
    version: 1
    name: subtle
    gain: {jawOpen: 0.8, mouthSmileLeft: 0.6}        # missing names: 1
    offset: {browInnerUp: 0.02}                       # missing names: 0
    amplitude_profile: {aperture: [0.0, 0.2, 0.5], gain: [1.0, 0.9, 0.8]}

``emotalk fit-style CAPTURE.csv [CAPTURE2.csv ...] -o style.yaml`` is the command line
(:func:`add_arguments`, :func:`run`).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from typing import Dict, Optional

import numpy as np

from emotalk_ros import resources
from emotalk_ros.core.blendshapes import (
    INDEX,
    NAMES,
    NUM_BLENDSHAPES,
    aperture,
    parse_name,
)
from emotalk_ros.core.limits import quote
from emotalk_ros.errors import EmotalkError

log = logging.getLogger(__name__)

FORMAT = "emotalk_style"
VERSION = 1

APERTURE_SHAPES = ("jawOpen", "mouthLowerDownLeft", "mouthLowerDownRight", "mouthUpperUpLeft",
                   "mouthUpperUpRight")
NO_OFFSET_SHAPES = APERTURE_SHAPES + ("mouthClose", "mouthFunnel")
UNSTYLED_SHAPES = tuple(n for n in NAMES if n.startswith(("eyeBlink", "eyeLook")))
_AP = np.array([INDEX[n] for n in APERTURE_SHAPES], np.int64)
_NO_OFFSET = np.array([INDEX[n] for n in NO_OFFSET_SHAPES], np.int64)
_UNSTYLED = np.array([INDEX[n] for n in UNSTYLED_SHAPES], np.int64)
_JAW, _CLOSE = INDEX["jawOpen"], INDEX["mouthClose"]

MIN_CAPTURE_S = 5.0        # shorter captures are refused
FLAT_STD = 0.01            # jawOpen / aperture std below this: a flat capture, refused
CLOSURE_AP = 0.03          # aperture below which the profile's amplification fades out
GAIN_RANGE = (0.0, 5.0)
FIT_GAIN_RANGE = (0.25, 4.0)
PROFILE_QUANTILES = (0.5, 0.75, 0.9, 0.97)
MAX_STYLE_FILE_BYTES = 1 << 20   # a style file is a few kB; bigger ones are refused
MAX_PROFILE_KNOTS = 64


@dataclass(frozen=True)
class Style:
    """gain (52,), offset (52,) float32 in streaming order; profile knots aperture (K,) and gain
    (K,)."""

    gain: np.ndarray
    offset: np.ndarray
    profile_aperture: np.ndarray = field(default_factory=lambda: np.zeros(1, np.float32))
    profile_gain: np.ndarray = field(default_factory=lambda: np.ones(1, np.float32))
    name: str = ""
    description: str = ""

    def __post_init__(self) -> None:
        g = np.asarray(self.gain, np.float32).reshape(-1)
        o = np.asarray(self.offset, np.float32).reshape(-1)
        pa = np.asarray(self.profile_aperture, np.float32).reshape(-1)
        pg = np.asarray(self.profile_gain, np.float32).reshape(-1)
        if g.shape != (NUM_BLENDSHAPES,) or o.shape != (NUM_BLENDSHAPES,):
            raise EmotalkError(f"style gain/offset must have {NUM_BLENDSHAPES} values, got "
                               f"{g.shape}, {o.shape}")
        for what, a in (
            ("gain", g),
            ("offset", o),
            ("profile aperture", pa),
            ("profile gain", pg),
        ):
            if not np.isfinite(a).all():
                raise EmotalkError(f"style {what} contains NaN/Inf")
        bad = np.flatnonzero((g < GAIN_RANGE[0]) | (g > GAIN_RANGE[1]))
        if bad.size:
            raise EmotalkError(f"style gain of {NAMES[bad[0]]} is {g[bad[0]]:g}; gains must be in "
                               f"[{GAIN_RANGE[0]:g}, {GAIN_RANGE[1]:g}]")
        bad = np.flatnonzero(np.abs(o) > 1.0)
        if bad.size:
            raise EmotalkError(
                f"style offset of {NAMES[bad[0]]} is {o[bad[0]]:g}; offsets must be in [-1, 1]"
            )
        bad = _NO_OFFSET[np.abs(o[_NO_OFFSET]) > 0]
        if bad.size:
            raise EmotalkError(f"style offset of {NAMES[bad[0]]} must be 0: an offset on a shape "
                               "that parts the lips would open closed lips (use its gain)")
        if pa.size < 1 or pa.shape != pg.shape:
            raise EmotalkError("amplitude_profile needs aperture and gain lists of the same "
                               f"length >= 1, got {pa.size} and {pg.size}")
        if np.any(pa < 0) or np.any(np.diff(pa) <= 0):
            raise EmotalkError(
                "amplitude_profile aperture knots must be >= 0 and strictly increasing"
            )
        if np.any((pg < GAIN_RANGE[0]) | (pg > GAIN_RANGE[1])):
            raise EmotalkError(f"amplitude_profile gains must be in [{GAIN_RANGE[0]:g}, "
                               f"{GAIN_RANGE[1]:g}]")
        for k, v in (("gain", g), ("offset", o), ("profile_aperture", pa), ("profile_gain", pg)):
            object.__setattr__(self, k, v)

    # -- construction ------------------------------------------------------------------------
    @staticmethod
    def identity(name: str = "identity") -> "Style":
        """The no-op style: gains 1, offsets 0, a flat amplitude profile."""
        return Style(np.ones(NUM_BLENDSHAPES, np.float32), np.zeros(NUM_BLENDSHAPES, np.float32),
                     name=name)

    @staticmethod
    def from_dict(d: Dict, where: str = "style") -> "Style":
        """Parse the YAML mapping (names in any accepted spelling); raises
        :class:`EmotalkError`."""
        if not isinstance(d, dict):
            raise EmotalkError(f"{where}: a style file must be a YAML mapping")
        allowed = {"format", "version", "name", "description", "gain", "offset",
                   "amplitude_profile", "fit"}
        extra = sorted(str(k) for k in set(d) - allowed)
        if extra:
            raise EmotalkError(f"{where}: unknown keys {quote(extra)}; valid: {sorted(allowed)}")
        version = d.get("version", VERSION)
        if d.get("format", FORMAT) != FORMAT or isinstance(version, bool) \
                or version not in (VERSION, str(VERSION), float(VERSION)):
            raise EmotalkError(f"{where}: not an {FORMAT} v{VERSION} file "
                               f"(format {quote(d.get('format'))}, "
                               f"version {quote(d.get('version'))})")

        def vec(key: str, default: float) -> np.ndarray:
            v = np.full(NUM_BLENDSHAPES, default, np.float32)
            table = d.get(key) or {}
            if not isinstance(table, dict):
                raise EmotalkError(f"{where}: {key} must map blendshape names to numbers")
            for name, val in table.items():
                i = INDEX[parse_name(str(name))]
                try:
                    v[i] = float(val)
                except (TypeError, ValueError, OverflowError):
                    raise EmotalkError(f"{key}.{name} is not a number: {quote(val)}") from None
            return v

        prof = d.get("amplitude_profile") or {"aperture": [0.0], "gain": [1.0]}
        try:
            if not isinstance(prof, dict) or set(prof) != {"aperture", "gain"}:
                raise EmotalkError(
                    "amplitude_profile must have exactly 'aperture' and 'gain' lists"
                )
            try:
                pa = np.asarray(prof["aperture"], np.float64).astype(np.float32)
                pg = np.asarray(prof["gain"], np.float64).astype(np.float32)
            except (TypeError, ValueError, OverflowError):
                raise EmotalkError("amplitude_profile lists must hold numbers") from None
            if pa.size > MAX_PROFILE_KNOTS:
                raise EmotalkError(f"amplitude_profile has {pa.size} knots "
                                   f"(at most {MAX_PROFILE_KNOTS})")
            return Style(vec("gain", 1.0), vec("offset", 0.0), pa, pg,
                         str(d.get("name", "")), str(d.get("description", "")))
        except EmotalkError as exc:
            raise EmotalkError(f"{where}: {exc}") from None

    @staticmethod
    def load(path: str) -> "Style":
        """Read a style YAML file."""
        import yaml

        if not os.path.isfile(path):
            raise EmotalkError(f"{path}: no such style file")
        try:
            with open(path, encoding="utf-8") as f:
                text = f.read(MAX_STYLE_FILE_BYTES + 1)
        except OSError as exc:
            raise EmotalkError(f"{path}: cannot read the style file ({exc.strerror})") from None
        except UnicodeDecodeError:
            raise EmotalkError(f"{path}: not UTF-8 text") from None
        if len(text) > MAX_STYLE_FILE_BYTES:
            raise EmotalkError(f"{path}: larger than {MAX_STYLE_FILE_BYTES} bytes")
        try:
            d = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise EmotalkError(f"{path}: not valid YAML ({quote(str(exc), 300)})") from None
        except (ValueError, RecursionError, OverflowError) as exc:   # e.g. a huge integer
            raise EmotalkError(f"{path}: unreadable YAML value "
                               f"({type(exc).__name__}: {quote(str(exc))})") from None
        return Style.from_dict(d, where=path)

    def to_dict(self, fit: Optional[Dict] = None) -> Dict:
        """The YAML mapping: only gains != 1 and offsets != 0 are listed (4 decimals)."""
        d: Dict = {
            "format": FORMAT,
            "version": VERSION,
            "name": self.name,
            "description": self.description,
            "gain": {
                n: round(float(self.gain[i]), 4)
                for i, n in enumerate(NAMES)
                if abs(float(self.gain[i]) - 1.0) > 5e-5
            },
            "offset": {
                n: round(float(self.offset[i]), 4)
                for i, n in enumerate(NAMES)
                if abs(float(self.offset[i])) > 5e-5
            },
            "amplitude_profile": {
                "aperture": [round(float(v), 4) for v in self.profile_aperture],
                "gain": [round(float(v), 4) for v in self.profile_gain],
            },
        }
        if fit:
            d["fit"] = fit
        return d

    def save(self, path: str, fit: Optional[Dict] = None) -> None:
        """Write :meth:`to_dict` (with ``fit``) as YAML to ``path``, creating its folder
        (atomically: a temporary file renamed on success)."""
        import yaml

        from emotalk_ros.core.files import atomic_write

        d = os.path.dirname(os.path.abspath(path))
        os.makedirs(d, exist_ok=True)
        with atomic_write(path, "w") as f:
            f.write(f"# emotalk style '{self.name}' (emotalk_ros.animation.style)\n")
            yaml.safe_dump(
                self.to_dict(fit), f, sort_keys=False, default_flow_style=None, width=100
            )

    # -- application -------------------------------------------------------------------------
    def amplitude_gain(self, ap: np.ndarray) -> np.ndarray:
        """Profile multiplier per frame from the source aperture ap (N,) -> (N,) float64
        (piecewise linear over the knots, constant beyond them)."""
        ap = np.maximum(np.asarray(ap, np.float64), 0.0)
        return np.interp(ap, self.profile_aperture, self.profile_gain)         # (N,)

    @staticmethod
    def _fade_amplification(scale: np.ndarray, ap: np.ndarray) -> np.ndarray:
        """Scales > 1 fade in over source aperture [0, CLOSURE_AP]: near-closed lips are never
        parted further. scale (N, K), ap (N,) -> (N, K)."""
        s = np.clip(ap / CLOSURE_AP, 0.0, 1.0)
        fade = (s * s * (3.0 - 2.0 * s))[:, None]                              # (N, 1) smoothstep
        return np.where(scale > 1.0, 1.0 + (scale - 1.0) * fade, scale)

    def apply(self, frames: np.ndarray) -> np.ndarray:
        """Styled frames: (N, 52) or (52,) float in [0, 1] -> same shape float32 in [0, 1]."""
        x = np.asarray(frames, np.float64)
        single = x.ndim == 1
        x = x.reshape(-1, NUM_BLENDSHAPES) if single else x
        if x.ndim != 2 or x.shape[1] != NUM_BLENDSHAPES:
            raise EmotalkError(f"frames must be (N, {NUM_BLENDSHAPES}), got {np.shape(frames)}")
        x = np.clip(np.nan_to_num(x, nan=0.0), 0.0, 1.0)
        g = self.gain.astype(np.float64)
        y = np.clip(x * g + self.offset, 0.0, 1.0)                            # (N, 52)
        ap = aperture(x)                                                       # (N,)
        y[:, _NO_OFFSET] = np.clip(x[:, _NO_OFFSET] * g[_NO_OFFSET], 0.0, 1.0)
        scale = self._fade_amplification(g[_AP][None, :] * self.amplitude_gain(ap)[:, None], ap)
        y[:, _AP] = np.clip(x[:, _AP] * scale, 0.0, 1.0)                      # (N, 5)
        # mouthClose follows the jaw's scale and never exceeds it: closed lips stay closed
        jaw_scale = scale[:, APERTURE_SHAPES.index("jawOpen")]                 # (N,)
        y[:, _CLOSE] = np.minimum(x[:, _CLOSE] * jaw_scale, y[:, _JAW])
        y[:, _UNSTYLED] = x[:, _UNSTYLED]
        y = y.astype(np.float32)
        return y[0] if single else y


# ---------------------------------------------------------------------------------------------
# fitting
# ---------------------------------------------------------------------------------------------



def load_style(spec: str) -> Optional[Style]:
    """``style.path`` / ``--style``: '' -> None; a YAML path; or a shipped name such as
    ``subtle`` (``config/styles/<name>.yaml``). Raises :class:`EmotalkError` naming the file
    or the shipped names."""
    spec = (spec or "").strip()
    if not spec:
        return None
    return Style.load(resources.resolve("style", spec))
