"""tools/aperture_diagnosis.py: the ``phones`` system reads a bottleneck's own posteriors."""

import importlib.util
import os
import types

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from conftest import ROOT
from test_generator import make_ckpt  # noqa: E402  (same folder)

from emotalk_ros.core.blendshapes import INDEX
from emotalk_ros.core.phones import PHONE_INDEX
from emotalk_ros.generator import checkpoint
from emotalk_ros.generator.model import Generator, GeneratorConfig


def _tool():
    spec = importlib.util.spec_from_file_location(
        "aperture_diagnosis", os.path.join(ROOT, "tools", "aperture_diagnosis.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_the_phones_system_is_the_expected_openness_of_the_bottleneck(tmp_path):
    tool = _tool()
    plain = str(tmp_path / "plain.pt")
    checkpoint.save(plain, make_ckpt())
    assert tool.phones_system(plain) is None
    ck = make_ckpt(phone_after=3)
    cfg = GeneratorConfig.from_dict(ck["generator_config"])
    g = Generator(cfg)
    g.load_state_dict(ck["generator"])
    u = types.SimpleNamespace(audio=np.random.default_rng(0).normal(0, 0.1, 16000)
                              .astype(np.float32), duration=1.0)
    for phone, want in (("aa", 1.0), ("m", 0.0), ("iy", 0.45)):
        with torch.no_grad():                     # posteriors sure of one phone everywhere
            g.phone_out.weight.zero_()
            g.phone_out.bias.fill_(-30.0)
            g.phone_out.bias[PHONE_INDEX[phone]] = 30.0
        ck["generator"] = g.state_dict()
        path = str(tmp_path / f"{phone}.pt")
        checkpoint.save(path, ck)
        out = tool.phones_system(path)(u)
        assert out.shape == (60, 52)
        np.testing.assert_allclose(out[:, INDEX["jawOpen"]], want, atol=1e-5)
