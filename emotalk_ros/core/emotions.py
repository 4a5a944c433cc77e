"""Emotion names, aliases and FACS-based blendshape groups (pure constants and helpers).

``EMOTIONS`` is the list of docs/INTERFACE.md with ``neutral`` first. Intensity vectors used
throughout the code ("alpha") have shape (..., 7) over ``EXPRESSIVE`` = the seven
non-neutral emotions; the zero vector is neutral.

``FACS_GROUPS`` names, per emotion, the ARKit blendshapes of its FACS prototype
(e.g. happy = AU6 + AU12 -> cheekSquint + mouthSmile). The evaluation's "emotion
response" metric averages exactly these groups.
"""

from __future__ import annotations

from typing import Dict, Tuple

import numpy as np

from emotalk_ros.core.blendshapes import INDEX

EMOTIONS: Tuple[str, ...] = (
    "neutral", "happy", "sad", "angry", "surprised", "fearful", "disgusted", "contempt",
)
EXPRESSIVE: Tuple[str, ...] = EMOTIONS[1:]
NUM_EXPRESSIVE = len(EXPRESSIVE)
EXPRESSIVE_INDEX: Dict[str, int] = {n: i for i, n in enumerate(EXPRESSIVE)}

ALIASES: Dict[str, str] = {
    "joy": "happy", "joyful": "happy", "happiness": "happy",
    "sadness": "sad", "anger": "angry", "mad": "angry",
    "surprise": "surprised", "fear": "fearful", "afraid": "fearful", "scared": "fearful",
    "disgust": "disgusted", "contemptuous": "contempt", "calm": "neutral", "none": "neutral",
}

# FACS prototype groups over ARKit names (docs/INTERFACE.md, Metrics: emotion response).
FACS_GROUPS: Dict[str, Tuple[str, ...]] = {
    # AU6 cheek raiser + AU12 lip corner puller
    "happy": ("cheekSquintLeft", "cheekSquintRight", "mouthSmileLeft", "mouthSmileRight"),
    # AU1 inner brow raiser + AU4 brow lowerer + AU15 lip corner depressor
    "sad": ("browInnerUp", "browDownLeft", "browDownRight", "mouthFrownLeft", "mouthFrownRight"),
    # AU4 + AU5 upper lid raiser + AU7 lid tightener + AU23 lip tightener
    "angry": ("browDownLeft", "browDownRight", "eyeWideLeft", "eyeWideRight", "eyeSquintLeft",
              "eyeSquintRight", "mouthPressLeft", "mouthPressRight"),
    # AU1 + AU2 outer brow raiser + AU5 + AU26 jaw drop
    "surprised": ("browInnerUp", "browOuterUpLeft", "browOuterUpRight", "eyeWideLeft",
                  "eyeWideRight", "jawOpen"),
    # AU1 + AU2 + AU4 + AU5 + AU20 lip stretcher
    "fearful": ("browInnerUp", "browOuterUpLeft", "browOuterUpRight", "browDownLeft",
                "browDownRight", "eyeWideLeft", "eyeWideRight", "mouthStretchLeft",
                "mouthStretchRight"),
    # AU9 nose wrinkler + AU10 upper lip raiser + AU15
    "disgusted": ("noseSneerLeft", "noseSneerRight", "mouthUpperUpLeft", "mouthUpperUpRight",
                  "mouthFrownLeft", "mouthFrownRight"),
    # unilateral AU12 + AU14 dimpler (right side)
    "contempt": ("mouthSmileRight", "mouthDimpleRight"),
}


def canonical_emotion(name: str) -> str | None:
    """Lower-case name or alias -> canonical emotion name, or None when unknown."""
    key = name.strip().lower()
    if key in EMOTIONS:
        return key
    return ALIASES.get(key)


def group_index(emotion: str) -> np.ndarray:
    """Blendshape indices (int64) of ``emotion``'s FACS group."""
    return np.array([INDEX[n] for n in FACS_GROUPS[emotion]], dtype=np.int64)


def alpha_from_dict(weights: Dict[str, float]) -> np.ndarray:
    """{'happy': 0.6, ...} (canonical names) -> (7,) float32 intensity vector."""
    a = np.zeros(NUM_EXPRESSIVE, dtype=np.float32)
    for k, v in weights.items():
        if k == "neutral":
            continue
        a[EXPRESSIVE_INDEX[k]] = float(v)
    return a


def alpha_to_dict(alpha: np.ndarray) -> Dict[str, float]:
    """(7,) intensity vector -> {'neutral': w0, 'happy': ..., ...} with neutral = max(0, 1 -
    sum)."""
    a = np.asarray(alpha, dtype=np.float64).reshape(NUM_EXPRESSIVE)
    out = {"neutral": float(max(0.0, 1.0 - a.sum()))}
    out.update({n: float(a[i]) for i, n in enumerate(EXPRESSIVE)})
    return out
