"""Emotion command grammar: every accepted form, the va map, and every error kind."""

import json
import math

import numpy as np
import pytest

from emotalk_ros.core.emotions import ALIASES, EMOTIONS, EXPRESSIVE, EXPRESSIVE_INDEX
from emotalk_ros.emotion.command import (
    EmotionCommand,
    command_from_mapping,
    parse_emotion_command,
    va_to_alpha,
)
from emotalk_ros.errors import EmotalkError


def vec(**w):
    a = np.zeros(len(EXPRESSIVE), np.float32)
    for k, v in w.items():
        a[EXPRESSIVE_INDEX[k]] = v
    return a


def test_single_name_is_full_intensity():
    c = parse_emotion_command("happy")
    assert isinstance(c, EmotionCommand)
    assert c.alpha.shape == (7,) and c.alpha.dtype == np.float32
    np.testing.assert_array_equal(c.alpha, vec(happy=1.0))
    np.testing.assert_array_equal(c.alpha, parse_emotion_command("happy:1.0").alpha)
    assert c.transition_s is None and c.ease is None and c.text == "happy"


@pytest.mark.parametrize("text", ["happy:0.6 surprised:0.3", "happy:0.6,surprised:0.3",
                                  "  HAPPY : 0.6 ,  Surprised=0.3 ", "joy:0.6 surprise:0.3"])
def test_mixtures_separators_case_and_aliases(text):
    np.testing.assert_allclose(parse_emotion_command(text).alpha, vec(happy=0.6, surprised=0.3))


@pytest.mark.parametrize("alias,canon", sorted(ALIASES.items()))
def test_every_alias(alias, canon):
    a = parse_emotion_command(f"{alias}:0.4").alpha
    expected = vec() if canon == "neutral" else vec(**{canon: 0.4})
    np.testing.assert_allclose(a, expected)


def test_transition_and_ease():
    c = parse_emotion_command("sad:0.5 transition=0.8 ease=linear")
    assert c.transition_s == pytest.approx(0.8) and c.ease == "linear"
    c = parse_emotion_command("angry, transition_s=0, ease=SMOOTH")
    assert c.transition_s == 0.0 and c.ease == "smooth"
    np.testing.assert_array_equal(c.alpha, vec(angry=1.0))


@pytest.mark.parametrize("text", ["neutral", "neutral:1", "Neutral", "calm"])
def test_neutral_resets(text):
    np.testing.assert_array_equal(parse_emotion_command(text).alpha, np.zeros(7, np.float32))


def test_neutral_weight_adds_nothing_to_a_mixture():
    np.testing.assert_allclose(
        parse_emotion_command("neutral:0.5 happy:0.5").alpha, vec(happy=0.5)
    )


def test_mixture_summing_above_one_is_allowed():
    a = parse_emotion_command("happy:0.8 surprised:0.7 angry:0.4").alpha
    assert a.sum() == pytest.approx(1.9, abs=1e-6)


def test_json_forms():
    c = parse_emotion_command(
        '{"happy": 0.6, "surprised": 0.3, "transition_s": 0.8, "ease": "smooth"}'
    )
    np.testing.assert_allclose(c.alpha, vec(happy=0.6, surprised=0.3))
    assert c.transition_s == pytest.approx(0.8) and c.ease == "smooth"
    c = parse_emotion_command('{"Joy": 0.2, "transition": 1}')
    np.testing.assert_allclose(c.alpha, vec(happy=0.2))
    assert c.transition_s == 1.0
    np.testing.assert_allclose(
        parse_emotion_command('{"va": [0.6, 0.4]}').alpha, va_to_alpha(0.6, 0.4)
    )
    np.testing.assert_allclose(command_from_mapping({"sad": 0.25, "t": 3}, skip=("t",)).alpha,
                               vec(sad=0.25))


def test_va_text_and_map():
    np.testing.assert_array_equal(parse_emotion_command("va:0,0").alpha, np.zeros(7, np.float32))
    for text in ("va:0.6,0.4", "va: 0.6, 0.4", "va:0.6 0.4", "VA=0.6,0.4 transition=0.2"):
        np.testing.assert_allclose(parse_emotion_command(text).alpha, va_to_alpha(0.6, 0.4))
    # Positive valence with some arousal -> mostly happy, some surprise.
    a = va_to_alpha(0.6, 0.4)
    assert a[EXPRESSIVE_INDEX["happy"]] > a[EXPRESSIVE_INDEX["surprised"]] > 0.1
    assert a.sum() == pytest.approx(min(1.0, math.hypot(0.6, 0.4)), abs=1e-5)
    # The quadrants land where the circumplex puts them.
    def top(v, ar):
        return EXPRESSIVE[int(np.argmax(va_to_alpha(v, ar)))]
    assert top(1.0, 0.2) == "happy"
    assert top(0.3, 1.0) == "surprised"
    assert top(-0.6, 0.8) == "angry"
    assert top(-0.8, -0.5) == "sad"
    assert top(-1.0, 0.05) == "contempt"
    # Intensity grows with the radius.
    assert va_to_alpha(-0.2, -0.1).sum() < va_to_alpha(-0.6, -0.3).sum()


