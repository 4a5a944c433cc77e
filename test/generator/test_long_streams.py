"""The streaming predictor keeps emitting frames, in order and without gaps, however long the
stream runs (a float epsilon once failed after ~46 minutes at 60 fps)."""

import numpy as np
import pytest

from emotalk_ros.core.blendshapes import NUM_BLENDSHAPES
from emotalk_ros.generator.predictor import AmplitudeJawBaseline


@pytest.mark.parametrize("fps", [60.0, 30.0, 59.94, 24.0])
@pytest.mark.parametrize("hours", [0.1, 0.8, 3.0, 30.0])
def test_frames_are_emitted_exactly_after_hours_of_audio(fps, hours):
    """Grow the target buffer one target at a time from an hours-long stream position: every
    output frame comes out once, in order, and never reads past the targets it has."""
    p = AmplitudeJawBaseline(fps=fps)
    start = int(hours * 3600 * p.frame_rate)                  # target frames so far
    p._targets_start = start
    p._targets = np.zeros((1, NUM_BLENDSHAPES), np.float32)
    p._next_out = int(np.ceil(start * fps / p.frame_rate))
    first = p._next_out
    out = []
    for _ in range(400):                                      # 4 s of targets, one by one
        p._targets = np.concatenate([p._targets, np.full((1, NUM_BLENDSHAPES), 0.5,
                                                         np.float32)])
        fr = p._emit()
        out += list(np.round(fr.times * fps).astype(np.int64))
    assert out == list(range(first, first + len(out)))        # every frame once, in order
    have = p._targets_start + p._targets.shape[0]
    assert len(out) >= int(400 * fps / p.frame_rate) - 2
    last_j0 = np.floor((p._next_out - 1) * p.frame_rate / fps + 1e-6)
    assert last_j0 + 1 < have                                 # never past the targets


def test_an_hour_of_live_pushes_in_odd_chunks():
    p = AmplitudeJawBaseline(fps=60.0)
    rng = np.random.default_rng(0)
    x = np.zeros(16000 * 30, np.float32)
    n, last = 0, -1.0
    for _ in range(120):                                      # 60 minutes
        i = 0
        while i < x.size:
            m = int(rng.integers(100, 40000))
            fr = p.push(x[i:i + m])
            i += m
            if len(fr):
                assert fr.times[0] > last
                last = fr.times[-1]
                n += len(fr)
    assert n == 60 * 60 * 60
