"""The robot's own voice: text or audio in, the loudspeaker and the face together (core).

:class:`SpeechController` turns ``say`` requests into scheduled sound and face:

1. :meth:`say` (any thread) parses the inline emotion marks (:mod:`.marks`), cuts long text
   into pieces and queues an utterance; :meth:`play` queues ready-made speech audio. Both
   return the utterance id at once; nothing slow runs on the caller's thread.
2. A worker thread synthesises the next piece (:mod:`.tts`) while less than ``synth_ahead_s``
   of sound is scheduled, picks when it is heard (``preroll_s`` after the request arrived
   when nothing plays, so synthesis runs inside the preroll; else right after the previous
   piece), schedules it on the player
   (:mod:`emotalk_ros.core.playback`) and hands the same piece, with its articulation, to the
   animator runtime (:meth:`emotalk_ros.animation.runtime.AnimatorRuntime.speak`), which
   computes the face for that clock time ahead of the sound.
3. :meth:`poll` (the node's timer) turns what the loudspeaker did into speaking-state events:
   ``queued``, ``started``, ``speaking`` (progress, every ``state_period_s``), ``finished``,
   ``cancelled`` (``reason``: cancelled or interrupted), ``error``; each is a dict with
   ``id``, ``state``, ``progress`` (0-1, by characters of text or seconds of audio) and
   ``elapsed_s``; ``started`` and ``finished`` add ``at``: the clock time the sound started
   or ended at the loudspeaker. When the loudspeaker plays a piece later than scheduled (an
   output stall), the face is moved with it (:meth:`AnimatorRuntime.retime_speech`).

Articulation: ``teacher`` (the procedural teacher on the engine's exact phone timings) or
``generator`` (the generator on the synthesised audio). Ready-made audio and engines without
phone timings always use the generator.

:meth:`cancel` stops the current utterance (the sound fades out over 5 ms, the face eases to
rest) or a queued one by id; :meth:`say` with ``interrupt`` cancels everything first. Bad
requests (empty or too long text, NaN audio, cancel while idle) raise :class:`EmotalkError`
with one line, and change nothing.
"""

from __future__ import annotations

import collections
import itertools
import logging
import math
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Deque, Dict, List, Optional, Tuple

import numpy as np

from emotalk_ros.animation.speech import (
    Articulator,
    GeneratorArticulator,
    SpeechPiece,
    TeacherArticulator,
)
from emotalk_ros.core.audio import resample
from emotalk_ros.errors import EmotalkError
from emotalk_ros.speech.marks import MarkedText, parse_marked_text, split_pieces
from emotalk_ros.speech.tts import SAMPLE_RATE, SpeechEngine, Spoken, trim_leading_silence

log = logging.getLogger(__name__)

ARTICULATIONS = ("teacher", "generator")
STATES = ("queued", "started", "speaking", "finished", "cancelled", "error")
SCHEDULE_ATTEMPTS = 4      # tries to place a piece after the face's render edge
RETRY_MARGIN_S = 0.1       # extra room per retry (s)


@dataclass
class Utterance:
    """One request: text pieces (or one audio clip) and how far it got."""

    uid: str
    text: str = ""
    pieces: List[MarkedText] = field(default_factory=list)
    audio: Optional[np.ndarray] = None           # (N,) float32 at 16 kHz (ready-made audio)
    next_piece: int = 0                          # pieces handed to the player so far
    scheduled: Dict[int, Tuple[float, float, int]] = field(default_factory=dict)  # k: (s, e, n)
    started: bool = False
    start_time: Optional[float] = None
    requested: float = -math.inf                 # clock time the request arrived
    done_chars: int = 0                          # characters (or samples) of finished pieces
    total: int = 1
    last_progress: float = -math.inf

    @property
    def synthesised(self) -> bool:
        """True once every piece has been scheduled."""
        return self.next_piece >= max(1, len(self.pieces))


