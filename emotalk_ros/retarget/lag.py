"""Motor lag compensation: blendshape frames by their stamps -> each motor's target, early by
its own actuation latency (core, no rclpy).

A frame's stamp is the time the sound it depicts is heard. A motor that takes ``latency_s``
to act on a command should get the frame for ``now + latency_s`` now. The retarget stage's
own smoothing filter delays every command too (``processing_s``: its nominal delay, see
:attr:`emotalk_ros.retarget.safety.Retargeter.filter_delay_s`). :class:`LagScheduler` keeps
the frames received (by stamp) and, on each control tick, picks for every motor the face at
``now + processing_s + latency_s`` (interpolated between the two frames around it):

* **Frames ahead of their stamps** (the robot's own speech): the motor is commanded early by
  its latency (plus the filter's delay), so the motion and the sound meet.
* **Frames late** (the microphone path: a frame arrives after its sound was heard): nothing
  can be early; every motor follows the newest frame as it arrives, as without compensation.

Where frames come from: ``face/blendshapes_ahead`` (``ahead=True``) carries each frame as soon
as it is computed; a frame there *replaces* every frame with a later stamp received before it
(they belong to an older computation, e.g. speech that was cancelled). ``face/blendshapes``
(``ahead=False``) carries the same frames at their stamps, plus anything a third party
publishes: a frame whose stamp is already known is a duplicate and ignored; others are added.
A frame without a stamp (0) is taken as depicting its arrival time.
"""

from __future__ import annotations

import bisect
import collections
import math
from typing import Callable, Deque, Dict, List, Optional, Tuple

import numpy as np

from emotalk_ros.core.blendshapes import NUM_BLENDSHAPES
from emotalk_ros.errors import EmotalkError

SAME_STAMP_S = 0.001      # stamps closer than this are the same frame
MAX_GAP_S = 0.05          # frames further apart than this are not interpolated between
AHEAD_THRESHOLD_S = 0.002  # a frame received this long before its stamp counts as ahead


