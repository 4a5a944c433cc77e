"""Audio input: loading, validation, resampling and streaming log-mel features.

Everything here works on mono float32 samples in [-1, 1]. The feature front end
is causal and streaming: :class:`LogMelStream` turns any sequence of chunks into
exactly the same frames as one call on the whole signal, because it only ever
emits complete hops and carries the remainder.

Frame ``j`` covers samples ``[j*hop - (win - hop), (j + 1)*hop)`` of the stream
(zeros before the start), so it is available as soon as sample ``(j+1)*hop`` has
arrived, and it depicts audio time ``j * hop / sample_rate``.
"""

from __future__ import annotations

import math
import os
import wave
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from emotalk_ros.errors import EmotalkError

SAMPLE_RATE = 16000


@dataclass(frozen=True)
class FeatureConfig:
    """Log-mel front end. hop 160 at 16 kHz = 100 feature frames per second."""

    sample_rate: int = SAMPLE_RATE
    win: int = 400          # samples (25 ms)
    hop: int = 160          # samples (10 ms)
    n_fft: int = 512
    n_mels: int = 40
    fmin: float = 60.0      # Hz
    fmax: float = 7600.0    # Hz
    log_floor: float = 1e-5

    @property
    def frame_rate(self) -> float:
        """Feature frames per second (100 by default)."""
        return self.sample_rate / self.hop


