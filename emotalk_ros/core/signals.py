"""Deterministic test signals (benchmarks, calibration, smoke tests)."""

import numpy as np


def speech_like_signal(seconds: float, seed: int = 0) -> np.ndarray:
    """Deterministic speech-like signal: voiced bursts (harmonics + noise) with pauses."""
    rng = np.random.default_rng(seed)
    n = int(seconds * 16000)
    t = np.arange(n) / 16000
    f0 = 120 + 30 * np.sin(2 * np.pi * 0.7 * t)
    ph = 2 * np.pi * np.cumsum(f0) / 16000
    voiced = sum(np.sin(k * ph) / k for k in range(1, 8))
    env = (np.sin(2 * np.pi * 3.1 * t) > -0.3) * (np.sin(2 * np.pi * 0.37 * t) > -0.6)
    return (0.15 * voiced * env + 0.01 * rng.standard_normal(n)).astype(np.float32)
