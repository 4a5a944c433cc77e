"""An emotion keyframe track playing live, composed with the commanded emotion state.

:class:`TrackPlay` is a track started at some audio time: before its first key the face
keeps what it showed, then it cross-fades to the track and follows it. :func:`compose`
answers the commanded emotion at given times: the track where it plays, else the state.
"""

import math
from typing import Callable, Optional

import numpy as np

from emotalk_ros.core.easing import progress


class TrackPlay:
    """An emotion keyframe track playing from audio time ``t0`` (key times relative to it).

    Before the first key the face keeps what it showed (``base``); from the first key it
    cross-fades to the track over the first key's ``transition_s`` (default: the state's),
    then follows the track exactly. ``end``: when a later command took over.
    """

    def __init__(self, track, t0: float, fade_s: float, ease: str,
                 base: Callable[[np.ndarray], np.ndarray], n_keys: int):
        self.track, self.t0 = track, float(t0)
        self.start = self.t0 + track.keys[0][0]
        self.fade_s, self.ease = float(fade_s), ease
        self.base: Optional[Callable[[np.ndarray], np.ndarray]] = base
        self.end = math.inf
        self.n_keys = n_keys

    def values(self, t: np.ndarray, strength: float, max_intensity: float) -> np.ndarray:
        """times (N,) s -> (N, 7) float64 output intensities (strength and clip applied)."""
        tr = np.clip(self.track(t - self.t0).astype(np.float64) * strength, 0.0, max_intensity)
        if self.base is None:
            return tr
        b = np.asarray(self.base(t), np.float64)                                 # (N, 7)
        w = progress(t, self.start, self.fade_s, self.ease)                   # (N,)
        return b + w[:, None] * (tr - b)

    @property
    def finish(self) -> float:
        """Audio time at which the last key's transition ends."""
        return self.t0 + self.track.duration


def compose(play: Optional[TrackPlay], state, t: np.ndarray) -> np.ndarray:
    """The commanded emotion: the track where it plays, else the state. t (N,) -> (N, 7)
    float32."""
    t = np.asarray(t, np.float64).reshape(-1)
    out = np.asarray(state.at_many(t), np.float64)                               # (N, 7)
    if play is not None:
        m = t < play.end
        if m.any():
            out[m] = play.values(t[m], state.emotion_strength, state.max_intensity)
    return out.astype(np.float32)
