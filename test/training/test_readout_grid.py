"""tools/readout_grid.py: the readout is chosen on training speech by a fixed rule."""

import os
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "tools"))

import readout_grid  # noqa: E402

from emotalk_ros.errors import EmotalkError  # noqa: E402

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")


def _row(corr, closure, lag, dev_corr=0.0):
    return {"train": {"aperture_correlation": corr, "bilabial_closure": closure,
                      "best_lag_frames": lag},
            "dev": {"aperture_correlation": dev_corr}}


def test_the_pick_is_the_best_training_correlation_that_keeps_closure_and_the_lead():
    ref = _row(0.68, 0.955, -0.02)
    rows = {"a": _row(0.72, 0.93, -0.04),       # more correlation, less closure: out
            "b": _row(0.706, 0.955, 0.03),      # trails the sound: out
            "c": _row(0.705, 0.955, -0.01),     # keeps both: the pick
            "d": _row(0.70, 0.97, -0.05, dev_corr=0.99)}   # the dev set plays no part
    assert readout_grid.pick(rows, ref) == "c"
    rows["c"]["train"]["bilabial_closure"] = 0.954
    assert readout_grid.pick(rows, ref) == "d"
    assert readout_grid.pick({"a": rows["a"]}, ref) is None


def test_grid_points_parse_and_a_bad_one_is_one_line():
    assert readout_grid.parse_point("24,0.7,0.15") == (24.0, 0.7, 0.15)
    for bad in ("24,0.7", "a,b,c", ""):
        with pytest.raises(EmotalkError, match="expected D,T,S"):
            readout_grid.parse_point(bad)


def test_a_model_without_the_phone_mixture_is_refused_in_one_line(tmp_path):
    """The low-latency option has no phone mixture: one error line, exit 1, before any
    speech is read."""
    model = os.path.join(ROOT, "models", "emotalk_lowlatency.pt")
    if not os.path.exists(model):
        pytest.skip("no shipped low-latency model")
    r = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "readout_grid.py"), model,
                        "--train", str(tmp_path / "missing")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 1
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "needs a phone-mixture generator" in lines[0], r.stderr
