"""``emotalk calibrate`` changes a response that needs it and leaves alone one that does not.

The measuring pipeline runs on predictors whose FACS group response is known exactly (a
linear one and bent ones), and on the shipped model: with its stored warp removed its
response is bent; calibrating gives back the shipped warp, and the calibrated response
is straight on audio the calibration never saw.
"""

import os

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from conftest import ROOT  # noqa: E402

from emotalk_ros.core.emotions import EXPRESSIVE, NUM_EXPRESSIVE, group_index  # noqa: E402
from emotalk_ros.core.signals import speech_like_signal  # noqa: E402
from emotalk_ros.generator import backends, checkpoint  # noqa: E402
from emotalk_ros.generator.predictor import Frames  # noqa: E402
from emotalk_ros.training import calibrate as cal  # noqa: E402

LEVELS = np.linspace(0.0, 1.0, cal.GRID)
# FACS group response g(a) = 0.1 + 0.5 * a ** power per emotion: 1 is already linear
POWERS = {"happy": 1.0, "sad": 2.0, "angry": 0.5, "surprised": 3.0, "fearful": 1.0,
          "disgusted": 1.5, "contempt": 0.7}


class KnownResponse:
    """Stands in for TorchPredictor: each emotion's FACS group follows POWERS exactly."""

    def __init__(self, ckpt, fps=60.0, device="cpu", threads=None):
        assert "calibration" not in ckpt["emotion_space"]          # measured without a warp
        self.fps = fps

    def animate(self, samples, emotion=None, chunk=None):
        a = np.zeros(NUM_EXPRESSIVE) if emotion is None else np.asarray(emotion, np.float64)
        n = int(len(samples) / 16000 * self.fps)
        v = np.zeros((n, 52), np.float32)
        for k, emo in enumerate(EXPRESSIVE):               # groups overlap: the larger wins
            idx = group_index(emo)
            v[:, idx] = np.maximum(v[:, idx], 0.1 + 0.5 * a[k] ** POWERS[emo])
        return Frames(np.arange(n) / self.fps, v)


def test_calibration_straightens_bent_responses_and_leaves_a_straight_one(monkeypatch):
    monkeypatch.setattr(backends, "TorchPredictor", KnownResponse)
    ck = {"emotion_space": {"calibration": [[0.0] * cal.GRID] * 7}}
    warp = cal.intensity_calibration(ck)                              # (7, GRID)
    assert warp.shape == (NUM_EXPRESSIVE, cal.GRID)
    for k, emo in enumerate(EXPRESSIVE):
        p = POWERS[emo]
        if p == 1.0:                                  # does not need it: left as it is
            np.testing.assert_allclose(warp[k], LEVELS, atol=1e-6)
        else:                                         # needs it: a ** p made (nearly) linear
            assert np.abs(warp[k] - LEVELS).max() > 0.1, emo
            before, after = nonlinearity(LEVELS ** p), nonlinearity(warp[k] ** p)
            assert after < 0.4 * before, (emo, before, after)   # grid interpolation error left
            np.testing.assert_allclose(warp[k][4:] ** p, LEVELS[4:], atol=0.03)
    assert warp[:, 0].tolist() == [0.0] * 7 and warp[:, -1].tolist() == [1.0] * 7


def test_refining_the_warp_straightens_a_steep_onset_the_grid_alone_cannot(monkeypatch):
    # a response that rises steeply at the start (a ** 0.5, a ** 0.7) bends inside the first
    # grid cell; inverted from the grid alone, that bend is read as a straight line
    monkeypatch.setattr(backends, "TorchPredictor", KnownResponse)
    ck = {"emotion_space": {"calibration": [[0.0] * cal.GRID] * 7}}
    once = cal.intensity_calibration(ck, passes=0)
    refined = cal.intensity_calibration(ck)

    def error(w, emo):                    # how far the warped response is from a line
        return float(np.abs(w ** POWERS[emo] - LEVELS).max())

    for emo in ("angry", "contempt"):
        k = EXPRESSIVE.index(emo)
        assert error(once[k], emo) > 0.02, emo
        assert error(refined[k], emo) < 0.3 * error(once[k], emo), emo
    for k, emo in enumerate(EXPRESSIVE):    # every level, the low ones too
        assert error(refined[k], emo) < 0.01, emo
        if POWERS[emo] == 1.0:
            np.testing.assert_allclose(refined[k], LEVELS, atol=1e-6)
    # the refinement only adds measurements: pairs at the grid give back the one-pass warp
    g = 0.1 + 0.5 * LEVELS ** 2.0
    np.testing.assert_allclose(cal.refine_warp(LEVELS, g, cal.GRID),
                               cal.warp_from_response(g), atol=1e-6)


