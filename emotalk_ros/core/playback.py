"""Loudspeaker output on a known clock: clips scheduled to reach the DAC at given clock times.

:class:`AudioPlayer` keeps one sounddevice ``OutputStream`` open (silence when nothing plays),
so starting a clip costs no device start-up. A clip is scheduled to *reach the DAC* (the
loudspeaker) at a time on the caller's clock (``time.monotonic`` by default). The audio
callback learns when its buffer will be heard from PortAudio (``outputBufferDacTime`` against
``currentTime``: the stream's output latency, including a sound server's own buffering as the
driver reports it) and places every clip's samples on that timeline:

* PortAudio's per-callback DAC times are noisy (a sound server reports its latency in steps
  of tens of ms), so the player keeps the DAC time of the stream's first sample (DAC time of
  a buffer minus the samples written before it) as the median of the last ``SMOOTH_N``
  callbacks: steady through the noise, and it follows a real step (an underrun) within half
  that window.
* A clip starts in the buffer that contains its start time, at the right sample.
* Then it plays on sample by sample: no sound is ever skipped. When the DAC timeline and the
  clip disagree by more than ``resync_s`` for two callbacks in a row (an underrun, a sound
  server that grew its buffer), the clip and every clip scheduled after it are moved to where
  they are really heard, and a ``shifted`` event says by how much, so whatever was scheduled
  on the same clock (the face) can follow (``resyncs`` counts them).
* :meth:`cancel` drops a clip that has not started at once. A playing clip is cut: with
  ``flush_on_cancel`` (the default) the stream is aborted, which makes the driver drop what it
  has buffered (the ALSA ``pulse`` device flushes the sound server's buffer), and started
  again at once (about 1 ms), so the loudspeaker falls silent within a few ms instead of
  after the whole output latency; the cut is not faded. Without it the clip fades out over
  ``fade_s`` in the next buffer, heard after the output latency (PulseAudio: about 45 ms).
  A flush only happens when no other clip is playing.

The callback asks for real-time scheduling of its own thread once (``SCHED_FIFO``, which
needs root, ``CAP_SYS_NICE`` or an ``rtprio`` limit; skipped otherwise, ``realtime`` says
which), so a busy machine delays it less. It only copies samples and appends events to a
queue: ``started``, ``finished``, ``cancelled``, each with the clock time at which it
happens at the DAC, and ``shifted`` with the new start time of the clip that moved
(:meth:`events`).

:class:`ClockPlayer` has the same interface without a sound device (``device: none``): clips
"play" on the clock alone, for robots without a loudspeaker, simulation and tests.
"""

from __future__ import annotations

import collections
import logging
import math
import os
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Deque, List, Optional, Union

import numpy as np

from emotalk_ros.errors import EmotalkError

log = logging.getLogger(__name__)

NO_DEVICE = "none"
REALTIME_PRIORITY = 20            # SCHED_FIFO priority asked for the audio callback thread


def list_output_devices() -> List[str]:
    """Names of the PortAudio devices that have output channels, as ``'index: name'``."""
    import sounddevice as sd

    return [f"{i}: {d['name']}" for i, d in enumerate(sd.query_devices())
            if int(d.get("max_output_channels", 0)) > 0]


def resolve_output_device(device: Union[str, int, None]) -> Optional[Union[int, str]]:
    """A device spec -> a sounddevice device: '' / None = the default output, digits = an index,
    else a name (exact, or a case-insensitive substring of exactly one output device). Raises
    :class:`EmotalkError` listing the output devices when nothing matches."""
    import sounddevice as sd

    listing = ", ".join(repr(d) for d in list_output_devices()) or "none"
    if device is None or (isinstance(device, str) and not device.strip()):
        return None
    devices = list(enumerate(sd.query_devices()))
    outputs = [(i, d) for i, d in devices if int(d.get("max_output_channels", 0)) > 0]
    if isinstance(device, int) or str(device).strip().isdigit():
        idx = int(device)
        if any(i == idx for i, _ in outputs):
            return idx
        raise EmotalkError(f"audio output device {device!r} not found; output devices: {listing}")
    name = str(device).strip()
    exact = [i for i, d in outputs if d["name"] == name]
    if exact:
        return exact[0]
    sub = [i for i, d in outputs if name.lower() in d["name"].lower()]
    if len(sub) == 1:
        return sub[0]
    what = "is ambiguous" if sub else "not found"
    raise EmotalkError(f"audio output device {name!r} {what}; output devices: {listing}")


@dataclass
class PlayerEvent:
    """``kind`` (started | finished | cancelled) of clip ``tag`` at clock time ``time`` (s) at
    the DAC; for ``shifted``, ``time`` is the clip's new start."""

    kind: str
    tag: Any
    time: float


