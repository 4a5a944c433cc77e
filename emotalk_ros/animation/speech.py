"""The robot's own speech as a face performance on the loudspeaker's clock (core, no rclpy).

A :class:`SpeechTrack` holds the pieces of speech that are scheduled on the loudspeaker
(:class:`SpeechPiece`: when its first sample is heard, on the caller's clock, and an
:class:`Articulator` for its mouth) and renders the face for any clock time on one frame grid
(anchored at the first piece's start, ``1 / fps`` apart). Since the audio is known before it is
played, frames are computed *ahead* of the sound, with no look-ahead penalty: a frame is
stamped with the clock time at which the sound it depicts reaches the loudspeaker.

Articulation sources (both see the same emotion):

* :class:`TeacherArticulator`: the procedural teacher (:mod:`emotalk_ros.animation.teacher`)
  driven by the speech engine's exact phone timings. It is stateless, so any time can be
  rendered (and rendered again).
* :class:`GeneratorArticulator`: the generator (a :class:`StreamingPredictor` of its own, reset
  per piece) run on the piece's audio, fed lazily as the render horizon advances; the piece is
  preceded by ``pad_s`` of silence so that frames exist before the first sample. Its frames
  are interpolated onto the track's grid.

Life of a track: frames start at ``w0`` (just after the last frame of the live path), with a
hand-over from the face the live path showed (done by the runtime); then the pieces, back to
back or with gaps of silence; then ``tail_s`` of rest. ``end`` is the last clock time the
track owns the face. :meth:`SpeechTrack.cancel` at time ``c`` eases the face from its value at
``c`` to rest (the teacher's silence with the current emotion) over ``cancel_ease_s`` and ends
the track there; pieces not yet started are dropped.

Emotion marks are (clock time, command) pairs applied through a callback as the render reaches
them, so the emotion state changes exactly at the marked word.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Callable, List, Optional, Sequence, Tuple

import numpy as np

from emotalk_ros.animation import teacher
from emotalk_ros.core.blendshapes import NUM_BLENDSHAPES, sanitize
from emotalk_ros.core.easing import smoothstep
from emotalk_ros.core.emotions import NUM_EXPRESSIVE
from emotalk_ros.core.phones import PHONE_INDEX
from emotalk_ros.emotion.command import EmotionCommand
from emotalk_ros.errors import EmotalkError

EmotionFn = Callable[[np.ndarray], np.ndarray]       # times (N,) s -> (N, 7) intensities
SPEAKING_DBFS = -45.0                                 # the animator's speaking threshold


def voiced(audio: np.ndarray, sample_rate: int, times: np.ndarray,
           threshold_dbfs: float = SPEAKING_DBFS, window_s: float = 0.02) -> np.ndarray:
    """Speech activity at clip times (N,) s -> (N,) bool: RMS over ``window_s`` centred on each
    time above ``threshold_dbfs`` (the animator's speaking test); False outside the clip."""
    x = np.asarray(audio, np.float64)
    half = max(1, int(window_s * sample_rate / 2))
    thr = 10.0 ** (threshold_dbfs / 20.0)
    out = np.zeros(len(times), bool)
    for i, t in enumerate(np.asarray(times, np.float64)):
        c = int(round(t * sample_rate))
        seg = x[max(0, c - half):max(0, min(x.size, c + half))]
        out[i] = seg.size > 0 and float(np.sqrt(np.mean(seg ** 2))) > thr
    return out


class Articulator(ABC):
    """The face for one clip of speech: ``render(times, emotion) -> (N, 52)``.

    ``times`` (N,) float64 s relative to the clip's first sample, increasing, ``1 / fps``
    apart (within a call); ``emotion(times)`` gives (N, 7) intensities at clip times.
    """

    def __init__(self, audio: np.ndarray, sample_rate: int, fps: float):
        self.audio = np.asarray(audio, np.float32).reshape(-1)
        self.sample_rate = int(sample_rate)
        self.fps = float(fps)

    @property
    def duration(self) -> float:
        """Clip length (s)."""
        return self.audio.size / float(self.sample_rate)

    @abstractmethod
    def render(self, times: np.ndarray, emotion: EmotionFn) -> np.ndarray:
        """Frames (N, 52) float32 in [0, 1] at clip ``times`` (N,) s."""

    def voiced(self, times: np.ndarray) -> np.ndarray:
        """Speech activity (N,) bool at clip ``times`` (see :func:`voiced`)."""
        return voiced(self.audio, self.sample_rate, times)


class TeacherArticulator(Articulator):
    """The procedural teacher on the engine's phone timings ``phones`` [(phone, start_s, end_s)]
    (ARPAbet from :data:`emotalk_ros.core.phones.PHONES`); silence before and after them."""

    name = "teacher"

    def __init__(self, phones: Sequence[Tuple[str, float, float]], audio: np.ndarray,
                 sample_rate: int, fps: float):
        super().__init__(audio, sample_rate, fps)
        for p, _, _ in phones:
            if p not in PHONE_INDEX:
                raise EmotalkError(f"teacher articulation: unknown phone {p!r}")
        self._start = np.array([s for _, s, _ in phones], np.float64)     # (P,)
        self._end = np.array([e for _, _, e in phones], np.float64)       # (P,)
        self._id = np.array([PHONE_INDEX[p] for p, _, _ in phones], np.int64)

    def render(self, times: np.ndarray, emotion: EmotionFn) -> np.ndarray:
        """Teacher frames (N, 52) float32 at clip ``times`` (N,) s, ``1 / fps`` apart."""
        t = np.asarray(times, np.float64).reshape(-1)
        if t.size == 0:
            return np.zeros((0, NUM_BLENDSHAPES), np.float32)
        alpha = np.asarray(emotion(t), np.float32)                          # (N, 7)
        # the teacher renders frame j at j / rate: shift the phones so that frame 0 is t[0]
        return teacher.render(self._start - t[0], self._end - t[0], self._id, alpha,
                              rate=self.fps)


class GeneratorArticulator(Articulator):
    """The generator on the clip's audio: ``predictor`` (its own instance, at 16 kHz input) is
    reset and fed ``pad_s`` of silence, the clip, then silence, as far as the renders need."""

    name = "generator"
    HOP_S = 0.01

    def __init__(self, predictor, audio: np.ndarray, sample_rate: int, fps: float,
                 pad_s: float = 0.25):
        super().__init__(audio, sample_rate, fps)
        if sample_rate != predictor.sample_rate:
            raise EmotalkError(f"generator articulation needs {predictor.sample_rate} Hz audio, "
                               f"got {sample_rate} Hz")
        self.pred = predictor
        self.pad_n = int(round(pad_s * sample_rate))
        self.pad_s = self.pad_n / float(sample_rate)
        self._hop = max(1, int(self.HOP_S * sample_rate))
        self._fed = 0                            # samples of (pad + clip + zeros) pushed
        self._t = np.zeros(0, np.float64)        # emitted frame times (clip time, s)
        self._v = np.zeros((0, NUM_BLENDSHAPES), np.float32)
        self._emotion: Optional[EmotionFn] = None
        self.pred.reset()

    def _alpha(self, tp: np.ndarray) -> np.ndarray:
        if self._emotion is None:
            return np.zeros((tp.shape[0], NUM_EXPRESSIVE), np.float32)
        return np.asarray(self._emotion(np.asarray(tp, np.float64) - self.pad_s), np.float32)

    def _feed(self, until: float) -> None:
        """Push audio until a frame at clip time >= ``until`` has been emitted."""
        guard = 0
        while self._t.size == 0 or self._t[-1] < until:
            a = self._fed - self.pad_n
            x = np.zeros(self._hop, np.float32)
            if a + self._hop > 0 and a < self.audio.size:
                lo, hi = max(a, 0), min(a + self._hop, self.audio.size)
                x[lo - a:hi - a] = self.audio[lo:hi]
            fr = self.pred.push(x, emotion=self._alpha)
            self._fed += self._hop
            if len(fr):
                self._t = np.concatenate([self._t, fr.times - self.pad_s])
                self._v = np.concatenate([self._v, fr.values])
            guard += 1
            if guard > 100000:
                raise EmotalkError("generator articulation: the predictor emits no frames")

    def render(self, times: np.ndarray, emotion: EmotionFn) -> np.ndarray:
        """Generator frames (N, 52) float32 at clip ``times`` (N,) s (interpolated between the
        predictor's frames; earlier times than a previous call work back to 1 s)."""
        t = np.asarray(times, np.float64).reshape(-1)
        if t.size == 0:
            return np.zeros((0, NUM_BLENDSHAPES), np.float32)
        self._emotion = emotion
        self._feed(float(t[-1]))
        keep = self._t >= float(t[0]) - 1.0        # frames a later render may still need
        if not keep.all() and keep.any():
            first = int(np.argmax(keep))
            self._t, self._v = self._t[first:], self._v[first:]
        out = np.empty((t.size, NUM_BLENDSHAPES), np.float32)
        tt = np.clip(t, self._t[0], self._t[-1])
        idx = np.clip(np.searchsorted(self._t, tt, side="right") - 1, 0, self._t.size - 1)
        nxt = np.minimum(idx + 1, self._t.size - 1)
        span = np.maximum(self._t[nxt] - self._t[idx], 1e-9)
        w = np.clip((tt - self._t[idx]) / span, 0.0, 1.0)[:, None]
        out[:] = (1.0 - w) * self._v[idx] + w * self._v[nxt]
        return sanitize(out)


def rest_frames(times: np.ndarray, emotion: EmotionFn, fps: float) -> np.ndarray:
    """The face at rest (mouth closed, silence) with the emotion at ``times`` (N,) -> (N, 52)."""
    t = np.asarray(times, np.float64).reshape(-1)
    if t.size == 0:
        return np.zeros((0, NUM_BLENDSHAPES), np.float32)
    alpha = np.asarray(emotion(t), np.float32)
    none = np.zeros(0)
    return teacher.render(none, none, np.zeros(0, np.int64), alpha, rate=fps)


@dataclass
class SpeechPiece:
    """One clip on the loudspeaker: heard from clock time ``start`` (s) for ``duration`` s,
    its face from ``articulator``, its ``marks`` [(clip time s, command)], and the caller's
    ``tag`` (e.g. (utterance id, piece index))."""

    start: float
    articulator: Articulator
    marks: List[Tuple[float, EmotionCommand]] = field(default_factory=list)
    tag: Any = None

    @property
    def duration(self) -> float:
        """Length (s)."""
        return self.articulator.duration

    @property
    def end(self) -> float:
        """Clock time at which its last sample has been heard."""
        return self.start + self.duration


@dataclass
class TrackCheckpoint:
    """What :meth:`SpeechTrack.restore` needs to render again from an earlier point."""

    edge_k: int
    marks_done: int
    last: Optional[np.ndarray]
    held: Optional[np.ndarray]


class SpeechTrack:
    """Speech pieces on the clock -> frames on a ``1 / fps`` grid (see the module docstring).

    ``w0``: the first clock time the track may render (s); ``tail_s``: rest rendered after the
    last piece; ``cancel_ease_s``: the ease to rest after a cancel.
    """

    def __init__(self, fps: float, w0: float, first: SpeechPiece, tail_s: float = 0.3,
                 cancel_ease_s: float = 0.15):
        if not (fps > 0 and math.isfinite(w0)):
            raise EmotalkError(f"speech track: bad fps {fps} or start {w0}")
        self.fps = float(fps)
        self.dt = 1.0 / self.fps
        self.tail_s = float(tail_s)
        self.cancel_ease_s = float(cancel_ease_s)
        self.anchor = float(first.start)
        self.pieces: List[SpeechPiece] = []
        self._marks: List[Tuple[float, EmotionCommand]] = []      # (clock s, cmd), sorted
        self._marks_done = 0
        self.k0 = int(math.ceil((float(w0) - self.anchor) * self.fps - 1e-9))
        self.w0 = self.time_of(self.k0)
        self._edge_k = self.k0 - 1                                  # last rendered index
        self.cancelled_at: Optional[float] = None
        self._held: Optional[np.ndarray] = None                     # (52,) face at the cancel
        self._last: Optional[np.ndarray] = None                     # (52,) last rendered face
        self._end = -math.inf
        self.add(first)

    # -- grid ---------------------------------------------------------------------------------
    def time_of(self, k) -> Any:
        """Clock time of grid index ``k`` (int or array)."""
        return self.anchor + np.asarray(k, np.float64) * self.dt if np.ndim(k) else \
            self.anchor + float(k) * self.dt

    @property
    def edge(self) -> float:
        """Clock time of the last rendered frame (before ``w0`` when none)."""
        return self.time_of(self._edge_k)

    @property
    def end(self) -> float:
        """The last clock time the track owns the face."""
        return self._end

    @property
    def done(self) -> bool:
        """True once every frame up to :attr:`end` has been rendered."""
        return self.time_of(self._edge_k + 1) > self._end + 1e-9

    @property
    def speaking_until(self) -> float:
        """Clock time at which the last (not cancelled) piece ends."""
        return max((p.end for p in self.pieces), default=-math.inf)

    # -- scheduling ---------------------------------------------------------------------------
    def add(self, piece: SpeechPiece) -> None:
        """Append a piece (its start must not be before the previous piece's start, nor before
        the render edge); the track then owns the face until its end plus ``tail_s``."""
        if self.cancelled_at is not None:
            raise EmotalkError("speech track: cannot add to a cancelled track")
        if self.pieces and piece.start < self.pieces[-1].start:
            raise EmotalkError("speech track: pieces must be added in time order")
        if piece.start < self.edge - 1e-9:
            raise EmotalkError(f"speech track: piece starts at {piece.start:.3f}, before the "
                               f"frames already rendered (up to {self.edge:.3f})")
        self.pieces.append(piece)
        self._marks.extend((piece.start + max(0.0, float(t)), c) for t, c in piece.marks)
        self._marks.sort(key=lambda m: m[0])
        self._end = max(self._end, piece.end + self.tail_s)

    def cancel(self, at: float) -> List[Any]:
        """Stop speaking at clock time ``at``: frames after it ease to rest over
        ``cancel_ease_s``; pieces starting after it and marks after it are dropped. Returns
        the tags of the dropped pieces. Frames already rendered past ``at`` must be rendered
        again (:meth:`restore` to a checkpoint before them)."""
        at = float(at)
        if self.cancelled_at is not None and self.cancelled_at <= at:
            return []
        dropped = [p.tag for p in self.pieces if p.start > at]
        self.pieces = [p for p in self.pieces if p.start <= at] or self.pieces[:1]
        self._marks = [m for m in self._marks if m[0] <= at]
        self._marks_done = min(self._marks_done, len(self._marks))
        self.cancelled_at = at
        self._held = None
        self._end = min(self._end, at + self.cancel_ease_s + self.dt)
        return dropped

    def retime(self, tag: Any, drift_s: float) -> bool:
        """The piece ``tag`` is heard ``drift_s`` later than scheduled (the player moves each
        clip it shifts, and says so for each): move it and its marks. Frames already rendered
        past the new times must be rendered again (:meth:`restore`). Returns False when there
        is no such piece."""
        piece = next((p for p in self.pieces if p.tag == tag), None)
        if piece is None:
            return False
        piece.start += float(drift_s)
        self._marks = sorted(((p.start + max(0.0, float(t)), c) for p in self.pieces
                              for t, c in p.marks), key=lambda m: m[0])
        self._marks_done = min(self._marks_done, len(self._marks))
        if self.cancelled_at is None:
            self._end = max(p.end for p in self.pieces) + self.tail_s
        return True

    def checkpoint(self) -> TrackCheckpoint:
        """The render state, to :meth:`restore` later."""
        def copy(a):
            return None if a is None else a.copy()

        return TrackCheckpoint(self._edge_k, self._marks_done, copy(self._last), copy(self._held))

    def restore(self, cp: TrackCheckpoint, keep_end_at_least: float = -math.inf) -> None:
        """Go back to checkpoint ``cp`` (frames after it will be rendered again). The track
        then owns the face at least until ``keep_end_at_least`` (frames already sent ahead)."""
        self._edge_k = cp.edge_k
        self._marks_done = min(cp.marks_done, len(self._marks))
        self._last = cp.last
        self._held = cp.held if cp.held is not None else None
        self._end = max(self._end, keep_end_at_least)

    # -- rendering ----------------------------------------------------------------------------
    def next_times(self, until: float) -> np.ndarray:
        """Grid times (N,) not rendered yet, up to ``until`` and :attr:`end`."""
        last = int(math.floor((min(until, self._end) - self.anchor) * self.fps + 1e-9))
        if last <= self._edge_k:
            return np.zeros(0, np.float64)
        return self.time_of(np.arange(self._edge_k + 1, last + 1))

    def _piece_at(self, t: float) -> SpeechPiece:
        cur = self.pieces[0]
        for p in self.pieces:
            if p.start <= t + 1e-9:
                cur = p
        return cur

    def render(self, times: np.ndarray, emotion: EmotionFn,
               on_mark: Callable[[EmotionCommand, float], None]) -> Tuple[np.ndarray, np.ndarray]:
        """Render the grid ``times`` from :meth:`next_times` -> (values (N, 52) float32 before
        style and idle, speaking (N,) bool). ``emotion(clock times)`` gives intensities;
        ``on_mark(command, clock time)`` is called for each mark as the render reaches it,
        before any frame at or after its time is evaluated."""
        t = np.asarray(times, np.float64).reshape(-1)
        out = np.zeros((t.size, NUM_BLENDSHAPES), np.float32)
        speaking = np.zeros(t.size, bool)
        i = 0
        while i < t.size:
            # apply the marks due at t[i]; the batch runs until the next mark or piece change
            while self._marks_done < len(self._marks) and \
                    self._marks[self._marks_done][0] <= t[i] + 1e-9:
                tm, cmd = self._marks[self._marks_done]
                on_mark(cmd, tm)
                self._marks_done += 1
            nxt_mark = self._marks[self._marks_done][0] if self._marks_done < len(self._marks) \
                else math.inf
            piece = self._piece_at(float(t[i]))
            j = i + 1
            while j < t.size and t[j] < nxt_mark - 1e-9 and self._piece_at(float(t[j])) is piece \
                    and not self._crosses_cancel(t[i], t[j]):
                j += 1
            seg = t[i:j]
            if self.cancelled_at is not None and seg[0] > self.cancelled_at:
                if self._held is None:
                    self._held = self._last
                out[i:j] = self._eased_rest(seg, emotion)
            else:
                rel = seg - piece.start
                out[i:j] = piece.articulator.render(rel, lambda u, s=piece.start: emotion(u + s))
                speaking[i:j] = piece.articulator.voiced(rel)
            self._last = out[j - 1].copy()
            i = j
        self._edge_k += t.size
        return sanitize(out), speaking

    def _crosses_cancel(self, a: float, b: float) -> bool:
        c = self.cancelled_at
        return c is not None and a <= c < b

    def _eased_rest(self, t: np.ndarray, emotion: EmotionFn) -> np.ndarray:
        rest = rest_frames(t, emotion, self.fps)                              # (N, 52)
        if self._held is None:
            return rest
        w = smoothstep((t - self.cancelled_at) / max(self.cancel_ease_s, 1e-6))[:, None]
        return (self._held[None, :] + w * (rest - self._held[None, :])).astype(np.float32)


def handover_weight(t: np.ndarray, t0: float, duration_s: float) -> np.ndarray:
    """Weight (N,) of the new source in a hand-over starting at ``t0`` (smoothstep over
    ``duration_s``; 1 when the duration is 0)."""
    t = np.asarray(t, np.float64)
    if duration_s <= 0:
        return np.ones_like(t)
    return smoothstep((t - t0) / duration_s)
