"""The procedural articulation teacher: closure, coarticulation, rest, emotion response and closure
at
any emotion."""

import numpy as np
import pytest

from emotalk_ros.animation import teacher
from emotalk_ros.core.blendshapes import INDEX, NAMES
from emotalk_ros.core.emotions import EXPRESSIVE, EXPRESSIVE_INDEX
from emotalk_ros.errors import EmotalkError
from emotalk_ros.training import metrics

RATE = 100.0


def seq(spec, t0=0.0):
    """[('sil', 0.3), ('aa', 0.12), ...] -> [(start, end, phone), ...] tiling from t0."""
    out, t = [], t0
    for ph, dur in spec:
        out.append((t, t + dur, ph))
        t += dur
    return out


def render(phones, emotion=None, intensity=1.0, rate=RATE):
    s, e, p = teacher.phones_from_names(phones)
    T = int(np.ceil(phones[-1][1] * rate))
    alpha = np.zeros((T, 7), np.float32)
    if emotion is not None:
        alpha[:, EXPRESSIVE_INDEX[emotion]] = intensity
    return teacher.render(s, e, p, alpha, rate=rate)


def at(frames, t, name, rate=RATE):
    return float(frames[int(round(t * rate)), INDEX[name]])


def mid(phone):
    return 0.5 * (phone[0] + phone[1])


# a sentence-like sequence with every bilabial, rounding, spreading, f/v, th and pauses
SENTENCE = seq([("sil", 0.30), ("b", 0.06), ("aa", 0.14), ("b", 0.05), ("m", 0.07), ("ey", 0.12),
                ("d", 0.05), ("ah", 0.06), ("m", 0.08), ("ae", 0.11), ("p", 0.09), ("ah", 0.07),
                ("v", 0.06), ("dh", 0.05), ("ah", 0.04), ("m", 0.09), ("uw", 0.20), ("n", 0.09),
                ("sil", 0.25), ("s", 0.09), ("iy", 0.12), ("f", 0.10), ("ay", 0.18), ("v", 0.07),
                ("p", 0.05), ("aa", 0.10), ("m", 0.06), ("z", 0.10), ("sil", 0.35)])


def test_shape_range_dtype_and_determinism():
    f1 = render(SENTENCE)
    f2 = render(SENTENCE)
    assert f1.dtype == np.float32 and f1.shape == (int(np.ceil(SENTENCE[-1][1] * RATE)), 52)
    assert f1.min() >= 0.0 and f1.max() <= 1.0
    np.testing.assert_array_equal(f1, f2)


def test_bilabials_close_with_lips_sealed_against_the_jaw():
    f = render(SENTENCE)
    ap = metrics.aperture(f)
    vowel_open = ap.max()
    for ph in SENTENCE:
        if ph[2] not in ("p", "b", "m"):
            continue
        j = int(round(mid(ph) * RATE))
        assert ap[j] < 0.05 * vowel_open, ph
        jaw, close = f[j, INDEX["jawOpen"]], f[j, INDEX["mouthClose"]]
        assert close >= 0.9 * jaw, ph
        assert f[j, INDEX["mouthUpperUpLeft"]] < 0.02 and f[j, INDEX["mouthLowerDownLeft"]] < 0.02
        assert f[j, INDEX["mouthPressLeft"]] > 0.15, ph
    m = metrics.lip_sync_metrics(f, RATE, SENTENCE)
    assert m["bilabial_closure"] == 1.0 and m["n_bilabial"] == 8


def test_fast_speech_still_closes_but_vowels_still_open():
    # 40 ms bilabials between 60 ms vowels: closure must be reached, vowels must still open
    spec = [("sil", 0.3)] + [("m", 0.04), ("aa", 0.06), ("b", 0.04), ("ae", 0.06), ("p", 0.04),
                             ("ah", 0.06)] * 3 + [("sil", 0.3)]
    phones = seq(spec)
    f = render(phones)
    m = metrics.lip_sync_metrics(f, RATE, phones)
    assert m["n_bilabial"] == 9 and m["bilabial_closure"] == 1.0
    assert m["n_open_vowel"] == 9 and m["open_vowel_opening"] == 1.0
    ap = metrics.aperture(f)
    for ph in phones:
        if ph[2] in ("aa", "ae", "ah"):
            assert ap[int(round(mid(ph) * RATE))] > 0.25


