"""The same training command twice gives byte-identical checkpoints (the model card's
reproduction promise rests on this), with the silence and real-speech options on."""

import hashlib

import pytest

pytest.importorskip("torch")

from test_train import fake_shard  # noqa: E402

from emotalk_ros.training.train import TrainConfig, train  # noqa: E402


def sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def test_two_runs_give_the_same_bytes_and_another_seed_does_not(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    fake_shard("a", 30, 0)
    fake_shard("b", 20, 1)
    cfg = TrainConfig(steps=4, map_steps=3, batch=2, crop=200, warmup=16, threads=1,
                      sil_fraction=0.3, pad_sil=0.5, target_lead=2, data_weights=(0.7, 0.3))
    # (torch.save names the archive after the file, so every run writes the same name)
    digests = []
    for k, seed in enumerate((3, 3, 4)):
        train("a,b", f"run{k}/m.pt", TrainConfig(**{**cfg.__dict__, "seed": seed}),
              lookahead_ms=30, progress=False, model_version="t")
        digests.append(sha(f"run{k}/m.pt"))
    assert digests[0] == digests[1]
    assert digests[2] != digests[0]
    # a fine-tune from it is reproducible too
    for k in (0, 1):
        train("b", f"ft{k}/ft.pt", TrainConfig(**{**cfg.__dict__, "seed": 9, "data_weights": ()}),
              progress=False,
              model_version="t", init="run0/m.pt")
    assert sha("ft0/ft.pt") == sha("ft1/ft.pt")
