"""Retargeting core: rig files and validation, the blendshape->motor map, and the safety
stage's hard limits under adversarial input (hypothesis property tests)."""

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from emotalk_ros.core.blendshapes import INDEX, NUM_BLENDSHAPES
from emotalk_ros.errors import EmotalkError
from emotalk_ros.retarget.rig import EXAMPLE_RIGS, Rig, resolve_rig_path
from emotalk_ros.retarget.safety import Retargeter, merge_named

NAN, INF = float("nan"), float("inf")


def small_rig(**safety):
    """A two-motor rig (one mirrored) with no filter and instant soft start unless overridden."""
    s = {"filter": {"type": "none"}, "soft_start_s": 0.0, "stale_timeout_s": 0.5,
         "stale_ease_s": 0.5, "exit_ease_s": 0.5}
    s.update(safety)
    return {
        "safety": s,
        "motors": [
            {"name": "corner_l", "units": "us", "min": 1000, "max": 2000, "neutral": 1500,
             "input": {"mouthSmileLeft": 1.0, "MouthFrown_L": -1.0},
             "curve": [[-1, 0], [0, 0.5], [1, 1]], "max_velocity": 2000,
             "max_acceleration": 20000},
            {"name": "corner_r", "mirror": "corner_l", "invert": True},
        ],
    }


def run_steps(r, seq):
    """Feed (target, dt) pairs; return the list of outputs."""
    return [r.step(t, dt) for t, dt in seq]


# ------------------------------------------------------------------------------------------
# example rigs and the map
# ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name,count", [("hobby_servo_head", 7), ("morpheus_head", 21),
                                        ("arkit_passthrough", 52)])
def test_example_rigs_load_and_neutral_face_maps_to_neutral(name, count):
    rig = Rig.load(name)
    assert len(rig) == count and len(set(rig.motor_names)) == count
    r = Retargeter(rig)
    out = r.map(np.zeros(NUM_BLENDSHAPES))
    np.testing.assert_allclose(out, rig.neutral, atol=1e-12)
    assert np.all(rig.lower < rig.upper)


def test_hobby_rig_units_and_directions():
    rig = Rig.load(resolve_rig_path("hobby_servo_head"))
    assert {m.units for m in rig.motors} == {"us"}
    r = Retargeter(rig)
    names = rig.motor_names
    b = np.zeros(NUM_BLENDSHAPES)
    b[INDEX["jawOpen"]] = 1.0
    out = r.map(b)
    assert out[names.index("jaw")] == rig.upper[names.index("jaw")]
    b[INDEX["mouthClose"]] = 1.0  # lips closed against the open jaw -> aperture 0
    assert r.map(b)[names.index("jaw")] == rig.neutral[names.index("jaw")]
    smile = np.zeros(NUM_BLENDSHAPES)
    smile[INDEX["mouthSmileLeft"]] = smile[INDEX["mouthSmileRight"]] = 1.0
    out = r.map(smile)
    # mirrored servo: left goes to max, right (inverted) to min
    assert out[names.index("lip_corner_left")] == 1800
    assert out[names.index("lip_corner_right")] == 1200


def test_passthrough_is_identity():
    rig = Rig.load("arkit_passthrough")
    r = Retargeter(rig)
    x = np.random.default_rng(1).random(NUM_BLENDSHAPES)
    np.testing.assert_allclose(r.map(x), x, atol=1e-12)
    assert rig.motor_names[INDEX["jawOpen"]] == "jawOpen"


def test_map_sanitises_and_clamps():
    rig = Rig.from_dict(small_rig())
    r = Retargeter(rig)
    b = np.zeros(NUM_BLENDSHAPES)
    b[INDEX["mouthSmileLeft"]] = 1e9
    b[INDEX["mouthFrownLeft"]] = NAN
    out = r.map(b)
    assert out[0] == 2000 and out[1] == 1500  # smile clamped to 1; right side untouched
    b[:] = -INF
    np.testing.assert_allclose(r.map(b), [1500, 1500])
    with pytest.raises(EmotalkError, match="52"):
        r.map(np.zeros(51))