def validate_samples(samples, name: str = "audio") -> np.ndarray:
    """Return ``samples`` as a 1-D float32 array or raise :class:`EmotalkError`.

    Rejects non-numeric data, more than one dimension (other than (N, 1) / (1, N)),
    and NaN/Inf. An empty array is returned as is (callers decide).
    """
    try:
        a = np.asarray(samples, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise EmotalkError(f"{name}: not numeric samples ({exc})") from None
    if a.ndim == 2 and 1 in a.shape:
        a = a.reshape(-1)
    if a.ndim != 1:
        raise EmotalkError(f"{name}: expected mono 1-D samples, got shape {a.shape}")
    if a.size and not np.isfinite(a).all():
        bad = int((~np.isfinite(a)).sum())
        raise EmotalkError(f"{name}: {bad} NaN/Inf samples; chunk dropped")
    return a


def resample(samples: np.ndarray, sr_in: int, sr_out: int = SAMPLE_RATE) -> np.ndarray:
    """Polyphase resampling of 1-D float32 audio (stateless; for whole signals)."""
    if sr_in <= 0:
        raise EmotalkError(f"sample rate must be positive, got {sr_in}")
    if sr_in == sr_out:
        return np.asarray(samples, dtype=np.float32)
    from scipy.signal import resample_poly

    frac = Fraction(sr_out, sr_in).limit_denominator(1000)
    return resample_poly(np.asarray(samples, np.float64), frac.numerator,
                         frac.denominator).astype(np.float32)


class StreamResampler:
    """Chunk-wise resampler for live input at a foreign rate (linear interpolation, stateful).

    Output sample ``m`` is the input signal evaluated at time ``m / sr_out``; the
    result does not depend on how the input is chunked.
    """

    def __init__(self, sr_in: int, sr_out: int = SAMPLE_RATE):
        if sr_in <= 0 or sr_out <= 0:
            raise EmotalkError(f"sample rates must be positive, got {sr_in} -> {sr_out}")
        self.sr_in, self.sr_out = int(sr_in), int(sr_out)
        self.reset()

    def reset(self) -> None:
        """Forget all carried input; the next push starts a new stream at sample 0."""
        self._buf = np.zeros(0, np.float32)   # input samples not yet fully consumed
        self._buf_start = 0                   # absolute index of _buf[0]
        self._next_out = 0                    # absolute index of the next output sample

    def push(self, x: np.ndarray) -> np.ndarray:
        """Chunk (N,) at ``sr_in`` Hz -> (M,) float32 at ``sr_out`` Hz: every output sample that
        is computable so far (linear interpolation)."""
        x = np.asarray(x, np.float32).reshape(-1)
        self._buf = np.concatenate([self._buf, x])
        n_in = self._buf_start + self._buf.size
        # output m needs input i0 = floor(m*r) and i0+1 (r = sr_in/sr_out), so the
        # largest computable m satisfies m*sr_in < (n_in - 1)*sr_out
        last = ((n_in - 1) * self.sr_out - 1) // self.sr_in
        if last < self._next_out:
            return np.zeros(0, np.float32)
        m = np.arange(self._next_out, last + 1, dtype=np.int64)
        pos_num = m * self.sr_in
        i0 = pos_num // self.sr_out
        frac = (pos_num % self.sr_out).astype(np.float64) / self.sr_out
        i1 = i0 + 1
        b = self._buf
        y = (1.0 - frac) * b[i0 - self._buf_start] + frac * b[i1 - self._buf_start]
        self._next_out = last + 1
        keep_from = (self._next_out * self.sr_in) // self.sr_out
        drop = min(max(0, keep_from - self._buf_start), self._buf.size)
        self._buf = self._buf[drop:]
        self._buf_start += drop
        return y.astype(np.float32)


def load_audio(path: str, target_sr: int = SAMPLE_RATE) -> np.ndarray:
    """Load a wav file (any rate, any channel count, 8/16/24/32-bit int or float) -> mono float32
    at target_sr.

    Raises :class:`EmotalkError` with a clear message for missing, non-audio or empty files.
    """
    if not os.path.exists(path):
        raise EmotalkError(f"{path}: no such file")
    if os.path.isdir(path):
        raise EmotalkError(f"{path}: is a directory, not an audio file")
    try:
        from scipy.io import wavfile

        sr, data = wavfile.read(path)
    except (ValueError, OSError, EOFError, wave.Error) as exc:
        raise EmotalkError(f"{path}: not a readable WAV audio file ({exc})") from None
    data = np.asarray(data)
    if data.size == 0:
        raise EmotalkError(f"{path}: the audio file is empty")
    if data.dtype == np.uint8:
        x = (data.astype(np.float32) - 128.0) / 128.0
    elif data.dtype == np.int16:
        x = data.astype(np.float32) / 32768.0
    elif data.dtype == np.int32:
        x = data.astype(np.float32) / 2147483648.0
    elif np.issubdtype(data.dtype, np.floating):
        x = data.astype(np.float32)
    else:
        raise EmotalkError(f"{path}: unsupported sample format {data.dtype}")
    if x.ndim == 2:
        x = x.mean(axis=1)
    if not np.isfinite(x).all():
        raise EmotalkError(f"{path}: contains NaN/Inf samples")
    return resample(x, int(sr), target_sr)


def write_wav(path: str, samples: np.ndarray, sr: int = SAMPLE_RATE) -> None:
    """Write mono float audio as 16-bit PCM wav."""
    x = np.clip(np.asarray(samples, np.float32), -1.0, 1.0)
    pcm = (x * 32767.0).astype("<i2")
    with wave.open(path, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(int(sr))
        w.writeframes(pcm.tobytes())


def mel_filterbank(cfg: FeatureConfig) -> np.ndarray:
    """Slaney-style triangular mel filterbank, shape (n_fft//2 + 1, n_mels), float32."""
    def hz2mel(f):
        return 2595.0 * np.log10(1.0 + np.asarray(f) / 700.0)

    def mel2hz(m):
        return 700.0 * (10.0 ** (np.asarray(m) / 2595.0) - 1.0)

    n_bins = cfg.n_fft // 2 + 1
    freqs = np.linspace(0.0, cfg.sample_rate / 2.0, n_bins)
    pts = mel2hz(np.linspace(hz2mel(cfg.fmin), hz2mel(cfg.fmax), cfg.n_mels + 2))
    fb = np.zeros((n_bins, cfg.n_mels), dtype=np.float64)
    for m in range(cfg.n_mels):
        lo, ce, hi = pts[m], pts[m + 1], pts[m + 2]
        up = (freqs - lo) / max(ce - lo, 1e-9)
        down = (hi - freqs) / max(hi - ce, 1e-9)
        fb[:, m] = np.maximum(0.0, np.minimum(up, down)) * (2.0 / (hi - lo))
    return fb.astype(np.float32)


class LogMelStream:
    """Streaming causal log-mel features.

    ``push(samples (N,) float32) -> (F, n_mels) float32`` emits one frame per complete
    hop; the remainder is carried. ``frames_emitted`` counts frames so far, so the
    next frame's index (and depicted time ``index / frame_rate``) is always known.
    """

    def __init__(self, cfg: FeatureConfig = FeatureConfig()):
        self.cfg = cfg
        self._window = np.hanning(cfg.win + 2)[1:-1].astype(np.float32)
        self._fb = mel_filterbank(cfg)
        self.reset()

    def reset(self) -> None:
        """Forget carried samples (left context back to zeros) and ``frames_emitted``."""
        self._buf = np.zeros(self.cfg.win - self.cfg.hop, np.float32)  # left context (zeros)
        self.frames_emitted = 0

    def push(self, samples: np.ndarray) -> np.ndarray:
        """Samples (N,) float32 at ``cfg.sample_rate`` -> (F, n_mels) float32 log10 mel power,
        one frame per complete hop."""
        cfg = self.cfg
        x = np.asarray(samples, np.float32).reshape(-1)
        buf = np.concatenate([self._buf, x]) if x.size else self._buf
        n = (buf.size - (cfg.win - cfg.hop)) // cfg.hop
        if n <= 0:
            self._buf = buf
            return np.zeros((0, cfg.n_mels), np.float32)
        idx = np.arange(cfg.win)[None, :] + cfg.hop * np.arange(n)[:, None]
        frames = buf[idx] * self._window                         # (n, win)
        spec = np.fft.rfft(frames, n=cfg.n_fft, axis=1)          # (n, n_fft//2+1)
        power = (spec.real ** 2 + spec.imag ** 2).astype(np.float32)
        mel = power @ self._fb                                   # (n, n_mels)
        out = np.log10(mel + cfg.log_floor).astype(np.float32)
        self._buf = buf[n * cfg.hop:]
        self.frames_emitted += n
        return out


def log_mel(samples: np.ndarray, cfg: FeatureConfig = FeatureConfig()) -> np.ndarray:
    """Offline log-mel of a whole signal: (floor(N / hop), n_mels) float32 (same as streaming)."""
    return LogMelStream(cfg).push(samples)


def rms_dbfs(samples: np.ndarray) -> float:
    """RMS level in dBFS (-inf for silence)."""
    x = np.asarray(samples, np.float64)
    r = math.sqrt(float(np.mean(x * x))) if x.size else 0.0
    return 20.0 * math.log10(r) if r > 0 else float("-inf")
