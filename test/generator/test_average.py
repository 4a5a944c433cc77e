"""emotalk_ros.training.average and ``emotalk average``: the weighted mean of fine-tunes."""

import copy
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from test_generator import make_ckpt  # noqa: E402  (same folder)

from emotalk_ros.errors import EmotalkError
from emotalk_ros.generator import checkpoint
from emotalk_ros.generator.model import Generator, GeneratorConfig
from emotalk_ros.training.average import average, parse_weights


def _face(ck, seed=3):
    """The generator's output on fixed random input (1, 30, 52)."""
    g = Generator(GeneratorConfig.from_dict(ck["generator_config"]))
    g.load_state_dict(ck["generator"], strict=True)
    g.eval()
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(1, 30, g.cfg.n_mels, generator=gen)
    z = torch.randn(1, 30, g.cfg.emotion_dim, generator=gen)
    with torch.no_grad():
        y, _ = g(x, z, g.initial_state(1))
    return y


def _two():
    """Two 'fine-tunes' of one checkpoint: same make, different weights."""
    a = make_ckpt(seed=0)
    b = copy.deepcopy(a)
    b["generator"] = make_ckpt(seed=1)["generator"]
    return a, b


def test_the_average_is_the_weighted_mean_of_every_weight():
    a, b = _two()
    avg = average([a, b], [1.0, 3.0], names=["a.pt", "b.pt"])       # normalised to 1/4, 3/4
    for k, v in a["generator"].items():
        want = 0.25 * v.double() + 0.75 * b["generator"][k].double()
        assert torch.allclose(avg["generator"][k].double(), want, atol=1e-7), k
        assert avg["generator"][k].dtype == v.dtype
    assert any(not torch.equal(avg["generator"][k], a["generator"][k]) for k in a["generator"])
    # what was averaged is recorded; the first's record and make are kept
    assert [(e["checkpoint"], e["weight"]) for e in avg["train"]["average"]] == [
        ("a.pt", 0.25), ("b.pt", 0.75)]
    assert avg["generator_config"] == a["generator_config"]
    # the inputs are left as they were
    fresh = make_ckpt(seed=0)["generator"]
    assert torch.equal(a["generator"]["film.weight"], fresh["film.weight"])
    # it is a model: it loads strictly and runs, and differs from both ends
    y = _face(avg)
    assert torch.isfinite(y).all()
    assert not torch.allclose(y, _face(a)) and not torch.allclose(y, _face(b))


def test_a_checkpoint_averaged_with_itself_is_itself():
    a, _ = _two()
    avg = average([a, copy.deepcopy(a)], [0.5, 0.5])
    for k, v in a["generator"].items():
        assert torch.equal(avg["generator"][k], v), k
    assert torch.equal(_face(avg), _face(a))
    # weight 1 on one end gives that end
    _, b = _two()
    one = average([a, b], [0.0, 1.0])
    assert all(torch.equal(one["generator"][k], b["generator"][k]) for k in b["generator"])


@pytest.mark.parametrize("change, what", [
    (lambda c: c.__setitem__("generator_config", make_ckpt(lookahead=5)["generator_config"]),
     "generator_config"),
    (lambda c: c["emotion_space"].__setitem__("scales", [9.0] * 7), "emotion_space"),
    (lambda c: c.__setitem__("output_smoothing", 0.9), "output_smoothing"),
    (lambda c: c["generator"].pop("film.weight"), "film.weight"),
    (lambda c: c["generator"].__setitem__("film.bias", torch.zeros(3)), "shape"),
])
def test_checkpoints_of_another_make_are_refused_with_what_differs(change, what):
    a, b = _two()
    change(b)
    with pytest.raises(EmotalkError, match=what):
        average([a, b], [0.5, 0.5], names=["a.pt", "b.pt"])


def test_a_config_written_before_a_field_existed_averages_with_one_that_lists_it():
    # train-phones keeps its init's record, written before the readout fields existed;
    # a fine-tune of it lists them at their defaults: the same network, so it averages
    a, b = _two()
    for key in ("aperture_readout", "readout_bilabial", "readout_temperature"):
        assert key in a["generator_config"]
        del a["generator_config"][key]
    avg = average([a, b], [0.5, 0.5])
    assert torch.isfinite(_face(avg)).all()
    # a field that differs from its default still refuses, listed or not
    c = copy.deepcopy(b)
    c["generator_config"]["readout_bilabial"] = 3.0
    with pytest.raises(EmotalkError, match="generator_config"):
        average([a, c], [0.5, 0.5])


def test_bad_weights_are_refused():
    a, b = _two()
    for w in ([0.5], [-1.0, 2.0], [0.0, 0.0], [float("nan"), 1.0]):
        with pytest.raises(EmotalkError):
            average([a, b], w)
    with pytest.raises(EmotalkError, match="at least two"):
        average([a], [1.0])
    assert parse_weights("", 4) == [0.25] * 4
    assert parse_weights("1,3", 2) == [1.0, 3.0]
    for text, n in (("1,x", 2), ("1,2,3", 2)):
        with pytest.raises(EmotalkError):
            parse_weights(text, n)


def test_the_cli_averages_and_refuses_in_one_line(tmp_path):
    a, b = _two()
    pa, pb, out = (str(tmp_path / n) for n in ("a.pt", "b.pt", "avg.pt"))
    checkpoint.save(pa, a)
    checkpoint.save(pb, b)
    r = subprocess.run([sys.executable, "-m", "emotalk_ros", "average", pa, pb, "--weights",
                        "0.25,0.75", "-o", out, "--model-version", "soup-test"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    ck = checkpoint.load(out)
    assert ck["model_version"] == "soup-test"
    k = "film.weight"
    want = 0.25 * a["generator"][k] + 0.75 * b["generator"][k]
    assert np.allclose(ck["generator"][k].numpy(), want.numpy(), atol=1e-7)
    other = make_ckpt(lookahead=5)
    po = str(tmp_path / "other.pt")
    checkpoint.save(po, other)
    r = subprocess.run([sys.executable, "-m", "emotalk_ros", "average", pa, po, "-o",
                        str(tmp_path / "bad.pt")], capture_output=True, text=True, timeout=120)
    assert r.returncode == 1
    assert r.stderr.strip().count("\n") == 0 and "generator_config differs" in r.stderr
    assert not (tmp_path / "bad.pt").exists()
