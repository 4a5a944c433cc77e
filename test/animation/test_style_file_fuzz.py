"""Style files under hostile input: a Style or EmotalkError with a short message, never another
exception (property tests over mappings and raw text, plus explicit payloads)."""

import pytest
import yaml
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from emotalk_ros.animation.style import Style
from emotalk_ros.errors import EmotalkError

PROP = settings(max_examples=200, deadline=None, database=None,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.function_scoped_fixture])

HEAD = "format: emotalk_style\nversion: 1\n"
PAYLOADS = [
    ("version_abc", "format: emotalk_style\nversion: abc\n"),
    ("version_list", "format: emotalk_style\nversion: [1, 2]\n"),
    ("version_huge", "format: emotalk_style\nversion: " + "9" * 5000 + "\n"),
    ("gain_huge_int", HEAD + "gain: {jawOpen: " + "9" * 4000 + "}\n"),
    ("gain_1e400", HEAD + "gain: {jawOpen: 1e400}\n"),
    ("gain_nan", HEAD + "gain: {jawOpen: .nan}\n"),
    ("gain_text", HEAD + "gain: {jawOpen: loud}\n"),
    ("gain_unknown_name", HEAD + "gain: {" + "x" * 100000 + ": 1}\n"),
    ("profile_huge",
     HEAD + "amplitude_profile: {aperture: [0, " + "9" * 4000 + "], gain: [1, 1]}\n"),
    ("profile_nested", HEAD + "amplitude_profile: {aperture: [[0], [1, 2]], gain: [1, 1]}\n"),
    ("profile_many_knots", HEAD + "amplitude_profile: {aperture: [" + ", ".join(
        str(i) for i in range(1000)) + "], gain: [" + ", ".join(["1"] * 1000) + "]}\n"),
    ("deep_lists", HEAD + "gain: " + "[" * 5000 + "]" * 5000 + "\n"),
    ("aliases", HEAD + "a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1]\nb: &b [*a, *a, *a, *a, *a, *a]\n"
     "c: &c [*b, *b, *b, *b, *b, *b]\ngain: [*c, *c, *c, *c, *c]\n"),
    ("binary", "\x00\x01\x02\xff garbage"),
    ("two_megabytes", HEAD + "description: " + "x" * (2 << 20) + "\n"),
    ("top_list", "- 1\n- 2\n"),
    ("mixed_keys", HEAD + "1: 2\n? [a]\n: 3\n"),
    ("tab_indent", HEAD + "gain:\n\tjawOpen: 1\n"),
]


def check_text(path, text):
    path.write_text(text, encoding="utf-8", errors="surrogateescape")
    try:
        s = Style.load(str(path))
    except EmotalkError as exc:
        assert "\n" not in str(exc)[:400] or "YAML" in str(exc)
        assert len(str(exc)) < 1200, str(exc)[:300]
        return exc
    assert s.gain.shape == (52,)
    return s


@pytest.mark.parametrize("name,text", PAYLOADS, ids=[n for n, _ in PAYLOADS])
def test_hostile_style_files_raise_emotalk_error(tmp_path, name, text):
    out = check_text(tmp_path / "s.yaml", text)
    assert isinstance(out, EmotalkError), name


def test_version_abc_is_named_in_one_line(tmp_path):
    p = tmp_path / "s.yaml"
    p.write_text("format: emotalk_style\nversion: abc\n")
    with pytest.raises(EmotalkError, match="version 'abc'"):
        Style.load(str(p))


def test_valid_versions_still_load(tmp_path):
    for v in ("1", "'1'", "1.0"):
        s = check_text(tmp_path / "s.yaml", f"format: emotalk_style\nversion: {v}\n")
        assert isinstance(s, Style)


VALUES = st.recursive(
    st.none() | st.booleans() | st.floats() | st.integers(-10 ** 50, 10 ** 50)
    | st.text(max_size=10),
    lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=10), c, max_size=4),
    max_leaves=15)
KEYS = st.sampled_from(["format", "version", "name", "gain", "offset", "amplitude_profile",
                        "fit", "description", "other"])
NAMES = st.sampled_from(["jawOpen", "JawOpen", "mouthClose", "eyeBlink_L", "nope", ""])


@PROP
@given(st.dictionaries(KEYS, VALUES | st.dictionaries(NAMES, VALUES, max_size=3), max_size=6))
def test_any_mapping_is_a_style_or_emotalk_error(d):
    try:
        Style.from_dict(d)
    except EmotalkError:
        pass


@PROP
@given(st.text(max_size=400))
def test_any_text_is_a_style_or_emotalk_error(tmp_path, text):
    check_text(tmp_path / "s.yaml", text)


@PROP
@given(st.dictionaries(KEYS, VALUES, max_size=6))
def test_any_yaml_document_is_a_style_or_emotalk_error(tmp_path, d):
    check_text(tmp_path / "s.yaml", yaml.safe_dump(d))
