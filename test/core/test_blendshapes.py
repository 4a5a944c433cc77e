"""The canonical blendshape table, name parsing and Live Link Face CSV round trips."""

import io

import numpy as np
import pytest

from emotalk_ros.core import blendshapes as bs
from emotalk_ros.errors import EmotalkError

LIVE_LINK_HEADER = (
    "Timecode,BlendShapeCount,EyeBlinkLeft,EyeLookDownLeft,EyeLookInLeft,EyeLookOutLeft,"
    "EyeLookUpLeft,EyeSquintLeft,EyeWideLeft,EyeBlinkRight,EyeLookDownRight,EyeLookInRight,"
    "EyeLookOutRight,EyeLookUpRight,EyeSquintRight,EyeWideRight,JawForward,JawRight,JawLeft,"
    "JawOpen,MouthClose,MouthFunnel,MouthPucker,MouthRight,MouthLeft,MouthSmileLeft,"
    "MouthSmileRight,MouthFrownLeft,MouthFrownRight,MouthDimpleLeft,MouthDimpleRight,"
    "MouthStretchLeft,MouthStretchRight,MouthRollLower,MouthRollUpper,MouthShrugLower,"
    "MouthShrugUpper,MouthPressLeft,MouthPressRight,MouthLowerDownLeft,MouthLowerDownRight,"
    "MouthUpperUpLeft,MouthUpperUpRight,BrowDownLeft,BrowDownRight,BrowInnerUp,BrowOuterUpLeft,"
    "BrowOuterUpRight,CheekPuff,CheekSquintLeft,CheekSquintRight,NoseSneerLeft,NoseSneerRight,"
    "TongueOut,HeadYaw,HeadPitch,HeadRoll,LeftEyeYaw,LeftEyePitch,LeftEyeRoll,RightEyeYaw,"
    "RightEyePitch,RightEyeRoll"
)


def test_table_order_and_size():
    assert len(bs.NAMES) == 52 and len(set(bs.NAMES)) == 52
    assert bs.NAMES[0] == "eyeBlinkLeft" and bs.NAMES[51] == "tongueOut"
    assert bs.INDEX["jawLeft"] < bs.INDEX["jawRight"]
    assert bs.INDEX["mouthLeft"] < bs.INDEX["mouthRight"]


@pytest.mark.parametrize("spelling", ["jawOpen", "JawOpen", "jawopen", "JAWOPEN"])
def test_parse_name_spellings(spelling):
    assert bs.parse_name(spelling) == "jawOpen"


def test_parse_raw_arkit_forms():
    assert bs.parse_name("eyeBlink_L") == "eyeBlinkLeft"
    assert bs.parse_name("mouthSmile_R") == "mouthSmileRight"
    with pytest.raises(EmotalkError, match="unknown blendshape"):
        bs.parse_name("jawOpenWide")


def test_csv_header_is_live_link_faces():
    f = io.StringIO()
    bs.write_live_link_csv(f, np.zeros((2, 52)), fps=60)
    assert f.getvalue().splitlines()[0] == LIVE_LINK_HEADER


def test_csv_round_trip_by_name():
    rng = np.random.default_rng(0)
    frames = rng.random((75, 52)).astype(np.float32)
    f = io.StringIO()
    bs.write_live_link_csv(f, frames, fps=60)
    t, back = bs.read_live_link_csv(f.getvalue(), fps=60)
    np.testing.assert_allclose(back, frames, atol=1e-6)
    np.testing.assert_allclose(t, np.arange(75) / 60, atol=1e-6)
    # jawLeft must come back under its own name although the CSV swaps the columns
    row = f.getvalue().splitlines()[1].split(",")
    assert float(row[LIVE_LINK_HEADER.split(",").index("JawLeft")]) == pytest.approx(
        frames[0, bs.INDEX["jawLeft"]], abs=1e-6)


def test_timecode_format():
    assert bs.format_timecode(0.0, 60) == "00:00:00:00.000"
    assert bs.format_timecode(3661.5, 60) == "01:01:01:30.000"
    assert bs.parse_timecode(bs.format_timecode(12.345, 60), 60) == pytest.approx(12.345, abs=1e-3)


def test_csv_infers_fps_and_rejects_garbage(tmp_path):
    f = io.StringIO()
    bs.write_live_link_csv(f, np.zeros((70, 52)), fps=30)
    t, _ = bs.read_live_link_csv(f.getvalue())
    assert t[1] == pytest.approx(1 / 30, abs=1e-6)
    p = tmp_path / "x.csv"
    p.write_text("hello,world\n1,2\n")
    with pytest.raises(EmotalkError):
        bs.read_live_link_csv(str(p))
    with pytest.raises(EmotalkError, match="not found"):
        bs.read_live_link_csv(str(tmp_path / "missing.csv"))


def test_sanitize_clamps_and_removes_nan():
    x = np.array([[np.nan, np.inf, -np.inf, -0.5, 1.5, 0.3]])
    np.testing.assert_allclose(bs.sanitize(x), [[0, 1, 0, 0, 1, 0.3]], atol=1e-7)