def test_va_map_is_continuous_all_around():
    prev = None
    for ang in np.linspace(0.0, 2 * np.pi, 3601):
        a = va_to_alpha(0.9 * math.cos(ang), 0.9 * math.sin(ang))
        assert np.all(a >= 0.0) and np.all(a <= 1.0)
        if prev is not None:
            assert np.abs(a - prev).max() < 0.02
        prev = a
    # ...and toward the origin.
    assert np.abs(va_to_alpha(1e-4, -1e-4)).max() < 1e-3


def test_max_intensity_allows_mild_extrapolation():
    with pytest.raises(EmotalkError):
        parse_emotion_command("happy:1.2")
    a = parse_emotion_command("happy:1.2", max_intensity=1.3).alpha
    assert a[EXPRESSIVE_INDEX["happy"]] == pytest.approx(1.2)
    with pytest.raises(EmotalkError, match="1.3"):
        parse_emotion_command("happy:1.4", max_intensity=1.3)
    with pytest.raises(EmotalkError, match="max_intensity"):
        parse_emotion_command("happy", max_intensity=0.5)


BAD = [
    ("", "empty"),
    ("   ", "empty"),
    ("hapy", "unknown emotion 'hapy'"),
    ("happy:0.5 grumpy:0.2", "unknown emotion 'grumpy'"),
    ("happy:-0.1", "negative"),
    ("happy:1.5", "above the maximum"),
    ("happy:nan", "finite"),
    ("happy:inf", "finite"),
    ("happy:lots", "must be a number"),
    ("happy:", "empty value"),
    ("happy happy:0.3", "given twice"),
    ("joy:0.2 happy:0.3", "given twice"),
    ("happy transition=0.2 transition=0.3", "transition is given twice"),
    ("happy transition=-1", "transition must be in"),
    ("happy transition=soon", "must be a number"),
    ("happy ease=bouncy", "ease must be one of"),
    ("happy ease", "needs a value"),
    ("transition=0.5", "no emotion given"),
    ("0.7", "cannot parse"),
    ("happy; sad", "cannot parse"),
    ("va:0.5", "two numbers"),
    ("va:1.5,0", "valence must be in"),
    ("va:0,-2", "arousal must be in"),
    ("va:0.2,0.3 happy", "cannot be combined"),
    ("{", "invalid JSON"),
    ("[1, 2]", "must be an object"),
    ('{"happy": 0.5, "happy": 0.2}', "given twice"),
    ('{"joy": 0.5, "happy": 0.2}', "given twice"),
    ('{"happy": "much"}', "must be a number"),
    ('{"happy": true}', "must be a number"),
    ('{"happy": NaN}', "finite"),
    ('{"happy": -1}', "negative"),
    ('{"blah": 1}', "unknown emotion 'blah'"),
    ('{}', "no emotion given"),
    ('{"va": [0.1]}', "two numbers"),
    ('{"va": [0.1, 0.2], "sad": 0.3}', "cannot be combined"),
    ('{"happy": 1, "ease": 3}', "ease must be one of"),
]


@pytest.mark.parametrize("text,problem", BAD)
def test_every_error_names_problem_and_lists_valid_names(text, problem):
    with pytest.raises(EmotalkError) as ei:
        parse_emotion_command(text)
    msg = str(ei.value)
    assert problem in msg
    for name in EMOTIONS:
        assert name in msg
    for alias in ALIASES:
        assert alias in msg


def test_nothing_half_applied():
    """A bad item after good ones gives an exception, never a partial command."""
    results = []
    for text in ("happy:0.5 sad:0.4 bogus", "happy:0.5 transition=0.3 ease=nope",
                 '{"happy": 0.5, "sad": 2.0}'):
        try:
            results.append(parse_emotion_command(text))
        except EmotalkError:
            continue
    assert results == []


def test_alpha_is_read_only():
    c = parse_emotion_command("happy:0.5")
    with pytest.raises(ValueError):
        c.alpha[0] = 1.0


def test_to_dict_round_trips_through_json():
    c = parse_emotion_command("sad:0.25 fear:0.5 transition=0.4 ease=linear")
    c2 = parse_emotion_command(json.dumps(c.to_dict()))
    np.testing.assert_allclose(c2.alpha, c.alpha)
    assert (c2.transition_s, c2.ease) == (c.transition_s, c.ease)
