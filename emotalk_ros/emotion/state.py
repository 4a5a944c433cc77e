"""Continuous emotion state with eased transitions, and scripted emotion keyframe tracks.

:class:`EmotionState` holds the current (7,) intensity vector over
:data:`emotalk_ros.core.emotions.EXPRESSIVE` as a function of time. A command starts a
transition at the caller's time ``now`` (seconds of *audio time*, the clock the
frames are stamped with) from the value the state has at ``now`` -- so a command
arriving in the middle of a transition continues from where the face is, without a
jump -- to the command's target, over ``transition_s`` seconds with ``linear`` or
``smooth`` easing (smootherstep, 6u^5 - 15u^4 + 10u^3: zero velocity and
acceleration at both ends). ``transition_s = 0`` is a step at ``now``.

Evaluation (``at``/``at_many``) is a pure function of time: times before the last
command time give the value at that command time. The output is the blended value
times ``emotion_strength``, clipped to [0, max_intensity]. It can be handed to a
predictor as its emotion callable: ``predictor.push(x, emotion=state.at_many)``.

:class:`EmotionTrack` is a scripted performance: keys
``[{"t": 0.0, "happy": 0.5}, {"t": 2.5, "surprised": 0.8, "transition_s": 0.4}]``
replayed through an :class:`EmotionState`, so a track and a live state fed the same
commands at the same times agree exactly.
"""

from __future__ import annotations

import json
import math
import os
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from emotalk_ros.core.easing import EasedRamp
from emotalk_ros.core.emotions import NUM_EXPRESSIVE, alpha_to_dict
from emotalk_ros.core.limits import finite_number, loads_json, quote
from emotalk_ros.emotion.command import (
    EASES,
    MAX_INTENSITY_LIMIT,
    MAX_TRANSITION_S,
    EmotionCommand,
    command_from_mapping,
)
from emotalk_ros.errors import EmotalkError

EMOTION_STRENGTH_RANGE: Tuple[float, float] = (0.0, 2.0)
"""Accepted range of ``emotion_strength`` (a global gain on all intensities)."""
MAX_INTENSITY_RANGE: Tuple[float, float] = (1.0, MAX_INTENSITY_LIMIT)
"""Accepted range of ``max_intensity``."""
TRANSITION_RANGE: Tuple[float, float] = (0.0, MAX_TRANSITION_S)
"""Accepted range of ``transition_s`` in seconds."""
MAX_TRACK_KEYS = 10000
"""Most keys of an emotion track file (one every 0.2 s for over half an hour)."""
MAX_TRACK_CHARS = 1 << 20
"""Longest emotion track file in characters (1 MiB)."""
LIVE_MAX_TRACK_KEYS = 2000
"""Most keys of a track on the ``emotion_track`` topic (one every 0.5 s for 16 minutes): a
live node bounds the work one message can cause more tightly than a file."""
LIVE_MAX_TRACK_CHARS = 256 << 10
"""Longest track message on the ``emotion_track`` topic in characters (256 KiB)."""
MAX_TRACK_TIME_S = 86400.0
"""Latest key time of an emotion track in seconds (one day)."""


def _check_range(name: str, value: Any, lo: float, hi: float) -> float:
    if isinstance(value, bool):
        raise EmotalkError(f"{name} must be a number in [{lo:g}, {hi:g}], got {quote(value)}")
    try:
        x = float(value)
    except (TypeError, ValueError, OverflowError):
        raise EmotalkError(f"{name} must be a number in [{lo:g}, {hi:g}], "
                           f"got {quote(value)}") from None
    if not (math.isfinite(x) and lo <= x <= hi):
        raise EmotalkError(f"{name} must be in [{lo:g}, {hi:g}], got {quote(value)}")
    return x


def _check_ease(value: Any) -> str:
    if not isinstance(value, str) or value.strip().lower() not in EASES:
        raise EmotalkError(f"ease must be one of {', '.join(EASES)}, got {quote(value)}")
    return value.strip().lower()


