"""The quality metrics (docs/INTERFACE.md) on hand-built frames with known answers."""

import numpy as np
import pytest

from emotalk_ros.core.blendshapes import INDEX
from emotalk_ros.core.phones import openness
from emotalk_ros.errors import EmotalkError
from emotalk_ros.training import metrics

FPS = 100.0


def seq(spec):
    out, t = [], 0.0
    for ph, dur in spec:
        out.append((t, t + dur, ph))
        t += dur
    return out


PHONES = seq([("sil", 0.30), ("b", 0.06), ("aa", 0.14), ("m", 0.08), ("iy", 0.12), ("p", 0.05),
              ("ae", 0.10), ("s", 0.08), ("ow", 0.12), ("b", 0.03), ("ah", 0.10), ("sil", 0.40)])


def n_frames(phones, fps=FPS):
    return int(round(phones[-1][1] * fps))


def jaw_frames(values):
    """(T,) jawOpen values -> (T, 52) frames with only the jaw set."""
    f = np.zeros((len(values), 52), np.float32)
    f[:, INDEX["jawOpen"]] = values
    return f


def ideal(phones, fps=FPS):
    """The 'perfect teacher': jawOpen = the phone's openness, frame by frame."""
    t = np.arange(n_frames(phones, fps)) / fps
    v = np.zeros_like(t)
    for t0, t1, ph in phones:
        v[(t >= t0 - 1e-9) & (t < t1 - 1e-9)] = openness(ph)
    return jaw_frames(v)


def test_aperture_formula():
    f = np.zeros((3, 52), np.float32)
    f[:, INDEX["jawOpen"]] = [0.5, 0.2, 0.4]
    f[:, INDEX["mouthClose"]] = [0.1, 0.3, 0.0]
    f[:, INDEX["mouthUpperUpLeft"]] = [0.2, 0.0, 0.0]
    f[:, INDEX["mouthUpperUpRight"]] = [0.4, 0.0, 0.0]
    f[:, INDEX["mouthLowerDownLeft"]] = [0.0, 0.2, 0.0]
    f[:, INDEX["mouthLowerDownRight"]] = [0.0, 0.2, 0.0]
    np.testing.assert_allclose(metrics.aperture(f), [0.4 + 0.15, 0.0 + 0.1, 0.4], atol=1e-6)
    with pytest.raises(EmotalkError):
        metrics.aperture(np.zeros((3, 51)))


def test_perfect_teacher_scores_perfectly():
    m = metrics.lip_sync_metrics(ideal(PHONES), FPS, PHONES)
    # the 30 ms /b/ is too short to be scored
    assert (m["n_bilabial_b"], m["n_bilabial_m"], m["n_bilabial_p"]) == (1, 1, 1)
    assert m["bilabial_closure"] == 1.0 and m["bilabial_closure_b"] == 1.0
    assert m["n_open_vowel"] == 3 and m["open_vowel_opening"] == 1.0
    assert m["n_pauses"] == 2 and m["silence_closure"] == 0.0
    assert m["aperture_correlation"] == pytest.approx(1.0, abs=1e-9)


def test_always_shut_mouth_does_not_score_well():
    m = metrics.lip_sync_metrics(jaw_frames(np.zeros(n_frames(PHONES))), FPS, PHONES)
    assert m["open_vowel_opening"] == 0.0
    assert m["aperture_correlation"] == 0.0


def test_always_open_mouth_never_closes():
    m = metrics.lip_sync_metrics(jaw_frames(np.full(n_frames(PHONES), 0.5)), FPS, PHONES)
    assert m["bilabial_closure"] == 0.0 and m["open_vowel_opening"] == 1.0
    assert m["silence_closure"] == pytest.approx(1.0)


def test_closure_window_is_phone_plus_minus_20ms():
    phones = seq([("sil", 0.3), ("aa", 0.2), ("m", 0.06), ("aa", 0.2), ("sil", 0.3)])
    t = np.arange(n_frames(phones)) / FPS
    base = np.where((t >= 0.3) & (t < 0.76), 0.6, 0.0)
    m_start, m_end = phones[2][0], phones[2][1]
    # closed 10 ms after the phone ends: inside the +20 ms window -> counted
    v = base.copy()
    v[int(round((m_end + 0.01) * FPS))] = 0.0
    assert metrics.lip_sync_metrics(jaw_frames(v), FPS, phones)["bilabial_closure_m"] == 1.0
    # closed only 40 ms after it: outside -> not closed
    v = base.copy()
    v[int(round((m_end + 0.04) * FPS))] = 0.0
    assert metrics.lip_sync_metrics(jaw_frames(v), FPS, phones)["bilabial_closure_m"] == 0.0
    # 'closed' means normalised aperture < 0.25 of the vowel p90 (0.6): 0.14 passes, 0.16 fails
    for val, expect in ((0.14, 1.0), (0.16, 0.0)):
        v = base.copy()
        v[int(round((m_start + 0.03) * FPS))] = val
        assert metrics.lip_sync_metrics(jaw_frames(v), FPS, phones)["bilabial_closure_m"] == expect


