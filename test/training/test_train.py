"""`emotalk train` end to end on a tiny synthetic corpus (two folders), then load, export and
fine-tune."""

import os
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("torch")

from conftest import ROOT

from emotalk_ros.core.phones import PHONES
from emotalk_ros.generator import checkpoint


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
    np.savez(
        os.path.join(path, "shard_00000.npz"),
        mel=np.concatenate(mels),
        mel_offsets=np.array(mo),
        alpha=np.concatenate(alphas),
        phone_start=np.array(ps, np.float32),
        phone_end=np.array(pe, np.float32),
        phone_id=np.array(pid, np.int16),
        phone_offsets=np.array(po),
        speaker=np.zeros(n_clips, np.int32),
        clip_meta=np.array(["{}"] * n_clips),
    )


def emotalk(*args):
    r = subprocess.run(
        [sys.executable, "-m", "emotalk_ros", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env=dict(os.environ, OMP_NUM_THREADS="1"),
    )
    assert r.returncode == 0, r.stderr[-3000:]
    return r


def test_spectral_augment_warps_and_tilts():
    from emotalk_ros.training.train import spectral_augment

    rng = np.random.default_rng(0)
    mel = np.zeros((5, 40), np.float32)
    mel[:, 10] = 1.0                                                  # one "formant" at bin 10
    peaks = set()
    for _ in range(40):
        out = spectral_augment(mel, rng, 0.2, 0.0)
        assert out.shape == mel.shape and out.dtype == np.float32
        peaks.add(int(np.argmax(out[0])))
    assert min(peaks) <= 9 and max(peaks) >= 11                       # moved both ways
    assert max(peaks) <= 12 and min(peaks) >= 8                       # by at most ~20 %
    flat = spectral_augment(np.zeros((3, 40), np.float32), rng, 0.0, 0.5)
    slope = flat[0, -1] - flat[0, 0]
    assert 0 < abs(slope) <= 0.5 and np.allclose(
        flat[0], flat[2]
    )  # a linear tilt, same every frame
    assert np.array_equal(spectral_augment(mel, rng, 0.0, 0.0), mel)


def test_train_export_and_finetune(tmp_path):
    a, b = str(tmp_path / "a"), str(tmp_path / "b")
    fake_shard(a, 70, 0)
    fake_shard(b, 30, 1)
    out = str(tmp_path / "m.pt")
    emotalk(
        "train",
        "--data",
        f"{a},{b}",
        "--out",
        out,
        "--steps",
        "4",
        "--map-steps",
        "4",
        "--batch",
        "4",
        "--threads",
        "1",
        "--no-progress",
    )
    ck = checkpoint.load(out)
    assert ck["train"]["clips"] == 100 and len(ck["train"]["data"]) == 2
    assert np.isfinite(ck["train"]["val_l1"]) and ck["output_smoothing"] == pytest.approx(0.3)
    assert len(ck["emotion_space"]["normals"]) == 7
    emotalk("export", out, "-o", str(tmp_path / "m.onnx"))
    # fine-tuning keeps the emotion space (the generator is conditioned on it)
    ft = str(tmp_path / "ft.pt")
    emotalk("train", "--data", a, "--out", ft, "--steps", "3", "--batch", "4", "--threads", "1",
            "--init", out, "--w-aperture", "1.0", "--w-accel", "2.0", "--w-aperture-corr", "0.5",
            "--no-progress")
    ck2 = checkpoint.load(ft)
    assert ck2["train"]["config"]["w_accel"] == 2.0 and ck["train"]["config"]["w_accel"] == 0.0
    assert ck2["train"]["config"]["w_aperture_corr"] == 0.5
    assert np.isfinite(ck2["train"]["val_l1"])
    assert ck2["emotion_space"]["normals"] == ck["emotion_space"]["normals"]
    assert ck2["train"]["init"] == out
    assert (
        ck2["generator_config"]["lookahead_frames"]
        == ck["generator_config"]["lookahead_frames"]
        == 8
    )
    # a fine-tune can re-target the look-ahead, with the speaker/channel augmentation on
    ft70 = str(tmp_path / "ft70.pt")
    emotalk(
        "train",
        "--data",
        a,
        "--out",
        ft70,
        "--steps",
        "3",
        "--batch",
        "4",
        "--threads",
        "1",
        "--init",
        out,
        "--lookahead-ms",
        "70",
        "--freq-warp",
        "0.1",
        "--tilt",
        "0.3",
        "--no-progress",
    )
    ck3 = checkpoint.load(ft70)
    assert (
        ck3["generator_config"]["lookahead_frames"] == 7 and ck3["train"]["lookahead_ms"] == 70.0
    )
    # a fine-tune can add a phone bottleneck: the old weights are kept, the new ones train
    # with their cross-entropy, and the result exports; a second, different one is refused
    ftp = str(tmp_path / "ftp.pt")
    emotalk("train", "--data", a, "--out", ftp, "--steps", "3", "--batch", "4", "--threads", "1",
            "--init", out, "--phone-after", "6", "--w-phone", "1.0", "--no-progress")
    ck4 = checkpoint.load(ftp)
    assert ck4["generator_config"]["phone_after"] == 6
    assert ck["generator_config"]["phone_after"] == -1
    assert {"phone_out.weight", "phone_out.bias", "phone_in.weight"} <= set(ck4["generator"])
    assert ck4["train"]["history"][0]["phone"] > 0.0
    emotalk("export", ftp, "-o", str(tmp_path / "ftp.onnx"))
    r = subprocess.run([sys.executable, "-m", "emotalk_ros", "train", "--data", a, "--out",
                        str(tmp_path / "bad.pt"), "--steps", "1", "--batch", "4", "--init", ftp,
                        "--phone-after", "2", "--no-progress"],
                       cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert r.returncode != 0 and "bottleneck is after block 6" in r.stderr
    # made strict, with only what follows the bottleneck trained: the trunk stays as it was
    fts = str(tmp_path / "fts.pt")
    emotalk("train", "--data", a, "--out", fts, "--steps", "3", "--batch", "4", "--threads", "1",
            "--init", ftp, "--phone-replace", "--freeze-trunk", "--lr", "1e-2", "--no-progress")
    ck5 = checkpoint.load(fts)
    assert ck5["generator_config"]["phone_replace"] is True
    g4, g5 = ck4["generator"], ck5["generator"]
    for k in g4:
        same = bool((g4[k] == g5[k]).all())
        assert same == (not k.startswith(("head.", "phone_in."))), k
    r = subprocess.run([sys.executable, "-m", "emotalk_ros", "train", "--data", a, "--out",
                        str(tmp_path / "bad.pt"), "--steps", "1", "--batch", "4", "--init", out,
                        "--freeze-trunk", "--no-progress"],
                       cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert r.returncode != 0 and "needs a phone bottleneck" in r.stderr
    # the strict face made a phone mixture: no new weights, it trains and exports (export
    # checks torch against onnxruntime, both streaming); without a strict bottleneck: refused
    ftm = str(tmp_path / "ftm.pt")
    emotalk("train", "--data", a, "--out", ftm, "--steps", "3", "--batch", "4", "--threads", "1",
            "--init", fts, "--phone-mixture", "--lr", "1e-2", "--no-progress")
    ck6 = checkpoint.load(ftm)
    assert ck6["generator_config"]["phone_mixture"] is True
    assert set(ck6["generator"]) == set(g5)
    assert any(not bool((ck6["generator"][k] == g5[k]).all()) for k in g5)
    emotalk("export", ftm, "-o", str(tmp_path / "ftm.onnx"))
    # the bilabial loss through the posteriors alone trains; without the mixture: refused
    ftb = str(tmp_path / "ftb.pt")
    emotalk("train", "--data", a, "--out", ftb, "--steps", "2", "--batch", "4", "--threads", "1",
            "--init", ftm, "--bilabial-via-posteriors", "--no-progress")
    assert checkpoint.load(ftb)["train"]["config"]["bilabial_via_posteriors"] is True
    # a learnt dominance added to the mixture: one new weight, which trains, and it exports
    ftd = str(tmp_path / "ftd.pt")
    emotalk("train", "--data", a, "--out", ftd, "--steps", "3", "--batch", "4", "--threads", "1",
            "--init", ftm, "--phone-dominance", "--lr", "1e-2", "--no-progress")
    ck7 = checkpoint.load(ftd)
    assert ck7["generator_config"]["phone_dominance"] is True
    assert set(ck7["generator"]) == set(g5) | {"phone_dom"}
    assert float(ck7["generator"]["phone_dom"].abs().max()) > 0.0
    emotalk("export", ftd, "-o", str(tmp_path / "ftd.onnx"))
    r = subprocess.run([sys.executable, "-m", "emotalk_ros", "train", "--data", a, "--out",
                        str(tmp_path / "bad.pt"), "--steps", "1", "--batch", "4", "--init", ftp,
                        "--phone-mixture", "--no-progress"],
                       cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert r.returncode != 0 and "needs a strict phone bottleneck" in r.stderr
    assert "Traceback" not in r.stderr
    r = subprocess.run([sys.executable, "-m", "emotalk_ros", "train", "--data", a, "--out",
                        str(tmp_path / "bad.pt"), "--steps", "1", "--batch", "4", "--init", fts,
                        "--bilabial-via-posteriors", "--no-progress"],
                       cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert r.returncode != 0 and "needs the phone mixture" in r.stderr
    assert "Traceback" not in r.stderr
    r = subprocess.run([sys.executable, "-m", "emotalk_ros", "train", "--data", a, "--out",
                        str(tmp_path / "bad.pt"), "--steps", "1", "--batch", "4", "--init", fts,
                        "--phone-dominance", "--no-progress"],
                       cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert r.returncode != 0 and "phone_dominance needs phone_mixture" in r.stderr
    assert "Traceback" not in r.stderr
    with pytest.raises(AssertionError):
        emotalk(
            "train",
            "--data",
            str(tmp_path / "empty"),
            "--out",
            str(tmp_path / "x.pt"),
            "--steps",
            "1",
        )


def test_the_consistency_loss_can_skip_windows_that_are_not_speech():
    import torch

    from emotalk_ros.core.phones import PHONE_INDEX
    from emotalk_ros.training.train import consistency_loss

    sil, a = PHONE_INDEX["sil"], PHONE_INDEX["aa"]
    w = 4
    # one crop, two windows: the first speech, the second silence (and a bad reading there)
    ph = torch.tensor([[a, a, a, sil, sil, sil, sil, sil]])
    valid = torch.ones(1, 2 * w)
    z = torch.zeros(2, 3)
    m = torch.tensor([[0.1, 0.1, 0.1], [2.0, 2.0, 2.0]])
    every = consistency_loss(m, z, ph, valid, w, speech_only=False)
    speech = consistency_loss(m, z, ph, valid, w, speech_only=True)
    assert every.item() == pytest.approx((0.01 + 4.0) / 2)
    assert speech.item() == pytest.approx(0.01)                  # the silent window is left out
    # frames outside the loss (warm-up, edges) are not speech either
    assert consistency_loss(m, z, ph, torch.zeros(1, 2 * w), w, True).item() == 0.0
    # the gradient reaches the speech window's reading only
    m.requires_grad_(True)
    consistency_loss(m, z, ph, valid, w, True).backward()
    assert m.grad[0].abs().sum() > 0 and m.grad[1].abs().sum() == 0


def test_the_symmetry_loss_counts_one_sided_shapes_the_target_does_not_have():
    import torch

    from emotalk_ros.core.blendshapes import INDEX
    from emotalk_ros.training.train import SYM_LEFT, SYM_RIGHT, symmetry_loss

    sl, sr = torch.from_numpy(SYM_LEFT), torch.from_numpy(SYM_RIGHT)
    assert len(SYM_LEFT) == 20 and INDEX["jawLeft"] in SYM_LEFT
    tgt = torch.zeros(1, 3, 52)
    tgt[..., INDEX["mouthSmileLeft"]] = tgt[..., INDEX["mouthSmileRight"]] = 0.5
    y = tgt.clone()
    valid = torch.ones(1, 3)
    assert symmetry_loss(y, tgt, valid, sl, sr).item() == 0.0
    y[..., INDEX["mouthSmileLeft"]] = 0.9                         # a one-sided smile
    assert symmetry_loss(y, tgt, valid, sl, sr).item() == pytest.approx(0.4 / 20)
    assert symmetry_loss(y, tgt, torch.zeros(1, 3), sl, sr).item() == 0.0   # masked frames
    # an asymmetric target (contempt's one-sided smile) matched costs nothing
    tgt[..., INDEX["mouthSmileLeft"]] = 0.9
    assert symmetry_loss(y, tgt, valid, sl, sr).item() == pytest.approx(0.0, abs=1e-7)


def test_the_acceleration_loss_costs_jitter_the_target_does_not_have():
    import torch

    from emotalk_ros.training.train import accel_loss

    t = torch.arange(12, dtype=torch.float32)
    tgt = torch.zeros(1, 12, 52)
    tgt[..., 0] = 0.05 * t                                        # a ramp: no acceleration
    tgt[..., 1] = 0.5 * torch.sin(0.3 * t)                        # a smooth curve: some
    valid = torch.ones(1, 12)
    assert accel_loss(tgt, tgt, valid).item() == 0.0             # its own bends cost nothing
    shifted = tgt + 0.2                                           # an offset is not jitter
    assert accel_loss(shifted, tgt, valid).item() == pytest.approx(0.0, abs=1e-6)
    y = tgt.clone()
    y[0, 5, 0] += 0.1                                             # one frame out of line
    # its three second differences are 0.1, 0.2 and 0.1, spread over 52 shapes and 10 frames
    assert accel_loss(y, tgt, valid).item() == pytest.approx(0.4 / 52 / 10)
    # a frame whose neighbours are masked is left out, and so is a crop of < 3 frames
    m = valid.clone()
    m[0, 4:7] = 0.0
    assert accel_loss(y, tgt, m).item() == pytest.approx(0.0, abs=1e-7)
    assert accel_loss(y[:, :2], tgt[:, :2], valid[:, :2]).item() == 0.0
    # the gradient reaches the jittered frame and its neighbours only
    y.requires_grad_(True)
    accel_loss(y, tgt, valid).backward()
    assert set(torch.nonzero(y.grad[0, :, 0]).flatten().tolist()) == {3, 4, 5, 6, 7}


def test_the_aperture_correlation_loss_costs_the_shape_not_the_scale():
    import torch

    from emotalk_ros.training.train import aperture_corr_loss

    t = torch.arange(40, dtype=torch.float32)
    ap_t = (0.3 + 0.25 * torch.sin(0.4 * t))[None]                # the target opens and closes
    valid = torch.ones(1, 40)
    assert aperture_corr_loss(ap_t, ap_t, valid).item() == pytest.approx(0.0, abs=1e-5)
    # a mouth that moves the same way at half the size and raised costs nothing: the L1
    # terms hold the scale, this one the shape
    assert aperture_corr_loss(0.1 + 0.5 * ap_t, ap_t, valid).item() == pytest.approx(
        0.0, abs=1e-5)
    # moving against the phones costs 2, a mouth half open throughout close to 1
    assert aperture_corr_loss(1.0 - ap_t, ap_t, valid).item() == pytest.approx(2.0, abs=1e-4)
    flat = 0.3 + 0.001 * torch.sin(1.3 * t)[None]
    assert aperture_corr_loss(flat, ap_t, valid).item() == pytest.approx(1.0, abs=0.2)
    # a late mouth costs: one lagging 3 frames behind loses part of its correlation
    late = torch.cat([ap_t[:, :1].repeat(1, 3), ap_t[:, :-3]], 1)
    assert 0.1 < aperture_corr_loss(late, ap_t, valid).item() < 1.0
    # masked frames are left out: disagreeing there costs nothing
    y = ap_t.clone()
    y[0, 30:] = 1.0 - y[0, 30:]
    m = valid.clone()
    m[0, 30:] = 0.0
    assert aperture_corr_loss(y, ap_t, m).item() == pytest.approx(0.0, abs=1e-5)
    assert aperture_corr_loss(y, ap_t, valid).item() > 0.05
    # a crop whose target barely moves (silence) is left out; every crop left out gives 0
    still = torch.full((1, 40), 0.01)
    two = aperture_corr_loss(torch.cat([1.0 - ap_t, 0.5 + ap_t]), torch.cat([ap_t, still]),
                             torch.ones(2, 40))
    assert two.item() == pytest.approx(2.0, abs=1e-4)
    assert aperture_corr_loss(ap_t, still, valid).item() == 0.0
    # the gradient reaches the aperture and is finite on a flat output
    f = flat.clone().requires_grad_(True)
    aperture_corr_loss(f, ap_t, valid).backward()
    assert torch.isfinite(f.grad).all() and f.grad.abs().sum() > 0


def test_the_phone_loss_is_the_cross_entropy_over_valid_frames():
    import math

    import torch

    from emotalk_ros.training.train import phone_loss

    P = len(PHONES)
    ph = torch.tensor([[1, 2, 3, 4]])
    valid = torch.ones(1, 4)
    # uniform logits: log P per frame, whatever the phone
    assert phone_loss(torch.zeros(1, 4, P), ph, valid).item() == pytest.approx(math.log(P))
    sure = torch.full((1, 4, P), -20.0)
    sure[0, torch.arange(4), ph[0]] = 20.0                      # confident and right
    assert phone_loss(sure, ph, valid).item() == pytest.approx(0.0, abs=1e-6)
    wrong = sure.roll(1, dims=2)                                # confident and wrong
    assert phone_loss(wrong, ph, valid).item() == pytest.approx(40.0, rel=1e-4)
    # masked frames count for nothing; no valid frame at all gives 0, not NaN
    mixed = sure.clone()
    mixed[0, 3] = wrong[0, 3]
    m = valid.clone()
    m[0, 3] = 0.0
    assert phone_loss(mixed, ph, m).item() == pytest.approx(0.0, abs=1e-6)
    assert phone_loss(mixed, ph, valid).item() == pytest.approx(10.0, rel=1e-4)
    assert phone_loss(mixed, ph, torch.zeros(1, 4)).item() == 0.0


def test_the_expression_loss_costs_a_sagging_expression_and_nothing_else():
    import torch

    from emotalk_ros.core.blendshapes import INDEX
    from emotalk_ros.training.train import EXPRESSION, expression_loss

    names = {"noseSneerLeft", "mouthSmileRight", "browInnerUp", "eyeWideLeft", "mouthPressLeft"}
    assert names <= {n for n, i in INDEX.items() if i in EXPRESSION}
    assert INDEX["jawOpen"] not in EXPRESSION and INDEX["mouthUpperUpLeft"] not in EXPRESSION
    idx = torch.from_numpy(EXPRESSION)
    tgt = torch.zeros(1, 4, 52)
    tgt[..., INDEX["noseSneerLeft"]] = 0.6                        # disgust held through speech
    y = tgt.clone()
    y[..., INDEX["jawOpen"]] = 0.7                                # the mouth moves: not costed
    valid = torch.ones(1, 4)
    assert expression_loss(y, tgt, valid, idx).item() == 0.0
    y[0, 1:3, INDEX["noseSneerLeft"]] = 0.2                       # the wrinkle sags for 2 frames
    want = 0.4 * 2 / 4 / len(EXPRESSION)
    assert expression_loss(y, tgt, valid, idx).item() == pytest.approx(want)
    valid[0, 1:3] = 0.0                                           # masked frames cost nothing
    assert expression_loss(y, tgt, valid, idx).item() == 0.0


def test_corpus_groups_follow_the_clips_not_their_address():
    """The per-corpus split of the training clips is cached; a later run's clips array may
    get a freed array's address (CPython reuses it at once), and must still get its own
    split (an address-keyed cache once gave a second run in one process other batches)."""
    from types import SimpleNamespace

    from emotalk_ros.training.train import _corpus_groups

    data = SimpleNamespace(corpus=np.array([0, 0, 1, 1, 2, 2], np.int32))
    for _ in range(20):
        a = np.array([0, 2, 4])
        assert [g.tolist() for g in _corpus_groups(data, a)] == [[0], [2], [4]]
        del a
        b = np.array([1, 3, 5])
        assert [g.tolist() for g in _corpus_groups(data, b)] == [[1], [3], [5]]
    other = SimpleNamespace(corpus=np.array([1, 1, 1, 1, 0, 0], np.int32))   # same clips,
    assert [g.tolist() for g in _corpus_groups(other, b)] == [[5], [1, 3]]    # other data


def test_a_fine_tune_from_the_calibrated_file_learns_what_it_learns_from_the_raw_one(
        tmp_path, monkeypatch):
    """`emotalk calibrate` changes only the intensity warp and the run-time smoothing, and a
    fine-tune reads neither: from a shipped (calibrated) file it trains exactly as from the
    checkpoint it was calibrated from (make model's step d. may start from models/)."""
    import torch

    from emotalk_ros.generator import checkpoint
    from emotalk_ros.training.calibrate import calibrate
    from emotalk_ros.training.train import TrainConfig, train

    monkeypatch.chdir(tmp_path)
    fake_shard("a", 24, 0)
    cfg = TrainConfig(steps=3, map_steps=3, batch=2, crop=200, warmup=16, threads=1, seed=3)
    train("a", "raw.pt", cfg, lookahead_ms=30, progress=False, model_version="t")
    cal = calibrate(checkpoint.load("raw.pt"), 0.3)
    assert cal["emotion_space"].get("calibration") is not None
    checkpoint.save("cal.pt", cal)
    for name in ("raw", "cal"):
        train("a", f"ft_{name}.pt", TrainConfig(**{**cfg.__dict__, "seed": 9}),
              lookahead_ms=30, progress=False, model_version="t", init=f"{name}.pt")
    a, b = checkpoint.load("ft_raw.pt"), checkpoint.load("ft_cal.pt")
    assert a["generator"].keys() == b["generator"].keys()
    assert all(torch.equal(a["generator"][k], b["generator"][k]) for k in a["generator"])
    moved = checkpoint.load("raw.pt")["generator"]
    assert not all(torch.equal(moved[k], a["generator"][k]) for k in moved)  # it did train


def _mixture_run(tmp_path, monkeypatch):
    """In ``tmp_path``: a small shard "a" and a 3-step phone-mixture run on it, "raw.pt"
    (with dominance); returns its TrainConfig."""
    from emotalk_ros.training.train import TrainConfig, train

    monkeypatch.chdir(tmp_path)
    fake_shard("a", 24, 0)
    cfg = TrainConfig(steps=3, map_steps=3, batch=2, crop=200, warmup=16, threads=1, seed=3,
                      phone_after=6, phone_replace=True, phone_mixture=True,
                      phone_dominance=True, w_phone=1.0)
    train("a", "raw.pt", cfg, lookahead_ms=30, progress=False, model_version="t")
    return cfg


def test_a_fine_tune_from_a_file_with_the_aperture_readout_learns_what_it_learns_without(
        tmp_path, monkeypatch):
    """`emotalk calibrate --aperture-readout` adds the readout after training, and a
    fine-tune drops it: from such a file it trains exactly as from the checkpoint it was
    calibrated from, and what it writes has no readout."""
    import torch

    from emotalk_ros.generator import checkpoint
    from emotalk_ros.training.calibrate import calibrate
    from emotalk_ros.training.train import TrainConfig, train

    cfg = _mixture_run(tmp_path, monkeypatch)
    cal = calibrate(checkpoint.load("raw.pt"), 0.3, readout=(16.0, 0.7))
    assert cal["generator_config"]["aperture_readout"] is True
    checkpoint.save("cal.pt", cal)
    for name in ("raw", "cal"):
        train("a", f"ft_{name}.pt", TrainConfig(**{**cfg.__dict__, "seed": 9}),
              lookahead_ms=30, progress=False, model_version="t", init=f"{name}.pt")
    a, b = checkpoint.load("ft_raw.pt"), checkpoint.load("ft_cal.pt")
    assert b["generator_config"] == a["generator_config"]
    assert not b["generator_config"]["aperture_readout"]
    assert a["generator"].keys() == b["generator"].keys()
    assert all(torch.equal(a["generator"][k], b["generator"][k]) for k in a["generator"])


def test_a_fine_tune_through_the_aperture_readout_keeps_it_and_trains_what_it_reads(
        tmp_path, monkeypatch):
    """`emotalk train --aperture-readout`: the losses see the jaw read from the posteriors, so
    the phone head learns from it (its weights end elsewhere than the same run without the
    readout), the result keeps the readout with the init's measured scale, and an init
    without the phone mixture, or no init, gets one EmotalkError line."""
    import torch

    from emotalk_ros.errors import EmotalkError
    from emotalk_ros.generator import checkpoint
    from emotalk_ros.training.calibrate import add_aperture_readout
    from emotalk_ros.training.train import TrainConfig, train

    cfg = _mixture_run(tmp_path, monkeypatch)
    ft = TrainConfig(**{**cfg.__dict__, "seed": 9, "w_phone": 0.0, "w_aperture": 1.0})
    train("a", "plain.pt", ft, lookahead_ms=30, progress=False, model_version="t", init="raw.pt")
    train("a", "ro.pt", TrainConfig(**{**ft.__dict__, "readout_bilabial": 16.0,
                                       "readout_temperature": 0.7}),
          lookahead_ms=30, progress=False, model_version="t", init="raw.pt")
    a, b = checkpoint.load("plain.pt"), checkpoint.load("ro.pt")
    gc = b["generator_config"]
    assert gc["aperture_readout"] is True and not a["generator_config"]["aperture_readout"]
    assert (gc["readout_bilabial"], gc["readout_temperature"]) == (16.0, 0.7)
    want = add_aperture_readout(checkpoint.load("raw.pt"), 16.0, 0.7)["generator_config"]
    assert gc["readout_scale"] == want["readout_scale"]
    # without the phone cross-entropy only the face's losses reach the phone head: through
    # the readout they do so differently
    assert not torch.equal(a["generator"]["phone_out.weight"], b["generator"]["phone_out.weight"])
    with pytest.raises(EmotalkError, match="--aperture-readout needs --init"):
        train("a", "x.pt", TrainConfig(**{**cfg.__dict__, "readout_bilabial": 16.0}),
              lookahead_ms=30, progress=False, model_version="t")
    train("a", "head.pt", TrainConfig(steps=2, map_steps=2, batch=2, crop=200, warmup=16,
                                      threads=1, seed=3), lookahead_ms=30, progress=False,
          model_version="t")
    with pytest.raises(EmotalkError, match="phone-mixture"):
        train("a", "y.pt", TrainConfig(**{**ft.__dict__, "readout_bilabial": 16.0}),
              lookahead_ms=30, progress=False, model_version="t", init="head.pt")


def test_the_neutral_faces_term_holds_the_neutral_face_and_still_trains_the_head(
        tmp_path, monkeypatch):
    """`emotalk train --w-neutral`: from a phone-mixture init the per-phone faces at the
    neutral embedding stay near the init's (much nearer than the same run without the term),
    the dominance is frozen, and the head's emotion inputs still train; without a
    phone-mixture init it is one EmotalkError line."""
    import torch

    from emotalk_ros.emotion.space import EmotionSpace
    from emotalk_ros.errors import EmotalkError
    from emotalk_ros.generator import checkpoint
    from emotalk_ros.generator.model import Generator, GeneratorConfig
    from emotalk_ros.training.train import TrainConfig, train

    cfg = _mixture_run(tmp_path, monkeypatch)
    ft = TrainConfig(**{**cfg.__dict__, "seed": 9, "steps": 12, "lr": 2e-2, "w_phone": 0.0,
                        "freeze_trunk": True, "alt_fraction": 1.0})
    train("a", "free.pt", ft, lookahead_ms=30, progress=False, model_version="t", init="raw.pt")
    train("a", "held.pt", TrainConfig(**{**ft.__dict__, "w_neutral": 50.0}), lookahead_ms=30,
          progress=False, model_version="t", init="raw.pt")

    def neutral_faces(name):
        """The checkpoint's per-phone faces at its neutral embedding (P, 52), and the
        checkpoint."""
        ck = checkpoint.load(name)
        g = Generator(GeneratorConfig.from_dict(ck["generator_config"]))
        g.load_state_dict(ck["generator"])
        z = EmotionSpace.from_dict(ck["emotion_space"]).z_neutral.astype(np.float32)
        with torch.no_grad():
            return g.phone_faces(torch.from_numpy(z)), ck

    n0, raw = neutral_faces("raw.pt")
    n_free, _ = neutral_faces("free.pt")
    n_held, held = neutral_faces("held.pt")
    drift_free = float((n_free - n0).abs().mean())
    drift_held = float((n_held - n0).abs().mean())
    assert drift_free > 0.0
    assert drift_held < 0.5 * drift_free, (drift_held, drift_free)
    assert torch.equal(held["generator"]["phone_dom"], raw["generator"]["phone_dom"])
    # the face still trains: how the emotion embedding reaches the head moves
    C = GeneratorConfig.from_dict(raw["generator_config"]).channels
    w_raw, w_held = raw["generator"]["head.0.weight"], held["generator"]["head.0.weight"]
    assert float((w_held[:, C:] - w_raw[:, C:]).abs().max()) > 1e-4
    with pytest.raises(EmotalkError, match="--w-neutral needs --init"):
        train("a", "x.pt", TrainConfig(**{**cfg.__dict__, "w_neutral": 1.0}),
              lookahead_ms=30, progress=False, model_version="t")
