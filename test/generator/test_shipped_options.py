"""Every shipped generator (the 70 ms default and the low-latency option): its look-ahead,
the parameter budget, the streaming contract (any chunk size gives the same frames) and
torch/ONNX agreement."""

import os

import numpy as np
import pytest

pytest.importorskip("torch")

from emotalk_ros.generator import checkpoint  # noqa: E402
from emotalk_ros.generator.loading import load_predictor  # noqa: E402

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
MODELS = {"emotalk_default": 70.0, "emotalk_lowlatency": 30.0}
PRESENT = [m for m in MODELS if os.path.exists(os.path.join(ROOT, "models", m + ".onnx"))]


def speech(seconds=1.5, seed=3):
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * 16000)) / 16000
    env = (np.sin(2 * np.pi * 3 * t) > -0.2).astype(np.float32)
    return (0.2 * env * np.sin(2 * np.pi * 140 * t) + 0.01 * rng.normal(size=t.size)).astype(
        np.float32)


@pytest.mark.parametrize("name", PRESENT)
def test_shipped_model_lookahead_budget_and_metadata(name):
    ck = checkpoint.load(os.path.join(ROOT, "models", name + ".pt"))
    assert ck["generator_config"]["lookahead_frames"] * 10.0 == MODELS[name]
    n = sum(int(np.prod(v.shape)) for v in ck["generator"].values()
            if not str(v.dtype).startswith("torch.int"))
    assert n <= 5_000_000
    assert 0.0 <= ck["output_smoothing"] < 1.0


@pytest.mark.parametrize("name", PRESENT)
def test_shipped_model_streams_identically_in_any_chunk_size_and_backend(name):
    x = speech()
    onnx = load_predictor(os.path.join(ROOT, "models", name + ".onnx"), "onnxruntime", fps=60.0)
    ref = onnx.animate(x, emotion=np.eye(7, dtype=np.float32)[0] * 0.7)
    assert onnx.info.lookahead_ms == MODELS[name]
    for chunk in (160, 320, 511, 16000):
        got = onnx.animate(x, emotion=np.eye(7, dtype=np.float32)[0] * 0.7, chunk=chunk)
        np.testing.assert_allclose(got.values, ref.values, atol=1e-5)
        np.testing.assert_array_equal(got.times, ref.times)
    torch_pred = load_predictor(os.path.join(ROOT, "models", name + ".pt"), "torch", fps=60.0)
    tv = torch_pred.animate(x, emotion=np.eye(7, dtype=np.float32)[0] * 0.7).values
    assert np.abs(tv - ref.values).max() < 1e-4


@pytest.mark.parametrize("name", PRESENT)
def test_a_shipped_model_is_loaded_by_its_bare_name(name):
    version = checkpoint.load(os.path.join(ROOT, "models", name + ".pt"))["model_version"]
    for backend in ("onnxruntime", "torch"):           # torch loads the .pt of the same name
        pred = load_predictor(name, backend, fps=60.0)
        assert pred.info.backend.startswith(backend)
        assert pred.info.lookahead_ms == MODELS[name] and pred.info.model_version == version


def test_an_unknown_model_name_lists_the_shipped_ones():
    from emotalk_ros.errors import EmotalkError

    with pytest.raises(EmotalkError) as e:
        load_predictor("emotalk_lowlatncy", "auto", fps=60.0)
    msg = str(e.value)
    assert "model file not found" in msg and "emotalk_default" in msg
    for bad in ("no/such/dir/emotalk_default.onnx", "emotalk_default.wav"):
        with pytest.raises(EmotalkError, match="model file not found"):
            load_predictor(bad, "auto", fps=60.0)
