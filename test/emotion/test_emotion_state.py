"""EmotionState transitions (continuity, easing, strength, clipping) and EmotionTrack replay."""

import json

import numpy as np
import pytest

from emotalk_ros.core.easing import ease_curve
from emotalk_ros.core.emotions import EXPRESSIVE_INDEX
from emotalk_ros.emotion.command import parse_emotion_command as cmd
from emotalk_ros.emotion.state import EmotionState, EmotionTrack
from emotalk_ros.errors import EmotalkError

H = EXPRESSIVE_INDEX["happy"]
S = EXPRESSIVE_INDEX["sad"]


def test_starts_neutral_and_reaches_target():
    st = EmotionState(transition_s=0.5)
    np.testing.assert_array_equal(st.at(0.0), np.zeros(7, np.float32))
    st.command(cmd("happy:0.8"), now=1.0)
    np.testing.assert_allclose(st.target(), cmd("happy:0.8").alpha)
    assert st.at(1.0)[H] == pytest.approx(0.0)
    assert 0.0 < st.at(1.25)[H] < 0.8
    assert st.at(1.5)[H] == pytest.approx(0.8)
    assert st.at(10.0)[H] == pytest.approx(0.8)
    # Times before the command time give the value at the command time.
    assert st.at(0.2)[H] == pytest.approx(0.0)


@pytest.mark.parametrize("ease", ["linear", "smooth"])
def test_easing_shape(ease):
    st = EmotionState(transition_s=1.0, ease=ease)
    st.command(cmd("sad"), now=0.0)
    t = np.linspace(0, 1, 101)
    v = st.at_many(t)[:, S]
    assert np.all(np.diff(v) >= -1e-7)
    assert v[50] == pytest.approx(0.5, abs=1e-6)
    if ease == "linear":
        np.testing.assert_allclose(v, t, atol=1e-6)
    else:
        # smooth: starts and ends with zero slope
        assert v[1] < 0.01 and v[-2] > 0.99
        assert np.abs(np.diff(v)).max() <= 1.875 * 0.01 + 1e-6


def test_command_overrides_defaults_and_step():
    st = EmotionState(transition_s=2.0, ease="smooth")
    st.command(cmd("happy transition=0"), now=3.0)
    assert st.at(3.0)[H] == pytest.approx(1.0)
    assert st.at(2.0)[H] == pytest.approx(1.0)   # before the command time: value at it
    st.command(cmd("happy:0.5 transition=1 ease=linear"), now=4.0)
    assert st.at(4.5)[H] == pytest.approx(0.75)


def test_mid_transition_command_has_no_jump():
    st = EmotionState(transition_s=1.0, ease="smooth")
    st.command(cmd("happy"), now=0.0)
    before = st.at(0.4)
    st.command(cmd("sad:0.9 transition=0.6"), now=0.4)
    after = st.at(0.4)
    np.testing.assert_allclose(after, before, atol=1e-6)   # continuity at the command time
    dt = 1.0 / 120.0
    t = np.arange(0.0, 2.0, dt)
    # A fresh replay, so the whole trajectory (before and after the switch) is evaluated.
    st2 = EmotionState(transition_s=1.0, ease="smooth")
    st2.command(cmd("happy"), now=0.0)
    v1 = st2.at_many(t[t < 0.4])
    st2.command(cmd("sad:0.9 transition=0.6"), now=0.4)
    v2 = st2.at_many(t[t >= 0.4])
    v = np.concatenate([v1, v2])
    steps = np.abs(np.diff(v, axis=0)).max()
    # Bounded by the steepest eased slope of the larger transition (1.875 / 0.6 s per unit).
    assert steps <= 1.875 / 0.6 * dt * 1.0 + 1e-6
    assert v[-1, S] == pytest.approx(0.9) and v[-1, H] == pytest.approx(0.0)


def test_out_of_order_command_time_is_clamped():
    st = EmotionState(transition_s=1.0, ease="linear")
    st.command(cmd("happy"), now=5.0)
    st.command(cmd("sad transition=1"), now=4.0)   # earlier stamp: applied at 5.0
    assert st.at(5.0)[S] == pytest.approx(0.0) and st.at(6.0)[S] == pytest.approx(1.0)


def test_intensity_zero_equals_neutral():
    a = EmotionState(transition_s=0.3)
    b = EmotionState(transition_s=0.3)
    a.command(cmd("happy:0.7"), 0.0)
    b.command(cmd("happy:0.7"), 0.0)
    a.command(cmd("happy:0 sad:0"), 1.0)
    b.command(cmd("neutral"), 1.0)
    t = np.linspace(0.0, 3.0, 200)
    np.testing.assert_array_equal(a.at_many(t), b.at_many(t))
    np.testing.assert_array_equal(a.at(3.0), np.zeros(7, np.float32))


def test_emotion_strength_scales_and_clips():
    st = EmotionState(transition_s=0.0, emotion_strength=0.5)
    st.command(cmd("happy:0.8 sad:0.4"), 0.0)
    np.testing.assert_allclose(st.at(1.0)[[H, S]], [0.4, 0.2], atol=1e-6)
    st.emotion_strength = 2.0
    np.testing.assert_allclose(st.at(1.0)[[H, S]], [1.0, 0.8], atol=1e-6)  # clipped at max 1
    st.max_intensity = 1.5
    np.testing.assert_allclose(st.at(1.0)[[H, S]], [1.5, 0.8], atol=1e-6)
    st.emotion_strength = 0.0
    np.testing.assert_array_equal(st.at(1.0), np.zeros(7, np.float32))


