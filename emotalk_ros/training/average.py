"""Weight averaging of fine-tunes ("model soup"): the weighted mean of the generator's and
the mapping network's weights over checkpoints of one architecture.

Fine-tunes that start from one checkpoint stay in one basin of the loss, and the mean of
their weights is a model of its own that is often better than each (Wortsman et al., 2022,
"Model soups"). docs/EVALUATION.md measures it on the real-speech dev set: the mean of two
fine-tunes that sit at different points of the closure/correlation trade-off lies between
them, and the mean of two seeds of one recipe above both.

Only checkpoints of the same make average: generator and mapping configuration, feature
front end, names, emotion space and output smoothing must be equal, and so must every
integer buffer. Anything else is refused with one line that names what differs. Averaging
fine-tunes of different inits gives a checkpoint that loads but is no good; that this code
cannot see, and the caller evaluates what it made.
"""

from __future__ import annotations

import math
from typing import Any, Dict, List, Sequence

from emotalk_ros.errors import EmotalkError

# What must be equal for weights to be averaged (the rest of a checkpoint is provenance).
SAME = ("generator_config", "mapping_config", "feature_config", "blendshapes", "emotions",
        "emotion_space", "output_smoothing")


def _normal(key: str, value: Any) -> Any:
    """``value`` of checkpoint field ``key`` as compared: a generator configuration with every
    field, so that one written before a field existed (``emotalk train-phones`` keeps its
    init's record) equals one that lists that field at its default; anything else as is."""
    if key != "generator_config" or not isinstance(value, dict):
        return value
    from emotalk_ros.generator.model import GeneratorConfig

    try:
        return GeneratorConfig.from_dict(value).to_dict()
    except (TypeError, ValueError):      # not a configuration this code reads: compare as is
        return value


def average(ckpts: Sequence[Dict[str, Any]], weights: Sequence[float],
            names: Sequence[str] = ()) -> Dict[str, Any]:
    """The weighted mean of ``ckpts`` (loaded checkpoints) -> a new checkpoint dict.

    ``weights``: one per checkpoint, >= 0, normalised to sum 1. ``names``: how each
    checkpoint is named in errors and in the result's ``train["average"]`` (default its
    index). The result is the first checkpoint with the averaged weights; its ``train``
    keeps the first's record and lists the averaged files and weights.
    """
    import torch

    n = len(ckpts)
    names = list(names) or [f"#{i}" for i in range(n)]
    if n < 2:
        raise EmotalkError(f"averaging needs at least two checkpoints, got {n}")
    if len(weights) != n or len(names) != n:
        raise EmotalkError(f"{len(weights)} weights for {n} checkpoints")
    w = [float(x) for x in weights]
    if not all(math.isfinite(x) and x >= 0.0 for x in w) or sum(w) <= 0.0:
        raise EmotalkError(f"weights must be finite, >= 0 and not all 0: {weights}")
    w = [x / sum(w) for x in w]
    first = ckpts[0]
    for name, ck in zip(names[1:], ckpts[1:]):
        for key in SAME:
            if _normal(key, ck.get(key)) != _normal(key, first.get(key)):
                raise EmotalkError(f"{name}: its {key} differs from {names[0]}'s; only "
                                   "fine-tunes of one checkpoint can be averaged")
    out = dict(first)
    for part in ("generator", "mapping"):
        ref = first[part]
        for name, ck in zip(names[1:], ckpts[1:]):
            sd = ck[part]
            if set(sd) != set(ref):
                diff = sorted(set(sd) ^ set(ref))
                raise EmotalkError(f"{name}: its {part} weights differ from {names[0]}'s "
                                   f"({', '.join(diff[:3])})")
            for k, v in ref.items():
                if sd[k].shape != v.shape:
                    raise EmotalkError(f"{name}: {part} weight {k} has shape "
                                       f"{tuple(sd[k].shape)}, {names[0]}'s {tuple(v.shape)}")
                if not torch.is_floating_point(v) and not torch.equal(sd[k], v):
                    raise EmotalkError(f"{name}: {part} buffer {k} differs from {names[0]}'s")
        avg = {}
        for k, v in ref.items():
            if torch.is_floating_point(v):
                acc = torch.zeros_like(v, dtype=torch.float64)
                for wi, ck in zip(w, ckpts):
                    acc += wi * ck[part][k].to(torch.float64)
                if not torch.isfinite(acc).all():
                    raise EmotalkError(f"{part} weight {k} is not finite in the average")
                avg[k] = acc.to(v.dtype)
            else:
                avg[k] = v.clone()
        out[part] = avg
    train: Dict[str, Any] = dict(first.get("train") or {})
    train["average"] = [{"checkpoint": nm, "weight": round(wi, 6),
                         "model_version": ck.get("model_version")}
                        for nm, wi, ck in zip(names, w, ckpts)]
    out["train"] = train
    return out


def parse_weights(text: str, n: int) -> List[float]:
    """'0.5,0.5' -> [0.5, 0.5]; empty -> equal weights for ``n``; one-line errors."""
    if not text:
        return [1.0 / n] * n
    try:
        w = [float(x) for x in text.split(",")]
    except ValueError:
        raise EmotalkError(f"--weights: not a comma-separated list of numbers: {text!r}") \
            from None
    if len(w) != n:
        raise EmotalkError(f"--weights: {len(w)} weights for {n} checkpoints")
    return w
