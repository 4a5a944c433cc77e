"""The animator runtime: live audio in, stamped blendshape frames out (core, no rclpy).

:class:`AnimatorRuntime` glues a :class:`~emotalk_ros.predictor.StreamingPredictor`,
an emotion state (``EmotionState``: ``command``, ``at_many``, ``to_json``) and an
idle animator (``IdleAnimator.apply``) into something a ROS node can drive from its
executor thread without ever running inference there:

* ``submit(samples)`` (executor thread) validates a chunk, stamps its arrival and
  appends it to a bounded queue counted in samples; on overflow the *oldest*
  samples are dropped and counted.
* One worker thread (``start()``/``stop()``) drains the queue, resamples foreign
  rates (:class:`~emotalk_ros.audio.StreamResampler`), pushes into the predictor with
  ``emotion=state.at_many``, applies idle overlays, and appends the frames to a
  locked output buffer. The worker never calls rclpy.
* ``take_frame()`` (executor thread, at ``output_rate_hz``) hands out the next frame
  in order; it keeps the playout backlog bounded by skipping the oldest frames.

Time bases
----------
*Audio time* is the stream's own clock: seconds of audio pushed into the predictor
since the stream started (silence fed during gaps included). Every frame carries
the audio time it depicts (``Frames.times`` of the predictor).

*Arrival clock* (``clock``, default ``time.monotonic``) is when audio reached us.
For each real chunk the runtime measures ``offset = arrival - audio_end`` (the
arrival-clock time at which audio time 0 would have been captured, assuming the
chunk's last sample was captured when it arrived) and tracks it with a slow
low-pass (re-anchored on jumps > 0.5 s). A frame depicting audio time ``a`` gets
``clock_time = a + offset``. The node maps that to ROS time at publish time as
``ros_now + (clock_time - clock_now)``, so ``header.stamp`` is the moment the
depicted sound was heard, in the node's (possibly simulated) clock.

Silence / stale audio
---------------------
When no audio arrived for more than ``stale_audio_s``, the worker feeds zeros in
real time (audio time follows ``clock - offset``), so frames keep coming, the mouth
eases closed and the emotion/idle layers keep animating.
"""

from __future__ import annotations

import collections
import logging
import math
import threading
import time
from dataclasses import dataclass
from typing import Callable, Deque, Dict, List, Optional, Tuple

import numpy as np

from .audio import StreamResampler, validate_samples
from .blendshapes import NUM_BLENDSHAPES, sanitize
from .emotions import NUM_EXPRESSIVE
from .errors import EmotalkError
from .predictor import StreamingPredictor

log = logging.getLogger(__name__)


@dataclass
class OutFrame:
    """One output frame.

    ``time``: audio time it depicts (s); ``clock_time``: the same instant on the
    arrival clock (s); ``values``: (52,) float32 in [0, 1]; ``arrival``: arrival-clock
    time of the audio chunk that made it computable (None for silence frames).
    """

    time: float
    clock_time: float
    values: np.ndarray
    arrival: Optional[float]


class _Window:
    """Rolling window of the last ``n`` measurements (mean / max / p95)."""

    def __init__(self, n: int = 300):
        self._d: Deque[float] = collections.deque(maxlen=n)

    def add(self, v: float) -> None:
        self._d.append(float(v))

    def summary(self) -> Tuple[float, float, float]:
        if not self._d:
            return (float("nan"),) * 3
        a = np.asarray(self._d)
        return float(a.mean()), float(np.percentile(a, 95)), float(a.max())


