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
from typing import Optional

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


def _poly_factors(sr_in: int, sr_out: int):
    """(up, down) of the polyphase resampler, as :func:`resample` chooses them."""
    frac = Fraction(sr_out, sr_in).limit_denominator(1000)
    return frac.numerator, frac.denominator


def resample(samples: np.ndarray, sr_in: int, sr_out: int = SAMPLE_RATE) -> np.ndarray:
    """Polyphase resampling of 1-D float32 audio (stateless; for whole signals).

    :class:`PolyResampler` gives the same samples chunk by chunk (bounded memory)."""
    if sr_in <= 0:
        raise EmotalkError(f"sample rate must be positive, got {sr_in}")
    if sr_in == sr_out:
        return np.asarray(samples, dtype=np.float32)
    from scipy.signal import resample_poly

    up, down = _poly_factors(sr_in, sr_out)
    return resample_poly(np.asarray(samples, np.float64), up,
                         down).astype(np.float32)


class PolyResampler:
    """:func:`resample` chunk by chunk: ``push(x)`` returns the output samples that became
    computable, ``flush()`` the rest (the input ends there; zeros beyond, as in
    :func:`resample`). The concatenated output equals :func:`resample` of the concatenated
    input (the same filter and arithmetic: scipy's ``upfirdn`` on overlapping segments that
    start on the polyphase grid), with memory bounded by the chunk size.
    """

    def __init__(self, sr_in: int, sr_out: int = SAMPLE_RATE):
        if sr_in <= 0 or sr_out <= 0:
            raise EmotalkError(f"sample rates must be positive, got {sr_in} -> {sr_out}")
        self.sr_in, self.sr_out = int(sr_in), int(sr_out)
        self.passthrough = self.sr_in == self.sr_out
        self._n_in = 0            # input samples received
        self._next = 0            # index of the next output sample
        self._buf = np.zeros(0, np.float64)
        self._buf_start = 0       # input index of _buf[0]
        if self.passthrough:
            return
        from scipy.signal import firwin

        up, down = _poly_factors(self.sr_in, self.sr_out)
        self.up, self.down = up, down
        half_len = 10 * max(up, down)                 # as scipy.signal.resample_poly
        h = firwin(2 * half_len + 1, 1.0 / max(up, down), window=("kaiser", 5.0)) * up
        pre = down - half_len % down
        self._h = np.concatenate([np.zeros(pre), h])  # (L,) float64
        self._pre_remove = (half_len + pre) // down

    def _support(self, n: int):
        """Input index range [lo, hi] that output ``n`` depends on."""
        m = (n + self._pre_remove) * self.down
        return -((len(self._h) - 1 - m) // self.up), m // self.up

    def _compute(self, n0: int, n1: int) -> np.ndarray:
        """Outputs [n0, n1) from the buffer (inputs beyond the buffer are zeros)."""
        from scipy.signal import upfirdn

        lo, _ = self._support(n0)
        _, hi = self._support(n1 - 1)
        i0 = (lo // self.down) * self.down            # segment start on the polyphase grid
        seg = np.zeros(hi + 1 - i0, np.float64)
        a, b = max(i0, self._buf_start), min(hi + 1, self._buf_start + self._buf.size)
        if b > a:
            seg[a - i0:b - i0] = self._buf[a - self._buf_start:b - self._buf_start]
        y = upfirdn(self._h, seg, self.up, self.down)
        k0 = n0 + self._pre_remove - (i0 // self.down) * self.up
        return y[k0:k0 + (n1 - n0)].astype(np.float32)

    def push(self, x: np.ndarray) -> np.ndarray:
        """Chunk (N,) float32 at ``sr_in`` -> (M,) float32 at ``sr_out`` (computable so far)."""
        x = np.asarray(x, np.float32).reshape(-1)
        if self.passthrough:
            self._n_in += x.size
            return x.copy()
        self._buf = np.concatenate([self._buf, x.astype(np.float64)])
        self._n_in += x.size
        # the last output whose support ends before the input received so far
        n1 = ((self._n_in - 1) * self.up) // self.down - self._pre_remove + 1
        return self._emit(n1)

    def flush(self) -> np.ndarray:
        """The remaining outputs: the input ends here (total ceil(N * up / down))."""
        if self.passthrough:
            return np.zeros(0, np.float32)
        n_out = -(-self._n_in * self.up // self.down)
        return self._emit(n_out)

    def _emit(self, n1: int) -> np.ndarray:
        if n1 <= self._next:
            return np.zeros(0, np.float32)
        y = self._compute(self._next, n1)
        self._next = n1
        lo, _ = self._support(self._next)
        drop = min(max(0, lo - self._buf_start), self._buf.size)
        self._buf = self._buf[drop:]
        self._buf_start += drop
        return y


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


MAX_WAV_CHANNELS = 64
MIN_WAV_RATE, MAX_WAV_RATE = 1000, 384000   # Hz accepted in a wav header
MAX_BLOCK_BYTES = 8 << 20                  # most bytes :func:`iter_audio` reads at once
_WAV_FORMATS = {1: "pcm", 3: "float"}


@dataclass(frozen=True)
class WavInfo:
    """A wav file's layout: ``sample_rate`` Hz, ``channels``, ``kind`` ('pcm'|'float'),
    ``bits`` per sample, ``frames`` (samples per channel), where the data starts
    (``data_offset`` bytes) and its byte order (``big_endian`` for RIFX files)."""

    path: str
    sample_rate: int
    channels: int
    kind: str
    bits: int
    frames: int
    data_offset: int
    big_endian: bool = False

    @property
    def duration_s(self) -> float:
        """Length in seconds."""
        return self.frames / self.sample_rate

    @property
    def block_align(self) -> int:
        """Bytes per frame (all channels)."""
        return self.channels * (self.bits // 8)


def read_wav_info(path: str) -> WavInfo:
    """Parse a wav file's RIFF header; raises :class:`EmotalkError` with one clear line for a
    missing, non-wav, truncated or unsupported file (header cut short, a data chunk longer
    than the file, a partial last frame, an unknown sample format).

    Accepted: RIFF/RIFX, PCM 8 (unsigned), 16, 24 and 32 bit, IEEE float 32 and 64 bit,
    WAVE_FORMAT_EXTENSIBLE with those sub-formats, 1 to 384 kHz and up to 64 channels. A data
    size of 0xFFFFFFFF (a recorder that never finished its header) means "to the end of
    the file".
    """
    import struct

    if not os.path.exists(path):
        raise EmotalkError(f"{path}: no such file")
    if os.path.isdir(path):
        raise EmotalkError(f"{path}: is a directory, not an audio file")
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as f:
            head = f.read(12)
            if len(head) < 12 or head[:4] not in (b"RIFF", b"RIFX") or head[8:12] != b"WAVE":
                raise EmotalkError(f"{path}: not a readable WAV audio file (no RIFF/WAVE header)")
            big = head[:4] == b"RIFX"
            end = ">" if big else "<"
            fmt = None
            pos = 12
            while True:
                ch = f.read(8)
                if len(ch) < 8:
                    if fmt is None:
                        raise EmotalkError(f"{path}: truncated WAV file: the header ends "
                                           f"after {pos + len(ch)} bytes, before its "
                                           "'fmt ' chunk")
                    raise EmotalkError(f"{path}: truncated WAV file: no 'data' chunk in "
                                       f"its {size} bytes")
                cid, clen = ch[:4], struct.unpack(end + "I", ch[4:])[0]
                pos += 8
                if cid == b"fmt ":
                    body = f.read(min(clen, 64))
                    if clen < 16 or len(body) < 16:
                        raise EmotalkError(f"{path}: truncated WAV file: its 'fmt ' chunk "
                                           f"has {len(body)} of at least 16 bytes")
                    tag, channels, rate, _, _, bits = struct.unpack(end + "HHIIHH", body[:16])
                    if tag == 0xFFFE and len(body) >= 26:          # WAVE_FORMAT_EXTENSIBLE
                        tag = struct.unpack(end + "H", body[24:26])[0]
                    fmt = (tag, channels, rate, bits)
                    f.seek(pos + clen + (clen & 1))
                elif cid == b"data":
                    if fmt is None:
                        raise EmotalkError(f"{path}: not a readable WAV file ('data' before "
                                           "'fmt ')")
                    data_offset = pos
                    avail = size - pos
                    open_ended = clen == 0xFFFFFFFF
                    break
                else:
                    f.seek(pos + clen + (clen & 1))
                pos += clen + (clen & 1)
    except OSError as exc:
        raise EmotalkError(f"{path}: cannot read ({exc.strerror or exc})") from None
    tag, channels, rate, bits = fmt
    kind = _WAV_FORMATS.get(tag)
    ok_bits = {"pcm": (8, 16, 24, 32), "float": (32, 64)}
    if kind is None or bits not in ok_bits[kind]:
        raise EmotalkError(f"{path}: unsupported WAV sample format (format tag {tag}, "
                           f"{bits} bits); use PCM 8/16/24/32-bit or float 32/64-bit")
    if not 1 <= channels <= MAX_WAV_CHANNELS:
        raise EmotalkError(f"{path}: {channels} channels in the WAV header (1 to "
                           f"{MAX_WAV_CHANNELS} are accepted)")
    if not MIN_WAV_RATE <= rate <= MAX_WAV_RATE:
        raise EmotalkError(f"{path}: sample rate {rate} Hz in the WAV header ({MIN_WAV_RATE} "
                           f"to {MAX_WAV_RATE} Hz are accepted)")
    align = channels * bits // 8
    if open_ended:
        clen = avail - avail % align
    if clen > avail:
        raise EmotalkError(f"{path}: truncated WAV file: the data chunk declares {clen} bytes "
                           f"but only {avail} follow")
    if clen % align:
        raise EmotalkError(f"{path}: corrupt WAV file: data size {clen} is not a whole "
                           f"number of {align}-byte frames")
    if clen == 0:
        raise EmotalkError(f"{path}: the audio file is empty")
    return WavInfo(path, int(rate), int(channels), kind, int(bits), clen // align,
                   data_offset, big)


def _to_mono_float(raw: bytes, info: WavInfo) -> np.ndarray:
    """Raw frames -> (N,) float32 mono in [-1, 1] (the same arithmetic for any block)."""
    e = ">" if info.big_endian else "<"
    if info.kind == "float":
        x = np.frombuffer(raw, f"{e}f{info.bits // 8}").astype(np.float32)
    elif info.bits == 8:
        x = (np.frombuffer(raw, np.uint8).astype(np.float32) - 128.0) / 128.0
    elif info.bits == 16:
        x = np.frombuffer(raw, f"{e}i2").astype(np.float32) / 32768.0
    elif info.bits == 24:
        b = np.frombuffer(raw, np.uint8).reshape(-1, 3).astype(np.int32)   # (N, 3)
        lo, hi = (2, 0) if info.big_endian else (0, 2)
        v = (b[:, lo] << 8) | (b[:, 1] << 16) | (b[:, hi] << 24)            # left-justified
        x = v.astype(np.float32) / 2147483648.0
    else:
        x = np.frombuffer(raw, f"{e}i4").astype(np.float32) / 2147483648.0
    if info.channels > 1:
        x = x.reshape(-1, info.channels).mean(axis=1)
    return x


def iter_wav(path: str, block_frames: int = 1 << 16, info: Optional[WavInfo] = None):
    """Yield a wav file's samples as (<= block_frames,) float32 mono blocks at its own rate,
    reading only one block at a time. Raises :class:`EmotalkError` for NaN/Inf samples."""
    info = info or read_wav_info(path)
    try:
        with open(path, "rb") as f:
            f.seek(info.data_offset)
            left = info.frames
            while left > 0:
                n = min(left, int(block_frames))
                raw = f.read(n * info.block_align)
                if len(raw) < n * info.block_align:
                    raise EmotalkError(f"{path}: truncated WAV file (it changed while read)")
                x = _to_mono_float(raw, info)
                if not np.isfinite(x).all():
                    raise EmotalkError(f"{path}: contains NaN/Inf samples")
                left -= n
                yield x
    except OSError as exc:
        raise EmotalkError(f"{path}: cannot read ({exc.strerror or exc})") from None


def iter_audio(path: str, target_sr: int = SAMPLE_RATE, block_s: float = 10.0):
    """Yield a wav file as mono float32 chunks at ``target_sr`` (about ``block_s`` s each),
    with memory bounded by the block size. The concatenation equals :func:`load_audio`."""
    info = read_wav_info(path)
    rs = PolyResampler(info.sample_rate, target_sr)
    frames = min(int(block_s * info.sample_rate), MAX_BLOCK_BYTES // info.block_align)
    for x in iter_wav(path, max(1, frames), info):
        y = rs.push(x)
        if y.size:
            yield y
    y = rs.flush()
    if y.size:
        yield y


def load_audio(path: str, target_sr: int = SAMPLE_RATE) -> np.ndarray:
    """Load a wav file (any rate, any channel count, 8/16/24/32-bit int or float) -> mono float32
    at target_sr.

    Raises :class:`EmotalkError` with a clear message for missing, non-audio, truncated or
    empty files (:func:`read_wav_info`).
    """
    info = read_wav_info(path)
    x = np.concatenate(list(iter_wav(path, info.frames, info)))
    return resample(x, info.sample_rate, target_sr)


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
