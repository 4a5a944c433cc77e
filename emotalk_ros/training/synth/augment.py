"""Length-preserving audio augmentations for the synthetic corpus.

Every function takes mono float32 audio (N,) at ``sr`` Hz and returns float32 (N,):
exactly the same length, and no time shift, so phone timings stay valid.

- :func:`world_voice`: speaker variation with WORLD (``pyworld``; F0 scaling and a
  frequency warp of the spectral envelope). Slow (about 9x real time), so
  :func:`augment` applies it to a small fraction of clips.
- :func:`add_noise` (white/pink/brown at a given SNR), :func:`reverb` (exponentially
  decaying noise impulse response, FFT convolution), :func:`band_limit` (zero-phase
  Butterworth band-pass), :func:`resample_through` (down/up through another rate),
  :func:`gain`.
"""

from __future__ import annotations

from typing import Any, Dict, List, Tuple

import numpy as np

from emotalk_ros.core.audio import resample
from emotalk_ros.errors import EmotalkError

# Probabilities per clip in :func:`augment` (pyworld's fraction is set by the caller).
P_REVERB = 0.30
P_BAND = 0.20
P_RESAMPLE = 0.15
P_NOISE = 0.40
P_GAIN = 0.50
THROUGH_RATES = (8000, 11025, 12000, 22050, 24000, 32000, 44100, 48000)


def _fit(y: np.ndarray, n: int) -> np.ndarray:
    """Trim or zero-pad ``y`` to exactly ``n`` samples (float32)."""
    y = np.asarray(y, np.float32).reshape(-1)
    if y.size >= n:
        return y[:n]
    return np.concatenate([y, np.zeros(n - y.size, np.float32)])


def world_voice(x: np.ndarray, sr: int, f0_ratio: float = 1.0, warp: float = 1.0,
                frame_period_ms: float = 5.0) -> np.ndarray:
    """WORLD resynthesis with F0 * f0_ratio and the spectral envelope warped by ``warp``.

    warp > 1 moves formants up (a shorter vocal tract), < 1 down. Output (N,) float32, the
    input's length. Silent input is returned unchanged.
    """
    import pyworld

    n = x.size
    if n == 0 or not np.any(x):
        return np.asarray(x, np.float32).copy()
    xd = np.ascontiguousarray(x, dtype=np.float64)
    f0, t = pyworld.dio(xd, sr, frame_period=frame_period_ms)      # (T,), (T,)
    f0 = pyworld.stonemask(xd, f0, t, sr)                           # (T,) Hz, 0 = unvoiced
    sp = pyworld.cheaptrick(xd, f0, t, sr)                          # (T, F) power envelope
    ap = pyworld.d4c(xd, f0, t, sr)                                 # (T, F) aperiodicity
    if warp != 1.0:
        nbin = sp.shape[1]
        src = np.arange(nbin) / warp  # (F,) source bin per output bin
        src = np.clip(src, 0, nbin - 1)
        lo = np.floor(src).astype(np.int64)
        hi = np.minimum(lo + 1, nbin - 1)
        w = src - lo                                                # (F,)
        sp = (1.0 - w) * sp[:, lo] + w * sp[:, hi]                  # (T, F)
        sp = np.ascontiguousarray(np.maximum(sp, 1e-16))
    y = pyworld.synthesize(f0 * f0_ratio, sp, ap, sr, frame_period=frame_period_ms)
    y = _fit(y, n)
    peak = float(np.max(np.abs(y))) if y.size else 0.0
    if peak > 0.99:
        y = y * (0.99 / peak)
    return y.astype(np.float32)


def add_noise(x: np.ndarray, rng: np.random.Generator, snr_db: float,
              color: str = "white") -> np.ndarray:
    """Add white/pink/brown noise at ``snr_db`` relative to the signal power."""
    n = x.size
    white = rng.standard_normal(n)                                  # (N,)
    if color == "white":
        noise = white
    elif color in ("pink", "brown"):
        spec = np.fft.rfft(white)
        f = np.arange(spec.size, dtype=np.float64)
        f[0] = 1.0
        spec = spec / (np.sqrt(f) if color == "pink" else f)
        noise = np.fft.irfft(spec, n)
    else:
        raise EmotalkError(f"noise color {color!r}: use white, pink or brown")
    p_sig = float(np.mean(np.asarray(x, np.float64) ** 2))
    p_noise = float(np.mean(noise ** 2))
    if p_sig <= 0 or p_noise <= 0:
        return np.asarray(x, np.float32).copy()
    noise = noise * np.sqrt(p_sig / (p_noise * 10.0 ** (snr_db / 10.0)))
    return (x + noise).astype(np.float32)