def test_curve_in_motor_units_and_invert():
    d = small_rig()
    d["motors"] = [{"name": "m", "units": "rad", "min": -1, "max": 1, "neutral": 0,
                    "input": {"jawOpen": 2.0}, "offset": -1.0,
                    "curve": [[-1, -0.5], [1, 0.5]], "curve_units": "motor",
                    "max_velocity": 1, "max_acceleration": 1},
                   {"name": "n", "units": "rad", "min": -1, "max": 1, "neutral": 0,
                    "input": {"jawOpen": 2.0}, "offset": -1.0,
                    "curve": [[-1, -0.5], [1, 0.5]], "curve_units": "motor", "invert": True,
                    "max_velocity": 1, "max_acceleration": 1}]
    r = Retargeter(Rig.from_dict(d))
    b = np.zeros(NUM_BLENDSHAPES)
    for jaw, want in [(0.0, -0.5), (0.5, 0.0), (0.75, 0.25), (1.0, 0.5)]:
        b[INDEX["jawOpen"]] = jaw
        np.testing.assert_allclose(r.map(b), [want, -want], atol=1e-12)


def test_mirror_partner_swaps_left_right():
    rig = Rig.from_dict(small_rig())
    left, right = rig.motors
    assert dict(left.weights) == {"mouthSmileLeft": 1.0, "mouthFrownLeft": -1.0}
    assert dict(right.weights) == {"mouthSmileRight": 1.0, "mouthFrownRight": -1.0}
    assert right.invert and not left.invert and right.mirror_of == "corner_l"
    assert (right.min, right.max, right.curve) == (left.min, left.max, left.curve)
    r = Retargeter(rig)
    b = np.zeros(NUM_BLENDSHAPES)
    b[INDEX["mouthSmileRight"]] = 0.5
    out = r.map(b)
    assert out[0] == 1500 and out[1] == 1500 - 0.25 * 1000  # inverted right side


def test_merge_named_holds_missing_and_rejects_bad_messages():
    prev = np.zeros(NUM_BLENDSHAPES)
    prev[INDEX["jawOpen"]] = 0.7
    out, unknown, bad = merge_named(prev, ["JawLeft", "eyeBlink_L", "headYaw", "mouthClose"],
                                    [0.4, 5.0, 1.0, NAN])
    assert out[INDEX["jawOpen"]] == 0.7  # missing: held
    assert out[INDEX["jawLeft"]] == 0.4 and out[INDEX["eyeBlinkLeft"]] == 1.0  # clamped
    assert out[INDEX["mouthClose"]] == 0.0 and bad == 1  # NaN ignored (held at 0)
    assert unknown == ["headYaw"]
    with pytest.raises(EmotalkError, match="names but"):
        merge_named(prev, ["jawOpen"], [0.1, 0.2])
    with pytest.raises(EmotalkError, match="no ARKit blendshape"):
        merge_named(prev, ["foo"], [0.1])


# ------------------------------------------------------------------------------------------
# validation
# ------------------------------------------------------------------------------------------

def _bad(mutate):
    d = small_rig()
    mutate(d)
    return d


