"""`emotalk train` end to end on a tiny synthetic corpus (two folders), then load, export and fine-tune."""

import os
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("torch")

from emotalk_ros import checkpoint  # noqa: E402
from emotalk_ros.phones import PHONES  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def fake_shard(path, n_clips, seed):
    rng = np.random.default_rng(seed)
    mels, alphas, mo, ps, pe, pid, po = [], [], [0], [], [], [], [0]
    for c in range(n_clips):
        n = int(rng.integers(150, 260))
        mels.append(rng.normal(-3, 1, (n, 40)).astype(np.float16))
        a = np.zeros((n, 7), np.float16)
        a[:, c % 7] = 0.0 if c % 4 == 0 else rng.uniform(0.3, 1.0)   # neutral and pure clips
        alphas.append(a)
        mo.append(mo[-1] + n)
        t, end = 0.0, n / 100
        while t < end - 1e-6:
            d = min(rng.uniform(0.05, 0.15), end - t)
            ps.append(t)
            pe.append(t + d)
            pid.append(int(rng.integers(len(PHONES))))
            t += d
        po.append(len(ps))
    os.makedirs(path, exist_ok=True)
    np.savez(os.path.join(path, "shard_00000.npz"), mel=np.concatenate(mels), mel_offsets=np.array(mo),
             alpha=np.concatenate(alphas), phone_start=np.array(ps, np.float32),
             phone_end=np.array(pe, np.float32), phone_id=np.array(pid, np.int16),
             phone_offsets=np.array(po), speaker=np.zeros(n_clips, np.int32),
             clip_meta=np.array(["{}"] * n_clips))


def emotalk(*args):
    r = subprocess.run([sys.executable, "-m", "emotalk_ros", *args], cwd=ROOT, capture_output=True, text=True,
                       timeout=600, env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert r.returncode == 0, r.stderr[-3000:]
    return r


def test_train_export_and_finetune(tmp_path):
    a, b = str(tmp_path / "a"), str(tmp_path / "b")
    fake_shard(a, 70, 0)
    fake_shard(b, 30, 1)
    out = str(tmp_path / "m.pt")
    emotalk("train", "--data", f"{a},{b}", "--out", out, "--steps", "4", "--map-steps", "4", "--batch", "4",
            "--threads", "1", "--no-progress")
    ck = checkpoint.load(out)
    assert ck["train"]["clips"] == 100 and len(ck["train"]["data"]) == 2
    assert np.isfinite(ck["train"]["val_l1"]) and ck["output_smoothing"] == pytest.approx(0.3)
    assert len(ck["emotion_space"]["normals"]) == 7
    emotalk("export", out, "-o", str(tmp_path / "m.onnx"))
    # fine-tuning keeps the emotion space (the generator is conditioned on it)
    ft = str(tmp_path / "ft.pt")
    emotalk("train", "--data", a, "--out", ft, "--steps", "3", "--batch", "4", "--threads", "1",
            "--init", out, "--w-aperture", "1.0", "--no-progress")
    ck2 = checkpoint.load(ft)
    assert ck2["emotion_space"]["normals"] == ck["emotion_space"]["normals"]
    assert ck2["train"]["init"] == out
    with pytest.raises(AssertionError):
        emotalk("train", "--data", str(tmp_path / "empty"), "--out", str(tmp_path / "x.pt"), "--steps", "1")