def reverb(x: np.ndarray, sr: int, rng: np.random.Generator, rt60_s: float = 0.4,
           wet: float = 0.5) -> np.ndarray:
    """Synthetic room: direct path plus exponentially decaying noise tail (RT60 in s).

    FFT convolution, cut to the input length (causal, no delay), RMS preserved.
    """
    n = x.size
    if n == 0:
        return np.asarray(x, np.float32).copy()
    n_ir = max(2, int(rt60_s * sr))
    t = np.arange(n_ir) / float(sr)
    tail = rng.standard_normal(n_ir) * np.exp(-6.9078 * t / rt60_s)   # -60 dB at rt60
    tail[0] = 0.0
    tail *= wet / max(np.sqrt(np.sum(tail ** 2)), 1e-12)
    ir = tail
    ir[0] = 1.0                                                       # direct path
    m = 1 << int(np.ceil(np.log2(n + n_ir - 1)))
    y = np.fft.irfft(np.fft.rfft(x, m) * np.fft.rfft(ir, m), m)[:n]   # (N,)
    rx, ry = np.sqrt(np.mean(x.astype(np.float64) ** 2)), np.sqrt(np.mean(y ** 2))
    if ry > 0:
        y *= rx / ry
    return y.astype(np.float32)


def band_limit(
    x: np.ndarray, sr: int, low_hz: float = 100.0, high_hz: float = 4000.0
) -> np.ndarray:
    """Zero-phase 4th-order Butterworth band-pass (telephone/cheap-mic style)."""
    from scipy.signal import butter, sosfiltfilt

    high_hz = min(high_hz, 0.45 * sr)
    if not 0 < low_hz < high_hz:
        raise EmotalkError(f"band_limit: need 0 < low ({low_hz}) < high ({high_hz}) Hz")
    if x.size < 64:
        return np.asarray(x, np.float32).copy()
    sos = butter(4, [low_hz, high_hz], btype="bandpass", fs=sr, output="sos")
    return sosfiltfilt(sos, np.asarray(x, np.float64)).astype(np.float32)


def resample_through(x: np.ndarray, sr: int, via_sr: int) -> np.ndarray:
    """Resample to ``via_sr`` and back (polyphase, zero delay); exactly the input length."""
    return _fit(resample(resample(x, sr, via_sr), via_sr, sr), x.size)


def gain(x: np.ndarray, db: float) -> np.ndarray:
    """Scale by ``db`` decibels, then limit the peak to 0.99 by scaling (no clipping)."""
    y = np.asarray(x, np.float32) * np.float32(10.0 ** (db / 20.0))
    peak = float(np.max(np.abs(y))) if y.size else 0.0
    if peak > 0.99:
        y = y * np.float32(0.99 / peak)
    return y