def test_params_validated():
    st = EmotionState()
    for attr, bad in (
        ("transition_s", -1.0),
        ("transition_s", float("nan")),
        ("ease", "bouncy"),
        ("emotion_strength", -0.1),
        ("emotion_strength", 5.0),
        ("max_intensity", 0.5),
    ):
        with pytest.raises(EmotalkError, match=attr):
            setattr(st, attr, bad)
    with pytest.raises(EmotalkError):
        st.set_params(transition_s=0.2, emotion_strength=9.0)
    assert st.transition_s == 0.5   # nothing applied
    st.set_params(transition_s=0.2, ease="linear", emotion_strength=1.5, max_intensity=1.2)
    assert (st.transition_s, st.ease, st.emotion_strength, st.max_intensity) == (
        0.2,
        "linear",
        1.5,
        1.2,
    )
    with pytest.raises(EmotalkError):
        EmotionState(ease="cubic")


def test_at_many_matches_at():
    st = EmotionState(transition_s=0.7)
    st.command(cmd("angry:0.6 fear:0.3"), 0.2)
    st.command(cmd("surprised"), 0.5)
    t = np.linspace(-1.0, 2.0, 77)
    many = st.at_many(t)
    assert many.shape == (77, 7) and many.dtype == np.float32
    np.testing.assert_array_equal(many, np.stack([st.at(x) for x in t]))


def test_to_dict_and_json():
    st = EmotionState(transition_s=1.0, ease="linear")
    st.command(cmd("happy:0.6"), 0.0)
    d = st.to_dict(0.5)
    assert d["weights"]["happy"] == pytest.approx(0.3)
    assert d["weights"]["neutral"] == pytest.approx(0.7)
    assert d["target"]["happy"] == pytest.approx(0.6)
    assert d["transition_remaining_s"] == pytest.approx(0.5)
    assert d["emotion_strength"] == 1.0
    assert json.loads(st.to_json(2.0))["transition_remaining_s"] == 0.0


def test_ease_curve_endpoints():
    for e in ("linear", "smooth"):
        np.testing.assert_allclose(ease_curve(np.array([-1.0, 0.0, 1.0, 2.0]), e), [0, 0, 1, 1])


TRACK = [{"t": 2.5, "surprised": 0.8, "transition_s": 0.4},
         {"t": 0.0, "happy": 0.5},
         {"t": 1.0, "sad": 0.6, "ease": "linear"},
         {"t": 1.2, "va": [-0.5, -0.5], "transition_s": 0.3}]


def test_track_equals_state_replay():
    track = EmotionTrack.from_json(json.dumps(TRACK), default_transition_s=0.5)
    assert [k for k, _ in track.keys] == [0.0, 1.0, 1.2, 2.5]
    t = np.arange(-0.5, 4.0, 1.0 / 60.0)
    got = track(t)
    assert got.shape == (t.shape[0], 7) and got.dtype == np.float32
    # A live state fed the same commands at the same times, evaluated as time goes on.
    st = EmotionState(transition_s=0.5)
    keys = sorted(TRACK, key=lambda k: k["t"])
    expected = np.zeros_like(got)
    for i, key in enumerate(keys):
        fields = {k: v for k, v in key.items() if k != "t"}
        if i == 0:
            fields["transition_s"] = 0.0   # the first key sets the starting emotion
        st.command(cmd(json.dumps(fields)), key["t"])
        lo = -np.inf if i == 0 else key["t"]
        hi = keys[i + 1]["t"] if i + 1 < len(keys) else np.inf
        m = (t >= lo) & (t < hi)
        expected[m] = st.at_many(t[m])
    np.testing.assert_array_equal(got, expected)
    assert got[0, H] == pytest.approx(0.5)                     # starts in the first key's emotion
    assert got[-1, EXPRESSIVE_INDEX["surprised"]] == pytest.approx(0.8)
    assert track.duration == pytest.approx(2.9)
    # Order of the query times does not matter.
    perm = np.random.default_rng(0).permutation(t.shape[0])
    np.testing.assert_array_equal(track(t[perm]), got[perm])


def test_track_load_and_errors(tmp_path):
    p = tmp_path / "track.json"
    p.write_text(json.dumps(TRACK))
    np.testing.assert_array_equal(EmotionTrack.load(p)(np.array([3.0])),
                                  EmotionTrack.from_json(TRACK)(np.array([3.0])))
    with pytest.raises(EmotalkError, match="cannot read"):
        EmotionTrack.load(tmp_path / "missing.json")
    bad = [{"t": 0.0, "happy": 0.5}, {"t": 1.0, "hapy": 0.5}]
    with pytest.raises(EmotalkError, match=r"key 1 .*unknown emotion 'hapy'.*valid emotions"):
        EmotionTrack.from_json(bad)
    for broken, what in (([{"happy": 1}], "key 0 has no time"),
                         ([{"t": -1, "happy": 1}], "key 0"),
                         ([{"t": 0, "happy": 1}, {"t": "x", "sad": 1}], "key 1"),
                         ([], "no keys"), ("{", "invalid JSON"), ('{"happy": 1}', "list of keys")):
        with pytest.raises(EmotalkError, match=what):
            EmotionTrack.from_json(broken)