def test_lip_sync_metrics_on_a_sentence():
    f = render(SENTENCE)
    m = metrics.lip_sync_metrics(f, RATE, SENTENCE)
    assert m["open_vowel_opening"] == 1.0
    assert m["n_pauses"] == 3 and m["silence_closure"] <= 0.05
    assert m["aperture_correlation"] >= 0.7


def test_rounding_is_anticipated():
    # /s t uw/ vs /s t iy/: the lips round during /s t/, before /uw/ starts
    rounded = seq([("sil", 0.3), ("s", 0.10), ("t", 0.06), ("uw", 0.16), ("sil", 0.3)])
    spread = seq([("sil", 0.3), ("s", 0.10), ("t", 0.06), ("iy", 0.16), ("sil", 0.3)])
    fr, fs = render(rounded), render(spread)
    uw_start, peak = rounded[3][0], fr[:, INDEX["mouthPucker"]].max()
    before = uw_start - 0.04
    assert peak > 0.4
    assert at(fr, before, "mouthPucker") > 0.3 * peak
    assert at(fr, before, "mouthPucker") > at(fs, before, "mouthPucker") + 0.1
    # it rises through the consonants (monotonic onset) and is higher at /uw/ than at /s/
    assert at(fr, uw_start, "mouthPucker") > at(fr, mid(rounded[1]), "mouthPucker") > 0.05
    # and the lips rest unrounded deep in the leading pause
    assert at(fr, 0.1, "mouthPucker") < 0.1


def test_silence_rests_and_no_blink_or_gaze():
    f = render(SENTENCE)
    ap = metrics.aperture(f)
    for ph in SENTENCE:
        if ph[2] == "sil" and ph[1] - ph[0] >= 0.25:
            j0, j1 = int((ph[0] + 0.08) * RATE), int((ph[1] - 0.08) * RATE)
            assert ap[j0:j1].max() < 0.02 and f[j0:j1, INDEX["jawOpen"]].max() < 0.03
    eyes = [i for i, n in enumerate(NAMES) if n.startswith(("eyeBlink", "eyeLook"))]
    for emo in (None,) + EXPRESSIVE:
        assert render(SENTENCE, emo)[:, eyes].max() == 0.0


def test_viseme_shapes():
    phones = seq([("sil", 0.3), ("f", 0.1), ("aa", 0.15), ("th", 0.1), ("iy", 0.15), ("w", 0.08),
                  ("eh", 0.15), ("l", 0.1), ("uw", 0.15), ("sil", 0.3)])
    f = render(phones)
    f_ph, aa, th, iy, eh, uw = phones[1], phones[2], phones[3], phones[4], phones[6], phones[8]
    # /f/: lower lip rolled in, small jaw
    assert at(f, mid(f_ph), "mouthRollLower") > 0.4 and at(f, mid(f_ph), "jawOpen") < 0.15
    assert at(f, mid(aa), "mouthRollLower") < 0.1
    # /th/: a little tongue, none in the vowels
    assert 0.1 < at(f, mid(th), "tongueOut") < 0.5 and at(f, mid(aa), "tongueOut") < 0.03
    # /iy/ spreads, /uw/ rounds
    assert at(f, mid(iy), "mouthStretchLeft") > at(f, mid(aa), "mouthStretchLeft") + 0.15
    assert at(f, mid(uw), "mouthPucker") > 0.4 and at(f, mid(iy), "mouthPucker") < 0.15
    # jaw follows vowel height
    assert at(f, mid(aa), "jawOpen") > at(f, mid(eh), "jawOpen") > at(f, mid(iy), "jawOpen")


@pytest.mark.parametrize("emotion", EXPRESSIVE)
def test_emotion_response_monotonic_and_continuous(emotion):
    means = [metrics.emotion_group_mean(render(SENTENCE, emotion, a), emotion)
             for a in np.round(np.linspace(0, 1, 11), 2)]
    ok, margin = metrics.emotion_response([means[0], means[5], means[10]])
    assert ok and margin >= 0.25, (means, margin)
    ok, ratio = metrics.continuity(means)
    assert ok and ratio <= 1.5, (means, ratio)