class _Clip:
    __slots__ = ("samples", "start", "tag", "pos", "cancel", "fade_left", "off_count")

    def __init__(self, samples: np.ndarray, start: float, tag: Any):
        self.samples = samples
        self.start = start
        self.tag = tag
        self.pos: Optional[int] = None      # next sample to play; None before the start
        self.cancel = False
        self.fade_left = -1                 # samples of fade-out left (-1: not fading)
        self.off_count = 0                  # callbacks in a row off the timeline


class AudioPlayer:
    """Clips scheduled on a clock, played through one always-open sounddevice output stream.

    ``device``: name / index / '' (default output); ``sample_rate`` (Hz) of the stream and of
    every clip; ``block_size`` samples per callback; ``latency_s``: the output latency asked of
    PortAudio (lower: faster cancel and start, more underruns on a busy machine);
    ``extra_latency_s``: added to the latency PortAudio reports (a device that under-reports,
    e.g. Bluetooth); ``clock``: the caller's clock (s); ``flush_on_cancel``: cut a cancelled
    clip at the loudspeaker by flushing the stream (else a fade heard after the latency).
    """

    SMOOTH_N = 7           # callbacks in the median of the stream's DAC origin

    def __init__(self, device: Union[str, int, None] = "", sample_rate: int = 48000,
                 block_size: int = 240, latency_s: float = 0.03, extra_latency_s: float = 0.0,
                 clock: Callable[[], float] = time.monotonic, resync_s: float = 0.015,
                 fade_s: float = 0.005, flush_on_cancel: bool = True):
        if sample_rate <= 0 or block_size <= 0 or latency_s <= 0:
            raise EmotalkError(f"invalid playback settings: sample_rate={sample_rate}, "
                               f"block_size={block_size}, latency_s={latency_s}")
        self.sample_rate = int(sample_rate)
        self.block_size = int(block_size)
        self.latency_s = float(latency_s)
        self.extra_latency_s = float(extra_latency_s)
        self.clock = clock
        self.flush_on_cancel = bool(flush_on_cancel)
        self.device = resolve_output_device(device)
        self._resync_n = max(1, int(resync_s * sample_rate))
        self._fade_n = max(1, int(fade_s * sample_rate))
        self._lock = threading.Lock()
        self._clips: List[_Clip] = []
        self._events: Deque[PlayerEvent] = collections.deque(maxlen=1000)
        self._stream = None
        self._dac_lead: Optional[float] = None   # DAC time - callback time (s), smoothed
        self._origins: Deque[float] = collections.deque(maxlen=self.SMOOTH_N)
        self._written = 0                        # samples handed to the stream so far
        self.underflows = 0
        self.resyncs = 0
        self.callbacks = 0
        self.late_starts = 0
        self.flushes = 0                         # cancels that flushed the stream
        self.flush_errors = 0
        self.realtime: Optional[bool] = None     # whether the callback thread got SCHED_FIFO

    # -- control -----------------------------------------------------------------------------
    def start(self) -> None:
        """Open and start the output stream (once; idempotent); raises :class:`EmotalkError`
        (listing the output devices) when the device refuses."""
        import sounddevice as sd

        if self._stream is not None:
            return
        try:
            self._stream = sd.OutputStream(device=self.device, samplerate=self.sample_rate,
                                           blocksize=self.block_size, channels=1,
                                           dtype="float32", latency=self.latency_s,
                                           callback=self._on_audio)
            self._stream.start()
        except (sd.PortAudioError, ValueError) as exc:
            self._stream = None
            avail = ", ".join(repr(d) for d in list_output_devices()) or "none"
            raise EmotalkError(f"cannot open audio output device {self.device!r} at "
                               f"{self.sample_rate} Hz: {exc}; output devices: {avail}") from None

    def stop(self) -> None:
        """Stop and close the stream (idempotent); scheduled clips are dropped."""
        if self._stream is not None:
            try:
                self._stream.stop()
                self._stream.close()
            finally:
                self._stream = None
        with self._lock:
            self._clips.clear()

    @property
    def output_latency_s(self) -> float:
        """How far ahead of the DAC the callback writes (s): measured, else the requested."""
        lead = self._dac_lead
        return (self.latency_s if lead is None else lead) + self.extra_latency_s

    def earliest_start(self) -> float:
        """The earliest clock time a clip scheduled now can still start at, whole."""
        return self.clock() + self.output_latency_s + 2.0 * self.block_size / self.sample_rate

    def schedule(self, samples: np.ndarray, start: float, tag: Any = None) -> float:
        """Play ``samples`` ((N,) float32 at ``sample_rate``) so that its first sample reaches
        the DAC at clock time ``start`` (moved to :meth:`earliest_start` when earlier).
        Returns the start time used."""
        x = np.clip(np.nan_to_num(np.asarray(samples, np.float32).reshape(-1)), -1.0, 1.0)
        start = max(float(start), self.earliest_start())
        with self._lock:
            self._clips.append(_Clip(x, start, tag))
        return start

    def cancel(self, tag: Any = None) -> int:
        """Stop clips (all, or those whose ``tag`` equals ``tag``): one not yet started is
        dropped; a playing one is cut by a flush (``flush_on_cancel``, when no other clip is
        playing) or fades out over ``fade_s``. Returns how many clips were stopped."""
        n = 0
        with self._lock:
            keep = []
            cut = others = False
            for c in self._clips:
                if tag is not None and c.tag != tag:
                    keep.append(c)
                    others = others or c.pos is not None
                    continue
                n += 1
                if c.pos is None:
                    self._events.append(PlayerEvent("cancelled", c.tag, self.clock()))
                    continue
                c.cancel = True
                cut = True
                keep.append(c)
            self._clips = keep
        if cut and not others and self.flush_on_cancel:
            self._flush()
        return n

    def _flush(self) -> None:
        """Abort the stream (the driver drops its buffered sound), drop the cancelled clips and
        start the stream again. A driver error falls back to the fade (logged, counted)."""
        import sounddevice as sd

        stream = self._stream
        if stream is None:
            return
        try:
            stream.abort()
        except sd.PortAudioError as exc:
            self.flush_errors += 1
            log.warning("audio output: flush failed (%s); the clip fades out instead", exc)
            return
        now = self.clock()
        with self._lock:
            for c in self._clips:
                if c.cancel:
                    self._events.append(PlayerEvent("cancelled", c.tag, now))
            self._clips = [c for c in self._clips if not c.cancel]
            self._origins.clear()            # a new stream timeline starts with the next buffer
            self._written = 0
        self.flushes += 1
        try:
            stream.start()
        except sd.PortAudioError as exc:
            self.flush_errors += 1
            log.error("audio output: the stream did not restart after a flush (%s); "
                      "reopening it", exc)
            self._stream = None
            try:
                stream.close()
            except sd.PortAudioError:
                pass
            self.start()

    def events(self) -> List[PlayerEvent]:
        """Events since the last call, oldest first."""
        out = []
        while self._events:
            out.append(self._events.popleft())
        return out

    @property
    def busy_until(self) -> float:
        """Clock time at which the last scheduled clip ends (-inf when none)."""
        with self._lock:
            ends = [c.start + c.samples.size / self.sample_rate for c in self._clips]
        return max(ends) if ends else -math.inf

    def _shift(self, clip: _Clip, drift: float) -> None:
        """Move ``clip`` and every clip scheduled at or after its start by ``drift`` s (audio
        thread); a ``shifted`` event per clip."""
        with self._lock:
            first = clip.start
            for c in self._clips:
                if c is clip or (c.pos is None and c.start >= first):
                    c.start += drift
                    c.off_count = 0
                    self._events.append(PlayerEvent("shifted", c.tag, c.start))
        self.resyncs += 1

    # -- audio thread -------------------------------------------------------------------------
    def _realtime(self) -> None:
        """Ask once for real-time scheduling of the calling (audio) thread."""
        try:
            os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(REALTIME_PRIORITY))
            self.realtime = True
        except (AttributeError, OSError):
            self.realtime = False

    def _on_audio(self, outdata, frames, time_info, status) -> None:
        if self.realtime is None:
            self._realtime()
        now = self.clock()
        out = outdata[:, 0]
        out.fill(0.0)
        if status and status.output_underflow:
            self.underflows += 1
        self.callbacks += 1
        lead = float(time_info.outputBufferDacTime - time_info.currentTime)
        if not (math.isfinite(lead) and 0.0 <= lead < 2.0):     # a host that reports no times
            lead = self.latency_s
        sr = self.sample_rate
        self._origins.append(now + lead + self.extra_latency_s - self._written / sr)
        dac = float(np.median(self._origins)) + self._written / sr   # when out[0] is heard
        self._written += frames
        self._dac_lead = dac - now - self.extra_latency_s
        with self._lock:
            clips = list(self._clips)
        done = []
        for c in clips:
            off = 0
            if c.pos is None:
                k = int(round((c.start - dac) * sr))
                if k >= frames:
                    continue
                if k < -self._resync_n:             # late (a stall): start whole, move it
                    self.late_starts += 1
                    self._shift(c, dac - c.start)
                off, c.pos = max(k, 0), 0
                self._events.append(PlayerEvent("started", c.tag, dac + off / sr))
            else:
                drift = (dac - c.start) - c.pos / sr       # > 0: heard later than scheduled
                c.off_count = c.off_count + 1 if abs(drift) * sr > self._resync_n else 0
                if c.off_count >= 2:
                    self._shift(c, drift)
            n = max(0, min(frames - off, c.samples.size - c.pos))
            if c.cancel:
                if c.fade_left < 0:
                    c.fade_left = self._fade_n
                n = min(n, c.fade_left)
                ramp = (c.fade_left - np.arange(n)) / self._fade_n
                out[off:off + n] += c.samples[c.pos:c.pos + n] * ramp.astype(np.float32)
                c.fade_left -= n
                c.pos += n
                if c.fade_left <= 0 or c.pos >= c.samples.size:
                    done.append(c)
                    self._events.append(PlayerEvent("cancelled", c.tag, dac + (off + n) / sr))
                continue
            if n:
                out[off:off + n] += c.samples[c.pos:c.pos + n]
                c.pos += n
            if c.pos >= c.samples.size:
                done.append(c)
                self._events.append(PlayerEvent("finished", c.tag, dac + (off + n) / sr))
        if done:
            with self._lock:
                self._clips = [c for c in self._clips if c not in done]
        np.clip(out, -1.0, 1.0, out=out)