class SpeechController:
    """Queue, synthesis worker, player and runtime glue (see the module docstring).

    ``runtime``: the animator runtime (``speak``, ``cancel_speech``, ``speech_edge``, its
    ``predictor.fps``); ``engine``: a :class:`SpeechEngine`; ``player``: an
    :class:`emotalk_ros.core.playback.AudioPlayer` or ``ClockPlayer``; ``articulation``:
    ``teacher`` or ``generator``; ``make_predictor``: builds a generator instance of its own
    for the speech (None: no generator, so ``teacher`` only and no ready-made audio).
    """

    def __init__(self, runtime, engine: SpeechEngine, player, articulation: str = "teacher",
                 make_predictor: Optional[Callable[[], Any]] = None, preroll_s: float = 0.1,
                 max_chars: int = 20000, piece_chars: int = 200, synth_ahead_s: float = 1.0,
                 max_audio_s: float = 300.0, state_period_s: float = 0.2,
                 clock: Callable[[], float] = time.monotonic):
        if articulation not in ARTICULATIONS:
            raise EmotalkError(f"articulation must be one of {', '.join(ARTICULATIONS)}, "
                               f"got {articulation!r}")
        if articulation == "generator" and make_predictor is None:
            raise EmotalkError("articulation 'generator' needs the generator model")
        self.runtime = runtime
        self.engine = engine
        self.player = player
        self.articulation = articulation
        self.fps = float(runtime.predictor.fps)
        self.preroll_s = float(preroll_s)
        self.max_chars = int(max_chars)
        self.piece_chars = int(piece_chars)
        self.synth_ahead_s = float(synth_ahead_s)
        self.max_audio_s = float(max_audio_s)
        self.state_period_s = float(state_period_s)
        self.clock = clock
        self._predictor = None
        self._make_predictor = make_predictor
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._queue: Deque[Utterance] = collections.deque()
        self._current: Optional[Utterance] = None     # the utterance being scheduled / heard
        self._playing: Dict[str, Utterance] = {}      # uid -> utterance with scheduled pieces
        self._events: Deque[Dict[str, Any]] = collections.deque(maxlen=1000)
        self._pending: List[Tuple[float, str, Any]] = []   # player events not yet due
        self._ids = itertools.count(1)
        self._thread: Optional[threading.Thread] = None
        self._stop = threading.Event()
        self._sched_end = -math.inf                   # clock time the scheduled sound ends
        # counters for /diagnostics
        self.utterances = 0
        self.cancelled = 0
        self.errors = 0
        self.shifts = 0                               # pieces moved after an output stall
        self.synth_s = 0.0
        self.first_sound_s: Deque[float] = collections.deque(maxlen=100)

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> None:
        """Start the player and the synthesis worker."""
        self.player.start()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="emotalk-speech", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the worker and the player (scheduled sound is dropped)."""
        self._stop.set()
        with self._lock:
            self._wake.notify_all()
        if self._thread is not None:
            self._thread.join(2.0)
            self._thread = None
        self.player.stop()

    # -- requests (any thread) -----------------------------------------------------------------
    def say(self, text: str, interrupt: bool = False) -> Tuple[str, List[str]]:
        """Queue ``text`` (with inline marks) -> (utterance id, problems with its marks).

        Raises :class:`EmotalkError` for empty text or text longer than ``max_chars``.
        With ``interrupt``, everything speaking or queued is cancelled first.
        """
        if not isinstance(text, str):
            raise EmotalkError("say: text must be a string")
        if len(text) > self.max_chars:
            raise EmotalkError(f"say: {len(text)} characters is more than the limit of "
                               f"{self.max_chars} (speech.max_chars); send it as several "
                               "messages")
        marked = parse_marked_text(text, max_intensity=self.runtime.max_intensity)
        if not marked.text.strip():
            raise EmotalkError("say: nothing to say (the text is empty"
                               + (" once its marks are removed)" if marked.marks else ")"))
        pieces = split_pieces(marked, self.piece_chars)
        u = Utterance(f"u{next(self._ids)}", marked.text, pieces,
                      total=max(1, sum(len(p.text) for p in pieces)))
        self._enqueue(u, interrupt)
        return u.uid, marked.problems

    def play(self, samples, sample_rate: int, interrupt: bool = False) -> str:
        """Queue ready-made speech audio ((N,) mono float at ``sample_rate`` Hz, resampled)
        -> utterance id. Raises :class:`EmotalkError` for NaN/Inf, empty or too long audio, or
        when no generator is there to articulate it."""
        if self._make_predictor is None:
            raise EmotalkError("speech audio needs the generator to articulate it; none loaded")
        try:
            x = np.asarray(samples, np.float32).reshape(-1)
        except (TypeError, ValueError):
            raise EmotalkError("speech audio: not numeric samples") from None
        if x.size == 0:
            raise EmotalkError("speech audio: empty; dropped")
        if not np.isfinite(x).all():
            raise EmotalkError(f"speech audio: {int((~np.isfinite(x)).sum())} NaN/Inf samples; "
                               "dropped")
        if not (8000 <= int(sample_rate) <= 192000):
            raise EmotalkError(f"speech audio: sample rate {sample_rate} Hz outside 8000-192000")
        if x.size / float(sample_rate) > self.max_audio_s:
            raise EmotalkError(f"speech audio: {x.size / sample_rate:.0f} s is longer than the "
                               f"limit of {self.max_audio_s:g} s; dropped")
        x = np.clip(resample(x, int(sample_rate), SAMPLE_RATE), -1.0, 1.0)
        u = Utterance(f"u{next(self._ids)}", audio=x, total=max(1, x.size))
        self._enqueue(u, interrupt)
        return u.uid

    def _enqueue(self, u: Utterance, interrupt: bool) -> None:
        u.requested = self.clock()
        if interrupt:
            self._cancel_all(reason="interrupted")
        with self._lock:
            self._queue.append(u)
            self.utterances += 1
            self._emit(u, "queued", 0.0, queue_length=len(self._queue),
                       text=u.text[:200] if u.text else f"({u.total / SAMPLE_RATE:.2f} s audio)")
            self._wake.notify()

    def cancel(self, uid: str = "") -> List[str]:
        """Cancel utterance ``uid`` ('' or 'all' = everything speaking or queued) -> the ids
        cancelled. Raises :class:`EmotalkError` when there is nothing (or no such utterance)
        to cancel."""
        uid = (uid or "").strip()
        if not uid or uid == "all":
            ids = self._cancel_all(reason="cancelled")
            if not ids:
                raise EmotalkError("cancel: nothing is speaking or queued")
            return ids
        with self._lock:
            queued = [u for u in self._queue if u.uid == uid]
            if queued:
                self._queue.remove(queued[0])
                self._emit(queued[0], "cancelled", 0.0, reason="cancelled")
                self.cancelled += 1
                return [uid]
            speaking = uid in self._playing
        if not speaking:
            raise EmotalkError(f"cancel: no utterance {uid!r} is speaking or queued")
        return self._stop_scheduled(reason="cancelled", target=uid)

    def _stop_scheduled(self, reason: str, target: Optional[str] = None) -> List[str]:
        """Stop all scheduled sound and speech frames now. Utterance ``target`` (default: the
        one being heard; '*' = all) is cancelled (``reason``: cancelled or interrupted); the
        others that had pieces scheduled go back to the front of the queue (synthesised again
        when their turn comes)."""
        now = self.clock()
        with self._lock:
            self._drain_player(now)                          # 'started' before 'cancelled'
        self.player.cancel()
        self.runtime.cancel_speech(now)
        with self._lock:
            playing = list(self._playing.values())          # in scheduling order
            if target is None:
                target = playing[0].uid if playing else ""
            out = []
            for u in reversed(playing):
                if target == "*" or u.uid == target:
                    self._emit(u, "cancelled", self._progress(u, now), reason=reason)
                    out.insert(0, u.uid)
                    self.cancelled += 1
                else:
                    u.next_piece, u.scheduled, u.started, u.done_chars = 0, {}, False, 0
                    u.start_time, u.requested = None, now
                    self._queue.appendleft(u)
            self._playing.clear()
            self._pending.clear()
            self._current = None
            self._sched_end = -math.inf
            self._wake.notify()
        return out

    def _cancel_all(self, reason: str) -> List[str]:
        with self._lock:
            queued = list(self._queue)
            self._queue.clear()
            busy = bool(self._playing)
        ids = self._stop_scheduled(reason, target="*") if busy else []
        with self._lock:
            for u in queued:
                self._emit(u, "cancelled", 0.0, reason=reason)
                ids.append(u.uid)
                self.cancelled += 1
        return ids

    # -- events --------------------------------------------------------------------------------
    def _emit(self, u: Utterance, state: str, progress: float, **extra: Any) -> None:
        """Record a state event (under the lock)."""
        now = self.clock()
        ev = {"id": u.uid, "state": state, "progress": round(float(progress), 3),
              "elapsed_s": round(now - u.start_time, 3) if u.start_time is not None else 0.0}
        ev.update(extra)
        self._events.append(ev)

    def _progress(self, u: Utterance, now: float) -> float:
        """Fraction of ``u`` heard by ``now`` (characters of text, or samples of audio)."""
        done = u.done_chars
        for k, (s, e, n) in u.scheduled.items():
            if s <= now < e:
                done += n * (now - s) / max(e - s, 1e-9)
        return min(1.0, max(0.0, done / float(u.total)))

    def poll(self) -> List[Dict[str, Any]]:
        """State events since the last call (call it every ~20 ms): the player's events once
        their time has come, progress of the utterance being heard."""
        now = self.clock()
        with self._lock:
            self._drain_player(now)
            for u in self._playing.values():
                if u.started and now - u.last_progress >= self.state_period_s:
                    u.last_progress = now
                    self._emit(u, "speaking", self._progress(u, now))
            out = list(self._events)
            self._events.clear()
        return out

    def _drain_player(self, now: float) -> None:
        """Turn the player's events that are due by ``now`` into state events (under the
        lock)."""
        for ev in self.player.events():
            if ev.kind == "shifted":
                self._shifted(ev.tag, ev.time)
                continue
            self._pending.append((ev.time, ev.kind, ev.tag))
        self._pending.sort(key=lambda e: e[0])
        while self._pending and self._pending[0][0] <= now:
            t, kind, tag = self._pending.pop(0)
            if not isinstance(tag, tuple) or tag[0] not in self._playing:
                continue
            u = self._playing[tag[0]]
            if kind == "started" and not u.started:
                u.started, u.start_time = True, t
                self._emit(u, "started", 0.0, at=t)
                u.last_progress = now
            elif kind == "finished":
                s, e, n = u.scheduled.pop(tag[1], (0.0, 0.0, 0))
                u.done_chars += n
                if u.synthesised and not u.scheduled:
                    del self._playing[u.uid]
                    if self._current is u:
                        self._current = None
                    self._emit(u, "finished", 1.0, at=t)

    def _shifted(self, tag: Any, start: float) -> None:
        """The player moved clip ``tag`` to ``start`` (it is heard later or earlier than
        scheduled): the face follows (under the lock)."""
        if not isinstance(tag, tuple) or tag[0] not in self._playing:
            return
        u = self._playing[tag[0]]
        if tag[1] not in u.scheduled:
            return
        s, e, n = u.scheduled[tag[1]]
        drift = start - s
        u.scheduled[tag[1]] = (start, e + drift, n)
        self._sched_end = max(e for v in self._playing.values() for _, e, _ in
                              v.scheduled.values())
        self.shifts += 1
        self.runtime.retime_speech(tag, drift, self.clock())

    @property
    def busy(self) -> bool:
        """True while something is speaking or queued."""
        with self._lock:
            return bool(self._queue) or bool(self._playing)

    def stats(self) -> Dict[str, Any]:
        """Counters for /diagnostics."""
        fs = list(self.first_sound_s)
        with self._lock:
            q, cur = len(self._queue), ",".join(self._playing)
        return {"utterances": self.utterances, "cancelled": self.cancelled,
                "errors": self.errors, "queue_length": q, "speaking": cur or "none",
                "synthesis_s_total": round(self.synth_s, 3),
                "request_to_sound_ms_p50": round(1000 * float(np.median(fs)), 1) if fs else "n/a",
                "player_underflows": self.player.underflows,
                "speech_shifted": self.shifts,
                "player_resyncs": self.player.resyncs,
                "player_flushes": getattr(self.player, "flushes", 0),
                "player_realtime": getattr(self.player, "realtime", None),
                "player_output_latency_ms": round(1000 * self.player.output_latency_s, 1)}

    # -- worker ----------------------------------------------------------------------------------
    def _run(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                job = self._next_job()
                if job is None:
                    self._wake.wait(0.02)
                    continue
            u, k = job
            try:
                self._schedule_piece(u, k)
            except EmotalkError as exc:
                self._fail(u, str(exc))
            except Exception as exc:                 # noqa: BLE001 (the worker must live on)
                log.exception("speech worker")
                self._fail(u, f"{type(exc).__name__}: {exc}")

    def _next_job(self) -> Optional[Tuple[Utterance, int]]:
        """(utterance, piece index) to synthesise now, or None (under the lock)."""
        now = self.clock()
        if self._sched_end > now + self.synth_ahead_s:
            return None
        cur = self._current
        if cur is not None and not cur.synthesised:
            return cur, cur.next_piece
        if cur is not None and cur.synthesised and cur.scheduled and \
                self._sched_end > now + self.synth_ahead_s:
            return None
        if not self._queue:
            return None
        u = self._queue.popleft()
        self._current = u
        self._playing[u.uid] = u
        return u, 0

    def _fail(self, u: Utterance, why: str) -> None:
        log.warning("speech %s: %s", u.uid, why)
        with self._lock:
            self.errors += 1
            self._emit(u, "error", self._progress(u, self.clock()), error=why)
            if u.scheduled:                            # the pieces already scheduled play on
                u.next_piece = len(u.pieces) or 1
            else:
                self._playing.pop(u.uid, None)
                if self._current is u:
                    self._current = None

    def _articulator(self, spoken: Spoken) -> Articulator:
        if self.articulation == "teacher" and spoken.phones is not None:
            return TeacherArticulator(spoken.phones, spoken.audio, spoken.sample_rate, self.fps)
        if self._make_predictor is None:
            raise EmotalkError("this engine gives no phone timings and no generator is loaded")
        if self._predictor is None:
            self._predictor = self._make_predictor()
        return GeneratorArticulator(self._predictor, spoken.audio, spoken.sample_rate, self.fps)

    def _schedule_piece(self, u: Utterance, k: int) -> None:
        t0 = time.perf_counter()
        if u.audio is not None:
            spoken, n = Spoken(u.audio, None, []), u.audio.size
        else:
            spoken, n = self.engine.speak(u.pieces[k]), len(u.pieces[k].text)
        self.synth_s += time.perf_counter() - t0
        if k == 0:                                     # start with the sound, not before it
            spoken = trim_leading_silence(spoken)
        art = self._articulator(spoken)
        play = resample(spoken.audio, spoken.sample_rate, self.player.sample_rate)
        refused = ""
        for attempt in range(SCHEDULE_ATTEMPTS):
            with self._lock:
                if self._current is not u:             # cancelled meanwhile
                    return
                # from idle: preroll_s after the request arrived (synthesis ran inside it)
                from_idle = self._sched_end < u.requested + self.preroll_s
                # 2 frames past the face's render edge; the edge moves on while we schedule
                # (a cancelled track eases up to the lead ahead), so each retry leaves more room
                margin = 2.0 / self.fps + attempt * RETRY_MARGIN_S
                start = max(u.requested + self.preroll_s, self._sched_end,
                            self.runtime.speech_edge + margin)
            start = self.player.schedule(play, start, tag=(u.uid, k))
            try:
                self.runtime.speak(SpeechPiece(start, art, spoken.marks, tag=(u.uid, k)))
                break
            except EmotalkError as exc:                # the face ran past it: a bit later
                self.player.cancel((u.uid, k))
                refused = str(exc)
        else:
            raise EmotalkError(f"could not schedule the speech (the face renders too far "
                               f"ahead): {refused}")
        end = start + play.size / float(self.player.sample_rate)
        with self._lock:
            cancelled = self._current is not u         # cancelled while we scheduled
            if not cancelled:
                self._placed(u, k, start, end, n, from_idle)
        if cancelled:
            # the cancel may have come before the piece reached the face: it then started a
            # new speech track of its own, which would move the lips without sound and keep
            # later speech from being placed before it (cancelling again is a no-op otherwise)
            self.player.cancel((u.uid, k))
            self.runtime.cancel_speech()

    def _placed(self, u: Utterance, k: int, start: float, end: float, n: int,
                from_idle: bool) -> None:
        """Piece ``k`` of ``u`` is on the loudspeaker and the face (under the lock)."""
        u.scheduled[k] = (start, end, n)
        u.next_piece = k + 1
        self._sched_end = max(self._sched_end, end)
        if k == 0 and from_idle:
            self.first_sound_s.append(start - u.requested)
        if u.synthesised:
            self._current = None                   # the next utterance may be prepared