class EmotionState:
    """The current emotion as a function of (audio) time, with eased transitions.

    ``transition_s`` (default transition, seconds), ``ease`` (default easing),
    ``emotion_strength`` (gain applied on output) and ``max_intensity`` (output
    clip) are live-settable attributes, validated on set (:class:`EmotalkError`).
    Changing the defaults does not alter a transition already under way.
    """

    def __init__(self, transition_s: float = 0.5, ease: str = "smooth",
                 emotion_strength: float = 1.0, max_intensity: float = 1.0):
        self.transition_s = transition_s
        self.ease = ease
        self.emotion_strength = emotion_strength
        self.max_intensity = max_intensity
        self._ramp = EasedRamp(np.zeros(NUM_EXPRESSIVE))          # (7,) raw value over time
        self._text = "neutral"

    # -- live parameters ---------------------------------------------------------------------
    @property
    def transition_s(self) -> float:
        """Default transition duration (s) for commands that give none."""
        return self._transition_s

    @transition_s.setter
    def transition_s(self, value: float) -> None:
        self._transition_s = _check_range("transition_s", value, *TRANSITION_RANGE)

    @property
    def ease(self) -> str:
        """Default easing (one of EASES) for commands that give none."""
        return self._default_ease

    @ease.setter
    def ease(self, value: str) -> None:
        self._default_ease = _check_ease(value)

    @property
    def emotion_strength(self) -> float:
        """Global gain on the output intensities, in [0, 2]."""
        return self._strength

    @emotion_strength.setter
    def emotion_strength(self, value: float) -> None:
        self._strength = _check_range("emotion_strength", value, *EMOTION_STRENGTH_RANGE)

    @property
    def max_intensity(self) -> float:
        """Clip on the output intensities, in [1, MAX_INTENSITY_LIMIT]."""
        return self._max_intensity

    @max_intensity.setter
    def max_intensity(self, value: float) -> None:
        self._max_intensity = _check_range("max_intensity", value, *MAX_INTENSITY_RANGE)

    def set_params(self, transition_s: Optional[float] = None, ease: Optional[str] = None,
                   emotion_strength: Optional[float] = None,
                   max_intensity: Optional[float] = None) -> None:
        """Set several parameters at once; all are validated before any is applied."""
        checked = {}
        if transition_s is not None:
            checked["_transition_s"] = _check_range(
                "transition_s", transition_s, *TRANSITION_RANGE
            )
        if ease is not None:
            checked["_default_ease"] = _check_ease(ease)
        if emotion_strength is not None:
            checked["_strength"] = _check_range("emotion_strength", emotion_strength,
                                                *EMOTION_STRENGTH_RANGE)
        if max_intensity is not None:
            checked["_max_intensity"] = _check_range("max_intensity", max_intensity,
                                                     *MAX_INTENSITY_RANGE)
        for k, v in checked.items():
            setattr(self, k, v)

    # -- commands ----------------------------------------------------------------------------
    def reset(self, alpha: Optional[np.ndarray] = None) -> None:
        """Forget all commands; hold ``alpha`` ((7,), default neutral) at all times."""
        a = (
            np.zeros(NUM_EXPRESSIVE)
            if alpha is None
            else np.asarray(alpha, np.float64).reshape(-1)
        )
        if a.shape != (NUM_EXPRESSIVE,) or not np.all(np.isfinite(a)):
            raise EmotalkError(
                f"reset alpha must be {NUM_EXPRESSIVE} finite intensities, got {a!r}"
            )
        self._ramp.reset(a)
        self._text = "reset"

    def command(self, cmd: EmotionCommand, now: float) -> None:
        """Start a transition toward ``cmd.alpha`` at time ``now`` (seconds, audio time).

        The transition starts from the current blended value at ``now`` (continuity).
        Its duration and easing are the command's, or the current defaults when the
        command leaves them None. A command stamped earlier than the previous one is
        applied at the previous command's time (time never runs backwards).
        """
        now = float(now)
        if not math.isfinite(now):
            raise EmotalkError(f"command time must be finite, got {now!r}")
        target = np.asarray(cmd.alpha, dtype=np.float64).reshape(-1)
        if target.shape != (NUM_EXPRESSIVE,) or not np.all(np.isfinite(target)):
            raise EmotalkError(f"command alpha must be {NUM_EXPRESSIVE} finite intensities")
        dur = self._transition_s if cmd.transition_s is None else float(cmd.transition_s)
        ease = self._default_ease if cmd.ease is None else cmd.ease
        self._ramp.move(target, now, dur, ease)
        self._text = cmd.text

    def ramp_copy(self) -> EasedRamp:
        """A copy of the raw value's ramp (before strength and clip): a cheap snapshot."""
        return self._ramp.copy()

    # -- evaluation --------------------------------------------------------------------------
    def _raw_many(self, times: np.ndarray) -> np.ndarray:
        """Blended value before strength/clip at ``times`` (N,) s -> (N, 7) float64."""
        return self._ramp.at_many(times)  # (N, 7)

    def target(self) -> np.ndarray:
        """The raw target of the last command, (7,) float32 (before emotion_strength)."""
        return self._ramp.target.astype(np.float32)

    def at_many(self, times: np.ndarray) -> np.ndarray:
        """Emotion at ``times`` (N,) float64 s -> (N, 7) float32 in [0, max_intensity].

        Equal to :meth:`at` at each time; includes ``emotion_strength``.
        """
        t = np.asarray(times, dtype=np.float64).reshape(-1)  # (N,)
        if not np.all(np.isfinite(t)):
            raise EmotalkError("emotion times must be finite")
        out = self._raw_many(t) * self._strength  # (N, 7)
        return np.clip(out, 0.0, self._max_intensity).astype(np.float32)

    def at(self, t: float) -> np.ndarray:
        """Emotion at time ``t`` (s) -> (7,) float32 in [0, max_intensity]."""
        return self.at_many(np.array([float(t)]))[0]

    def transition_remaining(self, t: float) -> float:
        """Seconds left in the current transition at time ``t`` (0 when settled)."""
        t0 = self._ramp.start_time
        if not math.isfinite(t0):
            return 0.0
        return float(max(0.0, t0 + self._ramp.duration_s - float(t)))

    def to_dict(self, t: float) -> Dict[str, Any]:
        """JSON-ready state at time ``t``.

        ``weights``: the output value (after strength and clip) per emotion, with
        ``neutral`` = max(0, 1 - sum); ``target``: the raw commanded target;
        ``transition_remaining_s``; ``emotion_strength``; ``command``: the last
        command's text.
        """
        return {
            "weights": {k: round(v, 4) for k, v in alpha_to_dict(self.at(t)).items()},
            "target": {k: round(v, 4) for k, v in alpha_to_dict(self._ramp.target).items()},
            "transition_remaining_s": round(self.transition_remaining(t), 4),
            "emotion_strength": self._strength,
            "command": self._text,
        }

    def to_json(self, t: float) -> str:
        """:meth:`to_dict` as a compact JSON string."""
        return json.dumps(self.to_dict(t), separators=(",", ":"))


