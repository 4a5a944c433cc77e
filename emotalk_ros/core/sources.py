"""Live audio sources for the capture node: a sounddevice microphone and a real-time wav player.

Both sources are *pull* based and non-blocking, so a ROS timer (or any loop) can
poll them: ``start()``, then ``read() -> list of (N,) float32 blocks`` returns
whatever became available since the last call, ``stop()`` ends it. Samples are
mono float32 in [-1, 1] at ``sample_rate``.

* :class:`MicSource` opens a sounddevice ``InputStream``. Its audio callback only
  copies the selected channel into a bounded queue (counted in samples, oldest
  dropped first) and counts PortAudio overflows; nothing else runs on the audio
  thread.
* :class:`FileSource` plays a wav file (any rate / channel count, resampled and
  mixed to mono) block by block at real-time pace, optionally looped forever.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from typing import Callable, List, Optional, Union

import numpy as np

from emotalk_ros.core.audio import load_audio
from emotalk_ros.errors import EmotalkError

log = logging.getLogger(__name__)


def list_input_devices() -> List[str]:
    """Names of the PortAudio devices that have input channels, as ``'index: name'`` strings."""
    import sounddevice as sd

    out = []
    for i, dev in enumerate(sd.query_devices()):
        if int(dev.get("max_input_channels", 0)) > 0:
            out.append(f"{i}: {dev['name']}")
    return out


def resolve_input_device(device: Union[str, int, None]) -> Optional[Union[int, str]]:
    """Map a device spec to a sounddevice device: '' / None = default, digits = index, else a name.

    A name matches when it equals a device name or is a case-insensitive substring
    of exactly one. Raises :class:`EmotalkError` listing the available input devices
    when nothing matches.
    """
    import sounddevice as sd

    available = list_input_devices()
    listing = ", ".join(repr(d) for d in available) if available else "none"
    if device is None or (isinstance(device, str) and not device.strip()):
        return None
    if isinstance(device, int) or str(device).strip().isdigit():
        idx = int(device)
        devices = sd.query_devices()
        if 0 <= idx < len(devices) and int(devices[idx].get("max_input_channels", 0)) > 0:
            return idx
        raise EmotalkError(f"audio input device {device!r} not found; available input devices: "
                           f"{listing}")
    name = str(device).strip()
    devices = list(enumerate(sd.query_devices()))
    inputs = [(i, d) for i, d in devices if int(d.get("max_input_channels", 0)) > 0]
    exact = [i for i, d in inputs if d["name"] == name]
    if exact:
        return exact[0]
    sub = [i for i, d in inputs if name.lower() in d["name"].lower()]
    if len(sub) == 1:
        return sub[0]
    if len(sub) > 1:
        names = ", ".join(repr(inputs_d["name"]) for i, inputs_d in inputs if i in sub)
        raise EmotalkError(f"audio input device {name!r} is ambiguous ({names}); available input "
                           f"devices: {listing}")
    raise EmotalkError(
        f"audio input device {name!r} not found; available input devices: {listing}"
    )


class MicSource:
    """Microphone capture through sounddevice.

    ``device``: name, index (as int or digit string) or '' for the default input.
    ``channel``: which input channel to keep (0-based; the stream opens channel + 1
    channels). ``callback``: optional ``f(block (N,) float32)`` called *on the audio
    thread* with each copied block instead of queueing it; it must be cheap (a
    queue put). ``max_queue_s``: bound of the internal queue in seconds.
    """

    def __init__(self, device: Union[str, int, None] = "", sample_rate: int = 16000,
                 block_size: int = 320, channel: int = 0,
                 callback: Optional[Callable[[np.ndarray], None]] = None,
                 max_queue_s: float = 2.0):
        if sample_rate <= 0 or block_size <= 0 or channel < 0:
            raise EmotalkError(f"invalid capture settings: sample_rate={sample_rate}, "
                               f"block_size={block_size}, channel={channel}")
        self.sample_rate, self.block_size, self.channel = (
            int(sample_rate),
            int(block_size),
            int(channel),
        )
        self.device = resolve_input_device(device)
        self._callback = callback
        self._max_queue = int(max_queue_s * sample_rate)
        self._queue: collections.deque = collections.deque()
        self._queued = 0
        self._lock = threading.Lock()
        self.overflows = 0          # PortAudio input overflows (the device lost samples)
        self.dropped_samples = 0    # samples dropped because nobody read the queue
        self.blocks = 0
        self._stream = None

    def _on_audio(self, indata, frames, time_info, status) -> None:
        # audio thread: copy, count, queue; nothing else
        if status and status.input_overflow:
            self.overflows += 1
        block = np.array(indata[:, self.channel], dtype=np.float32)  # (frames,) copy
        self.blocks += 1
        if self._callback is not None:
            self._callback(block)
            return
        with self._lock:
            self._queue.append(block)
            self._queued += block.size
            while self._queued > self._max_queue and self._queue:
                old = self._queue.popleft()
                self._queued -= old.size
                self.dropped_samples += old.size

    def start(self) -> None:
        """Open and start the input stream; raises :class:`EmotalkError` when the device
        refuses."""
        import sounddevice as sd

        try:
            self._stream = sd.InputStream(device=self.device, samplerate=self.sample_rate,
                                          blocksize=self.block_size, channels=self.channel + 1,
                                          dtype="float32", callback=self._on_audio)
            self._stream.start()
        except (sd.PortAudioError, ValueError) as exc:
            self._stream = None
            avail = ", ".join(repr(d) for d in list_input_devices()) or "none"
            raise EmotalkError(f"cannot open audio input device {self.device!r} at "
                               f"{self.sample_rate} Hz with {self.channel + 1} channel(s): {exc}; "
                               f"available input devices: {avail}") from None

    def read(self) -> List[np.ndarray]:
        """All blocks captured since the last call (oldest first), each (N,) float32."""
        with self._lock:
            out = list(self._queue)
            self._queue.clear()
            self._queued = 0
        return out

    def stop(self) -> None:
        """Stop and close the input stream (idempotent)."""
        if self._stream is not None:
            try:
                self._stream.stop()
                self._stream.close()
            finally:
                self._stream = None

    @property
    def done(self) -> bool:
        """A microphone never runs out."""
        return False


class FileSource:
    """Plays a wav file as a live source: blocks of ``block_size`` samples at real-time pace.

    ``read()`` returns every block whose last sample is due by now (``realtime``) or
    all remaining blocks at once (``realtime=False``; a looped file then yields one
    pass per call). With ``loop`` the file wraps around seamlessly; without it the
    final block may be shorter and ``done`` turns True.
    """

    def __init__(self, path: str, sample_rate: int = 16000, block_size: int = 320,
                 loop: bool = False, realtime: bool = True,
                 clock: Callable[[], float] = time.monotonic):
        if sample_rate <= 0 or block_size <= 0:
            raise EmotalkError(f"invalid file source settings: sample_rate={sample_rate}, "
                               f"block_size={block_size}")
        self.samples = load_audio(path, sample_rate)   # (N,) float32, raises EmotalkError
        self.path, self.sample_rate, self.block_size = path, int(sample_rate), int(block_size)
        self.loop, self.realtime, self._clock = bool(loop), bool(realtime), clock
        self._t0: Optional[float] = None
        self._pos = 0            # samples emitted so far (counts every loop pass)
        self.overflows = 0       # interface parity with MicSource
        self.dropped_samples = 0

    @property
    def duration_s(self) -> float:
        """Length of one pass of the file in s."""
        return self.samples.size / self.sample_rate

    def start(self) -> None:
        """Start playing from the beginning, paced from the clock's current time."""
        self._t0 = self._clock()
        self._pos = 0

    def stop(self) -> None:
        """Stop playing; :meth:`read` raises until :meth:`start` is called again."""
        self._t0 = None

    @property
    def done(self) -> bool:
        """True once a non-looping file has emitted every sample."""
        return not self.loop and self._pos >= self.samples.size

    def _take(self, n: int) -> np.ndarray:
        """The next ``n`` samples of the (possibly looped) stream, (n,) float32."""
        total = self.samples.size
        if not self.loop:
            a = self._pos
            self._pos = min(total, a + n)
            return self.samples[a:self._pos].copy()
        idx = (self._pos + np.arange(n)) % total
        self._pos += n
        return self.samples[idx]

    def read(self) -> List[np.ndarray]:
        """Blocks due since the last call, each (<= block_size,) float32."""
        if self._t0 is None:
            raise EmotalkError("FileSource.read() before start()")
        if self.done:
            return []
        if self.realtime:
            due = int((self._clock() - self._t0) * self.sample_rate)   # samples due by now
        else:
            due = self._pos + (self.samples.size if self.loop else self.samples.size - self._pos)
        out = []
        while self._pos + self.block_size <= due and not self.done:
            out.append(self._take(self.block_size))
        if not self.loop and not self.done and due >= self.samples.size:
            out.append(self._take(self.samples.size - self._pos))      # final short block
        return out
