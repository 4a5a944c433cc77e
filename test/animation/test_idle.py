"""Idle overlays: seeded determinism, chunk invariance, blink statistics, gaze, breathing,
ranges."""

import numpy as np
import pytest

from emotalk_ros.animation.idle import IdleAnimator, IdleConfig, blink_profile
from emotalk_ros.core.blendshapes import INDEX, NUM_BLENDSHAPES
from emotalk_ros.errors import EmotalkError

FPS = 60.0
EYE_LOOK = [
    INDEX[f"eyeLook{d}{s}"] for d in ("Down", "In", "Out", "Up") for s in ("Left", "Right")
]


def scene(seconds=60.0, seed=1, speech=True):
    """Times (N,), random-but-plausible input frames (N, 52) in [0, 0.5], speaking flags (N,)."""
    t = np.arange(int(seconds * FPS)) / FPS
    rng = np.random.default_rng(seed)
    frames = (0.5 * rng.random((t.shape[0], NUM_BLENDSHAPES))).astype(np.float32)
    speaking = ((t % 6.0) < 3.5) if speech else np.zeros(t.shape[0], bool)
    return t, frames, speaking


def blink_onsets(x):
    b = x[:, INDEX["eyeBlinkLeft"]]
    return np.flatnonzero((b[1:] >= 0.5) & (b[:-1] < 0.5)) + 1


def test_deterministic_for_a_seed_and_different_across_seeds():
    t, x, sp = scene(20.0)
    a = IdleAnimator(IdleConfig(seed=7)).apply(t, x, sp)
    b = IdleAnimator(IdleConfig(seed=7)).apply(t, x, sp)
    c = IdleAnimator(IdleConfig(seed=8)).apply(t, x, sp)
    np.testing.assert_array_equal(a, b)
    assert np.abs(a - c).max() > 0.1
    # reset() restarts the same sequence.
    anim = IdleAnimator(IdleConfig(seed=7))
    anim.apply(t, x, sp)
    anim.reset()
    np.testing.assert_array_equal(anim.apply(t, x, sp), a)


@pytest.mark.parametrize("chunk", [1, 7, 64, 1000])
def test_chunk_invariance(chunk):
    t, x, sp = scene(30.0)
    whole = IdleAnimator(IdleConfig(seed=3)).apply(t, x, sp)
    anim = IdleAnimator(IdleConfig(seed=3))
    parts = [
        anim.apply(t[i : i + chunk], x[i : i + chunk], sp[i : i + chunk])
        for i in range(0, t.shape[0], chunk)
    ]
    np.testing.assert_array_equal(np.concatenate(parts), whole)


def test_time_going_back_restarts_from_seed():
    t, x, sp = scene(10.0)
    anim = IdleAnimator(IdleConfig(seed=2))
    first = anim.apply(t, x, sp)
    np.testing.assert_array_equal(anim.apply(t, x, sp), first)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_blink_statistics_over_a_minute(seed):
    t, x, sp = scene(60.0, speech=False)
    x[:] = 0.0
    y = IdleAnimator(IdleConfig(seed=seed, blink_interval_s=4.0)).apply(t, x, sp)
    on = blink_onsets(y)
    assert 8 <= len(on) <= 24, len(on)          # about 15 per minute at a 4 s mean interval
    b = y[:, INDEX["eyeBlinkLeft"]]
    np.testing.assert_array_equal(b, y[:, INDEX["eyeBlinkRight"]])
    for i in on:
        seg = b[i - 1:i + 25]
        assert seg.max() >= 0.95                  # lids close fully
        closed = np.flatnonzero(b[i - 15:i + 30] > 0.1)
        dur = (closed[-1] - closed[0] + 1) / FPS
        assert 0.08 <= dur <= 0.32, dur         # blinks are brief
    gaps = np.diff(on) / FPS
    assert gaps.min() >= 0.25 and 2.5 <= gaps.mean() <= 6.0


def test_blink_interval_changes_rate():
    t, x, sp = scene(60.0, speech=False)
    fast = sum(
        len(blink_onsets(IdleAnimator(IdleConfig(seed=s, blink_interval_s=2.0)).apply(t, x, sp)))
        for s in range(3)
    )
    slow = sum(
        len(blink_onsets(IdleAnimator(IdleConfig(seed=s, blink_interval_s=8.0)).apply(t, x, sp)))
        for s in range(3)
    )
    assert fast > 2.5 * slow


def test_blinks_cluster_after_speech_pauses():
    """Across seeds, more blink onsets fall in the 0.4 s after a pause begins than chance
    allows."""
    t, x, sp = scene(60.0, speech=True)
    x[:] = 0.0
    pause_starts = t[1:][sp[:-1] & ~sp[1:]]
    window = 0.4
    hits = total = 0
    for seed in range(6):
        on_t = t[blink_onsets(IdleAnimator(IdleConfig(seed=seed)).apply(t, x, sp))]
        total += len(on_t)
        hits += sum(bool(np.any((o >= pause_starts) & (o < pause_starts + window))) for o in on_t)
    chance = len(pause_starts) * window / 60.0       # fraction of time inside such windows
    assert hits / total > 2.5 * chance


