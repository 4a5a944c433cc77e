"""Emotion commands and tracks under hostile input: a result or EmotalkError with a short
message, never another exception, never a slow parse (property tests plus explicit
payloads)."""

import json
import time

import numpy as np
import pytest
from hostile_payloads import COMMAND_PAYLOADS, MAX_VALID_TRACK_KEYS, TRACK_PAYLOADS, big_track
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from emotalk_ros.emotion.command import (
    EmotionCommand,
    command_from_mapping,
    parse_emotion_command,
    valid_names_text,
)
from emotalk_ros.emotion.state import EmotionTrack
from emotalk_ros.errors import EmotalkError

PROP = settings(max_examples=300, deadline=None, database=None,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
# an error may quote up to ~80 characters of the input (twice at most: the command and the
# offending token) besides its own words and the list of valid names
MAX_MESSAGE = len(valid_names_text()) + 400


def check_command(text, max_intensity=1.0):
    """Parse; return the command or the error, failing on anything else."""
    try:
        cmd = parse_emotion_command(text, max_intensity=max_intensity)
    except EmotalkError as exc:
        assert len(str(exc)) <= MAX_MESSAGE, str(exc)[:300]
        return exc
    assert isinstance(cmd, EmotionCommand)
    assert cmd.alpha.shape == (7,) and np.all(np.isfinite(cmd.alpha))
    assert np.all(cmd.alpha >= 0) and np.all(cmd.alpha <= max_intensity)
    return cmd


def check_track(text):
    try:
        tr = EmotionTrack.from_json(text)
    except EmotalkError as exc:
        assert len(str(exc)) <= MAX_MESSAGE, str(exc)[:300]
        return exc
    v = tr(np.linspace(0.0, tr.duration + 1.0, 50))
    assert v.shape == (50, 7) and np.all(np.isfinite(v))
    return tr


@pytest.mark.parametrize("name,text", COMMAND_PAYLOADS, ids=[n for n, _ in COMMAND_PAYLOADS])
def test_hostile_command_payloads_raise_short_errors_quickly(name, text):
    t0 = time.perf_counter()
    out = check_command(text)
    assert time.perf_counter() - t0 < 1.0, name            # generous: a parse is ~1 ms
    assert isinstance(out, EmotalkError), name
    assert text[:200] not in str(out) or len(text) <= 80   # long inputs are never echoed


@pytest.mark.parametrize("name,text", TRACK_PAYLOADS, ids=[n for n, _ in TRACK_PAYLOADS])
def test_hostile_track_payloads_raise_short_errors(name, text):
    out = check_track(text)
    assert isinstance(out, EmotalkError), name


def test_the_reported_triggers_are_refused_with_their_reason():
    with pytest.raises(EmotalkError, match="more than 40 characters"):
        parse_emotion_command('{"happy": 1' + "0" * 400 + "}")
    with pytest.raises(EmotalkError, match="nested|too long|at most"):
        parse_emotion_command("[" * 100000)
    with pytest.raises(EmotalkError, match="key 0.*'t'"):
        EmotionTrack.from_json('[{"t": 1e400, "happy": 0.5}]')
    with pytest.raises(EmotalkError, match="too long"):
        EmotionTrack.from_json(big_track(50000))               # 1.2 MB
    with pytest.raises(EmotalkError, match=f"at most {MAX_VALID_TRACK_KEYS}"):
        EmotionTrack.from_json([{"t": 0, "happy": 1}] * (MAX_VALID_TRACK_KEYS + 1))
    with pytest.raises(EmotalkError, match="must be finite"):
        parse_emotion_command("happy:" + "9" * 400)       # text grammar: a float of 1e400


def test_a_maximal_valid_track_parses():
    tr = EmotionTrack.from_json(big_track(MAX_VALID_TRACK_KEYS))
    assert len(tr.keys) == MAX_VALID_TRACK_KEYS
    v = tr(np.array([0.0, tr.duration + 1.0]))
    assert np.allclose(v[:, 0], [0.0, 0.9], atol=1e-6)   # happy: the first key, then the last


def test_track_equals_a_state_fed_the_same_commands():
    from emotalk_ros.emotion.state import EmotionState
    keys = [{"t": 0.0, "happy": 0.5}, {"t": 0.7, "sad": 0.8, "transition_s": 0.4},
            {"t": 0.9, "angry": 1.0, "ease": "linear", "transition_s": 0.3}]
    tr = EmotionTrack.from_json(json.dumps(keys))
    st_ = EmotionState()
    t = np.linspace(0, 2, 200)
    out = np.zeros((200, 7), np.float32)
    for k, key in enumerate(keys):
        cmd = command_from_mapping(key, skip=("t",))
        if k == 0:
            cmd = EmotionCommand(cmd.alpha, 0.0, cmd.ease, cmd.text)
        st_.command(cmd, key["t"])
        end = keys[k + 1]["t"] if k + 1 < len(keys) else 9.0
        m = (t >= key["t"]) & (t < end)
        out[m] = st_.at_many(t[m])
    np.testing.assert_array_equal(tr(t), out)


@PROP
@given(st.text(max_size=300))
def test_any_text_is_a_command_or_a_short_error(text):
    check_command(text)


GRAMMAR_TOKENS = st.sampled_from(["happy", "joy", "sad", "neutral", "va", "transition",
                                  "ease", "linear", "smooth", ":", "=", ",", " ", "0.5", "1",
                                  "-1", "1e400", "nan", "inf", "9" * 60, "{", "}", "[", "]",
                                  '"', "x", "\t", "1.0.0"])


@PROP
@given(st.lists(GRAMMAR_TOKENS, max_size=30).map("".join), st.floats(1.0, 2.0))
def test_grammar_like_text_is_a_command_or_a_short_error(text, max_intensity):
    check_command(text, max_intensity)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.floats(allow_nan=True, allow_infinity=True)
    | st.integers(min_value=-10 ** 60, max_value=10 ** 60) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=20)
KEYS = st.sampled_from(["happy", "sad", "surprise", "va", "transition_s", "ease", "t", "x",
                        "HAPPY", " joy "])


@PROP
@given(st.dictionaries(KEYS, JSON_VALUES, max_size=5))
def test_any_json_object_is_a_command_or_a_short_error(obj):
    check_command(json.dumps(obj))


@PROP
@given(st.lists(st.dictionaries(KEYS, JSON_VALUES, max_size=4), max_size=6))
def test_any_json_track_is_a_track_or_a_short_error(keys):
    check_track(json.dumps(keys))


@PROP
@given(JSON_VALUES)
def test_any_json_value_as_a_track_is_a_track_or_a_short_error(value):
    check_track(json.dumps(value))