BAD_RIGS = [
    (lambda d: d["motors"][0].update(min=2000, max=1000), ["corner_l", "min"]),
    (lambda d: d["motors"][0].update(max=1000), ["corner_l", "min", "max"]),
    (lambda d: d["motors"][0].update(neutral=2500), ["corner_l", "neutral"]),
    (lambda d: d["motors"][0]["input"].update(jawOpenn=1.0), ["corner_l", "jawOpenn"]),
    (lambda d: d["motors"][1].update(mirror="nobody"), ["corner_r", "nobody"]),
    (lambda d: d["motors"][0].pop("max_velocity"), ["corner_l", "max_velocity"]),
    (lambda d: d["motors"][0].update(max_acceleration=0), ["corner_l", "max_acceleration"]),
    (lambda d: d["motors"][0].update(max_velocity=NAN), ["corner_l", "max_velocity"]),
    (lambda d: d["motors"][0].update(min="low"), ["corner_l", "min"]),
    (lambda d: d["motors"][0].update(curve=[[0, 0], [0, 1]]), ["corner_l", "curve"]),
    (lambda d: d["motors"][0].update(curve=[[0, 0], [1, 1.5]]), ["corner_l", "curve"]),
    (lambda d: d["motors"][0].update(curve=[[0, 0]]), ["corner_l", "curve"]),
    (lambda d: d["motors"][0].update(curve_units="degrees"), ["corner_l", "curve_units"]),
    (lambda d: d["motors"][0].update(deadband=-1), ["corner_l", "deadband"]),
    (lambda d: d["motors"][0].update(invert="yes"), ["corner_l", "invert"]),
    (lambda d: d["motors"][0].update(max_vel=3), ["corner_l", "max_vel"]),
    (lambda d: d["motors"][0].update(input={}), ["corner_l", "input"]),
    (lambda d: d["motors"][0].update(input={"jawOpen": 1, "JawOpen": 1}), ["corner_l", "jawOpen"]),
    (lambda d: d["motors"][1].update(name="corner_l"), ["corner_l", "duplicate"]),
    (lambda d: d["motors"].append({"name": "x", "mirror": "corner_r"}), ["'x'", "mirror"]),
    (lambda d: d["motors"][0].pop("name"), ["motors[0]", "name"]),
    (lambda d: d.update(motors=[]), ["motors"]),
    (lambda d: d["safety"].update(stale_timeout_s=0), ["safety", "stale_timeout_s"]),
    (lambda d: d["safety"].update(filter={"type": "kalman"}), ["filter", "kalman"]),
    (lambda d: d["safety"].update(filter={"type": "one_euro", "beta": -1}), ["filter", "beta"]),
    (lambda d: d.update(motrs=[]), ["motrs"]),
]


@pytest.mark.parametrize("mutate,words", BAD_RIGS)
def test_rig_validation_names_motor_and_field(mutate, words):
    d = _bad(mutate)
    with pytest.raises(EmotalkError) as exc:
        Rig.from_dict(d, source="test.yaml")
    msg = str(exc.value)
    assert "test.yaml" in msg
    for w in words:
        assert w in msg, (w, msg)


def test_valid_rig_is_not_rejected():
    Rig.from_dict(small_rig())  # the base of every BAD_RIGS case is itself valid


def test_load_errors(tmp_path):
    with pytest.raises(EmotalkError, match="not found"):
        Rig.load(str(tmp_path / "missing.yaml"))
    p = tmp_path / "bad.yaml"
    p.write_text("motors: [ {name: a\n")
    with pytest.raises(EmotalkError, match="YAML"):
        Rig.load(str(p))


def test_save_load_round_trip(tmp_path):
    rig = Rig.load("morpheus_head")
    p = tmp_path / "rig.yaml"
    rig.save(str(p))
    back = Rig.load(str(p))
    assert back.motor_names == rig.motor_names
    b = np.random.default_rng(3).random(NUM_BLENDSHAPES)
    np.testing.assert_allclose(Retargeter(back).map(b), Retargeter(rig).map(b), atol=1e-12)


# ------------------------------------------------------------------------------------------
# safety stage: hard limits under adversarial input
# ------------------------------------------------------------------------------------------

DTS = [0.0, -0.01, NAN, INF, -INF, 1e-9, 1e-6, 1e-3, 1 / 60, 0.02, 0.1, 0.5, 3.0, 1e3, 1e7]
MODES = ["uniform", "extreme", "special", "raw", "raw_special", "none", "none", "exit", "resume"]


def check_limits(rig, outputs, dts, v0=0.0, p0=None):
    """Assert range, per-step velocity and acceleration bounds over a command sequence.

    Velocity v_k = (c_k - c_{k-1}) / dt_k, acceleration (v_k - v_{k-1}) / dt_k, over the
    steps with finite dt > 0 (others must leave the command unchanged). Tolerance: float
    rounding of the positions (a few ulps) divided by dt, plus 1e-9 relative.
    """
    lo, hi = rig.lower, rig.upper
    vmax, amax = rig.max_velocity, rig.max_acceleration
    ulp = 4 * np.spacing(np.maximum(np.abs(lo), np.abs(hi)))
    prev = rig.neutral.copy() if p0 is None else np.asarray(p0, float)
    vprev = np.zeros(len(lo)) + v0
    for c, dt in zip(outputs, dts):
        assert c.shape == lo.shape and np.all(np.isfinite(c))
        assert np.all(c >= lo) and np.all(c <= hi)
        if not (math.isfinite(dt) and dt > 0):
            assert np.array_equal(c, prev)
            continue
        dp = c - prev
        assert np.all(np.abs(dp) <= vmax * dt * (1 + 1e-9) + ulp), (dp, vmax * dt)
        v = dp / dt
        assert np.all(np.abs(v - vprev) <= amax * dt * (1 + 1e-9) + 1e-9 * vmax + ulp / dt), \
            (v, vprev, amax * dt)
        prev, vprev = c, v


