"""Per-robot / per-person style: blendshape gains and offsets plus a speaking-amplitude profile.

A :class:`Style` maps generator frames (T, 52) to styled frames (T, 52), frame by frame
(stateless, so streaming and offline give the same result):

* **Expression and other shapes**: ``y = clip(gain * x + offset, 0, 1)``.
* **Aperture shapes** (``jawOpen``, ``mouthLowerDown*``, ``mouthUpperUp*``): purely
  multiplicative, ``y = x * gain * m(ap)``, where ``m`` is the *speaking-amplitude
  profile*: a piecewise-linear gain over the source lip aperture ``ap``
  (:func:`emotalk_ros.metrics.aperture`). Any amplification (``gain * m > 1``) fades in
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
import sys
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from .blendshapes import INDEX, NAMES, NUM_BLENDSHAPES, parse_name, read_live_link_csv
from .errors import EmotalkError
from .metrics import aperture

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


@dataclass(frozen=True)
class Style:
    """gain (52,), offset (52,) float32 in streaming order; profile knots aperture (K,) and gain (K,)."""

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
        for what, a in (("gain", g), ("offset", o), ("profile aperture", pa), ("profile gain", pg)):
            if not np.isfinite(a).all():
                raise EmotalkError(f"style {what} contains NaN/Inf")
        bad = np.flatnonzero((g < GAIN_RANGE[0]) | (g > GAIN_RANGE[1]))
        if bad.size:
            raise EmotalkError(f"style gain of {NAMES[bad[0]]} is {g[bad[0]]:g}; gains must be in "
                               f"[{GAIN_RANGE[0]:g}, {GAIN_RANGE[1]:g}]")
        bad = np.flatnonzero(np.abs(o) > 1.0)
        if bad.size:
            raise EmotalkError(f"style offset of {NAMES[bad[0]]} is {o[bad[0]]:g}; offsets must be "
                               "in [-1, 1]")
        bad = _NO_OFFSET[np.abs(o[_NO_OFFSET]) > 0]
        if bad.size:
            raise EmotalkError(f"style offset of {NAMES[bad[0]]} must be 0: an offset on a shape "
                               "that parts the lips would open closed lips (use its gain)")
        if pa.size < 1 or pa.shape != pg.shape:
            raise EmotalkError("amplitude_profile needs aperture and gain lists of the same "
                               f"length >= 1, got {pa.size} and {pg.size}")
        if np.any(pa < 0) or np.any(np.diff(pa) <= 0):
            raise EmotalkError("amplitude_profile aperture knots must be >= 0 and strictly increasing")
        if np.any((pg < GAIN_RANGE[0]) | (pg > GAIN_RANGE[1])):
            raise EmotalkError(f"amplitude_profile gains must be in [{GAIN_RANGE[0]:g}, "
                               f"{GAIN_RANGE[1]:g}]")
        for k, v in (("gain", g), ("offset", o), ("profile_aperture", pa), ("profile_gain", pg)):
            object.__setattr__(self, k, v)

    # -- construction ------------------------------------------------------------------------
    @staticmethod
    def identity(name: str = "identity") -> "Style":
        return Style(np.ones(NUM_BLENDSHAPES, np.float32), np.zeros(NUM_BLENDSHAPES, np.float32),
                     name=name)

    @staticmethod
    def from_dict(d: Dict, where: str = "style") -> "Style":
        """Parse the YAML mapping (names in any accepted spelling); raises :class:`EmotalkError`."""
        if not isinstance(d, dict):
            raise EmotalkError(f"{where}: a style file must be a YAML mapping")
        allowed = {"format", "version", "name", "description", "gain", "offset",
                   "amplitude_profile", "fit"}
        extra = sorted(set(d) - allowed)
        if extra:
            raise EmotalkError(f"{where}: unknown keys {extra}; valid: {sorted(allowed)}")
        if d.get("format", FORMAT) != FORMAT or int(d.get("version", VERSION)) != VERSION:
            raise EmotalkError(f"{where}: not an {FORMAT} v{VERSION} file "
                               f"(format {d.get('format')!r}, version {d.get('version')!r})")

        def vec(key: str, default: float) -> np.ndarray:
            v = np.full(NUM_BLENDSHAPES, default, np.float32)
            table = d.get(key) or {}
            if not isinstance(table, dict):
                raise EmotalkError(f"{where}: {key} must map blendshape names to numbers")
            for name, val in table.items():
                i = INDEX[parse_name(str(name))]
                try:
                    v[i] = float(val)
                except (TypeError, ValueError):
                    raise EmotalkError(f"{key}.{name} is not a number: {val!r}") from None
            return v

        prof = d.get("amplitude_profile") or {"aperture": [0.0], "gain": [1.0]}
        try:
            if not isinstance(prof, dict) or set(prof) != {"aperture", "gain"}:
                raise EmotalkError("amplitude_profile must have exactly 'aperture' and 'gain' lists")
            try:
                pa = np.asarray(prof["aperture"], np.float32)
                pg = np.asarray(prof["gain"], np.float32)
            except (TypeError, ValueError):
                raise EmotalkError("amplitude_profile lists must hold numbers") from None
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
            with open(path) as f:
                d = yaml.safe_load(f)
        except yaml.YAMLError as exc:
            raise EmotalkError(f"{path}: not valid YAML ({exc})") from None
        return Style.from_dict(d, where=path)

    def to_dict(self, fit: Optional[Dict] = None) -> Dict:
        """The YAML mapping: only gains != 1 and offsets != 0 are listed (4 decimals)."""
        d: Dict = {"format": FORMAT, "version": VERSION, "name": self.name,
                   "description": self.description,
                   "gain": {n: round(float(self.gain[i]), 4) for i, n in enumerate(NAMES)
                            if abs(float(self.gain[i]) - 1.0) > 5e-5},
                   "offset": {n: round(float(self.offset[i]), 4) for i, n in enumerate(NAMES)
                              if abs(float(self.offset[i])) > 5e-5},
                   "amplitude_profile": {"aperture": [round(float(v), 4) for v in self.profile_aperture],
                                         "gain": [round(float(v), 4) for v in self.profile_gain]}}
        if fit:
            d["fit"] = fit
        return d

    def save(self, path: str, fit: Optional[Dict] = None) -> None:
        import yaml

        d = os.path.dirname(os.path.abspath(path))
        os.makedirs(d, exist_ok=True)
        with open(path, "w") as f:
            f.write(f"# emotalk style '{self.name}' (emotalk_ros.style)\n")
            yaml.safe_dump(self.to_dict(fit), f, sort_keys=False, default_flow_style=None, width=100)

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

def _check_capture(frames, i: int, fps: float) -> np.ndarray:
    f = np.asarray(frames, np.float64)
    if f.ndim != 2 or f.shape[1] != NUM_BLENDSHAPES:
        raise EmotalkError(f"capture {i + 1}: frames must be (N, {NUM_BLENDSHAPES}), got {f.shape}")
    if not np.isfinite(f).all():
        raise EmotalkError(f"capture {i + 1}: contains NaN/Inf values")
    return np.clip(f, 0.0, 1.0)


def style_distance(frames: np.ndarray, target: np.ndarray) -> float:
    """Sum over styled shapes of |mean - mean_target| + |std - std_target| (a fit quality score)."""
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
    caps = [_check_capture(c, i, fps) for i, c in enumerate(captures)]
    cap = np.concatenate(caps)                                                 # (N, 52)
    secs = cap.shape[0] / fps
    if secs < MIN_CAPTURE_S:
        raise EmotalkError(f"capture too short: {secs:.1f} s of frames at {fps:g} fps; need at least "
                           f"{MIN_CAPTURE_S:g} s of the person speaking")
    ap_c = aperture(cap)                                                       # (N,)
    jaw_std, ap_std = float(cap[:, _JAW].std()), float(ap_c.std())
    if jaw_std < FLAT_STD or ap_std < FLAT_STD:
        raise EmotalkError(f"capture is flat: jawOpen std {jaw_std:.4f}, lip aperture std {ap_std:.4f} "
                           f"(need >= {FLAT_STD}); was the face tracked while the person spoke?")
    ref = default_reference(fps) if reference is None else _check_capture(reference, -1, fps)
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
    return Style(gain, offset, np.array(knots), np.array(gains), name=name, description=description)


def default_reference(fps: float = 60.0, n_sentences: int = 12, seed: int = 0) -> np.ndarray:
    """Reference statistics when no generator frames are given: the procedural teacher (what the
    generator learns to imitate) on espeak-ng speech of generated sentences, neutral emotion.

    Returns (M, 52) float64 frames at ``fps``. Raises :class:`EmotalkError` when espeak-ng is
    not available (pass reference frames instead).
    """
    from . import teacher
    from .emotions import NUM_EXPRESSIVE
    from .phones import PHONE_INDEX

    try:
        from .synth.espeak import synthesize
        from .synth.text import sentences
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
        parts.append(teacher.render(s, e, pid, np.zeros((n, NUM_EXPRESSIVE), np.float32), rate=fps))
    return np.concatenate(parts).astype(np.float64)


# ---------------------------------------------------------------------------------------------
# command line: emotalk fit-style
# ---------------------------------------------------------------------------------------------

def add_arguments(p) -> None:
    p.add_argument("captures", nargs="+", metavar="CAPTURE.csv",
                   help="Live Link Face CSV captures of the person speaking (>= 5 s in total)")
    p.add_argument("-o", "--output", required=True, help="style YAML to write")
    p.add_argument("--reference", nargs="+", default=None, metavar="REF.csv",
                   help="Live Link CSVs of our generator's output (e.g. `emotalk animate --no-idle`); "
                        "default: the procedural teacher on synthetic speech")
    p.add_argument("--name", default=None, help="style name (default: the output file's stem)")
    p.add_argument("--description", default="", help="free text stored in the file")


def _read_csvs(paths: Sequence[str]) -> List[Tuple[np.ndarray, float]]:
    """Live Link CSVs -> [(frames (T, 52), fps)] (fps from the median timecode step)."""
    out = []
    for path in paths:
        times, frames = read_live_link_csv(path)
        fps = 1.0 / float(np.median(np.diff(times))) if times.size > 1 else 60.0
        out.append((frames, fps))
    return out


def run(args) -> int:
    caps = _read_csvs(args.captures)
    fps = caps[0][1]
    for (_, f), path in zip(caps, args.captures):
        if abs(f - fps) > 0.5:
            raise EmotalkError(f"{path}: {f:.1f} fps differs from the first capture's {fps:.1f} fps")
    if args.reference:
        ref = np.concatenate([f for f, _ in _read_csvs(args.reference)])
    else:
        ref = default_reference(fps)
    name = args.name or os.path.splitext(os.path.basename(args.output))[0]
    cap_frames = [f for f, _ in caps]
    style = fit_style(cap_frames, ref, fps=fps, name=name, description=args.description)
    cap = np.concatenate(cap_frames)
    before, after = style_distance(ref, cap), style_distance(style.apply(ref), cap)
    fit = {"captures": [os.path.basename(p) for p in args.captures],
           "capture_seconds": round(cap.shape[0] / fps, 2),
           "reference": [os.path.basename(p) for p in args.reference] if args.reference else "teacher",
           "distance_before": round(before, 4), "distance_after": round(after, 4)}
    style.save(args.output, fit)
    sys.stdout.write(f"{args.output}: style '{name}' from {fit['capture_seconds']} s of capture; "
                     f"mean/std distance to the capture {before:.3f} -> {after:.3f}\n")
    return 0