def test_silence_excludes_pause_edges():
    phones = seq([("aa", 0.2), ("sil", 0.30), ("aa", 0.2)])
    t = np.arange(n_frames(phones)) / FPS
    v = np.where((t < 0.2) | (t >= 0.5), 0.8, 0.0)
    # open in the first 50 ms of the pause: excluded
    v[(t >= 0.2) & (t < 0.25)] = 0.8
    m = metrics.lip_sync_metrics(jaw_frames(v), FPS, phones)
    assert m["n_pauses"] == 1 and m["silence_closure"] == 0.0
    # open at 0.4 (mid-half of the pause) for 3 frames of the 19 scored: mean 3/19 * 0.5
    v[(t >= 0.395) & (t < 0.425)] = 0.4
    m = metrics.lip_sync_metrics(jaw_frames(v), FPS, phones)
    assert m["silence_frames"] == 19
    assert m["silence_closure"] == pytest.approx(3 * 0.5 / 19)
    # a pause shorter than 150 ms is not scored
    short = seq([("aa", 0.2), ("sil", 0.14), ("aa", 0.2)])
    m = metrics.lip_sync_metrics(jaw_frames(np.full(54, 0.5)), FPS, short)
    assert m["n_pauses"] == 0 and m["silence_closure"] is None


def test_works_at_60_fps():
    m = metrics.lip_sync_metrics(ideal(PHONES, 60.0), 60.0, PHONES)
    assert m["bilabial_closure"] == 1.0 and m["open_vowel_opening"] == 1.0
    assert m["aperture_correlation"] > 0.99


def test_aggregate_pools_over_phones_not_utterances():
    a = seq([("sil", 0.2), ("aa", 0.1), ("b", 0.06), ("aa", 0.1), ("sil", 0.2)])
    b = seq([("sil", 0.2)] + [("aa", 0.1), ("m", 0.06)] * 3 + [("aa", 0.1), ("sil", 0.2)])
    ma = metrics.lip_sync_metrics(ideal(a), FPS, a)                     # 1 of 1 closed
    fb = jaw_frames(np.where(np.arange(n_frames(b)) / FPS < 0.2, 0.0, 0.7))
    fb[-20:] = 0.0
    mb = metrics.lip_sync_metrics(fb, FPS, b)                           # 0 of 3 closed
    assert (ma["bilabial_closure"], mb["bilabial_closure"]) == (1.0, 0.0)
    agg = metrics.aggregate([ma, mb])
    assert agg["n_bilabial"] == 4 and agg["bilabial_closure"] == pytest.approx(0.25)
    assert agg["bilabial_closure_b"] == 1.0 and agg["bilabial_closure_m"] == 0.0
    assert agg["bilabial_closure_p"] is None
    assert agg["n_utterances"] == 2 and agg["n_frames"] == ma["n_frames"] + mb["n_frames"]
    # pooled correlation of two perfect utterances is perfect
    assert metrics.aggregate([ma, ma])["aperture_correlation"] == pytest.approx(1.0)


def test_unknown_phone_raises():
    with pytest.raises(EmotalkError):
        metrics.lip_sync_metrics(np.zeros((10, 52)), FPS, [(0.0, 0.1, "xx")])


def test_emotion_group_mean():
    f = np.zeros((4, 52), np.float32)
    f[:, INDEX["mouthSmileRight"]] = 0.4
    f[:2, INDEX["mouthDimpleRight"]] = 0.2
    assert metrics.emotion_group_mean(f, "contempt") == pytest.approx((0.4 + 0.1) / 2)
    f[:, INDEX["cheekSquintLeft"]] = 0.8
    assert metrics.emotion_group_mean(f, "happy") == pytest.approx((0.8 + 0.4) / 4)
    with pytest.raises(EmotalkError):
        metrics.emotion_group_mean(f, "neutral")


def test_emotion_response_margin():
    assert metrics.emotion_response([0.0, 0.2, 0.4]) == (True, pytest.approx(0.4))
    ok, margin = metrics.emotion_response([0.0, 0.05, 0.1])                # too small a margin
    assert not ok and margin == pytest.approx(0.1)
    assert not metrics.emotion_response([0.0, 0.5, 0.4])[0]              # not monotonic
    assert not metrics.emotion_response([0.0, 0.0, 0.4])[0]              # not strictly rising
    with pytest.raises(EmotalkError):
        metrics.emotion_response([0.0, 1.0])


