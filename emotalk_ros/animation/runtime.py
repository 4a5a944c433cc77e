"""The animator runtime: live audio in, stamped blendshape frames out (core, no rclpy).

:class:`AnimatorRuntime` glues a :class:`~emotalk_ros.generator.predictor.StreamingPredictor`,
an emotion state (``EmotionState``: ``command``, ``at_many``, ``to_json``) and an
idle animator (``IdleAnimator.apply``) into something a ROS node can drive from its
executor thread without ever running inference there:

* ``submit(samples)`` (executor thread) validates a chunk, stamps its arrival and
  appends it to a bounded queue counted in samples; on overflow the *oldest*
  samples are dropped and counted.
* One worker thread (``start()``/``stop()``) drains the queue, resamples foreign
  rates (:class:`~emotalk_ros.core.audio.StreamResampler`), pushes into the predictor with
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

Emotion sources
-------------------------
The emotion handed to the predictor is ``blend(command(t), voice(t), b(t))``
(:func:`emotalk_ros.emotion.voice.blend_emotion`, a straight line in the emotion space):

* ``command(t)``: the :class:`EmotionState` driven by ``emotion_target`` commands, or a
  keyframe performance (:meth:`AnimatorRuntime.play_track`, keys relative to the live
  edge) cross-faded in from what the face showed; a later command takes over from the
  value at that moment (continuity).
* ``voice(t)``: a :class:`~emotalk_ros.emotion.voice.VoiceEmotionTracker` fed the same
  (model-rate) samples through its own log-mel stream just before the predictor
  (:class:`VoiceEmotion`); None = command only (the tracker is not run).
* ``b(t)``: 1 for ``voice``, ``voice_blend`` for ``blend``; live changes ease over
  ``transition_s`` (never a hard switch).

An optional :class:`~emotalk_ros.animation.style.Style` is applied to the generator frames before
the idle overlay (the same as ``emotalk animate --style``).

The robot's own speech (one face)
---------------------------------
:meth:`AnimatorRuntime.speak` hands the runtime a piece of the robot's own speech that is
scheduled on the loudspeaker (:class:`~emotalk_ros.animation.speech.SpeechPiece`, clock time
of its first sample). The speech owns the face while it lasts: a
:class:`~emotalk_ros.animation.speech.SpeechTrack` renders frames on the loudspeaker's clock,
``speech_lead_s`` ahead of it (no look-ahead penalty: the audio is known), through the same
emotion state, style and idle overlay; the live path keeps running (its generator, clock and
emotion input stay current) but its frames are dropped (``frames_superseded``) from the
moment the track starts until it ends. Hand-overs are smooth: the track starts from the face
the live path last showed and blends into the speech over ``handover_s``; after the track the
live frames blend in from the last speech face the same way. The track's frames carry
``clock_time`` = when their sound is heard, so they are *early*: :meth:`take_frame` releases
a frame only once its clock time has come (in sync with the loudspeaker), while
:meth:`take_ahead` hands out every frame as soon as it exists (for consumers that act
early, such as motors with a known latency). Live frames are late, so both hand them out at
once. :meth:`cancel_speech` ends the speech now: frames computed beyond this moment are
computed again (emotion state and idle overlay rolled back to before them) easing to rest.

Hostile input and faults
------------------------
* Audio faster than real time: ``submit`` grants at most ``REALTIME_MARGIN`` times
  ``input_rate`` samples per second of the arrival clock (with ``BURST_S`` seconds of
  burst); the excess (the oldest part of a chunk) is dropped and counted
  (``dropped_fast_samples``, also in ``dropped_samples``), so frames are made at most 5 %
  faster than ``fps``. With ``max_output_rate_hz`` set, ``take_frame`` also hands out at most
  ``REALTIME_MARGIN`` times that many frames per second: frames not handed out during a stall
  are saved up (up to ``max_backlog_s`` worth), so a late worker's burst still goes out at
  once, but while over the rate only the newest ``RATE_LIMITED_BACKLOG`` frames wait and
  older ones are dropped and counted (``frames_over_rate``): the output rate and its latency
  stay bounded whatever the input rate.
* Keyframe tracks can be big (up to ``LIVE_MAX_TRACK_KEYS`` keys): :meth:`submit_track` parses
  them on a parser thread, never on the caller's (executor) thread and never under a lock
  the worker needs; the result (or the error) comes back through :meth:`take_reports`.
* The worker survives any exception: the first is reported with its traceback, later ones
  once per ``REPORT_INTERVAL_S`` with a count; all are counted (``worker_errors``). While it
  fails, the face eases to rest (``REST_EASE_S``) with new frames at the output rate instead
  of freezing. After ``MAX_CONSECUTIVE_FAILURES`` failures in a row (one every
  ``FAILURE_BACKOFF_S``, so about 2 s of nothing but failures) the worker stops and
  :attr:`failed` is set: the node then exits non-zero so that its supervisor restarts it.
  Why 50 x 40 ms: a transient fault (one bad chunk, a brief hiccup) fails a few times and
  resets the count, far from 50; 2 s is long enough for the face to reach rest and for
  ``/diagnostics`` to have reported the error, and short enough that a restart (about 1 s
  of start-up) brings the face back within a few seconds.
"""

from __future__ import annotations

import collections
import copy
import json
import logging
import math
import threading
import time
import traceback
from dataclasses import dataclass
from typing import Any, Callable, Deque, Dict, List, Optional, Tuple

import numpy as np

from emotalk_ros.animation.idle import check_scale
from emotalk_ros.animation.speech import SpeechPiece, SpeechTrack, handover_weight
from emotalk_ros.animation.tracks import TrackPlay, compose
from emotalk_ros.animation.voice_mix import (
    VoiceEmotion,
    blend_weight,
    mix_voice,
    push_with_voice,
)
from emotalk_ros.core.audio import StreamResampler, validate_samples
from emotalk_ros.core.blendshapes import NUM_BLENDSHAPES, sanitize
from emotalk_ros.core.easing import EasedRamp
from emotalk_ros.core.emotions import NUM_EXPRESSIVE, alpha_to_dict
from emotalk_ros.core.limits import LogThrottle, TokenBucket, quote
from emotalk_ros.errors import EmotalkError
from emotalk_ros.generator.predictor import Frames, StreamingPredictor

