"""Rig files under hostile input: a Rig or EmotalkError with a short message, never another
exception (property tests over mappings and raw text, plus explicit payloads)."""

import pytest
import yaml
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from emotalk_ros.errors import EmotalkError
from emotalk_ros.retarget.rig import Rig

PROP = settings(max_examples=200, deadline=None, database=None,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.function_scoped_fixture])

MOTOR = ("motors:\n  - name: jaw\n    units: us\n    min: 1100\n    max: 1900\n"
         "    neutral: 1100\n    input: {jawOpen: 1.0}\n    max_velocity: 4000\n"
         "    max_acceleration: 60000\n")
PAYLOADS = [
    ("min_huge_int", MOTOR.replace("min: 1100", "min: " + "1" * 400)),
    ("min_5000_digits", MOTOR.replace("min: 1100", "min: " + "9" * 5000)),
    ("velocity_1e400", MOTOR.replace("max_velocity: 4000", "max_velocity: 1e400")),
    ("weight_huge", MOTOR.replace("{jawOpen: 1.0}", "{jawOpen: " + "9" * 400 + "}")),
    ("curve_huge", MOTOR + "    curve: [[0, 0], [" + "9" * 400 + ", 1]]\n"),
    ("curve_many_points", MOTOR + "    curve: [" + ", ".join(
        f"[{i}, 0.5]" for i in range(1000)) + "]\n"),
    ("mirror_list", MOTOR + "  - name: m\n    mirror: [jaw]\n"),
    ("mirror_dict", MOTOR + "  - name: m\n    mirror: {a: 1}\n"),
    ("long_name", MOTOR.replace("name: jaw", "name: " + "j" * 100000)),
    ("mixed_top_keys", MOTOR + "1: 2\n"),
    ("mixed_motor_keys", MOTOR + "    7: 8\n"),
    ("safety_mixed_keys", MOTOR + "safety: {1: 2, a: 3}\n"),
    ("filter_list_type", MOTOR + "safety: {filter: {type: [1]}}\n"),
    ("deep", "motors: " + "[" * 5000 + "]" * 5000 + "\n"),
    ("many_motors", "motors:\n" + "".join(
        f"  - {{name: m{i}, units: us, min: 0, max: 1, neutral: 0, input: {{jawOpen: 1}}, "
        "max_velocity: 1, max_acceleration: 1}\n" for i in range(300))),
    ("binary", "\x00\xff\xfe garbage"),
    ("two_megabytes", MOTOR + "description: " + "x" * (2 << 20) + "\n"),
]


def check_text(path, text):
    path.write_text(text, encoding="utf-8", errors="surrogateescape")
    try:
        rig = Rig.load(str(path))
    except EmotalkError as exc:
        assert len(str(exc)) < 1500, str(exc)[:300]
        return exc
    assert len(rig.motors) >= 1
    return rig


@pytest.mark.parametrize("name,text", PAYLOADS, ids=[n for n, _ in PAYLOADS])
def test_hostile_rig_files_raise_emotalk_error(tmp_path, name, text):
    assert isinstance(check_text(tmp_path / "r.yaml", text), EmotalkError), name


def test_the_plain_motor_loads(tmp_path):
    assert isinstance(check_text(tmp_path / "r.yaml", MOTOR), Rig)


VALUES = st.recursive(
    st.none() | st.booleans() | st.floats() | st.integers(-10 ** 50, 10 ** 50)
    | st.text(max_size=8),
    lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=8), c, max_size=4),
    max_leaves=15)
MOTOR_KEYS = st.sampled_from(["name", "units", "min", "max", "neutral", "input", "offset",
                              "curve", "curve_units", "invert", "max_velocity",
                              "max_acceleration", "deadband", "mirror", "other"])
GOOD = {"name": "jaw", "units": "us", "min": 0, "max": 1, "neutral": 0,
        "input": {"jawOpen": 1.0}, "max_velocity": 1, "max_acceleration": 1}


@PROP
@given(st.lists(st.dictionaries(MOTOR_KEYS, VALUES, max_size=8), max_size=3),
       st.dictionaries(st.sampled_from(["name", "safety", "defaults", "other", "description"]),
                       VALUES, max_size=3))
def test_any_mapping_is_a_rig_or_emotalk_error(motors, top):
    for d in ({**top, "motors": motors}, {**top, "motors": [GOOD] + motors}):
        try:
            Rig.from_dict(d)
        except EmotalkError:
            pass


@PROP
@given(st.dictionaries(MOTOR_KEYS, VALUES, max_size=8))
def test_any_motor_overrides_give_a_rig_or_emotalk_error(tmp_path, over):
    check_text(tmp_path / "r.yaml", yaml.safe_dump({"motors": [{**GOOD, **over}]}))


@PROP
@given(st.text(max_size=400))
def test_any_text_is_a_rig_or_emotalk_error(tmp_path, text):
    check_text(tmp_path / "r.yaml", text)