def test_continuity():
    lin = np.linspace(0.0, 0.5, 11)
    ok, ratio = metrics.continuity(lin)
    assert ok and ratio == pytest.approx(1.0)
    step = np.where(np.arange(11) >= 5, 0.5, 0.0)                          # a jump
    ok, ratio = metrics.continuity(step)
    assert not ok and ratio == pytest.approx(10.0)
    dip = lin.copy()
    dip[4] = dip[2]                                                        # not monotonic
    assert not metrics.continuity(dip)[0]
    ok, ratio = metrics.continuity(np.zeros(11))                           # flat
    assert not ok and ratio == float("inf")
    smooth = 0.5 * (np.linspace(0, 1, 11) ** 2 * (3 - 2 * np.linspace(0, 1, 11)))
    ok, ratio = metrics.continuity(smooth)                                 # smoothstep: ~1.5x
    assert ok and 1.3 < ratio < 1.6


def test_jitter():
    t = np.arange(120) / 60.0
    ramp = np.zeros((120, 52))
    ramp[:, INDEX["jawOpen"]] = 0.5 * t
    assert metrics.jitter(ramp, 60.0) == pytest.approx(0.0, abs=1e-12)
    zig = np.zeros((120, 52))
    zig[::2, INDEX["jawOpen"]] = 0.1
    mouth = len(metrics.MOUTH_SHAPES)
    assert metrics.jitter(zig, 60.0) == pytest.approx(0.2 / mouth)
    # non-mouth channels do not count
    eyes = np.zeros((120, 52))
    eyes[::2, INDEX["eyeBlinkLeft"]] = 1.0
    assert metrics.jitter(eyes, 60.0) == 0.0
    # a smooth curve sampled at 100 fps is measured at 60 fps: same as sampling at 60
    f100 = np.zeros((200, 52))
    f100[:, INDEX["jawOpen"]] = 0.3 * np.sin(2 * np.pi * 2.0 * np.arange(200) / 100.0)
    f60 = np.zeros((120, 52))
    f60[:, INDEX["jawOpen"]] = 0.3 * np.sin(2 * np.pi * 2.0 * np.arange(120) / 60.0)
    assert metrics.jitter(f100, 100.0) == pytest.approx(metrics.jitter(f60, 60.0), rel=0.03)


def test_aperture_profile_shows_a_mouth_that_shuts_on_every_consonant():
    # the perfect teacher: each class sits at its openness (normalised by the vowels' p90 = 1)
    # with no spread inside the class
    m = metrics.lip_sync_metrics(ideal(PHONES), FPS, PHONES)
    prof = m["aperture_profile"]
    assert list(prof) == list(metrics.PHONE_CLASSES)
    for cls, want in (("pause", 0.0), ("bilabial", 0.0), ("consonant", 0.25),
                      ("close vowel", 0.45), ("mid vowel", 0.7), ("open vowel", 1.0)):
        assert prof[cls]["mean"] == pytest.approx(want, abs=1e-6), cls
        assert prof[cls]["std"] == pytest.approx(0.0, abs=1e-6), cls
    assert prof["consonant"]["frames"] == 8        # the 80 ms /s/ at 100 fps
    # a mouth that shuts on /s/ as on /p b m/: the closure score cannot tell, the profile can
    v = metrics.aperture(ideal(PHONES))
    labels = [metrics.phone_class(p) for p in metrics._frame_phones(v.size, FPS, PHONES)]
    shut = np.where(np.array(labels) == "consonant", 0.0, v)
    m2 = metrics.lip_sync_metrics(jaw_frames(shut), FPS, PHONES)
    assert m2["bilabial_closure"] == m["bilabial_closure"] == 1.0
    assert m2["aperture_profile"]["consonant"]["mean"] == 0.0
    assert m2["aperture_correlation"] < m["aperture_correlation"]
    # spread inside a class: half of the open-vowel frames at half opening
    half = v.copy()
    idx = np.flatnonzero(np.array(labels) == "open vowel")[::2]
    half[idx] *= 0.5
    p3 = metrics.lip_sync_metrics(jaw_frames(half), FPS, PHONES)["aperture_profile"]
    assert p3["open vowel"]["std"] > 0.2


def test_aperture_profile_pools_frames_not_utterances():
    a = metrics.lip_sync_metrics(ideal(PHONES), FPS, PHONES)
    short = seq([("sil", 0.2), ("aa", 0.1), ("sil", 0.2)])
    b = metrics.lip_sync_metrics(jaw_frames(np.full(n_frames(short), 0.5)), FPS, short)
    pooled = metrics.aggregate([a, b])["aperture_profile"]
    # pauses: 70 frames at 0 from a, 40 frames at 1 (0.5 / p90 0.5) from b
    assert pooled["pause"]["frames"] == 110
    assert pooled["pause"]["mean"] == pytest.approx(40 / 110)
    assert pooled["open vowel"]["frames"] == 34 + 10
    assert metrics.aggregate([b])["aperture_profile"]["bilabial"] == {
        "frames": 0, "mean": None, "std": None}
