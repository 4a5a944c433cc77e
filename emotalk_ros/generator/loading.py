"""Loading a generator as a :class:`~emotalk_ros.generator.predictor.StreamingPredictor`.

``load_predictor(path, backend, fps)`` is the single entry point used by the CLI,
the nodes, the benchmarks and the evaluation:

* ``path == "baseline"``: the amplitude-to-jaw BASELINE (not the generator).
* ``path`` empty/None: the shipped default model in ``models/``.
* otherwise a ``.pt`` (torch) or ``.onnx`` model file, or the bare name of a shipped model
  (``emotalk_lowlatency``: ``models/emotalk_lowlatency.onnx``, or its ``.pt`` for torch).
"""

from __future__ import annotations

import logging
import os
from typing import Optional, Sequence

from emotalk_ros.errors import EmotalkError
from emotalk_ros.generator.predictor import AmplitudeJawBaseline, StreamingPredictor
from emotalk_ros.resources import DEFAULT_MODEL_FILES, resolve, shipped_file

log = logging.getLogger(__name__)

BACKENDS = ("auto", "torch", "onnxruntime")


def default_model_path() -> Optional[str]:
    """The shipped default model (ONNX preferred), or None when none is shipped."""
    for name in DEFAULT_MODEL_FILES:
        p = shipped_file("model", name)
        if os.path.exists(p):
            return p
    return None


def load_predictor(path: Optional[str] = None, backend: str = "auto", fps: float = 60.0,
                   providers: Optional[Sequence[str]] = None,
                   threads: Optional[int] = None) -> StreamingPredictor:
    """Build a streaming predictor and check it with one dummy push through its backend
    (:meth:`StreamingPredictor.self_check`). Raises :class:`EmotalkError` for missing,
    mismatched or broken models."""
    predictor = _load(path, backend, fps, providers, threads)
    predictor.self_check()
    return predictor


def _load(path: Optional[str], backend: str, fps: float, providers: Optional[Sequence[str]],
          threads: Optional[int]) -> StreamingPredictor:
    if backend not in BACKENDS:
        raise EmotalkError(f"unknown backend {backend!r}; valid: {', '.join(BACKENDS)}")
    if path == "baseline":
        log.info("using the amplitude-to-jaw BASELINE predictor (not the generator)")
        return AmplitudeJawBaseline(fps=fps)
    if not path:
        path = default_model_path()
        if path is None:
            raise EmotalkError("no default model is shipped in models/; pass a model path "
                               "or 'baseline'")
        if backend == "torch":
            pt = os.path.splitext(path)[0] + ".pt"
            if not os.path.exists(pt):
                raise EmotalkError(f"backend 'torch' needs {pt}, which is not shipped")
            path = pt
    if not os.path.exists(path):
        if os.sep in path or os.path.splitext(path)[1].lower() not in ("", ".onnx", ".pt"):
            raise EmotalkError(f"model file not found: {path}")
        try:                             # a shipped name: 'emotalk_lowlatency'
            path = resolve("model", path)
        except EmotalkError as exc:
            raise EmotalkError(f"model file not found: {exc}") from None
    ext = os.path.splitext(path)[1].lower()
    if ext not in (".pt", ".onnx"):
        raise EmotalkError(f"{path}: unknown model type (expected .pt or .onnx)")
    if ext == ".onnx" and backend == "torch":
        pt = os.path.splitext(path)[0] + ".pt"
        if not os.path.exists(pt):
            raise EmotalkError(f"backend 'torch' needs a .pt checkpoint; {pt} not found")
        path, ext = pt, ".pt"
    if ext == ".pt" and backend == "onnxruntime":
        raise EmotalkError(f"{path}: backend 'onnxruntime' needs an .onnx file (emotalk export)")
    if ext == ".pt":
        from emotalk_ros.generator import checkpoint
        from emotalk_ros.generator.backends import TorchPredictor

        return TorchPredictor(checkpoint.load(path), fps=fps, device="auto", threads=threads)
    # .onnx: 'auto' prefers torch on CUDA when a matching .pt exists, else onnxruntime
    if backend == "auto":
        pt = os.path.splitext(path)[0] + ".pt"
        if os.path.exists(pt) and _torch_cuda():
            from emotalk_ros.generator import checkpoint
            from emotalk_ros.generator.backends import TorchPredictor

            return TorchPredictor(checkpoint.load(pt), fps=fps, device="cuda")
    from emotalk_ros.generator.backends import OnnxPredictor

    return OnnxPredictor(path, fps=fps, providers=providers, threads=threads or 1)


# files that exist when an NVIDIA GPU (desktop driver or Jetson) may be present
_NVIDIA_MARKERS = ("/proc/driver/nvidia/version", "/dev/nvidia0", "/etc/nv_tegra_release",
                   "/dev/nvhost-ctrl-gpu")


def _torch_cuda() -> bool:
    """True when torch sees a CUDA device. torch (about 200 MB of memory) is only imported
    when the machine shows signs of an NVIDIA GPU at all."""
    if not any(os.path.exists(p) for p in _NVIDIA_MARKERS):
        return False
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())