class LagScheduler:
    """Frames by stamp -> per-motor targets, each motor ``latencies_s[m]`` early.

    ``latencies_s`` (M,) float seconds (>= 0); ``processing_s`` (s, >= 0): added to every
    motor's latency (the delay of the stage the targets go through); ``keep_s``: frames older
    than this behind the latest query are forgotten; ``max_frames`` bounds the store.
    """

    def __init__(self, latencies_s, processing_s: float = 0.0, keep_s: float = 1.0,
                 max_frames: int = 1024):
        lat = np.asarray(latencies_s, np.float64).reshape(-1)
        if lat.size == 0 or not np.all(np.isfinite(lat)) or np.any(lat < 0):
            raise EmotalkError(f"motor latencies must be finite and >= 0 s, got {lat}")
        if not (math.isfinite(processing_s) and processing_s >= 0):
            raise EmotalkError(f"processing delay must be finite and >= 0 s, got {processing_s}")
        self.latencies_s = lat
        self.processing_s = float(processing_s)
        self.keep_s = float(keep_s)
        self.max_frames = int(max_frames)
        self._stamps: List[float] = []
        self._frames: List[np.ndarray] = []
        self._groups = sorted(set(float(x) for x in lat))
        self._last_key: Optional[Tuple] = None
        self._leads: Deque[float] = collections.deque(maxlen=60)
        self.replaced = 0          # frames superseded by a newer computation
        self.duplicates = 0        # copies of a known stamp (the on-time copy of an early frame)

    # -- input --------------------------------------------------------------------------------
    def add(self, stamp_s: float, frame: np.ndarray, now_s: float, ahead: bool = False) -> bool:
        """Store a (52,) frame depicting ``stamp_s`` (0: its arrival ``now_s``), received at
        ``now_s`` (same clock). Returns False for a duplicate that was ignored."""
        v = np.asarray(frame, np.float64).reshape(-1)
        if v.shape != (NUM_BLENDSHAPES,):
            raise EmotalkError(f"frame must have {NUM_BLENDSHAPES} values, got {v.shape}")
        t = float(stamp_s) if stamp_s and math.isfinite(stamp_s) else float(now_s)
        i = bisect.bisect_left(self._stamps, t - SAME_STAMP_S)
        same = i < len(self._stamps) and abs(self._stamps[i] - t) <= SAME_STAMP_S
        if ahead:
            j = bisect.bisect_right(self._stamps, t + SAME_STAMP_S)
            n_later = len(self._stamps) - j
            if n_later:                                   # an older computation: replaced
                self.replaced += n_later
                del self._stamps[j:], self._frames[j:]
            if same:
                self._frames[i] = v
            else:
                self._stamps.insert(i, t)
                self._frames.insert(i, v)
        else:
            if same:
                self.duplicates += 1
                return False
            self._stamps.insert(i, t)
            self._frames.insert(i, v)
        self._leads.append(t - float(now_s))
        if len(self._stamps) > self.max_frames:
            del self._stamps[0], self._frames[0]
        return True

    # -- output -------------------------------------------------------------------------------
    def _at(self, q: float) -> Tuple[Tuple, np.ndarray]:
        """(key, frame (52,)) at time ``q``: interpolated between the frames around it, else
        the nearest (the newest when all are older, the oldest when all are newer)."""
        s = self._stamps
        k = bisect.bisect_right(s, q)
        if k == 0:
            return (s[0], s[0], 0.0), self._frames[0]
        if k >= len(s):
            return (s[-1], s[-1], 0.0), self._frames[-1]
        a, b = s[k - 1], s[k]
        if b - a > MAX_GAP_S:
            return (a, a, 0.0), self._frames[k - 1]
        w = (q - a) / (b - a)
        return (a, b, round(w, 4)), (1.0 - w) * self._frames[k - 1] + w * self._frames[k]

    def targets(self, now_s: float, mapper: Callable[[np.ndarray], np.ndarray]
                ) -> Optional[np.ndarray]:
        """(M,) targets at ``now_s``: motor m gets ``mapper(frame at now_s + processing_s +
        latency_m)[m]``.
        None when there are no frames, or when nothing changed since the last call (no new
        input for the watchdog)."""
        if not self._stamps:
            return None
        keys = []
        picks: Dict[float, np.ndarray] = {}
        for lat in self._groups:
            key, frame = self._at(now_s + self.processing_s + lat)
            keys.append(key)
            picks[lat] = frame
        key = tuple(keys)
        self._prune(now_s)
        if key == self._last_key:
            return None
        self._last_key = key
        out = None
        for lat, frame in picks.items():
            mapped = np.asarray(mapper(frame), np.float64)                     # (M,)
            if out is None:
                out = mapped.copy()
            sel = self.latencies_s == lat
            out[sel] = mapped[sel]
        return out

    def _prune(self, now_s: float) -> None:
        """Forget frames no query can need any more (keep the newest one at or before now)."""
        limit = now_s - self.keep_s
        k = bisect.bisect_left(self._stamps, limit)
        k = min(k, max(0, bisect.bisect_right(self._stamps, now_s) - 1))
        if k > 0:
            del self._stamps[:k], self._frames[:k]

    # -- diagnostics ----------------------------------------------------------------------------
    @property
    def lead_s(self) -> float:
        """Median of the recent frames' stamp minus arrival (s): > 0 ahead, < 0 late (nan
        before any frame)."""
        return float(np.median(self._leads)) if self._leads else float("nan")

    @property
    def mode(self) -> str:
        """``ahead`` (motors commanded early by their latency), ``late`` (frames follow their
        sound; commands follow the frames as they arrive) or ``none`` (no frames yet)."""
        lead = self.lead_s
        if not math.isfinite(lead):
            return "none"
        return "ahead" if lead > AHEAD_THRESHOLD_S else "late"
