"""``emotalk animate``: offline speech -> 52 ARKit blendshapes, built on the streaming predictor.

The model loads once for all inputs. Each input is loaded (any rate/channels ->
16 kHz mono), pushed through :meth:`StreamingPredictor.animate` (reset + push +
flush: the same code path as the node), optionally styled (``--style``, a per-robot
:class:`~emotalk_ros.animation.style.Style`, applied before idle exactly as the node's
``style.path``), optionally driven by the emotion heard in the voice (``--emotion-source
voice|blend``, the node's ``emotion.source``), optionally overlaid with the seeded idle
behaviour, and written as Live Link Face CSV (docs/INTERFACE.md, Files), JSON or npy. A bad
input gets a clear message and a non-zero exit status, and the other inputs are
still processed.
"""

from __future__ import annotations

import logging
from typing import Optional

import numpy as np

from emotalk_ros.errors import EmotalkError
from emotalk_ros.generator.predictor import (
    EmotionLike,
    Frames,
    StreamingPredictor,
    resolve_emotion,
)

log = logging.getLogger(__name__)


def emotion_from_args(
    spec: Optional[str], track: Optional[str], max_intensity: float = 1.0
) -> EmotionLike:
    """--emotion SPEC / --emotion-track FILE -> an EmotionLike (None for neutral).

    A SPEC without ``transition=`` holds from t = 0; with it, the face eases from neutral.
    """
    from emotalk_ros.emotion.command import parse_emotion_command
    from emotalk_ros.emotion.state import EmotionState, EmotionTrack

    if spec and track:
        raise EmotalkError("give either --emotion or --emotion-track, not both")
    if track:
        return EmotionTrack.load(track)
    if not spec:
        return None
    cmd = parse_emotion_command(spec, max_intensity=max_intensity)
    state = EmotionState(max_intensity=max(1.0, max_intensity))
    if cmd.transition_s is None:
        state.reset(cmd.alpha)
    else:
        state.command(cmd, 0.0)
    return state.at_many


def animate_samples(
    predictor: StreamingPredictor,
    samples: np.ndarray,
    emotion: EmotionLike = None,
    idle_seed: Optional[int] = None,
    style=None,
    voice=None,
    voice_blend: float = 1.0,
) -> Frames:
    """Frames for one utterance; ``idle_seed`` None -> no idle overlay (deterministic).

    samples (N,) float32 at the predictor's rate. ``style``: a Style or None, applied to the
    generator frames before idle. ``voice``: a VoiceEmotionTracker or None (command only);
    the emotion is then ``blend(emotion(t), voice(t), voice_blend)`` computed as the node
    does (same feed order and pieces), so the output equals the node's for the same audio.
    """
    if voice is None:
        out = predictor.animate(samples, emotion)
    else:
        out = _animate_with_voice(predictor, samples, emotion, voice, voice_blend)
    if style is not None and len(out):
        out = Frames(out.times, style.apply(out.values))                          # (N, 52)
    if idle_seed is not None and len(out):
        from emotalk_ros.animation.idle import IdleAnimator, IdleConfig
        from emotalk_ros.core.blendshapes import aperture

        speaking = aperture(out.values) > 0.08
        out = Frames(
            out.times,
            IdleAnimator(IdleConfig(seed=idle_seed)).apply(out.times, out.values, speaking),
        )
    return out


def _animate_with_voice(predictor: StreamingPredictor, samples: np.ndarray, emotion: EmotionLike,
                        tracker, voice_blend: float) -> Frames:
    """reset + push (voice fed first) + flush, with the voice/command blend as the emotion."""
    from emotalk_ros.animation.voice_mix import VoiceEmotion, mix_voice, push_with_voice

    x = np.asarray(samples, np.float32).reshape(-1)
    predictor.reset()
    voice = VoiceEmotion(tracker, predictor)
    voice.reset()
    b = float(voice_blend)

    def fn(t: np.ndarray) -> np.ndarray:                                   # (N,) -> (N, 7)
        return mix_voice(resolve_emotion(emotion, t), voice.alpha_at(t), np.full(t.shape[0], b))

    parts = [push_with_voice(predictor, x, fn, voice), predictor.flush(fn)]
    out = Frames.concat(parts)
    keep = out.times < x.size / predictor.sample_rate - 1e-9
    return Frames(out.times[keep], out.values[keep])