log = logging.getLogger(__name__)


@dataclass
class OutFrame:
    """One output frame.

    ``time``: audio time it depicts (s); ``clock_time``: the same instant on the
    arrival clock (s); ``values``: (52,) float32 in [0, 1]; ``arrival``: arrival-clock
    time of the audio chunk that made it computable (None for silence frames).
    ``source``: ``live`` (microphone / file / silence) or ``speech`` (the robot's own voice,
    computed ahead of its clock time); ``stamp_ns``: free for the publisher (it stamps a
    frame once and reuses the stamp for every copy it sends).
    """

    time: float
    clock_time: float
    values: np.ndarray
    arrival: Optional[float]
    source: str = "live"
    stamp_ns: Optional[int] = None


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
    ``voice``: a :class:`~emotalk_ros.emotion.voice.VoiceEmotionTracker` or None (command
    only); ``voice_blend``: its weight b in [0, 1] (1 = voice only; live via
    :meth:`set_voice_blend`); ``style``: a :class:`~emotalk_ros.animation.style.Style` or None.
    """

    SPEAKING_DBFS = -45.0    # chunk RMS above this counts as speech for the idle layer
    MAX_SILENCE_STEP_S = 0.5  # most silence fed in one worker step
    RELEASE_EARLY_S = 0.001   # a frame is released this close before its clock time
    WAKE_S = 0.01             # the worker's longest wait
    REALTIME_MARGIN = 1.05   # audio and frames accepted per second, relative to real time
    BURST_S = 1.0            # seconds of audio accepted at once beyond the real-time budget
    RATE_LIMITED_BACKLOG = 2  # frames kept waiting while over the output rate (rest dropped)
    MAX_CONSECUTIVE_FAILURES = 50   # worker failures in a row before it gives up (see above)
    FAILURE_BACKOFF_S = 0.04        # pause after a failed worker step
    REST_EASE_S = 0.5               # ease to the rest face while the worker fails
    REPORT_INTERVAL_S = 5.0         # one report per kind of failure per interval
    MAX_PENDING_TRACKS = 4          # keyframe tracks waiting to be parsed
    PUSH_S = 0.1                    # most audio handed to the predictor in one push

    def __init__(self, predictor: StreamingPredictor, state=None, idle=None,
                 input_rate: int = 16000, queue_s: float = 2.0, stale_audio_s: float = 0.2,
                 max_backlog_s: float = 0.05, clock: Callable[[], float] = time.monotonic,
                 voice=None, voice_blend: float = 1.0, style=None,
                 on_frames: Optional[Callable[[], None]] = None,
                 max_output_rate_hz: Optional[float] = None):
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
        self.voice = VoiceEmotion(voice, predictor) if voice is not None else None
        self.blend = EasedRamp(blend_weight("blend", voice_blend))  # voice weight b over time
        self.style = style
        # called by the worker (outside the locks) after new frames are buffered; the node
        # passes a guard condition's trigger so frames are published as soon as they exist
        self.on_frames = on_frames
        self._play: Optional[TrackPlay] = None      # a keyframe track playing (under _state_lock)
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
        # real-time budget of accepted input samples; frame budget of take_frame (optional)
        self._budget = TokenBucket(self.REALTIME_MARGIN * self.input_rate,
                                   max(self.BURST_S, 1.0) * self.input_rate, self._started_at)
        self._frame_budget = (None if not max_output_rate_hz else TokenBucket(
            self.REALTIME_MARGIN * float(max_output_rate_hz), float(self.max_backlog + 1),
            self._started_at))
        # worker health and reports for the node (which logs them: the worker never does)
        self._reports: Deque[Tuple[str, str]] = collections.deque(maxlen=32)
        self._report_throttle = LogThrottle(self.REPORT_INTERVAL_S, clock=time.monotonic)
        self.consecutive_failures = 0
        self.last_error = ""
        self._failed = threading.Event()
        self._last_frame: Optional[OutFrame] = None   # newest frame buffered (worker side)
        self._rest_from: Optional[Tuple[float, np.ndarray]] = None  # (time, values) at failure
        # keyframe tracks waiting for the parser thread, oldest first (bounded)
        self._track_inbox: Deque[Tuple[str, int]] = collections.deque()
        self._track_cv = threading.Condition(threading.Lock())
        self._track_thread: Optional[threading.Thread] = None
        self._commands_seen = 0                # command() calls, to drop superseded tracks
        # counters (read by stats())
        self.chunks_in = 0
        self.invalid_chunks = 0
        self.dropped_chunks = 0
        self.dropped_samples = 0
        self.silence_samples = 0
        self.frames_out = 0
        self.frames_skipped = 0
        self.worker_errors = 0
        self.frames_superseded = 0   # live frames dropped while the robot speaks
        self.speech_frames = 0
        self.speech_rerendered = 0
        # the robot's own speech (see the module docstring)
        self.speech_lead_s = 0.1
        self.handover_s = 0.12
        self.speech_tail_s = 0.3
        self.cancel_ease_s = 0.15
        self._speech_lock = threading.RLock()
        self._track: Optional[SpeechTrack] = None
        self._track_from: Optional[Tuple[float, np.ndarray]] = None   # hand-over into speech
        self._from_speech: Optional[Tuple[float, np.ndarray]] = None  # hand-over after speech
        self._sp_offset = 0.0                  # audio time = clock - _sp_offset for speech frames
        self._snaps: Deque[Tuple[float, Any]] = collections.deque()
        self._cmd_log: Deque[Tuple[int, float, Any]] = collections.deque(maxlen=64)
        self._cmd_seq = 0
        self._reemit_after = -math.inf
        self._last_base: Optional[np.ndarray] = None   # (52,) last frame out, before idle
        self._last_out_clock = -math.inf
        self._owned_until = -math.inf          # end of the last speech track (clock s)
        self._idle_last_t = -math.inf
        self._ahead: Deque[OutFrame] = collections.deque()
        self.dropped_fast_samples = 0
        self.frames_over_rate = 0
        self.tracks_superseded = 0
        self.bad_tracks = 0
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
            granted = int(self._budget.take(x.size, arrival))
            if granted < x.size:                  # faster than real time: keep the newest
                self.dropped_fast_samples += x.size - granted
                self.dropped_samples += x.size - granted
                x = x[x.size - granted:]
                if x.size == 0:
                    return 0
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
        """Samples (at ``input_rate``) waiting in the audio queue."""
        with self._lock:
            return self._queued

    @property
    def max_intensity(self) -> float:
        """The largest emotion intensity a command may ask for (the state's setting)."""
        return self.state.max_intensity if self.state is not None else 1.0

    @property
    def audio_time(self) -> float:
        """Audio time (s) of the live edge: everything pushed into the predictor so far."""
        return self.predictor.samples_pushed / self.predictor.sample_rate

    def command(self, cmd) -> None:
        """Apply a parsed ``EmotionCommand`` at the live edge of audio time.

        A keyframe track that is playing stops there: the command's transition starts from
        the value the face has at that moment (continuity).
        """
        if self.state is None:
            raise EmotalkError("this runtime has no emotion state")
        with self._state_lock:
            self._commands_seen += 1
            now = self._command_time()
            self._cmd_seq += 1
            self._cmd_log.append((self._cmd_seq, now, cmd))
            play = self._play
            if play is not None and now < play.end:
                cur = compose(play, self.state, np.array([now]))[0]                 # (7,)
                s = self.state.emotion_strength
                raw = cur / s if s > 0 else np.zeros(NUM_EXPRESSIVE)
                play.end = now
                self.state.reset(raw)
            self.state.command(cmd, now)

    def play_track(self, keys: Any) -> int:
        """Start a keyframe performance now: ``keys`` is the JSON text (or list of dicts) of
        :meth:`EmotionTrack.from_json`, key times relative to the live edge of audio time.

        It replaces the commanded emotion: the face keeps its value until the first key,
        cross-fades to it over that key's ``transition_s`` (default: the state's), then
        follows the track through the same transition logic as ``emotalk animate``.
        Raises :class:`EmotalkError` for a malformed track; nothing changes then.
        Returns the number of keys. Parsing runs on the calling thread without any lock
        held; use :meth:`submit_track` to parse on the runtime's parser thread instead.
        """
        return self._start_track(self._parse_track(keys))

    def _parse_track(self, keys: Any):
        """keys -> (track with the first key as a step, fade s, ease); no lock held."""
        from emotalk_ros.emotion.command import EmotionCommand
        from emotalk_ros.emotion.state import (
            LIVE_MAX_TRACK_CHARS,
            LIVE_MAX_TRACK_KEYS,
            EmotionTrack,
        )

        if self.state is None:
            raise EmotalkError("this runtime has no emotion state")
        st = self.state
        transition_s, ease, max_i = st.transition_s, st.ease, st.max_intensity
        parsed = EmotionTrack.keys_from_json(keys, max_intensity=max_i,
                                             max_keys=LIVE_MAX_TRACK_KEYS,
                                             max_chars=LIVE_MAX_TRACK_CHARS)
        parsed.sort(key=lambda k: k[0])
        t_first, first = parsed[0]
        fade = transition_s if first.transition_s is None else float(first.transition_s)
        fade_ease = ease if first.ease is None else first.ease
        step = EmotionCommand(alpha=first.alpha, transition_s=0.0, ease=first.ease,
                              text=first.text)
        track = EmotionTrack([(t_first, step)] + parsed[1:], default_transition_s=transition_s,
                             ease=ease, max_intensity=max_i)
        return track, fade, fade_ease

    def _start_track(self, parsed, commands_seen: Optional[int] = None) -> int:
        """Start a parsed track at the live edge (cheap; under the state lock). With
        ``commands_seen`` given, a command that came after the track was submitted wins:
        the track is dropped and 0 returned."""
        track, fade, ease = parsed
        with self._state_lock:
            if commands_seen is not None and self._commands_seen != commands_seen:
                self.tracks_superseded += 1
                return 0
            st = self.state
            now = self._command_time()
            prev, frozen = self._play, copy.deepcopy(st)

            def base(t: np.ndarray) -> np.ndarray:
                return compose(prev, frozen, t)

            self._play = TrackPlay(track, now, fade, ease, base, len(track.keys))
            return len(track.keys)

    def _command_time(self) -> float:
        """Audio time at which a command takes effect: the live edge, or, while the robot's
        speech is rendered ahead, its render edge (frames before it are already computed)."""
        now = self.audio_time
        tr = self._track
        if tr is not None:
            now = max(now, tr.edge - self._sp_offset)
        return now

    def submit_track(self, text: str) -> None:
        """Queue a keyframe track (JSON text) for the parser thread (started on first use).

        Returns at once. Tracks are parsed in order; at most ``MAX_PENDING_TRACKS`` wait (the
        oldest waiting one is dropped for a newer one, and reported); a command that arrives
        before a track is parsed wins over it. The outcome comes back through
        :meth:`take_reports`: ``("info", "emotion_track: playing N keys")`` or
        ``("warn", "emotion_track ... ignored: <reason>")``.
        """
        with self._state_lock:
            seen = self._commands_seen
        with self._track_cv:
            if len(self._track_inbox) >= self.MAX_PENDING_TRACKS:
                old, _ = self._track_inbox.popleft()
                self.tracks_superseded += 1
                self._report("warn", f"emotion_track {quote(old, 40)} ignored: superseded by "
                             "newer tracks before it was parsed", "track-dropped")
            self._track_inbox.append((text, seen))
            if self._track_thread is None or not self._track_thread.is_alive():
                self._track_thread = threading.Thread(target=self._track_loop, daemon=True,
                                                      name="emotalk-track-parser")
                self._track_thread.start()
            self._track_cv.notify()

    def _track_loop(self) -> None:
        while not self._stop.is_set():
            with self._track_cv:
                while not self._track_inbox and not self._stop.is_set():
                    self._track_cv.wait(0.5)
                if not self._track_inbox:
                    return
                text, seen = self._track_inbox.popleft()
            try:
                n = self._start_track(self._parse_track(text), seen)
            except EmotalkError as exc:
                with self._lock:
                    self.bad_tracks += 1
                self._report("warn", f"emotion_track {quote(text, 40)} ignored: {exc}", None)
                continue
            except Exception as exc:  # the parser thread's outermost boundary
                self._report("error", "emotion_track: parser failed: "
                             + "".join(traceback.format_exception(exc)), "track-crash")
                continue
            if n:
                self._report("info", f"emotion_track: playing {n} keys", None)
            else:
                self._report("info", "emotion_track: superseded by a later command", None)

    def _report(self, level: str, text: str, throttle_key: Optional[str]) -> None:
        """Queue a line for the node to log; ``throttle_key`` None = always."""
        if throttle_key is not None:
            ok, held = self._report_throttle.allow(throttle_key)
            if not ok:
                return
            if held:
                text += f" ({held} similar suppressed)"
        with self._lock:
            self._reports.append((level, text))

    def take_reports(self) -> List[Tuple[str, str]]:
        """Lines for the node to log, oldest first: (level 'info'|'warn'|'error', text).
        Bounded (the oldest are lost beyond 32) and already throttled."""
        with self._lock:
            out = list(self._reports)
            self._reports.clear()
        return out

    def set_voice_blend(self, value: float, transition_s: Optional[float] = None) -> None:
        """Move the voice weight b to ``value`` in [0, 1], easing from its current value over
        ``transition_s`` (default: the emotion state's) from the live edge."""
        if not 0.0 <= float(value) <= 1.0:
            raise EmotalkError(f"voice_blend must be in [0, 1], got {value}")
        dur = transition_s if transition_s is not None else (
            self.state.transition_s if self.state is not None else 0.5)
        ease = self.state.ease if self.state is not None else "smooth"
        with self._state_lock:
            self.blend.move(value, self.audio_time, dur, ease)

    def _prune_track(self) -> None:
        """Forget track data no frame can need any more (called under the state lock)."""
        play = self._play
        if play is None:
            return
        horizon = self.audio_time - 1.0           # frames are never computed this far back
        if play.end < horizon:
            self._play = None
        elif play.base is not None and play.start + play.fade_s < horizon:
            play.base = None

    def _command_at(self, times: np.ndarray) -> np.ndarray:
        """Commanded emotion (state or track) at times (N,) s -> (N, 7) float32; under the lock."""
        self._prune_track()
        return compose(self._play, self.state, times)

    def emotion_json(self, t: Optional[float] = None) -> str:
        """The emotion state's JSON at audio time ``t`` (default: the live edge).

        ``weights`` are what the face shows (blended with the voice when it runs). With a
        keyframe track playing, ``command`` reads ``emotion_track`` and ``track`` gives its
        progress. With the voice tracker running: ``voice_blend`` (b at ``t``),
        ``command_weights`` (the commanded part) and ``voice`` (``label`` and ``weights``).
        """
        if self.state is None:
            return "{}"
        with self._state_lock:
            t = self.audio_time if t is None else float(t)
            d: Dict[str, Any] = self.state.to_dict(t)
            cmd = self._command_at(np.array([t]))[0]                                   # (7,)
            play = self._play
            if play is not None and t < play.end:
                d["command"] = f"emotion_track ({play.n_keys} keys)"
                d["transition_remaining_s"] = round(max(0.0, play.finish - t), 4)
                d["track"] = {"elapsed_s": round(t - play.t0, 4),
                              "duration_s": round(play.finish - play.t0, 4)}
            d["weights"] = {k: round(v, 4) for k, v in alpha_to_dict(cmd).items()}
            if self.voice is not None:
                v = self._voice_at(np.array([t]))[0]                                    # (7,)
                b = float(self.blend.at_many(np.array([t]))[0])
                mixed = mix_voice(cmd[None, :], v[None, :], np.array([b]))[0]
                d["command_weights"] = d["weights"]
                d["weights"] = {k: round(x, 4) for k, x in alpha_to_dict(mixed).items()}
                d["voice_blend"] = round(b, 4)
                d["voice"] = {"label": self.voice.label,
                              "weights": {k: round(x, 4) for k, x in alpha_to_dict(v).items()}}
            return json.dumps(d, separators=(",", ":"))

    def _voice_at(self, times: np.ndarray) -> np.ndarray:
        """Voice emotion (N, 7) float32 at times (N,), with emotion_strength and max_intensity."""
        v = self.voice.alpha_at(times).astype(np.float64)                              # (N, 7)
        if self.state is not None:
            v = np.clip(v * self.state.emotion_strength, 0.0, self.state.max_intensity)
        return v.astype(np.float32)

    def set_live_params(self, *, transition_s: Optional[float] = None,
                        ease: Optional[str] = None, emotion_strength: Optional[float] = None,
                        max_intensity: Optional[float] = None,
                        idle_enabled: Optional[bool] = None, blink_scale: Optional[float] = None,
                        gaze_scale: Optional[float] = None, breath_scale: Optional[float] = None,
                        stale_audio_s: Optional[float] = None, queue_s: Optional[float] = None,
                        voice_blend: Optional[float] = None,
                        voice_min_segment_s: Optional[float] = None,
                        voice_hysteresis: Optional[float] = None) -> None:
        """Change any live setting while the worker runs; None leaves a setting as it is.

        Emotion defaults (``transition_s`` s, ``ease``, ``emotion_strength``,
        ``max_intensity``) go to the emotion state; ``idle_enabled`` and the ``*_scale``
        overlay gains to the idle layer; ``stale_audio_s`` (s) and ``queue_s`` (s) bound the
        audio path; ``voice_blend`` in [0, 1] eases the voice weight over ``transition_s``;
        ``voice_min_segment_s`` (s) and ``voice_hysteresis`` tune the voice label smoother.
        Every value is checked before any is applied: on :class:`EmotalkError` nothing changed.
        """
        for name, v in (("blink_scale", blink_scale), ("gaze_scale", gaze_scale),
                        ("breath_scale", breath_scale)):
            if v is not None:
                check_scale(name, v)
        for name, v, lo in (("stale_audio_s", stale_audio_s, 0.0), ("queue_s", queue_s, 0.0),
                            ("voice_min_segment_s", voice_min_segment_s, 0.0)):
            if v is not None and not (math.isfinite(float(v)) and float(v) > lo - 1e-12):
                raise EmotalkError(f"{name} must be a finite number >= {lo:g}, got {v!r}")
        if voice_blend is not None and not 0.0 <= float(voice_blend) <= 1.0:
            raise EmotalkError(f"voice_blend must be in [0, 1], got {voice_blend!r}")
        if voice_hysteresis is not None and not 0.0 <= float(voice_hysteresis) < 1.0:
            raise EmotalkError(f"voice_hysteresis must be in [0, 1), got {voice_hysteresis!r}")
        state = {k: v for k, v in (("transition_s", transition_s), ("ease", ease),
                                   ("emotion_strength", emotion_strength),
                                   ("max_intensity", max_intensity)) if v is not None}
        if state and self.state is not None:
            with self._state_lock:
                self.state.set_params(**state)          # validates all before applying any
        if self.idle is not None:
            if idle_enabled is not None:
                self.idle.set_enabled(bool(idle_enabled))
            self.idle.set_scales(blink_scale, gaze_scale, breath_scale)
        if stale_audio_s is not None:
            self.stale_audio_s = float(stale_audio_s)
        if queue_s is not None:
            self.queue_s = float(queue_s)
        if voice_blend is not None:
            self.set_voice_blend(float(voice_blend))
        if self.voice is not None and (voice_min_segment_s is not None
                                       or voice_hysteresis is not None):
            self.voice.set_smoothing(voice_min_segment_s, voice_hysteresis)

    def take_frame(self, now: Optional[float] = None) -> Optional[OutFrame]:
        """The next frame to publish (oldest first) whose clock time has come, or None.

        Live frames are due at once (they are late); the robot's speech frames are held until
        their clock time (``now``, default the clock), so they meet the sound at the
        loudspeaker. A backlog of due frames above ``max_backlog`` is cut by skipping the
        oldest ones, so latency stays bounded. Records the audio-arrival -> publish latency.
        """
        now = self.clock() if now is None else now
        due_by = now + self.RELEASE_EARLY_S
        with self._lock:
            due = 0
            for f in self._out:                  # in clock order; speech frames may be early
                if f.source != "live" and f.clock_time > due_by:
                    break
                due += 1
            while due > self.max_backlog:
                self._out.popleft()
                self.frames_skipped += 1
                due -= 1
            if not due:
                return None
            if self._frame_budget is not None and not self._frame_budget.take_all(1.0, now):
                # over the output rate: the newest due frames wait, the excess is dropped
                # (speech frames not yet due are kept)
                while due > self.RATE_LIMITED_BACKLOG:
                    self._out.popleft()
                    self.frames_skipped += 1
                    self.frames_over_rate += 1
                    due -= 1
                return None
            f = self._out.popleft()
            self.frames_out += 1
            if f.arrival is not None:
                self._lat_pub.add(now - f.arrival)
        return f

    def take_ahead(self) -> List[OutFrame]:
        """Every frame made since the last call, as soon as it exists (speech frames before
        their clock time; a frame computed again after a cancel comes again, same clock time).
        The same objects :meth:`take_frame` hands out later."""
        with self._lock:
            out = list(self._ahead)
            self._ahead.clear()
        return out

    def next_release(self) -> float:
        """When the oldest frame not yet handed out by :meth:`take_frame` is due: its clock time
        for a speech frame, -inf for a live one (due at once), inf when there is none."""
        with self._lock:
            if not self._out:
                return math.inf
            f = self._out[0]
            return f.clock_time if f.source != "live" else -math.inf

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
                "worker_consecutive_failures": self.consecutive_failures,
                "worker_last_error": self.last_error,
                "dropped_fast_samples": self.dropped_fast_samples,
                "frames_over_rate": self.frames_over_rate,
                "tracks_superseded": self.tracks_superseded, "bad_tracks": self.bad_tracks,
                "latency_available_mean_s": la[0], "latency_available_max_s": la[2],
                "latency_publish_mean_s": lp[0], "latency_publish_p95_s": lp[1],
                "latency_publish_max_s": lp[2],
                "rtf_recent": rtf[0],
                "rtf_total": self._compute_s / self._audio_s if self._audio_s else float("nan"),
                "audio_time_s": self.audio_time,
                "lookahead_s": self.predictor.lookahead_s,
                "frames_superseded": self.frames_superseded,
                "speech_frames": self.speech_frames,
                "speech_frames_recomputed": self.speech_rerendered,
                "speech_active": self._track is not None,
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
        """Stop and join the worker thread (and the track parser thread)."""
        self._stop.set()
        with self._lock:
            self._wake.notify_all()
        with self._track_cv:
            self._track_cv.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        if self._track_thread is not None:
            self._track_thread.join(timeout)
            self._track_thread = None

    @property
    def failed(self) -> bool:
        """True once the worker gave up after ``MAX_CONSECUTIVE_FAILURES`` failures in a row."""
        return self._failed.is_set()

    @property
    def running(self) -> bool:
        """True while the worker thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def _run(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                if not self._queue:
                    wait = self.WAKE_S
                    if self._out and self._out[0].source != "live":   # wake when it is due
                        wait = min(wait, max(0.0, self._out[0].clock_time - self.clock()))
                    if wait > 0:
                        self._wake.wait(wait)
            try:
                self.step()
            except Exception as exc:  # the worker's outermost boundary: nothing ends it
                if self._on_worker_error(exc):
                    return
                self._stop.wait(self.FAILURE_BACKOFF_S)
                try:
                    self._rest_frames(self.clock())
                except Exception as rest_exc:   # never let the fallback end the worker
                    self._on_worker_error(rest_exc)
            else:
                if self.consecutive_failures:
                    self._report("info", "animator worker recovered after "
                                 f"{self.consecutive_failures} failed step(s)", "recovered")
                self.consecutive_failures = 0
                self._rest_from = None
            if self.on_frames is not None and \
                    self.next_release() <= self.clock() + self.RELEASE_EARLY_S:
                self.on_frames()

    def _on_worker_error(self, exc: BaseException) -> bool:
        """Count and report a worker failure; True when the worker must give up."""
        with self._lock:
            self.worker_errors += 1
            self.consecutive_failures += 1
            first = self.worker_errors == 1
            n = self.consecutive_failures
        self.last_error = quote(f"{type(exc).__name__}: {exc}", 160)
        if first:
            self._report("error", "animator worker step failed (the face eases to rest while "
                         "this lasts):\n" + "".join(traceback.format_exception(exc)), None)
        else:
            self._report("warn", f"animator worker step failed again ({n} in a row, "
                         f"{self.worker_errors} in all): {self.last_error}", "worker")
        if n >= self.MAX_CONSECUTIVE_FAILURES:
            self._report("error", f"animator worker gave up after {n} failures in a row: "
                         f"{self.last_error}", None)
            self._failed.set()
            return True
        return False

    def _rest_frames(self, now: float) -> int:
        """While the worker fails: frames on the output grid, up to the live edge, easing from
        the last frame to the rest face (all zeros) over ``REST_EASE_S``. Returns how many."""
        fps = self.predictor.fps
        offset = self._offset if self._offset is not None else self._started_at
        edge = now - offset - self.predictor.lookahead_s       # audio time of the live edge
        with self._lock:
            last = self._last_frame
        t_last = last.time if last is not None else edge - 1.0 / fps
        if self._rest_from is None:
            v0 = (last.values if last is not None
                  else np.zeros(NUM_BLENDSHAPES, np.float32))
            self._rest_from = (t_last, np.asarray(v0, np.float64))
        t0, v0 = self._rest_from
        n = int(math.floor((edge - t_last) * fps + 1e-9))
        n = min(n, int(fps))                                    # at most 1 s per call
        if n <= 0:
            return 0
        times = t_last + np.arange(1, n + 1) / fps                              # (n,)
        w = np.clip((times - t0) / self.REST_EASE_S, 0.0, 1.0)
        w = w * w * (3.0 - 2.0 * w)                                             # smoothstep
        values = sanitize((v0[None, :] * (1.0 - w[:, None])).astype(np.float32))  # (n, 52)
        with self._lock:
            for i in range(n):
                f = OutFrame(float(times[i]), float(times[i]) + offset, values[i], None)
                self._append(f)
                self._last_frame = f
            while len(self._out) > 8 * self.max_backlog:
                self._out.popleft()
                self.frames_skipped += 1
        if self.on_frames is not None:
            self.on_frames()
        return n

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
        produced += self._render_speech(now)
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
        # whole feature hops only: audio that resumes after silence then starts on the hop
        # grid, so with chunks of whole hops (320 samples = 2 hops) every chunk completes
        # its feature frames instead of leaving a partial hop for the next chunk (up to one
        # chunk of extra latency)
        hop = self.predictor.feature_cfg.hop
        n -= (self.predictor.samples_pushed + n) % hop
        if n <= 0:
            return 0
        self._speaking = False
        with self._lock:
            self.silence_samples += n
        return self._push(np.zeros(n, np.float32), now, real=False)

    def _emotion_at(self, times: np.ndarray) -> np.ndarray:
        """times (N,) float64 audio s -> (N, 7) float32 intensities: command, voice, blend."""
        with self._state_lock:
            if self.state is None:
                cmd = np.zeros((times.shape[0], NUM_EXPRESSIVE), np.float32)
            else:
                cmd = self._command_at(times)                                          # (N, 7)
            if self.voice is None:
                return cmd
            return mix_voice(cmd, self._voice_at(times), self.blend.at_many(times))   # (N, 7)

    def _push(self, x: np.ndarray, arrival: float, real: bool) -> int:
        sr = self.predictor.sample_rate
        if real:
            new_off = arrival - (self.predictor.samples_pushed + x.size) / sr
            if self._offset is None or abs(new_off - self._offset) > 0.5:
                self._offset = new_off
            else:
                self._offset += 0.05 * (new_off - self._offset)
        t0 = time.perf_counter()
        # at most PUSH_S of audio per push: a burst (a stalled sender catching up) never makes
        # bigger arrays than usual, so memory keeps its usual high-water mark
        piece = max(1, int(self.PUSH_S * sr))
        fr = Frames.concat([push_with_voice(self.predictor, x[i:i + piece], self._emotion_at,
                                            self.voice) for i in range(0, x.size, piece)])
        values = fr.values                                            # (N, 52)
        times = fr.times                                              # (N,)
        clock_times = times + self._offset                            # (N,)
        # the robot's own speech owns the face while its track runs; afterwards only frames
        # depicting a time after the track's end are kept
        if self._track is not None:
            keep = np.zeros(len(fr), bool)
        else:
            keep = clock_times > self._owned_until
        if not keep.all():
            with self._lock:
                self.frames_superseded += int((~keep).sum())
            values, times, clock_times = values[keep], times[keep], clock_times[keep]
        n = int(times.shape[0])
        if n and self.style is not None:
            values = self.style.apply(values)                         # (n, 52)
        if n and self._from_speech is not None:                       # hand-over after speech
            t_h, base = self._from_speech
            w = handover_weight(clock_times, t_h, self.handover_s)[:, None]   # (n, 1)
            values = base[None, :] + w * (np.asarray(values, np.float32) - base[None, :])
            if w[-1, 0] >= 1.0:
                self._from_speech = None
        if n:
            self._last_base = np.asarray(values[-1], np.float32).copy()
        if n and self.idle is not None:
            speaking = np.full(n, self._speaking, dtype=bool)         # (n,)
            values = self.idle.apply(self._idle_times(times), values, speaking)   # (n, 52)
        values = sanitize(np.asarray(values, np.float32).reshape(-1, NUM_BLENDSHAPES))
        dt = time.perf_counter() - t0
        done = self.clock()
        with self._lock:
            self._compute_s += dt
            self._audio_s += x.size / sr
            self._rtf.add(dt / (x.size / sr))
            for i in range(n):
                t = float(times[i])
                if self._last_frame is not None and t <= self._last_frame.time + 1e-9:
                    self.frames_skipped += 1       # already depicted (by a rest frame)
                    continue
                f = OutFrame(t, float(clock_times[i]), values[i], arrival if real else None)
                self._append(f)
                self._last_frame = f
                if real:
                    self._lat_avail.add(done - arrival)
        if n and self.on_frames is not None:
            self.on_frames()
        return n

    def _append(self, f: OutFrame) -> None:
        """Queue a frame for both hand-outs (under ``_lock``); both queues stay bounded."""
        self._out.append(f)
        self._ahead.append(f)
        self._last_out_clock = max(self._last_out_clock, f.clock_time)
        # never let the buffers grow without bound when nobody takes frames
        while len(self._out) > 8 * self.max_backlog:
            self._out.popleft()
            self.frames_skipped += 1
        while len(self._ahead) > 8 * self.max_backlog:
            self._ahead.popleft()

    def _idle_times(self, times: np.ndarray) -> np.ndarray:
        """Frame times for the idle overlay, strictly after the last ones it saw (the live and
        speech time bases meet at hand-overs and may overlap by a clock drift)."""
        t = np.asarray(times, np.float64).copy()
        floor = self._idle_last_t + 1e-6 * np.arange(1, t.size + 1)
        t = np.maximum(t, floor)
        self._idle_last_t = float(t[-1])
        return t

    # -- the robot's own speech ----------------------------------------------------------------
    def configure_speech(self, lead_s: Optional[float] = None, handover_s: Optional[float] = None,
                         tail_s: Optional[float] = None,
                         cancel_ease_s: Optional[float] = None) -> None:
        """Timing of the speech path (s): how far ahead of the clock speech frames are
        computed, the hand-over blends, the rest after the last piece, the ease after a
        cancel. None keeps a value."""
        for name, v in (("lead_s", lead_s), ("handover_s", handover_s), ("tail_s", tail_s),
                        ("cancel_ease_s", cancel_ease_s)):
            if v is not None and not (math.isfinite(float(v)) and 0.0 <= float(v) <= 10.0):
                raise EmotalkError(f"speech {name} must be in [0, 10] s, got {v!r}")
        if lead_s is not None:
            self.speech_lead_s = float(lead_s)
        if handover_s is not None:
            self.handover_s = float(handover_s)
        if tail_s is not None:
            self.speech_tail_s = float(tail_s)
        if cancel_ease_s is not None:
            self.cancel_ease_s = float(cancel_ease_s)

    @property
    def speech_edge(self) -> float:
        """Clock time after which a new piece of speech may start: the speech track's render
        edge, or the last frame handed out when that is later (-inf when none). A cancelled
        track's frames went out up to the lead before they were computed again, and the frames
        handed out stay out when the track has ended (a refused :meth:`speak` ends a cancelled
        track too); a new piece must start after all of them."""
        tr = self._track
        with self._lock:
            last = self._last_out_clock
        return max(tr.edge, last) if tr is not None else last

    @property
    def speaking_until(self) -> float:
        """Clock time at which the scheduled speech ends (-inf without speech)."""
        tr = self._track
        return tr.speaking_until if tr is not None and tr.cancelled_at is None else -math.inf

    def speak(self, piece: SpeechPiece) -> None:
        """Schedule a piece of the robot's own speech (``piece.start``: clock time its first
        sample is heard). It joins the running speech track, or starts one that takes the face
        over from the live path. Raises :class:`EmotalkError` when the piece starts before the
        frames already computed (schedule it later)."""
        with self._speech_lock:
            tr = self._track
            if tr is not None and tr.cancelled_at is None and not tr.done:
                tr.add(piece)
                return
            if tr is not None:
                self._finish_track()
            dt = 1.0 / self.predictor.fps
            with self._lock:
                last = self._last_out_clock
            w0 = self.clock() if not math.isfinite(last) else last + dt
            new = SpeechTrack(self.predictor.fps, w0, piece, self.speech_tail_s,
                              self.cancel_ease_s)
            self._sp_offset = self._offset if self._offset is not None else self._started_at
            base = self._last_base
            self._track_from = (new.w0, base.copy()) if base is not None else None
            self._from_speech = None
            self._snaps.clear()
            self._reemit_after = -math.inf
            self._track = new

    def _finish_track(self) -> None:
        """The track has rendered its last frame: the live path takes the face back."""
        tr = self._track
        self._track = None
        self._snaps.clear()
        if tr is not None:
            self._owned_until = max(self._owned_until, tr.end, self._last_out_clock)
            if self._last_base is not None:
                self._from_speech = (self._owned_until, self._last_base.copy())

    def cancel_speech(self, now: Optional[float] = None) -> List[Any]:
        """Stop the robot's speech at ``now`` (default the clock): the face eases to rest over
        ``cancel_ease_s``; frames already computed past ``now`` are computed again (the
        emotion state and idle overlay are rolled back to before them). Returns the tags of
        the pieces that had not started; [] when nothing was speaking."""
        now = self.clock() if now is None else float(now)
        with self._speech_lock:
            tr = self._track
            if tr is None or (tr.cancelled_at is not None and tr.cancelled_at <= now):
                return []
            dropped = tr.cancel(now)
            self._rollback(tr, now)
            return dropped

    def retime_speech(self, tag: Any, drift_s: float, now: Optional[float] = None) -> bool:
        """The loudspeaker plays piece ``tag`` ``drift_s`` later than scheduled (an underrun):
        its frames move with it; frames computed past ``now`` are computed again. False when
        no such piece is in the running track."""
        now = self.clock() if now is None else float(now)
        with self._speech_lock:
            tr = self._track
            if tr is None or not tr.retime(tag, drift_s):
                return False
            self._rollback(tr, now)
            return True

    def _rollback(self, tr: SpeechTrack, now: float) -> None:
        """Drop the speech frames after ``now`` that are not out yet and roll the render back
        to before them, so they are computed again (under the speech lock)."""
        with self._lock:
            future = [f for f in self._out if f.source == "speech" and f.clock_time > now]
            if future:
                self._out = collections.deque(
                    f for f in self._out if not (f.source == "speech" and f.clock_time > now))
                self._ahead = collections.deque(
                    f for f in self._ahead if not (f.source == "speech" and f.clock_time > now))
        if not future:
            return
        sent_until = max(f.clock_time for f in future)
        t_first = min(f.clock_time for f in future)
        while self._snaps and self._snaps[-1][0] > t_first + 1e-9:
            self._snaps.pop()
        if not self._snaps:
            return
        _, idle, state, cp, last_base, idle_t, seq = self._snaps.pop()
        self.idle = idle
        with self._state_lock:
            self._restore_state(state, seq)
        tr.restore(cp, keep_end_at_least=sent_until + 1e-6)
        self._last_base = last_base
        self._idle_last_t = idle_t
        self._reemit_after = now
        with self._lock:
            self.speech_rerendered += len(future)
            self._last_out_clock = max((f.clock_time for f in self._out), default=-math.inf)

    def _state_snapshot(self) -> Any:
        """The emotion side, to roll back to (under the state lock)."""
        return (copy.deepcopy(self.state), self._play, copy.deepcopy(self.blend))

    def _restore_state(self, snap: Any, seq: int) -> None:
        """Roll the emotion side back to ``snap``, then apply again the commands that arrived
        after it (under the state lock)."""
        state, play, blend = snap
        if state is not None:
            self.state = state
        self._play, self.blend = play, blend
        for s_, t, cmd in list(self._cmd_log):
            if s_ > seq and self.state is not None:
                self.state.command(cmd, t)

    def _speech_emotion(self, clock_times: np.ndarray) -> np.ndarray:
        """Emotion (N, 7) at speech frames' clock times (N,)."""
        return self._emotion_at(np.asarray(clock_times, np.float64) - self._sp_offset)

    def _speech_mark(self, cmd: Any, clock_time: float) -> None:
        """An emotion mark reached by the speech render: the state changes at its time."""
        if self.state is None:
            return
        with self._state_lock:
            self.state.command(cmd, clock_time - self._sp_offset)

    def _render_speech(self, now: float) -> int:
        """Compute the robot's speech frames up to ``now + speech_lead_s`` (worker thread)."""
        with self._speech_lock:
            tr = self._track
            if tr is None:
                return 0
            times = tr.next_times(now + self.speech_lead_s)                       # (N,)
            if times.size == 0:
                if tr.done and now >= tr.end:
                    self._finish_track()
                return 0
            t0 = time.perf_counter()
            with self._state_lock:
                state = self._state_snapshot()
                seq = self._cmd_seq
            self._snaps.append((float(times[0]), copy.deepcopy(self.idle), state,
                                tr.checkpoint(), None if self._last_base is None
                                else self._last_base.copy(), self._idle_last_t, seq))
            while len(self._snaps) > 1 and self._snaps[1][0] <= now:   # all released
                self._snaps.popleft()
            values, speaking = tr.render(times, self._speech_emotion, self._speech_mark)
            if self.style is not None:
                values = self.style.apply(values)                                    # (N, 52)
            if self._track_from is not None:                          # hand-over into speech
                t_h, base = self._track_from
                w = handover_weight(times, t_h, self.handover_s)[:, None]         # (N, 1)
                values = base[None, :] + w * (np.asarray(values, np.float32) - base[None, :])
                if w[-1, 0] >= 1.0:
                    self._track_from = None
            values = np.asarray(values, np.float32)
            self._last_base = values[-1].copy()
            audio_times = times - self._sp_offset                                     # (N,)
            if self.idle is not None:
                values = self.idle.apply(self._idle_times(audio_times), values, speaking)
            values = sanitize(np.asarray(values, np.float32))
            emit = times > self._reemit_after
            with self._lock:
                self._compute_s += time.perf_counter() - t0
                for i in np.flatnonzero(emit):
                    self._append(OutFrame(float(audio_times[i]), float(times[i]), values[i],
                                          None, source="speech"))
                self.speech_frames += int(emit.sum())
            return int(emit.sum())


def frames_to_array(frames: List[OutFrame]) -> Tuple[np.ndarray, np.ndarray]:
    """Helper for tests/tools: list of OutFrame -> (times (N,) float64, values (N, 52) float32)."""
    if not frames:
        return np.zeros(0), np.zeros((0, NUM_BLENDSHAPES), np.float32)
    return (np.array([f.time for f in frames]),
            np.stack([f.values for f in frames]).astype(np.float32))
