"""The best-lag metric: it finds a known shift of the mouth against the phones."""

import numpy as np
import pytest

from emotalk_ros.animation import teacher
from emotalk_ros.core.blendshapes import INDEX
from emotalk_ros.core.phones import openness
from emotalk_ros.training import metrics

FPS = 60.0


def seq(spec):
    out, t = [], 0.0
    for ph, dur in spec:
        out.append((t, t + dur, ph))
        t += dur
    return out


PHONES = seq([("sil", 0.30), ("b", 0.07), ("aa", 0.16), ("m", 0.08), ("iy", 0.12), ("p", 0.06),
              ("ae", 0.14), ("s", 0.09), ("ow", 0.15), ("sil", 0.35), ("d", 0.05),
              ("aa", 0.18), ("t", 0.06), ("ih", 0.10), ("m", 0.08), ("ay", 0.2), ("sil", 0.4)])


def ideal_frames(phones, fps, shift_frames=0):
    """jawOpen = openness of the phone under t - shift (a mouth ``shift`` frames late)."""
    n = int(round(phones[-1][1] * fps))
    t = (np.arange(n) - shift_frames) / fps
    v = np.zeros(n)
    for t0, t1, ph in phones:
        v[(t >= t0) & (t < t1)] = openness(ph)
    f = np.zeros((n, 52), np.float32)
    f[:, INDEX["jawOpen"]] = v
    return f


@pytest.mark.parametrize("shift", [-4, -2, 0, 1, 3, 5])
def test_best_lag_finds_a_known_shift_of_the_mouth(shift):
    d = metrics.lip_sync_metrics(ideal_frames(PHONES, FPS, shift), FPS, PHONES)
    assert d["best_lag_frames"] == pytest.approx(shift, abs=0.5)
    assert d["best_lag_ms"] == pytest.approx(1000.0 * d["best_lag_frames"] / FPS)


def test_best_lag_of_a_shifted_teacher_moves_by_the_shift():
    s = np.array([p[0] for p in PHONES])
    e = np.array([p[1] for p in PHONES])
    from emotalk_ros.core.phones import PHONE_INDEX

    pid = np.array([PHONE_INDEX[p[2]] for p in PHONES])
    n = int(round(PHONES[-1][1] * FPS))
    fr = teacher.render(s, e, pid, np.zeros((n, 7), np.float32), rate=FPS)
    lag0 = metrics.lip_sync_metrics(fr, FPS, PHONES)["best_lag_frames"]
    late = np.concatenate([np.repeat(fr[:1], 3, axis=0), fr[:-3]])        # 3 frames late
    lag3 = metrics.lip_sync_metrics(late, FPS, PHONES)["best_lag_frames"]
    assert lag3 - lag0 == pytest.approx(3.0, abs=0.5)


def test_best_lag_pools_over_utterances_and_is_none_without_data():
    a = metrics.lip_sync_metrics(ideal_frames(PHONES, FPS, 2), FPS, PHONES)
    b = metrics.lip_sync_metrics(ideal_frames(PHONES, FPS, 2), FPS, PHONES)
    pooled = metrics.aggregate([a, b])
    assert pooled["best_lag_frames"] == pytest.approx(2.0, abs=0.5)
    flat = metrics.lip_sync_metrics(np.zeros((60, 52), np.float32), FPS, seq([("sil", 1.0)]))
    assert flat["best_lag_frames"] is None