class AnimatorRuntime:
    """Bounded audio queue -> worker thread -> predictor + emotion + idle -> frame buffer.

    ``predictor``: any StreamingPredictor (its ``fps`` is the output rate).
    ``state``: an ``EmotionState`` or None (neutral). ``idle``: an ``IdleAnimator`` or
    None. ``input_rate``: sample rate of submitted audio (Hz); resampled to the
    predictor's rate when different. ``queue_s``: audio queue bound (s).
    ``stale_audio_s``: gap after which silence is fed. ``max_backlog_s``: frames
    older than this in the output buffer are skipped. ``clock``: arrival clock (s).
    ``queue_s`` and ``stale_audio_s`` may be changed live (idle via its own setters).
    """

    SPEAKING_DBFS = -45.0    # chunk RMS above this counts as speech for the idle layer
    MAX_SILENCE_STEP_S = 0.5  # most silence fed in one worker step

    def __init__(self, predictor: StreamingPredictor, state=None, idle=None,
                 input_rate: int = 16000, queue_s: float = 2.0, stale_audio_s: float = 0.2,
                 max_backlog_s: float = 0.05, clock: Callable[[], float] = time.monotonic):
        if input_rate <= 0:
            raise EmotalkError(f"input sample rate must be positive, got {input_rate}")
        self.predictor = predictor
        self.state = state
        self.idle = idle
        self.input_rate = int(input_rate)
        self.queue_s = float(queue_s)
        self.stale_audio_s = float(stale_audio_s)
        self.max_backlog = max(1, math.ceil(max_backlog_s * predictor.fps))
        self.clock = clock
        self._resampler = (StreamResampler(self.input_rate, predictor.sample_rate)
                           if self.input_rate != predictor.sample_rate else None)
        self._lock = threading.Lock()          # queue, output buffer, counters
        self._state_lock = threading.Lock()    # emotion state (executor + worker)
        self._wake = threading.Condition(self._lock)
        self._queue: Deque[Tuple[np.ndarray, float]] = collections.deque()
        self._queued = 0                       # samples in _queue (input rate)
        self._out: Deque[OutFrame] = collections.deque()
        self._thread: Optional[threading.Thread] = None
        self._stop = threading.Event()
        self._offset: Optional[float] = None   # arrival clock at audio time 0
        self._last_arrival: Optional[float] = None
        self._speaking = False
        self._started_at = self.clock()
        # counters (read by stats())
        self.chunks_in = 0
        self.invalid_chunks = 0
        self.dropped_chunks = 0
        self.dropped_samples = 0
        self.silence_samples = 0
        self.frames_out = 0
        self.frames_skipped = 0
        self.worker_errors = 0
        self._compute_s = 0.0
        self._audio_s = 0.0
        self._lat_avail = _Window()
        self._lat_pub = _Window()
        self._rtf = _Window(50)

    # -- executor side ---------------------------------------------------------------------
    def submit(self, samples, arrival: Optional[float] = None) -> int:
        """Queue one chunk of mono audio at ``input_rate``; returns the samples queued.

        Raises :class:`EmotalkError` (after counting it in ``invalid_chunks``) for NaN/Inf,
        empty or non-mono chunks; the chunk is dropped and nothing else changes.
        """
        try:
            x = validate_samples(samples)
            if x.size == 0:
                raise EmotalkError("audio: empty chunk; dropped")
        except EmotalkError:
            with self._lock:
                self.invalid_chunks += 1
            raise
        arrival = self.clock() if arrival is None else float(arrival)
        bound = max(1, int(self.queue_s * self.input_rate))
        with self._lock:
            self.chunks_in += 1
            if x.size > bound:                    # keep only the newest `bound` samples
                self.dropped_samples += x.size - bound
                x = x[-bound:]
            self._queue.append((x, arrival))
            self._queued += x.size
            while self._queued > bound:           # drop the oldest
                old, t_old = self._queue[0]
                excess = self._queued - bound
                if old.size <= excess:
                    self._queue.popleft()
                    self._queued -= old.size
                    self.dropped_samples += old.size
                    self.dropped_chunks += 1
                else:
                    self._queue[0] = (old[excess:], t_old)
                    self._queued -= excess
                    self.dropped_samples += excess
            self._wake.notify()
        return int(x.size)

    def count_invalid(self) -> None:
        """Count a chunk rejected before ``submit`` (e.g. a multi-channel message layout)."""
        with self._lock:
            self.invalid_chunks += 1

    @property
    def queued_samples(self) -> int:
        with self._lock:
            return self._queued

    @property
    def audio_time(self) -> float:
        """Audio time (s) of the live edge: everything pushed into the predictor so far."""
        return self.predictor.samples_pushed / self.predictor.sample_rate

    def command(self, cmd) -> None:
        """Apply a parsed ``EmotionCommand`` at the live edge of audio time."""
        if self.state is None:
            raise EmotalkError("this runtime has no emotion state")
        with self._state_lock:
            self.state.command(cmd, self.audio_time)

    def emotion_json(self, t: Optional[float] = None) -> str:
        """The emotion state's JSON at audio time ``t`` (default: the live edge)."""
        if self.state is None:
            return "{}"
        with self._state_lock:
            return self.state.to_json(self.audio_time if t is None else t)

    def with_state(self, fn: Callable[[object], None]) -> None:
        """Run ``fn(state)`` under the state lock (live parameter changes)."""
        if self.state is not None:
            with self._state_lock:
                fn(self.state)

    def take_frame(self, now: Optional[float] = None) -> Optional[OutFrame]:
        """The next frame to publish (oldest first), or None when none is new.

        A backlog above ``max_backlog`` frames is cut by skipping the oldest ones, so
        latency stays bounded. Records the audio-arrival -> publish latency.
        """
        now = self.clock() if now is None else now
        with self._lock:
            while len(self._out) > self.max_backlog:
                self._out.popleft()
                self.frames_skipped += 1
            if not self._out:
                return None
            f = self._out.popleft()
            self.frames_out += 1
            if f.arrival is not None:
                self._lat_pub.add(now - f.arrival)
        return f

    def stats(self) -> Dict[str, float]:
        """Counters and latency/RTF summaries for diagnostics (seconds, counts)."""
        with self._lock:
            la, lp, rtf = self._lat_avail.summary(), self._lat_pub.summary(), self._rtf.summary()
            return {
                "chunks_in": self.chunks_in, "invalid_chunks": self.invalid_chunks,
                "dropped_chunks": self.dropped_chunks, "dropped_samples": self.dropped_samples,
                "queued_samples": self._queued, "silence_s": self.silence_samples
                / self.predictor.sample_rate,
                "frames_out": self.frames_out, "frames_skipped": self.frames_skipped,
                "worker_errors": self.worker_errors,
                "latency_available_mean_s": la[0], "latency_available_max_s": la[2],
                "latency_publish_mean_s": lp[0], "latency_publish_p95_s": lp[1],
                "latency_publish_max_s": lp[2],
                "rtf_recent": rtf[0],
                "rtf_total": self._compute_s / self._audio_s if self._audio_s else float("nan"),
                "audio_time_s": self.audio_time,
                "lookahead_s": self.predictor.lookahead_s,
            }

    # -- worker side -----------------------------------------------------------------------
    def start(self) -> None:
        """Start the worker thread (idempotent)."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._started_at = self.clock()
        self._thread = threading.Thread(target=self._run, name="emotalk-animator", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        """Stop and join the worker thread."""
        self._stop.set()
        with self._lock:
            self._wake.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _run(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                if not self._queue:
                    self._wake.wait(0.01)
            try:
                self.step()
            except EmotalkError as exc:     # bad data must never kill the worker
                with self._lock:
                    self.worker_errors += 1
                log.warning("animator worker: %s", exc)

    def step(self, now: Optional[float] = None) -> int:
        """One worker iteration: process queued audio, or feed silence when stale.

        Returns the number of frames produced. Called by the worker thread; tests may
        call it directly instead of ``start()``.
        """
        now = self.clock() if now is None else now
        with self._lock:
            chunks = list(self._queue)
            self._queue.clear()
            self._queued = 0
        produced = 0
        for x, arrival in chunks:
            if self._resampler is not None:
                x = self._resampler.push(x)                          # (M,) at model rate
            self._last_arrival = arrival
            if x.size:
                rms = float(np.sqrt(np.mean(x.astype(np.float64) ** 2)))
                self._speaking = rms > 10.0 ** (self.SPEAKING_DBFS / 20.0)
                produced += self._push(x, arrival, real=True)
        if not chunks:
            produced += self._feed_silence(now)
        return produced

    def _feed_silence(self, now: float) -> int:
        last = self._started_at if self._last_arrival is None else self._last_arrival
        if now - last <= self.stale_audio_s:
            return 0
        if self._offset is None:
            self._offset = self._started_at
        sr = self.predictor.sample_rate
        target = int((now - self._offset) * sr)        # audio sample index "now"
        n = min(target - self.predictor.samples_pushed, int(self.MAX_SILENCE_STEP_S * sr))
        if n <= 0:
            return 0
        self._speaking = False
        with self._lock:
            self.silence_samples += n
        return self._push(np.zeros(n, np.float32), now, real=False)

    def _emotion_at(self, times: np.ndarray) -> np.ndarray:
        """times (N,) float64 audio s -> (N, 7) float32 intensities from the state."""
        if self.state is None:
            return np.zeros((times.shape[0], NUM_EXPRESSIVE), np.float32)
        with self._state_lock:
            return np.asarray(self.state.at_many(times), np.float32)

    def _push(self, x: np.ndarray, arrival: float, real: bool) -> int:
        sr = self.predictor.sample_rate
        if real:
            new_off = arrival - (self.predictor.samples_pushed + x.size) / sr
            if self._offset is None or abs(new_off - self._offset) > 0.5:
                self._offset = new_off
            else:
                self._offset += 0.05 * (new_off - self._offset)
        t0 = time.perf_counter()
        fr = self.predictor.push(x, emotion=self._emotion_at)
        values = fr.values                                            # (N, 52)
        if len(fr) and self.idle is not None:
            speaking = np.full(len(fr), self._speaking, dtype=bool)   # (N,)
            values = self.idle.apply(fr.times, values, speaking)      # (N, 52)
        values = sanitize(np.asarray(values, np.float32))             # (N, 52) in [0, 1]
        dt = time.perf_counter() - t0
        done = self.clock()
        with self._lock:
            self._compute_s += dt
            self._audio_s += x.size / sr
            self._rtf.add(dt / (x.size / sr))
            for i in range(len(fr)):
                t = float(fr.times[i])
                f = OutFrame(t, t + self._offset, values[i], arrival if real else None)
                self._out.append(f)
                if real:
                    self._lat_avail.add(done - arrival)
            # never let the buffer grow without bound when nobody takes frames
            while len(self._out) > 8 * self.max_backlog:
                self._out.popleft()
                self.frames_skipped += 1
        return len(fr)


def frames_to_array(frames: List[OutFrame]) -> Tuple[np.ndarray, np.ndarray]:
    """Helper for tests/tools: list of OutFrame -> (times (N,) float64, values (N, 52) float32)."""
    if not frames:
        return np.zeros(0), np.zeros((0, NUM_BLENDSHAPES), np.float32)
    return (np.array([f.time for f in frames]),
            np.stack([f.values for f in frames]).astype(np.float32))
