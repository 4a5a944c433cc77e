"""A model is checked at load with one dummy push through its real backend: a model whose
metadata disagrees with its graph fails at once with one clear line."""

import json
import os

import pytest
from conftest import ROOT

from emotalk_ros.errors import ModelMismatchError
from emotalk_ros.generator.loading import load_predictor

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
SHIPPED = os.path.join(ROOT, "models", "emotalk_default.onnx")


def broken_copy(tmp_path, edit):
    """The shipped ONNX model with its emotalk metadata changed by ``edit(meta)``."""
    m = onnx.load(SHIPPED)
    for prop in m.metadata_props:
        if prop.key == "emotalk":
            meta = json.loads(prop.value)
            edit(meta)
            prop.value = json.dumps(meta)
    path = str(tmp_path / "broken.onnx")
    onnx.save(m, path)
    return path


def test_the_shipped_model_passes_its_check():
    p = load_predictor(SHIPPED)
    p.self_check()                                     # again: idempotent, state reset after
    assert p.samples_pushed == 0


def test_state_shape_that_disagrees_with_the_graph_fails_at_load(tmp_path):
    def grow(meta):
        meta["state_shape"][-1] += 1
    path = broken_copy(tmp_path, grow)
    with pytest.raises(ModelMismatchError) as e:
        load_predictor(path)
    msg = str(e.value)
    assert "test push" in msg and "state" in msg and "\n" not in msg and len(msg) < 400, msg


def test_a_wrong_feature_count_fails_at_load(tmp_path):
    def mels(meta):
        meta["feature_config"]["n_mels"] = 41
    path = broken_copy(tmp_path, mels)
    with pytest.raises(ModelMismatchError) as e:
        load_predictor(path)
    assert "\n" not in str(e.value)