def adversarial(draw, m):
    mode = draw(st.sampled_from(MODES))
    seed = draw(st.integers(0, 2**32 - 1))
    dt = draw(st.one_of(st.sampled_from(DTS), st.floats(1e-4, 0.05)))
    return mode, seed, dt


@st.composite
def sequences(draw, m):
    n = draw(st.integers(1, 120))
    return [adversarial(draw, m) for _ in range(n)]


def _vector(mode, seed, n, lo=0.0, hi=1.0):
    rng = np.random.default_rng(seed)
    if mode in ("uniform", "raw"):
        return lo + (hi - lo) * rng.random(n)
    if mode == "extreme":
        return np.where(rng.random(n) < 0.5, lo, hi).astype(float)
    specials = np.array([NAN, INF, -INF, 1e300, -1e300, hi + 10 * (hi - lo), lo - 5])
    v = lo + (hi - lo) * rng.random(n)
    pick = rng.random(n) < 0.5
    v[pick] = specials[rng.integers(0, len(specials), pick.sum())]
    return v


def drive(r, rig, seq):
    outs, dts = [], []
    for mode, seed, dt in seq:
        if mode == "exit":
            r.ease_to_neutral(0.3)
            target = None
        elif mode == "resume":
            r.resume()
            target = None
        elif mode == "none":
            target = None
        elif mode.startswith("raw"):
            lo, hi = rig.lower, rig.upper
            target = _vector("raw" if mode == "raw" else "special", seed, len(rig), 0.0, 1.0)
            target = np.where(np.isfinite(target) & (np.abs(target) < 2), lo + target * (hi - lo),
                              target)
        else:
            target = r.map(_vector(mode, seed, NUM_BLENDSHAPES))
        outs.append(r.step(target, dt))
        dts.append(dt)
    return outs, dts


