"""Generator backends behind the one streaming interface: torch (CPU/CUDA) and onnxruntime.

Both wrap the same causal network with an explicit state tensor (B, C, S) and the
same boundary-aware emotion space, so they produce the same frames (within 1e-4).

* :class:`TorchPredictor` loads a ``.pt`` checkpoint with ``strict=True``; uses CUDA
  when asked (``device='cuda'``) or when ``'auto'`` finds one. The state stays on the
  device between pushes, so per-frame GPU work is one small launch sequence.
* :class:`OnnxPredictor` loads an ``.onnx`` file and validates its metadata; the
  execution providers come from a parameter and fall back to CPU with a clear log line.
"""

from __future__ import annotations

import json
import logging
from typing import Dict, Optional, Sequence

import numpy as np

from emotalk_ros.core.audio import FeatureConfig
from emotalk_ros.emotion.space import EmotionSpace
from emotalk_ros.errors import EmotalkError, ModelMismatchError
from emotalk_ros.generator import checkpoint
from emotalk_ros.generator.predictor import PredictorInfo, StreamingPredictor

log = logging.getLogger(__name__)


class TorchPredictor(StreamingPredictor):
    """Streaming generator on torch. ``ckpt`` is a loaded checkpoint dict (see
    :mod:`checkpoint`)."""

    def __init__(
        self, ckpt: Dict, fps: float = 60.0, device: str = "auto", threads: Optional[int] = None
    ):
        import torch

        from emotalk_ros.generator.model import Generator, GeneratorConfig, StreamingGenerator

        fc = checkpoint.check_metadata(ckpt, "checkpoint")
        self.gen_cfg = GeneratorConfig.from_dict(ckpt["generator_config"])
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        if device == "cuda" and not torch.cuda.is_available():
            raise EmotalkError("device 'cuda' requested but torch sees no CUDA device")
        if threads:
            torch.set_num_threads(int(threads))
        self._torch = torch
        self.device = torch.device(device)
        net = Generator(self.gen_cfg)
        try:
            net.load_state_dict(ckpt["generator"], strict=True)
        except RuntimeError as exc:
            raise ModelMismatchError(f"generator weights do not match its config: {exc}") from None
        self.net = net.to(self.device).eval()
        # the per-frame path: same function, a quarter of the ops (see StreamingGenerator)
        self.stream_net = StreamingGenerator(self.net).to(self.device).eval()
        self.space = EmotionSpace.from_dict(ckpt["emotion_space"])
        self.model_version = str(ckpt.get("model_version", "unknown"))
        super().__init__(fps=fps, feature_cfg=fc, lookahead_frames=self.gen_cfg.lookahead_frames,
                         smoothing=float(ckpt.get("output_smoothing", 0.0)))

    @property
    def info(self) -> PredictorInfo:
        """Backend ('torch-cpu' / 'torch-cuda'), model version and look-ahead (ms)."""
        return PredictorInfo(backend=f"torch-{self.device.type}", model_version=self.model_version,
                             lookahead_ms=1000.0 * self.lookahead_s)

    def _reset_network(self) -> None:
        self._state = self.stream_net.initial_state()

    def _network(self, feats: np.ndarray, alpha: np.ndarray) -> np.ndarray:
        torch = self._torch
        z = self.space.embed(alpha)                                              # (N, D)
        with torch.inference_mode():
            x = torch.from_numpy(np.ascontiguousarray(feats, np.float32)).to(self.device)  # (N, F)
            zt = torch.from_numpy(np.ascontiguousarray(z, np.float32)).to(self.device)     # (N, D)
            y, self._state = self.stream_net(x, zt, self._state)                 # (N, 52)
        return y.float().cpu().numpy()


class OnnxPredictor(StreamingPredictor):
    """Streaming generator on onnxruntime; metadata (names, fps, emotion space) travels in the
    file."""

    def __init__(self, path: str, fps: float = 60.0, providers: Optional[Sequence[str]] = None,
                 threads: int = 1):
        import onnxruntime as ort

        so = ort.SessionOptions()
        so.intra_op_num_threads = int(threads)
        so.inter_op_num_threads = 1
        available = ort.get_available_providers()
        wanted = list(providers) if providers else ["CPUExecutionProvider"]
        usable = [p for p in wanted if p in available]
        if not usable:
            log.warning("none of the requested ONNX providers %s is available (have %s); "
                        "falling back to CPUExecutionProvider", wanted, available)
            usable = ["CPUExecutionProvider"]
        elif usable != wanted:
            log.warning("ONNX providers %s not available; using %s",
                        [p for p in wanted if p not in usable], usable)
        if "CPUExecutionProvider" not in usable:
            usable.append("CPUExecutionProvider")
        from onnxruntime.capi import onnxruntime_pybind11_state as ort_state

        ort_errors = (RuntimeError, ValueError, ort_state.Fail, ort_state.InvalidGraph,
                      ort_state.InvalidProtobuf, ort_state.NoSuchFile, ort_state.InvalidArgument)
        try:
            self.session = ort.InferenceSession(path, so, providers=usable)
        except ort_errors as exc:
            raise ModelMismatchError(f"{path}: onnxruntime cannot load it ({exc})") from None
        props = self.session.get_modelmeta().custom_metadata_map
        if "emotalk" not in props:
            raise ModelMismatchError(f"{path}: ONNX file has no emotalk metadata")
        meta = json.loads(props["emotalk"])
        fc = checkpoint.check_metadata(meta, path)
        self.meta = meta
        self.space = EmotionSpace.from_dict(meta["emotion_space"])
        self.model_version = str(meta.get("model_version", "unknown"))
        self._state_shape = tuple(int(v) for v in meta["state_shape"])
        self.providers = self.session.get_providers()
        names = [i.name for i in self.session.get_inputs()]
        if names != ["feats", "z", "state"]:
            raise ModelMismatchError(f"{path}: unexpected ONNX inputs {names}")
        super().__init__(fps=fps, feature_cfg=fc, lookahead_frames=int(meta["lookahead_frames"]),
                         smoothing=float(meta.get("output_smoothing", 0.0)))

    @property
    def info(self) -> PredictorInfo:
        """Backend ('onnxruntime-<first provider>'), model version and look-ahead (ms)."""
        return PredictorInfo(
            backend="onnxruntime-" + self.providers[0].replace("ExecutionProvider", "").lower(),
            model_version=self.model_version,
            lookahead_ms=1000.0 * self.lookahead_s,
        )

    def _reset_network(self) -> None:
        self._state = np.zeros((1,) + self._state_shape, np.float32)

    def _network(self, feats: np.ndarray, alpha: np.ndarray) -> np.ndarray:
        z = self.space.embed(alpha)[None]  # (1, N, D)
        y, self._state = self.session.run(
            None,
            {"feats": np.ascontiguousarray(feats[None], np.float32), "z": z, "state": self._state},
        )
        return y[0]                                                              # (N, 52)


def feature_config_from(meta: Dict) -> FeatureConfig:
    """The FeatureConfig stored in model metadata (``meta['feature_config']``), unchecked."""
    return FeatureConfig(**meta["feature_config"])
