"""Real-channel augmentations: length and timing kept, levels as asked, breaths only in
pauses, deterministic for a seed; the multilingual real-channel synthetic clip."""

import numpy as np
import pytest

from emotalk_ros.training.synth import augment as A

SR = 16000


def tone_bursts(seconds=2.0):
    """Speech-like test signal: 0.3 s harmonic bursts separated by 0.5 s pauses; phones."""
    n = int(seconds * SR)
    t = np.arange(n) / SR
    x = np.zeros(n, np.float32)
    phones, pos = [], 0.0
    while pos + 0.8 <= seconds:
        m = (t >= pos + 0.5) & (t < pos + 0.8)
        x[m] = 0.3 * np.sin(2 * np.pi * 180 * t[m]) + 0.1 * np.sin(2 * np.pi * 900 * t[m])
        phones += [(pos, pos + 0.5, "sil"), (pos + 0.5, pos + 0.8, "aa")]
        pos += 0.8
    phones.append((pos, seconds, "sil"))
    return x.astype(np.float32), phones


def lag_of(x, y, k=200):
    """Sample shift of y against x (around the first burst, +-k samples)."""
    a, b = 7000, 14000
    c = [float(np.dot(y[a + d:b + d], x[a:b])) for d in range(-k, k + 1)]
    return int(np.argmax(c)) - k


def test_colour_is_zero_phase_and_keeps_rms_and_length():
    x, _ = tone_bursts()
    rng = np.random.default_rng(1)
    y = A.colour(x, SR, rng)
    assert y.shape == x.shape and y.dtype == np.float32
    assert np.sqrt(np.mean(y ** 2)) == pytest.approx(np.sqrt(np.mean(x ** 2)), rel=1e-3)
    assert lag_of(x, y) == 0
    assert not np.allclose(x, y)          # it does colour


def test_room_tone_has_the_requested_absolute_level():
    for dbfs in (-60.0, -50.0, -40.0):
        y = A.room_tone(np.zeros(SR * 2, np.float32), np.random.default_rng(0), dbfs, "pink")
        assert 20 * np.log10(np.sqrt(np.mean(y.astype(np.float64) ** 2))) == \
            pytest.approx(dbfs, abs=0.1)


def test_level_ramp_stays_within_its_range():
    x = np.ones(SR * 5, np.float32) * 0.1
    y = A.level_ramp(x, SR, np.random.default_rng(3), max_db=6.0)
    db = 20 * np.log10(y / 0.1)
    assert db.max() <= 6.0 + 1e-6 and db.min() >= -6.0 - 1e-6 and np.ptp(db) > 1.0


def test_breaths_go_only_into_pauses_below_the_speech_level():
    x, phones = tone_bursts(4.0)
    y, n = A.add_breaths(x, SR, np.random.default_rng(5), phones, p=1.0)
    assert n >= 3
    d = y - x
    speech = np.zeros(x.size, bool)
    for s, e, p in phones:
        if p != "sil":
            speech[int(s * SR):int(e * SR)] = True
    assert np.abs(d[speech]).max() == 0.0
    assert np.abs(d[~speech]).max() > 0.0
    ref = A.speech_rms(x, phones)
    assert np.sqrt(np.mean(d[~speech] ** 2)) < ref * 10 ** (-12 / 20)


def test_augment_real_keeps_length_and_timing_and_is_deterministic():
    x, phones = tone_bursts(3.0)
    seen = set()
    for seed in range(12):
        y1, d1 = A.augment_real(x, SR, np.random.default_rng(seed), phones)
        y2, d2 = A.augment_real(x, SR, np.random.default_rng(seed), phones)
        assert np.array_equal(y1, y2) and d1 == d2
        assert y1.shape == x.shape and np.all(np.abs(y1) <= 1.0)
        if not any(a["type"] in ("reverb", "telephone") for a in d1):
            assert lag_of(x, y1) == 0
        seen.update(a["type"] for a in d1)
    assert {"breaths", "colour", "reverb", "gain"} <= seen
    assert seen & {"noise", "room_tone"}


def test_noise_snr_is_relative_to_the_speech():
    x, phones = tone_bursts(3.0)
    for seed in range(400):
        y, done = A.augment_real(x, SR, np.random.default_rng(seed), phones)
        kinds = {a["type"] for a in done}
        if "noise" in kinds and kinds <= {"noise", "gain"}:
            snr = [a for a in done if a["type"] == "noise"][0]["snr_db"]
            assert 10.0 <= snr <= 30.0
            sil = np.zeros(x.size, bool)
            for s, e, p in phones:
                if p == "sil":
                    sil[int(s * SR) + 800:int(e * SR) - 800] = True
            g = [a["db"] for a in done if a["type"] == "gain"]
            ref = A.speech_rms(x, phones) * (10 ** (g[0] / 20) if g else 1.0)
            got = 20 * np.log10(ref / np.sqrt(np.mean(y[sil].astype(np.float64) ** 2)))
            assert got == pytest.approx(snr, abs=1.5)
            return
    pytest.fail("no noise-only draw in 400 seeds")
