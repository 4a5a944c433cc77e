"""The emotion command grammar: text or JSON -> :class:`EmotionCommand`.

The grammar is described for users in docs/INTERFACE.md (Emotion commands).

Accepted forms (case-insensitive; aliases such as ``joy`` -> ``happy`` via
:func:`emotalk_ros.core.emotions.canonical_emotion`):

* ``happy`` -- full intensity, the same as ``happy:1.0``.
* ``happy:0.6 surprised:0.3`` -- a continuous mixture; items are separated by spaces
  or commas, and ``name=value`` is accepted as well as ``name:value``.
* ``transition=0.8`` (seconds, also ``transition_s=0.8``) and ``ease=linear|smooth``
  may be added to any command.
* ``neutral`` / ``neutral:1`` -- reset: all seven intensities zero. Neutral is the
  absence of expression, so a neutral weight never adds anything to a mixture
  (``neutral:0.5 happy:0.5`` is ``happy:0.5``); it is validated like any weight.
* ``va:0.6,0.4`` -- valence and arousal in [-1, 1], mapped by :func:`va_to_alpha`.
  ``va`` cannot be combined with named emotions in one command.
* JSON objects: ``{"happy": 0.6, "surprised": 0.3, "transition_s": 0.8, "ease": "smooth"}``
  or ``{"va": [0.6, 0.4]}``.

Intensities lie in [0, 1]; values above 1 up to ``max_intensity`` (a configured
value >= 1) are allowed as mild extrapolation. Mixtures whose intensities sum to
more than 1 are allowed: each emotion is an independent, additive component of the
face, and the generator is trained on such mixtures; the reported neutral weight is
then 0. Anything else -- negative, NaN/Inf or too large values, unknown names,
duplicated names (also via aliases, e.g. ``joy`` and ``happy``), empty commands,
a command that names no emotion, garbage -- raises :class:`EmotalkError` whose
message names the problem and lists the valid names and aliases. A command is
parsed completely before anything is returned, so it is never half-applied.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any, Dict, Mapping, Optional, Tuple

import numpy as np

from emotalk_ros.core.emotions import (
    ALIASES,
    EMOTIONS,
    EXPRESSIVE,
    EXPRESSIVE_INDEX,
    NUM_EXPRESSIVE,
    canonical_emotion,
)
from emotalk_ros.core.limits import finite_number, loads_json, quote
from emotalk_ros.errors import EmotalkError

EASES: Tuple[str, ...] = ("linear", "smooth")
MAX_TRANSITION_S = 600.0
"""Longest accepted transition in seconds (anything longer is almost certainly a typo)."""
MAX_INTENSITY_LIMIT = 2.0
"""Largest accepted value of the configured ``max_intensity``."""
MAX_COMMAND_CHARS = 4096
"""Longest accepted emotion command (text or JSON), in characters."""

_TRANSITION_KEYS = ("transition", "transition_s")
_EASE_KEYS = ("ease",)
_VA_KEYS = ("va",)


@dataclass(frozen=True, eq=False)
class EmotionCommand:
    """A parsed emotion command.

    ``alpha`` (7,) float32 over :data:`emotalk_ros.core.emotions.EXPRESSIVE`, each in
    [0, max_intensity] (read-only array); ``transition_s`` seconds or None for the
    receiver's default; ``ease`` ``'linear'``/``'smooth'`` or None for the default;
    ``text`` the original command.
    """

    alpha: np.ndarray
    transition_s: Optional[float]
    ease: Optional[str]
    text: str

    def to_dict(self) -> Dict[str, Any]:
        """Canonical JSON-ready form: expressive weights plus the non-None options."""
        out: Dict[str, Any] = {n: float(self.alpha[i]) for i, n in enumerate(EXPRESSIVE)}
        if self.transition_s is not None:
            out["transition_s"] = self.transition_s
        if self.ease is not None:
            out["ease"] = self.ease
        return out


def valid_names_text() -> str:
    """One line listing the valid emotion names, aliases and options (for error messages)."""
    aliases = ", ".join(f"{a}->{c}" for a, c in sorted(ALIASES.items()))
    return (f"valid emotions: {', '.join(EMOTIONS)}; aliases: {aliases}; options: "
            f"transition=SECONDS (0..{MAX_TRANSITION_S:g}), ease={'|'.join(EASES)}, "
            "va:VALENCE,AROUSAL (each in [-1, 1]); "
            'or JSON such as {"happy": 0.6, "surprised": 0.3, "transition_s": 0.8}')


def _fail(problem: str) -> EmotalkError:
    return EmotalkError(f"bad emotion command: {problem}. {valid_names_text()}")


def _check_max_intensity(max_intensity: float) -> float:
    m = float(max_intensity)
    if not (math.isfinite(m) and 1.0 <= m <= MAX_INTENSITY_LIMIT):
        raise EmotalkError(
            f"max_intensity must be in [1, {MAX_INTENSITY_LIMIT:g}], got {max_intensity!r}"
        )
    return m


def _number(value: Any, what: str) -> float:
    """A finite float from a JSON number or a text token; raises with ``what`` named."""
    if isinstance(value, str):
        try:
            x = float(value)
        except ValueError:
            raise _fail(f"{what} must be a number, got {quote(value)}") from None
        if not math.isfinite(x):
            raise _fail(f"{what} must be finite, got {quote(value)}")
        return x
    try:
        return finite_number(value, what)
    except EmotalkError as exc:
        raise _fail(str(exc)) from None


def _intensity(value: Any, name: str, max_intensity: float) -> float:
    x = _number(value, f"intensity of {name!r}")
    if x < 0.0:
        raise _fail(f"intensity of {name!r} is negative ({x:g}); intensities lie in [0, 1]")
    if x > max_intensity + 1e-9:
        raise _fail(
            f"intensity of {name!r} is {x:g}, above the maximum {max_intensity:g} "
            "(intensities lie in [0, 1]; the max_intensity setting allows mild extrapolation)"
        )
    return min(x, max_intensity)


def _transition(value: Any) -> float:
    x = _number(value, "transition")
    if not 0.0 <= x <= MAX_TRANSITION_S:
        raise _fail(f"transition must be in [0, {MAX_TRANSITION_S:g}] seconds, got {x:g}")
    return x


def _ease(value: Any) -> str:
    if not isinstance(value, str) or value.strip().lower() not in EASES:
        raise _fail(f"ease must be one of {', '.join(EASES)}, got {quote(value)}")
    return value.strip().lower()


def _va(valence: Any, arousal: Any) -> Tuple[float, float]:
    v = _number(valence, "valence")
    a = _number(arousal, "arousal")
    for what, x in (("valence", v), ("arousal", a)):
        if not -1.0 <= x <= 1.0:
            raise _fail(f"{what} must be in [-1, 1], got {x:g}")
    return v, a


class _Builder:
    """Collects the items of one command, rejecting duplicates; builds the command at the end."""

    def __init__(self, max_intensity: float):
        self.max_intensity = max_intensity
        self.weights: Dict[str, float] = {}
        self.spelled: Dict[str, str] = {}
        self.va: Optional[Tuple[float, float]] = None
        self.transition_s: Optional[float] = None
        self.ease: Optional[str] = None

    def emotion(self, spelled: str, value: Any) -> None:
        name = canonical_emotion(spelled)
        if name is None:
            raise _fail(f"unknown emotion {quote(spelled)}")
        if name in self.weights:
            raise _fail(
                f"emotion {name!r} is given twice "
                f"({quote(self.spelled[name])} and {quote(spelled)})"
            )
        self.weights[name] = _intensity(value, spelled, self.max_intensity)
        self.spelled[name] = spelled

    def option(self, key: str, value: Any) -> None:
        if key in _TRANSITION_KEYS:
            if self.transition_s is not None:
                raise _fail("transition is given twice")
            self.transition_s = _transition(value)
        elif key in _EASE_KEYS:
            if self.ease is not None:
                raise _fail("ease is given twice")
            self.ease = _ease(value)
        else:
            raise _fail(f"unknown option {quote(key)}")

    def set_va(self, valence: Any, arousal: Any) -> None:
        if self.va is not None:
            raise _fail("va is given twice")
        self.va = _va(valence, arousal)

    def build(self, text: str) -> EmotionCommand:
        if self.va is not None and self.weights:
            raise _fail("va cannot be combined with named emotions "
                        f"({', '.join(self.spelled.values())}) in one command")
        if self.va is None and not self.weights:
            raise _fail(
                "no emotion given (a command must name at least one emotion, neutral or va)"
            )
        if self.va is not None:
            alpha = va_to_alpha(*self.va)  # (7,)
        else:
            alpha = np.zeros(NUM_EXPRESSIVE, dtype=np.float32)  # (7,)
            for name, w in self.weights.items():
                if name != "neutral":
                    alpha[EXPRESSIVE_INDEX[name]] = w
        alpha = alpha.astype(np.float32)
        alpha.flags.writeable = False
        return EmotionCommand(
            alpha=alpha, transition_s=self.transition_s, ease=self.ease, text=text
        )


_ITEM = re.compile(r"^([A-Za-z_][A-Za-z_]*)(?:[:=](.*))?$")


def _parse_text(text: str, b: _Builder) -> None:
    """The plain-text grammar: items separated by spaces/commas (``va:V,A`` takes two numbers)."""
    norm = re.sub(r"\s*([:=])\s*", r"\1", text.strip())
    tokens = [t for t in re.split(r"[\s,]+", norm) if t]
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        m = _ITEM.match(tok)
        if m is None:
            raise _fail(f"cannot parse {quote(tok)}")
        key, value = m.group(1).lower(), m.group(2)
        if value == "":
            raise _fail(f"{quote(key)} has an empty value")
        if key in _VA_KEYS:
            if value is None or i + 1 >= len(tokens):
                raise _fail("va needs two numbers, valence and arousal, as in va:0.6,0.4")
            b.set_va(value, tokens[i + 1])
            i += 2
            continue
        if key in _TRANSITION_KEYS or key in _EASE_KEYS:
            if value is None:
                raise _fail(f"option {quote(key)} needs a value, "
                            "as in transition=0.8 or ease=linear")
            b.option(key, value)
        else:
            b.emotion(key, 1.0 if value is None else value)
        i += 1


def parse_json_object(text: str, max_chars: int = MAX_COMMAND_CHARS,
                      max_items: int = 64) -> Any:
    """Bounded ``json.loads`` (:func:`emotalk_ros.core.limits.loads_json`: length, depth,
    number size, keys per object; duplicated keys refused); raises :class:`EmotalkError`."""
    try:
        return loads_json(text, "JSON", max_chars=max_chars, max_items=max_items)
    except EmotalkError as exc:
        raise _fail(str(exc)) from None


def _fill_from_mapping(d: Mapping[str, Any], b: _Builder, skip: Tuple[str, ...] = ()) -> None:
    for raw_key, value in d.items():
        if not isinstance(raw_key, str):
            raise _fail(f"key {quote(raw_key)} is not a string")
        key = raw_key.strip().lower()
        if key in skip:
            continue
        if key in _VA_KEYS:
            if not isinstance(value, (list, tuple)) or len(value) != 2:
                raise _fail("va must be a list of two numbers [valence, arousal], "
                            f"got {quote(value)}")
            b.set_va(value[0], value[1])
        elif key in _TRANSITION_KEYS or key in _EASE_KEYS:
            b.option(key, value)
        else:
            b.emotion(raw_key.strip(), value)


def command_from_mapping(d: Mapping[str, Any], max_intensity: float = 1.0, text: str = "",
                         skip: Tuple[str, ...] = ()) -> EmotionCommand:
    """Parse a JSON-like mapping (``{"happy": 0.6, "transition_s": 0.8}``) into a command.

    Keys in ``skip`` (lower case) are ignored, e.g. ``("t",)`` for emotion track keys.
    Raises :class:`EmotalkError` exactly as :func:`parse_emotion_command` does.
    """
    mi = _check_max_intensity(max_intensity)
    if not isinstance(d, Mapping):
        raise _fail(f"expected a JSON object, got {type(d).__name__}")
    b = _Builder(mi)
    _fill_from_mapping(d, b, skip)
    if not text:
        text = json.dumps(dict(d), default=str)
        text = text if len(text) <= 200 else text[:200] + "..."
    return b.build(text)


def parse_emotion_command(text: str, max_intensity: float = 1.0) -> EmotionCommand:
    """Parse an emotion command (text grammar or JSON object) -> :class:`EmotionCommand`.

    ``max_intensity`` (>= 1) is the largest accepted intensity. Raises
    :class:`EmotalkError` naming the problem and listing the valid names; never
    returns a partially parsed command.
    """
    mi = _check_max_intensity(max_intensity)
    if not isinstance(text, str):
        raise _fail(f"expected a string, got {type(text).__name__}")
    if len(text) > MAX_COMMAND_CHARS:
        raise _fail(f"the command has {len(text)} characters (at most {MAX_COMMAND_CHARS}): "
                    f"{quote(text, 40)}")
    stripped = text.strip()
    if not stripped:
        raise _fail("the command is empty")
    b = _Builder(mi)
    if stripped[0] in "{[\"":
        obj = parse_json_object(stripped)
        if not isinstance(obj, dict):
            raise _fail(f"JSON command must be an object, got {type(obj).__name__}")
        _fill_from_mapping(obj, b)
    else:
        _parse_text(stripped, b)
    return b.build(text)


# ----------------------------------------------------------------------------------------------
# Valence / arousal -> emotion intensities
# ----------------------------------------------------------------------------------------------

# Anchors on the valence/arousal circle (angle in degrees from the +valence axis, counter-
# clockwise toward +arousal), approximately after Russell's (1980) circumplex of affect.
# Each anchor is a (7,) intensity vector at radius 1. Two soft anchors fill the low-arousal
# half, which has no basic emotion: "tired/bored" (mildly sad) and "calm/content" (a slight
# smile), so that e.g. va:0,-1 is not a half-sad, half-happy face.
_VA_ANCHORS: Tuple[Tuple[float, Dict[str, float]], ...] = (
    (10.0, {"happy": 1.0}),         # happy / pleased / glad
    (70.0, {"surprised": 1.0}),     # astonished / aroused
    (100.0, {"fearful": 1.0}),      # alarmed / afraid
    (125.0, {"angry": 1.0}),        # angry / annoyed
    (150.0, {"disgusted": 1.0}),    # distressed / disgusted
    (172.0, {"contempt": 1.0}),     # frustrated / contemptuous
    (210.0, {"sad": 1.0}),          # sad / miserable / depressed
    (270.0, {"sad": 0.3}),          # tired / bored / sleepy
    (320.0, {"happy": 0.4}),        # calm / relaxed / content
)
_VA_ANGLES = np.array([a for a, _ in _VA_ANCHORS], dtype=np.float64)  # (K,) degrees, increasing
_VA_VECTORS = np.zeros((len(_VA_ANCHORS), NUM_EXPRESSIVE), dtype=np.float64)  # (K, 7)
for _k, (_, _w) in enumerate(_VA_ANCHORS):
    for _n, _x in _w.items():
        _VA_VECTORS[_k, EXPRESSIVE_INDEX[_n]] = _x


def va_to_alpha(valence: float, arousal: float) -> np.ndarray:
    """Valence and arousal in [-1, 1] -> (7,) float32 intensities over ``EXPRESSIVE``.

    The point (valence, arousal) is read in polar form. Its angle selects the two
    neighbouring anchors of the circumplex (``_VA_ANCHORS``: happy 10 deg, surprised 70,
    fearful 100, angry 125, disgusted 150, contempt 172, sad 210, plus the soft anchors
    tired 270 = sad 0.3 and content 320 = happy 0.4) and blends them linearly in angle;
    the radius, clipped to 1, scales the result. The map is continuous everywhere
    (also across 0/360 deg and at the origin), and ``va_to_alpha(0, 0)`` is neutral
    (all zeros). Raises :class:`EmotalkError` for values outside [-1, 1] or not finite.
    """
    v, a = _va(valence, arousal)
    r = min(1.0, math.hypot(v, a))
    if r == 0.0:
        return np.zeros(NUM_EXPRESSIVE, dtype=np.float32)
    theta = math.degrees(math.atan2(a, v)) % 360.0
    angles = np.append(_VA_ANGLES, _VA_ANGLES[0] + 360.0)  # (K+1,) closed circle
    if theta < angles[0]:
        theta += 360.0
    k = int(np.searchsorted(angles, theta, side="right")) - 1
    k = min(max(k, 0), len(_VA_ANGLES) - 1)
    w = (theta - angles[k]) / (angles[k + 1] - angles[k])
    lo = _VA_VECTORS[k]  # (7,)
    hi = _VA_VECTORS[(k + 1) % len(_VA_ANGLES)]  # (7,)
    return (r * ((1.0 - w) * lo + w * hi)).astype(np.float32)  # (7,)
