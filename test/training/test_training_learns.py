"""A tiny training run learns: the validation loss ends well below where it started, and the
exported ONNX model loads and gives the torch model's frames.

The corpus is synthetic but learnable: every phone has its own log-mel template (plus
noise), and the targets are the teacher's rendering of the same phones, so the network can
find the phones in the features. About 20 s on one core.
"""

import os

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnxruntime")

from emotalk_ros.core.phones import PHONES  # noqa: E402
from emotalk_ros.core.signals import speech_like_signal  # noqa: E402
from emotalk_ros.generator import checkpoint  # noqa: E402
from emotalk_ros.generator.backends import OnnxPredictor, TorchPredictor  # noqa: E402
from emotalk_ros.generator.loading import load_predictor  # noqa: E402
from emotalk_ros.training.export import export_onnx  # noqa: E402
from emotalk_ros.training.train import TrainConfig, train  # noqa: E402


def learnable_shard(path, n_clips, seed):
    """One synth-format shard: random phone sequences, log-mel = the phone's template + noise."""
    templates = np.random.default_rng(1234).normal(-3.0, 1.0, (len(PHONES), 40))
    rng = np.random.default_rng(seed)
    mels, alphas, mo, ps, pe, pid, po = [], [], [0], [], [], [], [0]
    for c in range(n_clips):
        n = int(rng.integers(200, 320))                            # frames at 100 Hz
        label = np.zeros(n, np.int64)
        t, end = 0.0, n / 100
        while t < end - 1e-6:
            d = min(rng.uniform(0.05, 0.15), end - t)
            p = int(rng.integers(len(PHONES)))
            frames = np.arange(n) / 100
            label[(frames >= t) & (frames < t + d)] = p
            ps.append(t)
            pe.append(t + d)
            pid.append(p)
            t += d
        po.append(len(ps))
        mels.append((templates[label] + rng.normal(0, 0.3, (n, 40))).astype(np.float16))
        a = np.zeros((n, 7), np.float16)
        a[:, c % 7] = 0.0 if c % 4 == 0 else rng.uniform(0.3, 1.0)  # neutral and pure clips
        alphas.append(a)
        mo.append(mo[-1] + n)
    os.makedirs(path, exist_ok=True)
    np.savez(os.path.join(path, "shard_00000.npz"), mel=np.concatenate(mels),
             mel_offsets=np.array(mo), alpha=np.concatenate(alphas),
             phone_start=np.array(ps, np.float32), phone_end=np.array(pe, np.float32),
             phone_id=np.array(pid, np.int16), phone_offsets=np.array(po),
             speaker=np.zeros(n_clips, np.int32), clip_meta=np.array(["{}"] * n_clips))


def test_a_tiny_run_lowers_the_validation_loss_and_exports(tmp_path):
    data = str(tmp_path / "data")
    learnable_shard(data, 80, 0)
    pt = str(tmp_path / "tiny.pt")
    cfg = TrainConfig(steps=40, map_steps=10, batch=4, crop=200, warmup=64, lr=2e-2, seed=0,
                      threads=1, device="cpu")
    info = train(data, pt, cfg, progress=False)
    start, end = info["val_l1_initial"], info["val_l1"]
    assert np.isfinite(start) and start > 0.1, start          # a fresh network is far off
    assert end < 0.4 * start, (start, end)                     # ... and learns well below it
    # the loss fell during training too, not only in the final number
    rec = [h["rec"] for h in info["history"]]
    assert rec[-1] < rec[0], rec
    onnx = str(tmp_path / "tiny.onnx")
    res = export_onnx(pt, onnx)
    assert res["max_abs_diff"] < 1e-4
    a = TorchPredictor(checkpoint.load(pt), device="cpu", threads=1)
    b = OnnxPredictor(onnx)
    assert isinstance(load_predictor(onnx, "onnxruntime"), OnnxPredictor)
    x = speech_like_signal(2.0, seed=2)
    alpha = np.zeros(7, np.float32)
    alpha[1] = 0.8
    fa, fb = a.animate(x, alpha, chunk=320).values, b.animate(x, alpha, chunk=500).values
    assert fa.shape == fb.shape == (120, 52)
    assert np.abs(fa - fb).max() < 1e-4