def augment(x: np.ndarray, sr: int, rng: np.random.Generator, world_fraction: float = 0.05
            ) -> Tuple[np.ndarray, List[Dict[str, Any]]]:
    """Random chain: world voice -> reverb -> band limit -> resample through -> noise -> gain.

    Each step fires with its probability (``world_fraction`` for WORLD, ``P_*`` for the
    others); the parameters drawn are returned as a list of dicts for the clip metadata.
    Output (N,) float32, same length as ``x``.
    """
    y = np.asarray(x, np.float32)
    done: List[Dict[str, Any]] = []
    # draw every decision up front so the stream of random numbers does not depend on outcomes
    u = rng.random(6)
    if u[0] < world_fraction:
        f0r = float(2.0 ** (rng.uniform(-5.0, 5.0) / 12.0))
        warp = float(rng.uniform(0.86, 1.16))
        y = world_voice(y, sr, f0r, warp)
        done.append({"type": "world", "f0_ratio": round(f0r, 4), "warp": round(warp, 4)})
    if u[1] < P_REVERB:
        rt60, wet = float(rng.uniform(0.15, 0.9)), float(rng.uniform(0.2, 0.8))
        y = reverb(y, sr, rng, rt60, wet)
        done.append({"type": "reverb", "rt60_s": round(rt60, 3), "wet": round(wet, 3)})
    if u[2] < P_BAND:
        lo, hi = float(rng.uniform(60.0, 400.0)), float(rng.uniform(2800.0, 7000.0))
        y = band_limit(y, sr, lo, hi)
        done.append({"type": "band", "low_hz": round(lo, 1), "high_hz": round(hi, 1)})
    if u[3] < P_RESAMPLE:
        via = int(THROUGH_RATES[int(rng.integers(len(THROUGH_RATES)))])
        y = resample_through(y, sr, via)
        done.append({"type": "resample", "via_hz": via})
    if u[4] < P_NOISE:
        snr = float(rng.uniform(5.0, 40.0))
        color = ("white", "pink", "brown")[int(rng.integers(3))]
        y = add_noise(y, rng, snr, color)
        done.append({"type": "noise", "snr_db": round(snr, 2), "color": color})
    if u[5] < P_GAIN:
        db = float(rng.uniform(-12.0, 6.0))
        y = gain(y, db)
        done.append({"type": "gain", "db": round(db, 2)})
    y = _fit(np.clip(y, -1.0, 1.0), x.size)
    return y, done


# -------------------------------------------------------------------------------------------
# real-channel augmentation (microphone, room, level, breaths)
# -------------------------------------------------------------------------------------------
def _biquad_peak(f0: float, gain_db: float, q: float, sr: int) -> np.ndarray:
    """RBJ peaking-EQ biquad as one second-order section (6,)."""
    a = 10.0 ** (gain_db / 40.0)
    w = 2.0 * np.pi * f0 / sr
    alpha = np.sin(w) / (2.0 * q)
    b0, b1, b2 = 1 + alpha * a, -2 * np.cos(w), 1 - alpha * a
    a0, a1, a2 = 1 + alpha / a, -2 * np.cos(w), 1 - alpha / a
    return np.array([b0 / a0, b1 / a0, b2 / a0, 1.0, a1 / a0, a2 / a0])


def _biquad_shelf(f0: float, gain_db: float, sr: int, high: bool) -> np.ndarray:
    """RBJ shelving biquad (slope 1) as one second-order section (6,)."""
    a = 10.0 ** (gain_db / 40.0)
    w = 2.0 * np.pi * f0 / sr
    cw, alpha = np.cos(w), np.sin(w) / 2.0 * np.sqrt(2.0)
    sa = 2.0 * np.sqrt(a) * alpha
    if high:
        b = [a * ((a + 1) + (a - 1) * cw + sa), -2 * a * ((a - 1) + (a + 1) * cw),
             a * ((a + 1) + (a - 1) * cw - sa)]
        d = [(a + 1) - (a - 1) * cw + sa, 2 * ((a - 1) - (a + 1) * cw),
             (a + 1) - (a - 1) * cw - sa]
    else:
        b = [a * ((a + 1) - (a - 1) * cw + sa), 2 * a * ((a - 1) - (a + 1) * cw),
             a * ((a + 1) - (a - 1) * cw - sa)]
        d = [(a + 1) + (a - 1) * cw + sa, -2 * ((a - 1) + (a + 1) * cw),
             (a + 1) + (a - 1) * cw - sa]
    return np.array([b[0] / d[0], b[1] / d[0], b[2] / d[0], 1.0, d[1] / d[0], d[2] / d[0]])


def colour(x: np.ndarray, sr: int, rng: np.random.Generator, max_db: float = 8.0) -> np.ndarray:
    """Microphone colouration: random low shelf (80-300 Hz), high shelf (2.5-6 kHz) and one or
    two peaking bands (250-4000 Hz, Q 0.7-2.5), each within +-``max_db``; zero-phase, so the
    timing is unchanged. (N,) float32 -> (N,) float32, RMS preserved."""
    from scipy.signal import sosfiltfilt

    sos = [_biquad_shelf(float(rng.uniform(80.0, 300.0)), float(rng.uniform(-max_db, max_db)),
                         sr, False),
           _biquad_shelf(float(rng.uniform(2500.0, min(6000.0, 0.4 * sr))),
                         float(rng.uniform(-max_db, max_db)), sr, True)]
    for _ in range(int(rng.integers(1, 3))):
        sos.append(_biquad_peak(float(np.exp(rng.uniform(np.log(250.0), np.log(4000.0)))),
                                float(rng.uniform(-max_db, max_db)),
                                float(rng.uniform(0.7, 2.5)), sr))
    xd = np.asarray(x, np.float64)
    if xd.size < 64:
        return np.asarray(x, np.float32).copy()
    y = sosfiltfilt(np.stack(sos), xd)
    rx, ry = np.sqrt(np.mean(xd ** 2)), np.sqrt(np.mean(y ** 2))
    if ry > 0:
        y *= rx / ry
    return y.astype(np.float32)


