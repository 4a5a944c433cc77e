"""Seeded, deterministic liveliness overlays: blinks, gaze saccades and breathing.

:class:`IdleAnimator` adds life to a stream of (N, 52) blendshape frames:

* **Blinks** at natural, random intervals: the gap between blink onsets is
  ``0.25 s`` plus a gamma variate (shape 3), with mean ``blink_interval_s``. Each
  blink lasts 150-300 ms: a fast close (30 % of the moving time), a 40 ms hold
  fully closed (so that every 60 Hz frame sequence sees the lids reach 1) and a
  slower open. Speaking and pausing are decided at phrase level: a pause counts only once
  ``speaking`` has been False for ``pause_s`` (0.25 s by default), so the gaps between words
  are not pauses. When a pause is confirmed, a blink follows within 0-200 ms with
  probability 0.7, as people tend to blink at phrase ends (about 10-30 blinks a minute in
  speech instead of one per word gap).
  Output: ``eyeBlink{Left,Right} = max(input, blink * blink_scale)``.
* **Gaze**: fixations (0.3 s + gamma, mean about 1.5 s) joined by short saccades
  (30-90 ms, longer for larger jumps) between targets near the centre; about half
  of the saccades return to the centre (the listener). Gaze is conjugate: looking
  to the face's left raises ``eyeLookOutLeft`` and ``eyeLookInRight`` by the same
  amount (and vice versa); up/down raise ``eyeLookUp*``/``eyeLookDown*`` on both
  eyes. Added to the input, scaled by ``gaze_scale``.
* **Breathing**, only while not speaking at phrase level (fading in over 0.8 s after a
  pause is confirmed, off at once when speech starts): a slow sinusoid (period about 4 s) that adds
  at most 0.015 to ``jawOpen`` *and the same* to ``mouthClose`` (the lips stay as
  closed as they were: the lip aperture ``jawOpen - mouthClose`` does not
  change), plus tiny ``noseSneer*`` (nostrils on the inhale) and ``browInnerUp``.

Everything is a function of the frame times, the ``speaking`` flags and the seed:
the random draws happen at events in time order, and all state (schedules, the
random generators, the phrase state) is carried between calls, so calling
:meth:`IdleAnimator.apply` on a whole sequence or chunk by chunk gives identical
frames. Scales are live-settable and never change the random schedule.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Optional, Tuple

import numpy as np

from emotalk_ros.core.blendshapes import INDEX, NUM_BLENDSHAPES
from emotalk_ros.core.easing import smoothstep
from emotalk_ros.errors import EmotalkError

log = logging.getLogger(__name__)

SCALE_RANGE: Tuple[float, float] = (0.0, 2.0)
"""Accepted range of the blink/gaze/breath scales."""
BLINK_INTERVAL_RANGE: Tuple[float, float] = (1.0, 60.0)
"""Accepted range of the mean blink interval in seconds."""

# Blink timing (seconds).
_BLINK_DUR = (0.15, 0.30)        # total duration, uniform
_BLINK_HOLD = 0.04               # fully closed
_BLINK_CLOSE_FRAC = 0.30         # share of the moving time spent closing
_BLINK_MIN_GAP = 0.25            # minimum time between one blink's end and the next onset
_BLINK_GAMMA_SHAPE = 3.0
_PAUSE_BLINK_P = 0.7             # probability of a blink after a speech pause is confirmed
_PAUSE_BLINK_DELAY = (0.0, 0.2)  # after the confirmation, itself pause_s into the pause
PAUSE_RANGE: Tuple[float, float] = (0.0, 5.0)
"""Accepted range of the phrase-level pause length ``pause_s`` in seconds."""
# Gaze (normalised units: 1 = a clear sideways/up look; amplitude scaled below).
_FIX_MIN = 0.3
_FIX_GAMMA_SHAPE = 2.0
_FIX_MEAN_EXTRA = 1.2
_CENTER_P = 0.5
_GAZE_H_AMP = 0.35               # eyeLookIn/Out at |x| = 1 and gaze_scale = 1
_GAZE_V_AMP = 0.25               # eyeLookUp/Down at |y| = 1 and gaze_scale = 1
# Breathing.
_BREATH_PERIOD = 4.0
_BREATH_RAMP = 0.8
_BREATH_JAW = 0.015
_BREATH_NOSE = 0.015
_BREATH_BROW = 0.02


def check_scale(name: str, value: float) -> float:
    """An overlay scale checked against :data:`SCALE_RANGE` -> float; raises EmotalkError."""
    x = float(value)
    if not (math.isfinite(x) and SCALE_RANGE[0] <= x <= SCALE_RANGE[1]):
        raise EmotalkError(
            f"idle {name} must be in [{SCALE_RANGE[0]:g}, {SCALE_RANGE[1]:g}], got {value!r}"
        )
    return x


@dataclass(frozen=True)
class IdleConfig:
    """Idle overlay settings (validated on construction; :class:`EmotalkError`)."""

    enabled: bool = True
    seed: int = 0
    blink_scale: float = 1.0    # 0 disables blinks; scales blink amplitude
    gaze_scale: float = 1.0     # saccades on eyeLook* shapes
    breath_scale: float = 1.0   # subtle breathing motion while not speaking
    blink_interval_s: float = 4.0   # mean time between blink onsets
    pause_s: float = 0.25           # silence this long ends a phrase (word gaps are shorter)

    def __post_init__(self) -> None:
        if (
            isinstance(self.seed, bool)
            or not isinstance(self.seed, (int, np.integer))
            or self.seed < 0
        ):
            raise EmotalkError(f"idle seed must be an integer >= 0, got {self.seed!r}")
        for name in ("blink_scale", "gaze_scale", "breath_scale"):
            check_scale(name, getattr(self, name))
        b = float(self.blink_interval_s)
        if not (math.isfinite(b) and BLINK_INTERVAL_RANGE[0] <= b <= BLINK_INTERVAL_RANGE[1]):
            raise EmotalkError(f"idle blink_interval_s must be in [{BLINK_INTERVAL_RANGE[0]:g}, "
                               f"{BLINK_INTERVAL_RANGE[1]:g}] s, got {self.blink_interval_s!r}")
        p = float(self.pause_s)
        if not (math.isfinite(p) and PAUSE_RANGE[0] <= p <= PAUSE_RANGE[1]):
            raise EmotalkError(f"idle pause_s must be in [{PAUSE_RANGE[0]:g}, "
                               f"{PAUSE_RANGE[1]:g}] s, got {self.pause_s!r}")


def blink_profile(u: float, dur: float) -> float:
    """Lid closure in [0, 1] at ``u`` seconds into a blink of ``dur`` seconds."""
    moving = dur - _BLINK_HOLD
    close = _BLINK_CLOSE_FRAC * moving
    if u < 0.0 or u >= dur:
        return 0.0
    if u < close:
        return smoothstep(u / close)
    if u < close + _BLINK_HOLD:
        return 1.0
    return 1.0 - smoothstep((u - close - _BLINK_HOLD) / (moving - close))


class IdleAnimator:
    """Adds blinks, gaze and breathing to blendshape frames; deterministic for a seed."""

    def __init__(self, cfg: IdleConfig = IdleConfig()):
        self.cfg = cfg
        self.enabled = bool(cfg.enabled)
        self.blink_scale = cfg.blink_scale
        self.gaze_scale = cfg.gaze_scale
        self.breath_scale = cfg.breath_scale
        self.reset()

    def set_scales(self, blink: Optional[float] = None, gaze: Optional[float] = None,
                   breath: Optional[float] = None) -> None:
        """Set the overlay scales live (None keeps a value); all validated before any is set."""
        b = self.blink_scale if blink is None else check_scale("blink_scale", blink)
        g = self.gaze_scale if gaze is None else check_scale("gaze_scale", gaze)
        r = self.breath_scale if breath is None else check_scale("breath_scale", breath)
        self.blink_scale, self.gaze_scale, self.breath_scale = b, g, r

    def set_enabled(self, enabled: bool) -> None:
        """Turn the overlays on or off live (off: :meth:`apply` returns its input)."""
        self.enabled = bool(enabled)

    def reset(self) -> None:
        """Restart from the seed: a fresh schedule, as if no frame had been seen."""
        seed = int(self.cfg.seed)
        self._rng_blink = np.random.default_rng([seed, 1])
        self._rng_gaze = np.random.default_rng([seed, 2])
        rng_breath = np.random.default_rng([seed, 3])
        self._breath_period = _BREATH_PERIOD * float(rng_breath.uniform(0.9, 1.1))
        self._breath_phase = float(rng_breath.uniform(0.0, 2.0 * math.pi))
        self._last_t = -math.inf
        self._started = False
        self._phrase = False                 # speaking at phrase level
        self._silent_since = -math.inf       # start of the current run of non-speech frames
        self._speech_end = -math.inf
        self._next_blink = math.inf
        self._blink_start = -math.inf
        self._blink_dur = 0.0
        self._blink_end = -math.inf
        self._gaze_from = (0.0, 0.0)
        self._gaze_to = (0.0, 0.0)
        self._sacc_start = -math.inf
        self._sacc_dur = 0.05
        self._next_saccade = math.inf

    # -- random schedule ---------------------------------------------------------------------
    def _blink_gap(self) -> float:
        mean_extra = max(0.05, self.cfg.blink_interval_s - _BLINK_MIN_GAP - np.mean(_BLINK_DUR))
        return _BLINK_MIN_GAP + float(self._rng_blink.gamma(_BLINK_GAMMA_SHAPE,
                                                            mean_extra / _BLINK_GAMMA_SHAPE))

    def _fixation(self) -> float:
        return _FIX_MIN + float(
            self._rng_gaze.gamma(_FIX_GAMMA_SHAPE, _FIX_MEAN_EXTRA / _FIX_GAMMA_SHAPE)
        )

    def _gaze_target(self) -> Tuple[float, float]:
        rng = self._rng_gaze
        off_centre = abs(self._gaze_to[0]) + abs(self._gaze_to[1]) > 0.15
        if off_centre and rng.random() < _CENTER_P:
            x, y = rng.normal(0.0, 0.05), rng.normal(0.0, 0.05)
        else:
            x, y = rng.normal(0.0, 0.45), rng.normal(-0.05, 0.3)
        return float(np.clip(x, -1.0, 1.0)), float(np.clip(y, -1.0, 1.0))

    def _start(self, t: float) -> None:
        self._started = True
        self._next_blink = t + float(self._rng_blink.uniform(0.3, self.cfg.blink_interval_s))
        self._next_saccade = t + self._fixation()

    def _gaze_at(self, t: float) -> Tuple[float, float]:
        if t >= self._sacc_start + self._sacc_dur:
            return self._gaze_to
        if t < self._sacc_start:
            return self._gaze_from
        w = smoothstep((t - self._sacc_start) / self._sacc_dur)
        (x0, y0), (x1, y1) = self._gaze_from, self._gaze_to
        return x0 + w * (x1 - x0), y0 + w * (y1 - y0)

    def _step(self, t: float, speaking: bool) -> Tuple[float, float, float, float]:
        """Advance the schedule to frame time ``t`` -> (blink, gaze x, gaze y, breath gain)."""
        if not self._started:
            self._start(t)
        # Phrase level: a pause counts once it has lasted pause_s (word gaps do not).
        if speaking:
            self._silent_since = math.inf
            phrase = True
        else:
            if self._silent_since > t:
                self._silent_since = t
            phrase = self._phrase and t - self._silent_since < self.cfg.pause_s
        # A confirmed pause (phrase end): a blink soon after, with some probability.
        if self._phrase and not phrase:
            self._speech_end = t
            if self._rng_blink.random() < _PAUSE_BLINK_P:
                cand = t + float(self._rng_blink.uniform(*_PAUSE_BLINK_DELAY))
                self._next_blink = min(
                    self._next_blink, max(cand, self._blink_end + _BLINK_MIN_GAP)
                )
        self._phrase = phrase
        speaking = phrase
        # Blink onset (late by more than 50 ms, e.g. after a gap in the frames: start now).
        if t >= self._next_blink:
            start = self._next_blink if t - self._next_blink < 0.05 else t
            self._blink_start = start
            self._blink_dur = float(self._rng_blink.uniform(*_BLINK_DUR))
            self._blink_end = start + self._blink_dur
            self._next_blink = self._blink_end + self._blink_gap()
        blink = blink_profile(t - self._blink_start, self._blink_dur)
        # Saccade onset.
        if t >= self._next_saccade:
            start = self._next_saccade if t - self._next_saccade < 0.05 else t
            self._gaze_from = self._gaze_at(start)
            self._gaze_to = self._gaze_target()
            dist = math.hypot(
                self._gaze_to[0] - self._gaze_from[0], self._gaze_to[1] - self._gaze_from[1]
            )
            self._sacc_start = start
            self._sacc_dur = 0.03 + 0.04 * min(dist, 1.5)
            self._next_saccade = start + self._sacc_dur + self._fixation()
        gx, gy = self._gaze_at(t)
        breath = 0.0 if speaking else min(1.0, max(0.0, (t - self._speech_end) / _BREATH_RAMP))
        return blink, gx, gy, breath

    # -- main entry --------------------------------------------------------------------------
    def apply(self, times: np.ndarray, frames: np.ndarray, speaking: np.ndarray) -> np.ndarray:
        """Overlay idle motion on ``frames``.

        ``times`` (N,) float64 s, strictly increasing (also across calls; a time at or
        before the previous call's last time resets the animator, e.g. for a new
        utterance); ``frames`` (N, 52) float32; ``speaking`` (N,) bool, frame by frame (the
        phrase-level decision is made here).
        Returns (N, 52) float32 in [0, 1]. When disabled, returns the input unchanged
        (as float32) and keeps no state.
        """
        t = np.asarray(times, dtype=np.float64).reshape(-1)  # (N,)
        x = np.asarray(frames, dtype=np.float32)  # (N, 52)
        sp = np.asarray(speaking).reshape(-1).astype(bool)  # (N,)
        n = t.shape[0]
        if x.shape != (n, NUM_BLENDSHAPES) or sp.shape != (n,):
            raise EmotalkError(
                f"idle apply: times {t.shape}, frames {x.shape} and speaking {sp.shape} "
                f"must be (N,), (N, {NUM_BLENDSHAPES}) and (N,)"
            )
        if not self.enabled:
            return x.copy()
        if n == 0:
            return x.copy()
        if not np.all(np.isfinite(t)) or np.any(np.diff(t) <= 0.0):
            raise EmotalkError("idle apply: times must be finite and strictly increasing")
        if t[0] <= self._last_t:
            log.debug("idle: time went back from %.3f to %.3f s; restarting from the seed",
                      self._last_t, t[0])
            self.reset()
        blink = np.empty(n)  # (N,)
        gx = np.empty(n)     # (N,)
        gy = np.empty(n)     # (N,)
        gain = np.empty(n)   # (N,)
        for i in range(n):
            blink[i], gx[i], gy[i], gain[i] = self._step(float(t[i]), bool(sp[i]))
        self._last_t = float(t[-1])

        out = x.copy()  # (N, 52)
        b = np.minimum(1.0, blink * self.blink_scale)  # (N,)
        for name in ("eyeBlinkLeft", "eyeBlinkRight"):
            out[:, INDEX[name]] = np.maximum(out[:, INDEX[name]], b)
        h = self.gaze_scale * _GAZE_H_AMP * gx  # (N,) > 0: toward the face's left
        v = self.gaze_scale * _GAZE_V_AMP * gy  # (N,) > 0: up
        left, right = np.maximum(h, 0.0), np.maximum(-h, 0.0)  # (N,), (N,)
        up, down = np.maximum(v, 0.0), np.maximum(-v, 0.0)     # (N,), (N,)
        out[:, INDEX["eyeLookOutLeft"]] += left
        out[:, INDEX["eyeLookInRight"]] += left
        out[:, INDEX["eyeLookInLeft"]] += right
        out[:, INDEX["eyeLookOutRight"]] += right
        for side in ("Left", "Right"):
            out[:, INDEX["eyeLookUp" + side]] += up
            out[:, INDEX["eyeLookDown" + side]] += down
        phase = 2.0 * math.pi * t / self._breath_period + self._breath_phase  # (N,)
        br = self.breath_scale * gain * (0.5 + 0.5 * np.sin(phase))  # (N,) in [0, scale]
        out[:, INDEX["jawOpen"]] += _BREATH_JAW * br
        out[:, INDEX["mouthClose"]] += _BREATH_JAW * br
        out[:, INDEX["noseSneerLeft"]] += _BREATH_NOSE * br
        out[:, INDEX["noseSneerRight"]] += _BREATH_NOSE * br
        out[:, INDEX["browInnerUp"]] += _BREATH_BROW * br
        out = np.nan_to_num(out, nan=0.0, posinf=1.0, neginf=0.0)
        return np.clip(out, 0.0, 1.0).astype(np.float32)