def nonlinearity(g):
    lin = g[0] + LEVELS * (g[-1] - g[0])
    return float(np.abs(g - lin).max() / max(abs(g[-1] - g[0]), 1e-9))


def group_curve(ck, k, x):
    p = backends.TorchPredictor(ck, device="cpu", threads=1)
    idx = group_index(EXPRESSIVE[k])
    return np.array([p.animate(x, np.eye(7, dtype=np.float32)[k] * a).values[:, idx].mean()
                     for a in LEVELS])


def test_calibrating_the_shipped_model_straightens_its_raw_response():
    pt = os.path.join(ROOT, "models", "emotalk_default.pt")
    if not os.path.exists(pt):
        pytest.skip("no shipped .pt")
    shipped = checkpoint.load(pt)
    stored = np.asarray(shipped["emotion_space"]["calibration"])
    raw = dict(shipped, emotion_space={k: v for k, v in shipped["emotion_space"].items()
                                       if k != "calibration"})
    out = cal.calibrate(raw, smoothing=shipped["output_smoothing"])
    warp = np.asarray(out["emotion_space"]["calibration"])
    # the stored warp is what calibrate measures, and it is not the identity
    assert np.abs(stored - LEVELS).max() > 0.02
    np.testing.assert_allclose(warp, stored, atol=0.005)
    # on audio the calibration never used: straight after, and straightened where the raw
    # response was bent. How bent the raw response is belongs to the model (default-4: 0.045-
    # 0.093 here; default-5: 0.024-0.081); the calibration measured once on the grid left up
    # to 0.037 (default-5's surprised, a steep onset inside the first grid cell), the refined
    # one < 0.002. The strong straightening of a badly bent response is checked on known
    # curves above.
    x = speech_like_signal(4.0, seed=5)
    bent = 0
    for k, emo in enumerate(EXPRESSIVE):
        before, after = group_curve(raw, k, x), group_curve(out, k, x)
        assert after[-1] == pytest.approx(before[-1], abs=1e-4), emo    # full intensity kept
        assert after[0] == pytest.approx(before[0], abs=1e-6), emo      # 0 stays neutral
        assert nonlinearity(after) < 0.01, (emo, nonlinearity(after))
        if nonlinearity(before) > 0.04:                                  # it needed one
            bent += 1
            assert nonlinearity(after) < 0.2 * nonlinearity(before), emo
    assert bent >= 3                # the shipped model exercises the straightening


def test_the_calibrate_command_keeps_or_restamps_the_model_version(tmp_path, monkeypatch):
    from emotalk_ros.cli import calibrate as cli_calibrate
    from emotalk_ros.cli import main as cli

    seen = []

    def fake(ck, smoothing, readout=None):         # the warp itself is tested above
        seen.append(readout)
        return dict(ck, output_smoothing=float(smoothing))

    monkeypatch.setattr(cli_calibrate, "calibrate", fake)
    src = os.path.join(ROOT, "models", "emotalk_default.pt")
    version = checkpoint.load(src)["model_version"]
    kept, stamped = tmp_path / "kept.pt", tmp_path / "stamped.pt"
    assert cli.main(["calibrate", src, "-o", str(kept), "--smoothing", "0.5"]) == 0
    assert cli.main(["calibrate", src, "-o", str(stamped), "--smoothing", "0.5",
                     "--model-version", "emotalk-test-9"]) == 0
    assert checkpoint.load(str(kept))["model_version"] == version
    out = checkpoint.load(str(stamped))
    assert out["model_version"] == "emotalk-test-9" and out["output_smoothing"] == 0.5
    assert seen == [None, None]                    # no readout unless asked for
    assert cli.main(["calibrate", src, "-o", str(kept), "--aperture-readout",
                     "--readout-bilabial", "20", "--readout-temperature", "0.6"]) == 0
    assert seen[-1] == (20.0, 0.6)