def level_ramp(x: np.ndarray, sr: int, rng: np.random.Generator,
               max_db: float = 6.0) -> np.ndarray:
    """Slow level changes (a speaker moving against the microphone): a smooth random gain
    curve within +-``max_db`` (knots every 0.5-1.5 s, cosine-interpolated)."""
    n = x.size
    if n == 0:
        return np.asarray(x, np.float32).copy()
    step = float(rng.uniform(0.5, 1.5)) * sr
    k = int(np.ceil(n / step)) + 2
    knots = rng.uniform(-max_db, max_db, k)
    pos = np.arange(n) / step
    i = np.floor(pos).astype(np.int64)
    f = 0.5 - 0.5 * np.cos(np.pi * (pos - i))
    db = knots[i] * (1 - f) + knots[i + 1] * f
    return (np.asarray(x, np.float64) * 10.0 ** (db / 20.0)).astype(np.float32)


def room_tone(x: np.ndarray, rng: np.random.Generator, dbfs: float,
              color: str = "pink") -> np.ndarray:
    """Add stationary noise at an absolute RMS level of ``dbfs`` dB full scale (room tone,
    microphone self-noise), whatever the speech level."""
    n = x.size
    white = rng.standard_normal(n)
    if color == "white":
        noise = white
    else:
        spec = np.fft.rfft(white)
        f = np.arange(spec.size, dtype=np.float64)
        f[0] = 1.0
        spec = spec / (np.sqrt(f) if color == "pink" else f)
        noise = np.fft.irfft(spec, n)
    rms = float(np.sqrt(np.mean(noise ** 2))) if n else 0.0
    if rms <= 0:
        return np.asarray(x, np.float32).copy()
    noise *= 10.0 ** (dbfs / 20.0) / rms
    return (np.asarray(x, np.float64) + noise).astype(np.float32)


def breath(n: int, sr: int, rng: np.random.Generator) -> np.ndarray:
    """One synthetic breath of ``n`` samples, unit RMS: noise through two broad resonances
    (0.4-1.2 kHz and 1.5-3 kHz) under a raised-cosine swell."""
    from scipy.signal import sosfilt

    w = rng.standard_normal(n + 256)
    sos = np.stack([_biquad_peak(float(rng.uniform(400.0, 1200.0)), 15.0, 1.2, sr),
                    _biquad_peak(float(rng.uniform(1500.0, 3000.0)), 12.0, 1.5, sr),
                    _biquad_shelf(300.0, -18.0, sr, False)])
    y = sosfilt(sos, w)[256:]
    env = np.sin(np.pi * np.linspace(0.0, 1.0, n)) ** 1.5
    y = y * env
    rms = float(np.sqrt(np.mean(y ** 2))) if n else 0.0
    return (y / rms).astype(np.float32) if rms > 0 else np.zeros(n, np.float32)


def speech_rms(x: np.ndarray, phones) -> float:
    """RMS of the samples inside non-silence phones ([(start_s, end_s, phone)] at 16 kHz);
    the whole signal's RMS without phones."""
    x = np.asarray(x, np.float64)
    if phones:
        m = np.zeros(x.size, bool)
        for s, e, p in phones:
            if p != "sil":
                m[int(s * 16000):int(e * 16000)] = True
        if m.any():
            return float(np.sqrt(np.mean(x[m] ** 2)))
    return float(np.sqrt(np.mean(x ** 2))) if x.size else 0.0


