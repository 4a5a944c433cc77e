"""``emotalk export``: a trained checkpoint -> ONNX with its metadata, verified against torch.

The ONNX graph is the streaming generator step: inputs ``feats`` (1, T, n_mels),
``z`` (1, T, D), ``state`` (1, C, S); outputs ``blendshapes`` (1, T, 52) and
``state_out`` (1, C, S); T is dynamic. The model's metadata (``emotalk`` key, JSON)
carries the blendshape names, fps, sample rate, look-ahead, emotion names,
directions and calibration, and the version; a few plain keys mirror it for tools.
"""

from __future__ import annotations

import json
import logging
import os
from typing import Dict

import numpy as np

from emotalk_ros.errors import EmotalkError
from emotalk_ros.generator import checkpoint

log = logging.getLogger(__name__)
OPSET = 17


def onnx_metadata(ckpt: Dict) -> Dict:
    """The metadata dict stored in the ONNX file (everything but the weights)."""
    from emotalk_ros.generator.model import GeneratorConfig

    g = GeneratorConfig.from_dict(ckpt["generator_config"])
    fc = ckpt["feature_config"]
    return {
        "format": ckpt["format"], "format_version": ckpt["format_version"],
        "model_version": ckpt.get("model_version", "unknown"),
        "blendshapes": list(ckpt["blendshapes"]), "emotions": list(ckpt["emotions"]),
        "feature_config": fc, "frame_rate_hz": fc["sample_rate"] / fc["hop"],
        "sample_rate": fc["sample_rate"], "lookahead_frames": g.lookahead_frames,
        "lookahead_ms": 1000.0 * g.lookahead_frames * fc["hop"] / fc["sample_rate"],
        "state_shape": [g.channels, g.state_len], "generator_config": g.to_dict(),
        "emotion_space": ckpt["emotion_space"],
        "output_smoothing": float(ckpt.get("output_smoothing", 0.0)),
    }


def export_onnx(ckpt_path: str, out_path: str, check: bool = True) -> Dict:
    """Export and (by default) verify that ONNX and torch agree within 1e-4 on random input."""
    import onnx
    import torch

    from emotalk_ros.generator.model import Generator, GeneratorConfig

    ckpt = checkpoint.load(ckpt_path)
    gcfg = GeneratorConfig.from_dict(ckpt["generator_config"])
    gen = Generator(gcfg)
    gen.load_state_dict(ckpt["generator"], strict=True)
    gen.eval()
    T = 7
    ex = (
        torch.zeros(1, T, gcfg.n_mels),
        torch.zeros(1, T, gcfg.emotion_dim),
        gen.initial_state(1),
    )
    os.makedirs(os.path.dirname(os.path.abspath(out_path)), exist_ok=True)
    tmp = out_path + ".tmp.onnx"
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(gen, ex, tmp, input_names=["feats", "z", "state"],
                          output_names=["blendshapes", "state_out"],
                          dynamic_axes={"feats": {1: "T"}, "z": {1: "T"}, "blendshapes": {1: "T"}},
                          opset_version=OPSET, dynamo=False)
    model = onnx.load(tmp)
    meta = onnx_metadata(ckpt)
    props = {"emotalk": json.dumps(meta), "blendshape_names": ",".join(meta["blendshapes"]),
             "emotion_names": ",".join(meta["emotions"]), "fps": str(meta["frame_rate_hz"]),
             "sample_rate": str(meta["sample_rate"]), "lookahead_ms": str(meta["lookahead_ms"]),
             "version": str(meta["model_version"])}
    del model.metadata_props[:]
    for k, v in props.items():
        e = model.metadata_props.add()
        e.key, e.value = k, v
    model.producer_name = "emotalk_ros"
    onnx.checker.check_model(model)
    onnx.save(model, out_path)
    os.remove(tmp)
    result = {"onnx": out_path, "bytes": os.path.getsize(out_path), "params": gen.num_parameters()}
    if check:
        result["max_abs_diff"] = verify(ckpt, out_path)
        if result["max_abs_diff"] > 1e-4:
            raise EmotalkError(f"ONNX and torch disagree by {result['max_abs_diff']:.2e} (> 1e-4)")
    return result


def verify(ckpt: Dict, onnx_path: str, seconds: float = 3.0, seed: int = 0) -> float:
    """Max |torch - onnx| over the same audio and emotion through both streaming backends."""
    from emotalk_ros.generator.backends import OnnxPredictor, TorchPredictor

    rng = np.random.default_rng(seed)
    n = int(seconds * 16000)
    t = np.arange(n) / 16000
    x = (0.2 * np.sin(2 * np.pi * 140 * t) * (np.sin(2 * np.pi * 2.5 * t) > 0)
         + 0.02 * rng.standard_normal(n)).astype(np.float32)
    alpha = np.zeros(7, np.float32)
    alpha[0], alpha[3] = 0.7, 0.3
    a = TorchPredictor(ckpt, device="cpu").animate(x, alpha, chunk=512)
    b = OnnxPredictor(onnx_path).animate(x, alpha, chunk=512)
    return float(np.abs(a.values - b.values).max())