@pytest.mark.parametrize("emotion", EXPRESSIVE)
def test_bilabial_closure_at_full_intensity(emotion):
    neutral = metrics.lip_sync_metrics(render(SENTENCE), RATE, SENTENCE)
    f = render(SENTENCE, emotion, 1.0)
    m = metrics.lip_sync_metrics(f, RATE, SENTENCE)
    assert abs(m["bilabial_closure"] - neutral["bilabial_closure"]) <= 0.05
    assert m["silence_closure"] <= 0.05 and m["open_vowel_opening"] == 1.0
    for ph in SENTENCE:
        if ph[2] in ("p", "b", "m"):
            j = int(round(mid(ph) * RATE))
            # lips follow the total jaw (incl. the AU26 drop) and the AU10 raise is suppressed
            assert f[j, INDEX["mouthClose"]] >= 0.9 * f[j, INDEX["jawOpen"]]
            assert f[j, INDEX["mouthUpperUpLeft"]] < 0.05


def test_emotion_changes_articulation():
    speech = np.zeros(int(np.ceil(SENTENCE[-1][1] * RATE)), bool)
    for t0, t1, ph in SENTENCE:
        if ph != "sil":
            speech[int(t0 * RATE):int(t1 * RATE)] = True
    neutral = render(SENTENCE)
    happy, sad = render(SENTENCE, "happy"), render(SENTENCE, "sad")
    angry, surprised = render(SENTENCE, "angry"), render(SENTENCE, "surprised")
    jaw = INDEX["jawOpen"]
    stretch = INDEX["mouthStretchLeft"]
    assert happy[speech, stretch].mean() > neutral[speech, stretch].mean() + 0.1
    assert sad[:, jaw].max() < 0.8 * neutral[:, jaw].max()
    assert surprised[:, jaw].max() > neutral[:, jaw].max() + 0.1
    b = int(round(mid(SENTENCE[1]) * RATE))
    press = INDEX["mouthPressLeft"]
    assert angry[b, press] > neutral[b, press] + 0.3


def test_expression_is_linear_in_alpha():
    a = np.zeros((3, 7), np.float32)
    a[:, EXPRESSIVE_INDEX["happy"]] = [0.2, 0.5, 0.6]
    a[:, EXPRESSIVE_INDEX["surprised"]] = [0.0, 0.3, 0.4]
    e = teacher.expression(a)
    expected = a @ teacher.PROTOTYPES
    np.testing.assert_allclose(e, expected, atol=1e-6)
    assert e.shape == (3, 52)
    # contempt is unilateral (right side)
    c = teacher.expression(np.eye(7, dtype=np.float32)[[EXPRESSIVE_INDEX["contempt"]]])
    assert c[0, INDEX["mouthSmileRight"]] > 0.3 and c[0, INDEX["mouthSmileLeft"]] == 0.0


def test_blockwise_blending_matches_dense():
    lab, ss, ee = teacher._segments(*teacher.phones_from_names(SENTENCE))
    times = np.arange(300) / RATE
    np.testing.assert_allclose(teacher._blend(times, lab, ss, ee, block=7),
                               teacher._blend(times, lab, ss, ee, block=1000), atol=1e-6)


def test_frame_rate_is_respected():
    f100 = render(SENTENCE, rate=100.0)
    f60 = render(SENTENCE, rate=60.0)
    # the same time instant depicts the same face at any rate
    for t in (0.45, 0.6, 1.2):
        assert abs(at(f100, t, "jawOpen", 100.0) - at(f60, t, "jawOpen", 60.0)) < 1e-5


def test_bad_input_raises():
    s, e, p = teacher.phones_from_names(SENTENCE)
    with pytest.raises(EmotalkError):
        teacher.render(s, e, p, np.zeros((10, 6), np.float32))
    with pytest.raises(EmotalkError):
        teacher.render(s, e[:-1], p, np.zeros((10, 7), np.float32))
    with pytest.raises(EmotalkError):
        teacher.render(s, e, p + 1000, np.zeros((10, 7), np.float32))
    with pytest.raises(EmotalkError):
        teacher.render(s, e, p, np.zeros((10, 7), np.float32), rate=0.0)
    with pytest.raises(EmotalkError):
        teacher.phones_from_names([(0.0, 0.1, "xx")])
    assert teacher.render(s, e, p, np.zeros((0, 7), np.float32)).shape == (0, 52)
