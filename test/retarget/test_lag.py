"""Motor lag compensation (LagScheduler): frames ahead of their stamps command each motor early
by its latency plus the filter's delay; late frames are followed as they arrive."""

import math

import numpy as np
import pytest

from emotalk_ros.core.blendshapes import INDEX, NUM_BLENDSHAPES
from emotalk_ros.errors import EmotalkError
from emotalk_ros.retarget.lag import LagScheduler
from emotalk_ros.retarget.rig import Rig
from emotalk_ros.retarget.safety import Retargeter

JAW = INDEX["jawOpen"]


def frame(jaw):
    v = np.zeros(NUM_BLENDSHAPES)
    v[JAW] = jaw
    return v


def jaw_of(f):
    return np.array([f[JAW], f[JAW]])         # two "motors" that both follow the jaw


def jaw1(f):
    return np.array([f[JAW]])                 # one motor


def ramp_frames(sched, t0, t1, now, ahead=True, fps=100.0):
    """A jaw ramp 0 -> 1 over [t0, t1] (jaw = time fraction), all received at ``now``."""
    for t in np.arange(t0, t1 + 1e-9, 1.0 / fps):
        sched.add(t, frame((t - t0) / (t1 - t0)), now, ahead=ahead)


def test_frames_ahead_command_each_motor_early_by_its_latency_and_the_processing_delay():
    sched = LagScheduler([0.0, 0.04], processing_s=0.02)
    ramp_frames(sched, 10.0, 11.0, now=9.5)                 # all received 0.5 s early
    out = sched.targets(10.5, jaw_of)
    # motor 0 sees the face of 10.52, motor 1 the face of 10.56
    assert out[0] == pytest.approx(0.52, abs=1e-6)
    assert out[1] == pytest.approx(0.56, abs=1e-6)
    assert sched.mode == "ahead" and sched.lead_s > 0.5


def test_without_latency_the_motor_follows_the_frame_of_now():
    sched = LagScheduler([0.0, 0.0])
    ramp_frames(sched, 10.0, 11.0, now=9.5)
    assert sched.targets(10.25, jaw_of) == pytest.approx([0.25, 0.25], abs=1e-6)


def test_late_frames_are_followed_as_they_arrive_whatever_the_latency():
    lagged = LagScheduler([0.0, 0.1], processing_s=0.05)
    plain = LagScheduler([0.0, 0.0])
    for k in range(50):
        stamp = 10.0 + k / 60.0
        now = stamp + 0.1                                   # each frame 100 ms late
        for s in (lagged, plain):
            s.add(stamp, frame(0.5 + 0.5 * math.sin(k / 5.0)), now)
        a, b = lagged.targets(now, jaw_of), plain.targets(now, jaw_of)
        np.testing.assert_allclose(a, b)                    # the newest frame, for every motor
        assert a[0] == pytest.approx(0.5 + 0.5 * math.sin(k / 5.0))
    assert lagged.mode == "late" and lagged.lead_s == pytest.approx(-0.1)


def test_a_newer_computation_replaces_the_later_frames_and_on_time_copies_are_ignored():
    sched = LagScheduler([0.0])
    ramp_frames(sched, 10.0, 11.0, now=9.5)
    # cancelled at 10.3: the recomputed face (rest) replaces everything after it
    sched.add(10.3, frame(0.0), 10.2, ahead=True)
    assert sched.replaced == 70
    assert sched.targets(10.6, jaw1)[0] == 0.0
    assert not sched.add(10.3, frame(0.7), 10.31)           # the on-time copy: a duplicate
    assert sched.duplicates == 1
    assert sched.add(10.9, frame(0.4), 10.9)                # a third party's frame: added


def test_unchanged_queries_give_none_and_the_store_is_bounded():
    sched = LagScheduler([0.0], max_frames=50)
    assert sched.targets(0.0, jaw1) is None               # no frames yet
    assert sched.mode == "none"
    ramp_frames(sched, 10.0, 12.0, now=9.0)
    assert len(sched._stamps) == 50
    sched.add(20.0, frame(1.0), 20.0)
    assert sched.targets(20.5, jaw1) is not None
    assert sched.targets(20.6, jaw1) is None              # same frame: no new input


@pytest.mark.parametrize("lat,proc", [([], 0.0), ([-0.01], 0.0), ([math.nan], 0.0),
                                      ([0.0], -1.0), ([0.0], math.inf)])
def test_bad_latencies_are_one_clear_error(lat, proc):
    with pytest.raises(EmotalkError):
        LagScheduler(lat, processing_s=proc)


def test_filter_delay_is_the_filters_low_frequency_delay():
    rig = Rig.load("hobby_servo_head")
    assert rig.safety.filter.type == "one_euro"
    delay = Retargeter(rig).filter_delay_s
    assert delay == pytest.approx(1 / (2 * math.pi * rig.safety.filter.min_cutoff_hz))
    # measured: a slow sine through the safety stage lags by about that much (filter only)
    rt = Retargeter(rig, soft_start_s=0.0)
    dt, f = 0.01, 0.5
    t = np.arange(0, 6, dt)
    jaw = rig.motor_names.index("jaw")
    x = 0.3 + 0.2 * np.sin(2 * np.pi * f * t)
    targets = np.array([rt.map(frame(v)) for v in x])
    out = np.array([rt.step(tg, dt)[jaw] for tg in targets])
    ref = targets[:, jaw]
    best = max(range(0, 20), key=lambda k: np.corrcoef(ref[200:len(t) - k],
                                                        out[200 + k:])[0, 1])
    assert abs(best * dt - delay) <= 0.02, (best * dt, delay)
