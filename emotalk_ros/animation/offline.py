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
from typing import Iterable, Iterator, List, Optional

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
    The same as :func:`animate_stream` over one chunk.
    """
    x = np.asarray(samples, np.float32).reshape(-1)
    return Frames.concat(list(animate_stream(predictor, [x], emotion, idle_seed, style, voice,
                                             voice_blend)))


STREAM_CHUNK_S = 10
"""Seconds of audio per step of :func:`animate_stream` (whole seconds: the voice tracker is
fed in 1 s pieces, so whole-second chunks keep the pieces where a single push puts them)."""


def _rechunk(chunks: Iterable[np.ndarray], size: int) -> Iterator[np.ndarray]:
    """Chunks of any size -> chunks of exactly ``size`` samples (the last one shorter)."""
    buf: List[np.ndarray] = []
    n = 0
    for c in chunks:
        c = np.asarray(c, np.float32).reshape(-1)
        buf.append(c)
        n += c.size
        while n >= size:
            cat = np.concatenate(buf)
            yield cat[:size]
            rest = cat[size:]
            buf, n = ([rest] if rest.size else []), rest.size
    if n:
        yield np.concatenate(buf)


def animate_stream(
    predictor: StreamingPredictor,
    chunks: Iterable[np.ndarray],
    emotion: EmotionLike = None,
    idle_seed: Optional[int] = None,
    style=None,
    voice=None,
    voice_blend: float = 1.0,
    chunk_s: Optional[int] = None,
) -> Iterator[Frames]:
    """:func:`animate_samples` for audio of any length with bounded memory: ``chunks`` (an
    iterable of (N_i,) float32 at the predictor's rate, e.g.
    :func:`emotalk_ros.core.audio.iter_audio`) -> Frames, one batch per step. Feeding is
    reset + push (voice first) + flush, exactly as for one array, so the frames equal those
    of the concatenated audio (the predictor is chunk-size invariant). ``chunk_s`` (whole
    seconds, default :data:`STREAM_CHUNK_S`; None with a single array keeps it whole).
    """
    from emotalk_ros.animation.voice_mix import VoiceEmotion, mix_voice, push_with_voice
    from emotalk_ros.core.blendshapes import aperture

    sr = predictor.sample_rate
    if chunk_s is not None or not isinstance(chunks, (list, tuple)):
        chunks = _rechunk(chunks, int(chunk_s or STREAM_CHUNK_S) * sr)
    predictor.reset()
    fn: EmotionLike = emotion
    feed = None
    if voice is not None:
        feed = VoiceEmotion(voice, predictor)
        feed.reset()
        b = float(voice_blend)

        def fn(t: np.ndarray) -> np.ndarray:                             # (N,) -> (N, 7)
            return mix_voice(resolve_emotion(emotion, t), feed.alpha_at(t),
                             np.full(t.shape[0], b))
    idle = None
    if idle_seed is not None:
        from emotalk_ros.animation.idle import IdleAnimator, IdleConfig

        idle = IdleAnimator(IdleConfig(seed=idle_seed))

    def finish(out: Frames) -> Frames:
        if style is not None and len(out):
            out = Frames(out.times, style.apply(out.values))                   # (N, 52)
        if idle is not None and len(out):
            speaking = aperture(out.values) > 0.08
            out = Frames(out.times, idle.apply(out.times, out.values, speaking))
        return out

    total = 0
    for x in chunks:
        x = np.asarray(x, np.float32).reshape(-1)
        total += x.size
        yield finish(push_with_voice(predictor, x, fn, feed))
    out = predictor.flush(fn)
    keep = out.times < total / sr - 1e-9
    yield finish(Frames(out.times[keep], out.values[keep]))