def add_breaths(x: np.ndarray, sr: int, rng: np.random.Generator, phones,
                p: float = 0.6) -> Tuple[np.ndarray, int]:
    """Breaths in pauses: each pause of at least 0.35 s gets, with probability ``p``, a breath
    of 0.2-0.5 s (at most 70 % of the pause, centred in it) at 12-30 dB below the speech
    RMS. The labels stay ``sil``. -> (audio (N,) float32, number of breaths)."""
    y = np.asarray(x, np.float32).copy()
    ref = speech_rms(x, phones)
    if ref <= 0:
        return y, 0
    count = 0
    for s, e, ph in phones:
        if ph != "sil" or e - s < 0.35:
            continue
        if rng.random() >= p:
            continue
        dur = min(float(rng.uniform(0.2, 0.5)), 0.7 * (e - s))
        n = int(dur * sr)
        c = 0.5 * (s + e) + float(rng.uniform(-0.15, 0.15)) * (e - s - dur)
        i0 = max(0, int((c - 0.5 * dur) * sr))
        n = min(n, y.size - i0)
        if n <= 32:
            continue
        level = ref * 10.0 ** (-float(rng.uniform(12.0, 30.0)) / 20.0)
        y[i0:i0 + n] += level * breath(n, sr, rng)
        count += 1
    return y, count


def augment_real(x: np.ndarray, sr: int, rng: np.random.Generator, phones=None,
                 world_fraction: float = 0.0) -> Tuple[np.ndarray, List[Dict[str, Any]]]:
    """Real-channel chain: world voice -> breaths in pauses -> reverb -> microphone colouration
    -> band limit / telephone -> noise at 10-30 dB SNR or room tone at -60..-40 dBFS -> slow
    level changes -> gain.

    phones: [(start_s, end_s, phone)] tiling the clip (for breaths and the speech level);
    None skips breaths. Every decision is drawn up front (the random stream does not depend
    on outcomes). Output (N,) float32, the input's length, no time shift.
    """
    y = np.asarray(x, np.float32)
    done: List[Dict[str, Any]] = []
    u = rng.random(9)
    if u[0] < world_fraction:
        f0r = float(2.0 ** (rng.uniform(-4.0, 4.0) / 12.0))
        warp = float(rng.uniform(0.88, 1.14))
        y = world_voice(y, sr, f0r, warp)
        done.append({"type": "world", "f0_ratio": round(f0r, 4), "warp": round(warp, 4)})
    if phones is not None and u[1] < 0.5:
        y, nb = add_breaths(y, sr, rng, phones)
        if nb:
            done.append({"type": "breaths", "count": nb})
    if u[2] < 0.4:
        rt60, wet = float(rng.uniform(0.1, 0.8)), float(rng.uniform(0.1, 0.6))
        y = reverb(y, sr, rng, rt60, wet)
        done.append({"type": "reverb", "rt60_s": round(rt60, 3), "wet": round(wet, 3)})
    if u[3] < 0.5:
        y = colour(y, sr, rng)
        done.append({"type": "colour"})
    if u[4] < 0.2:
        lo, hi = float(rng.uniform(200.0, 400.0)), float(rng.uniform(3000.0, 3600.0))
        y = resample_through(band_limit(y, sr, lo, hi), sr, 8000)
        done.append({"type": "telephone", "low_hz": round(lo, 1), "high_hz": round(hi, 1)})
    ref = speech_rms(y, phones)
    if u[5] < 0.5 and ref > 0:
        snr = float(rng.uniform(10.0, 30.0))
        color = ("white", "pink", "brown")[int(rng.integers(3))]
        y = room_tone(y, rng, 20.0 * np.log10(ref) - snr, color)
        done.append({"type": "noise", "snr_db": round(snr, 2), "color": color})
    elif u[6] < 0.5:
        dbfs = float(rng.uniform(-60.0, -40.0))
        color = ("white", "pink", "brown")[int(rng.integers(3))]
        y = room_tone(y, rng, dbfs, color)
        done.append({"type": "room_tone", "dbfs": round(dbfs, 2), "color": color})
    if u[7] < 0.3:
        y = level_ramp(y, sr, rng)
        done.append({"type": "level_ramp"})
    if u[8] < 0.6:
        db = float(rng.uniform(-20.0, 6.0))
        y = gain(y, db)
        done.append({"type": "gain", "db": round(db, 2)})
    y = _fit(np.clip(y, -1.0, 1.0), x.size)
    return y, done
