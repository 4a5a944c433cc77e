"""Model files: the torch checkpoint format, its metadata, and strict validation.

A checkpoint is a dict saved with ``torch.save`` and loaded with ``weights_only=True``::

    {"format": "emotalk-generator", "format_version": 1, "model_version": str,
     "generator_config": {...}, "mapping_config": {...}, "feature_config": {...},
     "blendshapes": [52 names], "emotions": [7 names], "emotion_space": {...},
     "generator": state_dict, "mapping": state_dict, "train": {...}}

Anything that does not match this code (names, feature front end, format) raises
:class:`~emotalk_ros.errors.ModelMismatchError` with what differs.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any, Dict

from emotalk_ros.core.audio import FeatureConfig
from emotalk_ros.core.blendshapes import NAMES
from emotalk_ros.core.emotions import EXPRESSIVE
from emotalk_ros.errors import EmotalkError, ModelMismatchError

FORMAT = "emotalk-generator"
FORMAT_VERSION = 1


def feature_config_to_dict(cfg: FeatureConfig) -> Dict[str, Any]:
    """FeatureConfig -> the plain dict stored in checkpoints and ONNX metadata."""
    return dataclasses.asdict(cfg)


def check_metadata(meta: Dict[str, Any], source: str) -> FeatureConfig:
    """Validate names/format/feature config of a model; returns its FeatureConfig."""
    if meta.get("format") != FORMAT:
        raise ModelMismatchError(
            f"{source}: not an emotalk generator (format={meta.get('format')!r})"
        )
    if int(meta.get("format_version", -1)) != FORMAT_VERSION:
        raise ModelMismatchError(f"{source}: format version {meta.get('format_version')} "
                                 f"but this code reads {FORMAT_VERSION}")
    if list(meta.get("blendshapes", [])) != list(NAMES):
        raise ModelMismatchError(
            f"{source}: its blendshape names/order differ from the canonical table"
        )
    if list(meta.get("emotions", [])) != list(EXPRESSIVE):
        raise ModelMismatchError(f"{source}: emotion names {meta.get('emotions')} differ from "
                                 f"{list(EXPRESSIVE)}")
    try:
        fc = FeatureConfig(**meta["feature_config"])
    except (KeyError, TypeError) as exc:
        raise ModelMismatchError(f"{source}: bad feature_config ({exc})") from None
    if fc.sample_rate != 16000:
        raise ModelMismatchError(
            f"{source}: sample rate {fc.sample_rate}, this code expects 16000"
        )
    return fc


def save(path: str, ckpt: Dict[str, Any]) -> None:
    """Write ``ckpt`` with ``torch.save`` atomically (``.tmp`` then rename); creates the
    folder."""
    import torch

    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = path + ".tmp"
    torch.save(ckpt, tmp)
    os.replace(tmp, path)


def load(path: str) -> Dict[str, Any]:
    """Read a checkpoint (``weights_only=True``) and check its metadata; raises
    :class:`EmotalkError` / :class:`ModelMismatchError`."""
    import torch

    if not os.path.exists(path):
        raise EmotalkError(f"model file not found: {path}")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, OSError, EOFError, ValueError) as exc:
        raise ModelMismatchError(f"{path}: cannot read the model file ({exc})") from None
    if not isinstance(ckpt, dict):
        raise ModelMismatchError(f"{path}: not an emotalk model file")
    check_metadata(ckpt, path)
    return ckpt