class EmotionTrack:
    """A scripted emotion performance: keys replayed through an :class:`EmotionState`.

    Keys are sorted by ``t`` (stable for equal times). Each key's other fields follow
    the JSON command grammar (emotion names/aliases, ``va``, ``transition_s``,
    ``ease``). The first key is applied as a step (the track starts in that emotion)
    unless it gives its own ``transition_s``, in which case it eases in from neutral.
    Call the track with times (N,) -> (N, 7) float32; it can be passed as a
    predictor's emotion callable.
    """

    def __init__(self, keys: Sequence[Tuple[float, EmotionCommand]],
                 default_transition_s: float = 0.5, ease: str = "smooth",
                 max_intensity: float = 1.0):
        if not keys:
            raise EmotalkError("emotion track has no keys")
        order = sorted(range(len(keys)), key=lambda i: float(keys[i][0]))
        self.keys: List[Tuple[float, EmotionCommand]] = [
            (float(keys[i][0]), keys[i][1]) for i in order
        ]
        self._state = EmotionState(transition_s=default_transition_s, ease=ease,
                                   max_intensity=max_intensity)
        # Snapshot the state after each key: segment k is valid on [t_k, t_{k+1}).
        # (a copy of the state's ramp per key: cheap, unlike a deep copy of the state)
        self._snapshots: List[EasedRamp] = []
        st = self._state
        for k, (t, cmd) in enumerate(self.keys):
            if k == 0 and cmd.transition_s is None:
                cmd = EmotionCommand(
                    alpha=cmd.alpha, transition_s=0.0, ease=cmd.ease, text=cmd.text
                )
            st.command(cmd, t)
            self._snapshots.append(st.ramp_copy())
        self._times = np.array([t for t, _ in self.keys], dtype=np.float64)  # (K,)

    @classmethod
    def from_json(cls, text_or_list: Union[str, Sequence[Dict[str, Any]]],
                  default_transition_s: float = 0.5, ease: str = "smooth",
                  max_intensity: float = 1.0, max_keys: int = MAX_TRACK_KEYS,
                  max_chars: int = MAX_TRACK_CHARS) -> "EmotionTrack":
        """Build a track from a JSON string or a list of key dicts (each with a ``t`` in s).

        Bounded: at most ``max_chars`` characters, ``max_keys`` keys (defaults
        :data:`MAX_TRACK_CHARS`, :data:`MAX_TRACK_KEYS`), key times in
        [0, :data:`MAX_TRACK_TIME_S`] s (and the bounds of
        :func:`emotalk_ros.core.limits.loads_json`). Raises :class:`EmotalkError` naming the
        offending key index, quoting at most about 80 characters of it.
        """
        return cls(cls.keys_from_json(text_or_list, max_intensity=max_intensity,
                                      max_keys=max_keys, max_chars=max_chars),
                   default_transition_s=default_transition_s, ease=ease,
                   max_intensity=max_intensity)

    @staticmethod
    def keys_from_json(text_or_list: Union[str, Sequence[Dict[str, Any]]],
                       max_intensity: float = 1.0, max_keys: int = MAX_TRACK_KEYS,
                       max_chars: int = MAX_TRACK_CHARS) -> List[Tuple[float, EmotionCommand]]:
        """The keys of :meth:`from_json` as (t s, command) pairs, in the given order (the same
        bounds and errors); an empty list raises "no keys"."""
        if isinstance(text_or_list, str):
            data = loads_json(text_or_list, "emotion track", max_chars=max_chars,
                              max_items=max_keys)
        else:
            data = text_or_list
        if isinstance(data, dict) and "keys" in data:
            data = data["keys"]
        if not isinstance(data, (list, tuple)):
            raise EmotalkError("emotion track must be a JSON list of keys such as "
                               '[{"t": 0.0, "happy": 0.5}, {"t": 2.5, "surprised": 0.8}]')
        if len(data) > max_keys:
            raise EmotalkError(f"emotion track has {len(data)} keys (at most {max_keys})")
        keys: List[Tuple[float, EmotionCommand]] = []
        for i, item in enumerate(data):
            if not isinstance(item, dict):
                raise EmotalkError(f"emotion track key {i} must be an object, got {quote(item)}")
            lower = {str(k).strip().lower(): v for k, v in item.items()}
            if "t" not in lower:
                raise EmotalkError(f"emotion track key {i} has no time 't' (seconds)")
            try:
                t = finite_number(lower["t"], "'t'")
            except EmotalkError as exc:
                raise EmotalkError(f"emotion track key {i}: {exc}") from None
            if not 0.0 <= t <= MAX_TRACK_TIME_S:
                raise EmotalkError(f"emotion track key {i}: 't' must be a time in "
                                   f"[0, {MAX_TRACK_TIME_S:g}] s, got {t:g}")
            try:
                cmd = command_from_mapping(item, max_intensity=max_intensity, skip=("t",),
                                           text=f"emotion track key {i}")
            except EmotalkError as exc:
                raise EmotalkError(f"emotion track key {i} (t={t:g}): {exc}") from None
            keys.append((t, cmd))
        if not keys:
            raise EmotalkError("emotion track has no keys")
        return keys

    @classmethod
    def load(cls, path: Union[str, os.PathLike], **kwargs: Any) -> "EmotionTrack":
        """Read a JSON track file (see :meth:`from_json`; keyword arguments are passed on)."""
        try:
            with open(path, encoding="utf-8") as f:
                text = f.read(MAX_TRACK_CHARS + 1)
        except OSError as exc:
            raise EmotalkError(f"cannot read emotion track {path}: {exc.strerror}") from None
        except UnicodeDecodeError:
            raise EmotalkError(f"emotion track {path}: not UTF-8 text") from None
        return cls.from_json(text, **kwargs)

    def __call__(self, times: np.ndarray) -> np.ndarray:
        """Emotion at ``times`` (N,) float64 s -> (N, 7) float32 (any order of times)."""
        t = np.asarray(times, dtype=np.float64).reshape(-1)  # (N,)
        if not np.all(np.isfinite(t)):
            raise EmotalkError("emotion times must be finite")
        seg = np.clip(
            np.searchsorted(self._times, t, side="right") - 1, 0, len(self.keys) - 1
        )  # (N,)
        out = np.zeros((t.shape[0], NUM_EXPRESSIVE), dtype=np.float32)  # (N, 7)
        st_strength, st_max = self._state.emotion_strength, self._state.max_intensity
        for k in np.unique(seg):
            m = seg == k
            raw = self._snapshots[k].at_many(t[m]) * st_strength                 # (n, 7)
            out[m] = np.clip(raw, 0.0, st_max)
        return out

    @property
    def duration(self) -> float:
        """Time (s) at which the last key's transition ends."""
        last_t, _ = self.keys[-1]
        ramp = self._snapshots[-1]
        t0 = ramp.start_time
        if not math.isfinite(t0):
            return last_t
        return last_t + float(max(0.0, t0 + ramp.duration_s - last_t))