def test_blink_profile_fast_close_slow_open():
    dur = 0.25
    u = np.linspace(0, dur, 1001)
    p = np.array([blink_profile(v, dur) for v in u])
    assert p.max() == 1.0 and p[0] == 0.0 and blink_profile(dur, dur) == 0.0
    first, last = np.flatnonzero(p >= 0.999)[[0, -1]]
    assert u[first] < dur - u[last]                  # closing is quicker than opening


def test_gaze_is_conjugate_small_and_moves():
    t, x, sp = scene(60.0)
    x[:] = 0.0
    y = IdleAnimator(IdleConfig(seed=4)).apply(t, x, sp)
    np.testing.assert_allclose(y[:, INDEX["eyeLookInLeft"]], y[:, INDEX["eyeLookOutRight"]])
    np.testing.assert_allclose(y[:, INDEX["eyeLookOutLeft"]], y[:, INDEX["eyeLookInRight"]])
    np.testing.assert_allclose(y[:, INDEX["eyeLookUpLeft"]], y[:, INDEX["eyeLookUpRight"]])
    np.testing.assert_allclose(y[:, INDEX["eyeLookDownLeft"]], y[:, INDEX["eyeLookDownRight"]])
    # Never both in and out on one eye.
    assert np.all(np.minimum(y[:, INDEX["eyeLookInLeft"]], y[:, INDEX["eyeLookOutLeft"]]) == 0)
    looks = y[:, EYE_LOOK]
    assert looks.max() <= 0.36 and looks.max() > 0.1
    # Saccades: the gaze mostly holds still (fixations) and moves in short jumps.
    speed = np.abs(np.diff(looks, axis=0)).max(axis=1)
    moving = speed > 1e-6
    assert 0.005 < moving.mean() < 0.2
    assert moving.sum() >= 20


def test_breathing_only_when_silent_and_keeps_lips_closed():
    t, x, sp = scene(30.0, speech=True)
    x[:] = 0.0
    anim = IdleAnimator(IdleConfig(seed=5, blink_scale=0.0, gaze_scale=0.0))
    y = anim.apply(t, x, sp)
    jaw, close = y[:, INDEX["jawOpen"]], y[:, INDEX["mouthClose"]]
    np.testing.assert_array_equal(jaw[sp], 0.0)                  # nothing while speaking
    assert 0.005 < jaw[~sp].max() <= 0.02                         # tiny motion in pauses
    np.testing.assert_allclose(jaw, close, atol=1e-7)             # lips stay sealed
    assert y[~sp, INDEX["noseSneerLeft"]].max() > 0.0


@pytest.mark.parametrize("cfg", [IdleConfig(enabled=False),
                                 IdleConfig(blink_scale=0.0, gaze_scale=0.0, breath_scale=0.0)])
def test_disabled_or_zero_scales_give_input(cfg):
    t, x, sp = scene(20.0)
    np.testing.assert_array_equal(IdleAnimator(cfg).apply(t, x, sp), x)


def test_set_scales_live_and_validation():
    t, x, sp = scene(20.0)
    x[:] = 0.0
    anim = IdleAnimator(IdleConfig(seed=1))
    full = anim.apply(t, x, sp)
    anim.reset()
    anim.set_scales(blink=0.5, gaze=0.0, breath=0.0)
    half = anim.apply(t, x, sp)
    np.testing.assert_allclose(
        half[:, INDEX["eyeBlinkLeft"]], 0.5 * full[:, INDEX["eyeBlinkLeft"]], atol=1e-6
    )
    assert np.all(half[:, EYE_LOOK] == 0.0)
    with pytest.raises(EmotalkError, match="gaze_scale"):
        anim.set_scales(gaze=-1.0)
    assert anim.blink_scale == 0.5
    anim.set_enabled(False)
    np.testing.assert_array_equal(anim.apply(t + 100.0, x, sp), x)
    for bad in (dict(seed=-1), dict(blink_scale=3.0), dict(blink_interval_s=0.1),
                dict(breath_scale=float("nan"))):
        with pytest.raises(EmotalkError):
            IdleConfig(**bad)


def test_outputs_in_range_and_shapes():
    t, x, sp = scene(20.0)
    x = np.clip(x * 2.5, 0.0, 1.0)  # inputs up to 1
    y = IdleAnimator(IdleConfig(seed=9, blink_scale=2.0, gaze_scale=2.0, breath_scale=2.0)).apply(
        t, x, sp
    )
    assert y.dtype == np.float32 and y.shape == x.shape
    assert np.all(np.isfinite(y)) and y.min() >= 0.0 and y.max() <= 1.0
    # The eyeBlink overlay never lowers the input.
    assert np.all(y[:, INDEX["eyeBlinkLeft"]] >= x[:, INDEX["eyeBlinkLeft"]])
    empty = IdleAnimator().apply(np.zeros(0), np.zeros((0, 52), np.float32), np.zeros(0, bool))
    assert empty.shape == (0, 52)
    with pytest.raises(EmotalkError):
        IdleAnimator().apply(t, x[:, :51], sp)
    with pytest.raises(EmotalkError, match="increasing"):
        IdleAnimator().apply(t[::-1].copy(), x, sp)