# No shrinking: a failure is reported at once with its (unshrunk) example instead of
# minutes of shrinking long sequences; no example database is written into the repo.
PROP = settings(max_examples=60, deadline=None, database=None,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@pytest.mark.parametrize("name", EXAMPLE_RIGS)
@PROP
@given(data=st.data())
def test_limits_hold_under_adversarial_input_example_rigs(name, data):
    rig = Rig.load(name)
    seq = data.draw(sequences(len(rig)))
    r = Retargeter(rig)
    outs, dts = drive(r, rig, seq)
    check_limits(rig, outs, dts)


@PROP
@given(data=st.data(), ftype=st.sampled_from(["none", "one_euro", "critically_damped"]),
       deadband=st.sampled_from([0.0, 5.0, 200.0]), start=st.floats(1000, 2000))
def test_limits_hold_for_every_filter_and_initial_pose(data, ftype, deadband, start):
    d = small_rig(filter={"type": ftype}, soft_start_s=0.2)
    for mo in d["motors"][:1]:
        mo["deadband"] = deadband
        mo["max_acceleration"] = 500.0  # slow braking: stopping distance > range at speed
    rig = Rig.from_dict(d)
    seq = data.draw(sequences(len(rig)))
    r = Retargeter(rig, initial=np.array([start, 3000.0]))  # second clamped into range
    outs, dts = drive(r, rig, seq)
    check_limits(rig, outs, dts, p0=[start, 2000.0])


def test_check_limits_catches_violations():
    """The checker itself must fail on a jump, an overspeed and an out-of-range command."""
    rig = Rig.from_dict(small_rig())
    n = rig.neutral
    with pytest.raises(AssertionError):
        check_limits(rig, [n + [30.0, 0.0]], [0.01])  # 3000 us/s > 2000
    with pytest.raises(AssertionError):
        check_limits(rig, [n + [1.0, 0.0]], [0.001])  # accel 1e6 > 2e4... from rest
    with pytest.raises(AssertionError):
        check_limits(rig, [np.array([2001.0, 1500.0])], [100.0])
    with pytest.raises(AssertionError):
        check_limits(rig, [n + [1.0, 0.0]], [0.0])  # moved with dt = 0


def test_bang_bang_targets_respect_limits_and_reach_target():
    rig = Rig.from_dict(small_rig())
    r = Retargeter(rig)
    seq = []
    for k in range(600):
        tgt = np.array([2000.0, 1000.0]) if (k // 100) % 2 == 0 else np.array([1000.0, 2000.0])
        seq.append((tgt, 0.01 if k % 7 else 0.003))
    outs = run_steps(r, seq)
    check_limits(rig, outs, [dt for _, dt in seq])
    np.testing.assert_allclose(outs[-1], [1000.0, 2000.0], atol=1e-6)
    # it really moves at the velocity limit somewhere (the limits are active, not idle)
    v = np.abs(np.diff(np.array(outs)[:, 0])) / 0.01
    assert v.max() > 0.9 * 2000


def test_huge_gap_moves_no_further_than_one_max_step():
    rig = Rig.from_dict(small_rig())
    r = Retargeter(rig)
    r.step(np.array([2000.0, 1000.0]), 0.01)
    p = r.position
    c = r.step(np.array([2000.0, 1000.0]), 1000.0)
    assert np.all(np.abs(c - p) <= rig.max_velocity * rig.safety.max_step_dt_s + 1e-9)


def test_bad_dt_leaves_state_and_nan_target_holds():
    rig = Rig.from_dict(small_rig())
    r = Retargeter(rig)
    for _ in range(30):
        r.step(np.array([1800.0, 1200.0]), 0.01)
    p, v = r.position, r.velocity
    for dt in (0.0, -1.0, NAN, INF):
        np.testing.assert_array_equal(r.step(np.array([1000.0, 2000.0]), dt), p)
    np.testing.assert_array_equal(r.velocity, v)
    r2 = Retargeter(rig)
    for _ in range(300):
        r2.step(np.array([1800.0, 1200.0]), 0.01)
    for _ in range(100):
        out = r2.step(np.array([NAN, NAN]), 0.01)  # NaN: hold the previous target
    np.testing.assert_allclose(out, [1800.0, 1200.0], atol=1e-6)
    assert r2.counts["nonfinite"].tolist() == [100, 100]
    with pytest.raises(EmotalkError, match="2 values"):
        r2.step(np.zeros(3), 0.01)


# ------------------------------------------------------------------------------------------
# watchdog, soft start, exit ease, deadband, filter causality
# ------------------------------------------------------------------------------------------

def test_watchdog_eases_to_neutral_then_resumes():
    rig = Rig.from_dict(small_rig(stale_timeout_s=0.3, stale_ease_s=0.5, soft_start_s=0.2))
    r = Retargeter(rig)
    tgt = np.array([1900.0, 1100.0])
    for _ in range(200):
        r.step(tgt, 0.01)
    np.testing.assert_allclose(r.position, tgt, atol=1e-6)
    outs = []
    for k in range(150):  # 1.5 s of no input
        outs.append(r.step(None, 0.01))
        if k == 25:  # 0.26 s < stale_timeout: still holding the last target
            assert not r.stale
            np.testing.assert_allclose(outs[-1], tgt, atol=1e-6)
    assert r.stale and r.input_age_s > 1.0
    np.testing.assert_allclose(outs[-1], rig.neutral, atol=1e-6)
    assert r.at_neutral
    # the ease is gradual: no step is larger than a few percent of the travel
    assert np.abs(np.diff(np.array(outs)[:, 0])).max() < 0.05 * 400
    # fresh input resumes tracking softly
    first = r.step(tgt, 0.01)
    assert not r.stale
    assert abs(first[0] - 1500.0) < 5.0
    for _ in range(100):
        out = r.step(tgt, 0.01)
    np.testing.assert_allclose(out, tgt, atol=1e-6)


def test_no_input_at_all_goes_to_neutral_from_initial_pose():
    rig = Rig.from_dict(small_rig(soft_start_s=0.5))
    r = Retargeter(rig, initial=np.array([1100.0, 1900.0]))
    assert r.step(None, 0.01)[0] < 1101.0  # starts where the motors are
    for _ in range(300):
        out = r.step(None, 0.01)
    np.testing.assert_allclose(out, rig.neutral, atol=1e-6)


def test_soft_start_eases_in_from_initial_pose():
    tgt = np.array([1900.0, 1900.0])
    init = np.array([1100.0, 1100.0])

    def trajectory(soft):
        rig = Rig.from_dict(small_rig(soft_start_s=soft))
        r = Retargeter(rig, initial=init)
        return np.array([r.step(tgt, 0.01) for _ in range(250)])

    soft, hard = trajectory(1.5), trajectory(0.0)
    assert abs(soft[0, 0] - 1100.0) < 1.0  # no jump at start
    # with the soft start it is much slower to leave the start pose ...
    assert soft[20, 0] - 1100 < 0.25 * (hard[20, 0] - 1100)
    # ... but gets there in the end
    np.testing.assert_allclose(soft[-1], tgt, atol=1e-6)


def test_exit_ease_to_neutral_ignores_input_until_resume():
    rig = Rig.from_dict(small_rig())
    r = Retargeter(rig)
    tgt = np.array([1950.0, 1050.0])
    for _ in range(200):
        r.step(tgt, 0.01)
    r.ease_to_neutral(0.4)
    assert r.exiting and not r.at_neutral
    n = 0
    while not r.at_neutral:
        out = r.step(tgt, 1 / 60)  # input keeps coming; it is ignored
        n += 1
        assert n < 200
    np.testing.assert_allclose(out, rig.neutral, atol=1e-3)
    assert 0.4 <= n / 60 < 1.5
    r.resume()
    for _ in range(200):
        out = r.step(tgt, 0.01)
    np.testing.assert_allclose(out, tgt, atol=1e-6)


def test_deadband_suppresses_small_jitter():
    def final_moves(deadband):
        d = small_rig()
        d["motors"][0]["deadband"] = deadband
        r = Retargeter(Rig.from_dict(d))
        rng = np.random.default_rng(0)
        outs = [r.step(np.array([1600.0 + rng.uniform(-3, 3), 1500.0]), 0.01) for _ in range(400)]
        return np.abs(np.diff(np.array(outs)[200:, 0])).sum()

    assert final_moves(10.0) == 0.0
    assert final_moves(0.0) > 10.0


@pytest.mark.parametrize("ftype", ["one_euro", "critically_damped"])
def test_filter_is_causal_and_smooths(ftype):
    def fast(d):  # limits far above the signal, so only the filter smooths
        for mo in d["motors"][:1]:
            mo.update(max_velocity=1e6, max_acceleration=1e9)
        return Rig.from_dict(d)

    rig = fast(small_rig(filter={"type": ftype}))
    rng = np.random.default_rng(5)
    base = [np.array([1500.0 + 300 * math.sin(k / 10), 1500.0]) for k in range(100)]
    other = base[:60] + [np.array([1000.0 + 1000 * rng.random(), 2000.0]) for _ in range(40)]
    a = run_steps(Retargeter(rig), [(t, 0.01) for t in base])
    b = run_steps(Retargeter(rig), [(t, 0.01) for t in other])
    np.testing.assert_array_equal(np.array(a[:60]), np.array(b[:60]))  # future never leaks
    assert not np.array_equal(np.array(a[60:]), np.array(b[60:]))
    # a noisy hold is smoothed compared with no filter
    noisy = [(np.array([1500.0 + rng.uniform(-100, 100), 1500.0]), 0.01) for _ in range(300)]
    filt = np.array(run_steps(Retargeter(rig), noisy))[100:, 0]
    raw = np.array(run_steps(Retargeter(fast(small_rig())), noisy))[100:, 0]
    assert raw.std() > 50.0  # unfiltered: the noise goes through
    assert filt.std() < 0.5 * raw.std()