class ClockPlayer:
    """:class:`AudioPlayer`'s interface without a sound device: clips start and end on the
    clock alone (``device: none``). ``latency_s`` plays the part of the output latency."""

    def __init__(self, sample_rate: int = 48000, latency_s: float = 0.03,
                 clock: Callable[[], float] = time.monotonic):
        self.sample_rate = int(sample_rate)
        self.latency_s = float(latency_s)
        self.extra_latency_s = 0.0
        self.clock = clock
        self.device = NO_DEVICE
        self._lock = threading.Lock()
        self._clips: List[List[Any]] = []        # [start, end, tag, started]
        self._events: Deque[PlayerEvent] = collections.deque(maxlen=1000)
        self.underflows = self.resyncs = self.callbacks = self.late_starts = 0

    def start(self) -> None:
        """Nothing to open."""

    def stop(self) -> None:
        """Drop every clip."""
        with self._lock:
            self._clips.clear()

    @property
    def output_latency_s(self) -> float:
        """The configured latency (s)."""
        return self.latency_s

    def earliest_start(self) -> float:
        """Now plus the latency."""
        return self.clock() + self.latency_s

    def schedule(self, samples: np.ndarray, start: float, tag: Any = None) -> float:
        """Record a clip of ``samples`` starting at ``start`` (or the earliest start)."""
        start = max(float(start), self.earliest_start())
        end = start + np.asarray(samples).size / self.sample_rate
        with self._lock:
            self._clips.append([start, end, tag, False])
        return start

    def cancel(self, tag: Any = None) -> int:
        """Stop clips (all, or with this tag) now."""
        now = self.clock()
        n = 0
        with self._lock:
            keep = []
            for c in self._clips:
                if tag is not None and c[2] != tag:
                    keep.append(c)
                    continue
                n += 1
                self._events.append(PlayerEvent("cancelled", c[2], now))
            self._clips = keep
        return n

    def events(self) -> List[PlayerEvent]:
        """Events due by now, oldest first."""
        now = self.clock()
        with self._lock:
            keep = []
            for c in self._clips:
                if not c[3] and now >= c[0]:
                    c[3] = True
                    self._events.append(PlayerEvent("started", c[2], c[0]))
                if now >= c[1]:
                    self._events.append(PlayerEvent("finished", c[2], c[1]))
                else:
                    keep.append(c)
            self._clips = keep
        out = []
        while self._events:
            out.append(self._events.popleft())
        return out

    @property
    def busy_until(self) -> float:
        """Clock time at which the last clip ends (-inf when none)."""
        with self._lock:
            return max((c[1] for c in self._clips), default=-math.inf)


def make_player(device: str, sample_rate: int = 48000, block_size: int = 240,
                latency_s: float = 0.03, extra_latency_s: float = 0.0,
                clock: Callable[[], float] = time.monotonic, flush_on_cancel: bool = True):
    """``device`` 'none' -> :class:`ClockPlayer`, else an :class:`AudioPlayer` (not started)."""
    if str(device).strip().lower() == NO_DEVICE:
        return ClockPlayer(sample_rate, latency_s + extra_latency_s, clock)
    return AudioPlayer(device, sample_rate, block_size, latency_s, extra_latency_s, clock,
                       flush_on_cancel=flush_on_cancel)
