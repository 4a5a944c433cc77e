"""Mixing the emotion heard in the voice with the commanded one.

The emotion handed to the generator is ``(1 - b) * command + b * voice``, a straight line
in the boundary-aware emotion space, where ``b`` is 0 for ``emotion.source: command``, 1 for
``voice`` and ``voice_blend`` for ``blend``. :class:`VoiceEmotion` runs the detector on the
same samples the generator gets; the runtime eases ``b`` on every change
(an :class:`~emotalk_ros.core.easing.EasedRamp`).
"""

import os
import threading
from typing import Optional

import numpy as np

from emotalk_ros.core.audio import LogMelStream
from emotalk_ros.errors import EmotalkError
from emotalk_ros.generator.predictor import EmotionLike, Frames, StreamingPredictor

EMOTION_SOURCES = ("command", "voice", "blend")


VOICE_PIECE_S = 1.0        # audio is fed to the voice tracker and the predictor in <= 1 s pieces


class VoiceEmotion:
    """A voice emotion tracker with its own log-mel stream, aligned with a predictor.

    ``feed(x (N,) float32)`` takes the same model-rate samples the predictor gets, just
    before it does. ``alpha_at(times (M,) s) -> (M, 7)`` answers for depicted times. The
    detector looks ``tracker.detector.lookahead_s`` ahead; when the predictor looks less
    far ahead, the voice emotion is read ``delay_s`` earlier, so the answer never depends on
    how the audio was chunked (the output it needs always exists already). Thread-safe
    (the worker feeds it while the executor reads the state JSON).
    """

    def __init__(self, tracker, predictor: StreamingPredictor):
        self.tracker = tracker
        self._mel = LogMelStream(predictor.feature_cfg)
        self.delay_s = max(0.0, float(tracker.detector.lookahead_s) - predictor.lookahead_s)
        self._lock = threading.Lock()

    def reset(self) -> None:
        """Clear the log-mel stream and the tracker (a new stream)."""
        with self._lock:
            self._mel.reset()
            self.tracker.reset()

    def feed(self, x: np.ndarray) -> None:
        """Samples (N,) float32 at the predictor's rate -> tracker (features of complete hops)."""
        with self._lock:
            self.tracker.push_features(self._mel.push(x))

    def alpha_at(self, times: np.ndarray) -> np.ndarray:
        """Depicted times (M,) float64 s -> (M, 7) float32 voice intensities in [0, 1]."""
        t = np.asarray(times, np.float64).reshape(-1)
        with self._lock:
            a = self.tracker.alpha_at(t - self.delay_s)                            # (M, 7)
        return np.clip(a, 0.0, 1.0).astype(np.float32)

    def set_smoothing(self, min_segment_s: Optional[float] = None,
                      hysteresis: Optional[float] = None) -> None:
        """Tune the label smoother live: shortest label stretch (s) and the probability lead
        a new label needs; None keeps a value."""
        with self._lock:
            if min_segment_s is not None:
                self.tracker.smoother.min_segment_s = float(min_segment_s)
            if hysteresis is not None:
                self.tracker.smoother.hysteresis = float(hysteresis)

    @property
    def label(self) -> str:
        """The tracker's current stable label (an EMOTIONS name)."""
        with self._lock:
            return self.tracker.label


def push_with_voice(predictor: StreamingPredictor, x: np.ndarray, emotion: EmotionLike,
                    voice: Optional[VoiceEmotion]) -> Frames:
    """``predictor.push(x, emotion)``, feeding ``voice`` first (in <= 1 s pieces, so the
    tracker's bounded history always covers the frames being computed). x (N,) float32."""
    if voice is None:
        return predictor.push(x, emotion)
    piece = max(1, int(VOICE_PIECE_S * predictor.sample_rate))
    parts = []
    for i in range(0, x.size, piece):
        xi = x[i:i + piece]
        voice.feed(xi)
        parts.append(predictor.push(xi, emotion))
    return Frames.concat(parts)


def mix_voice(command: np.ndarray, voice: np.ndarray, b: np.ndarray) -> np.ndarray:
    """command (N, 7), voice (N, 7), blend weights b (N,) in [0, 1] -> (N, 7) float32.

    Per frame this is :func:`emotalk_ros.emotion.voice.blend_emotion` (b = 0 command only,
    1 voice only): a straight, continuous move in the boundary-aware emotion space.
    """
    b = np.clip(np.asarray(b, np.float64).reshape(-1, 1), 0.0, 1.0)             # (N, 1)
    return ((1.0 - b) * command + b * voice).astype(np.float32)                  # (N, 7)


def load_voice_tracker(model_path: str = "", min_segment_s: float = 2.0,
                       hysteresis: float = 0.15):
    """A :class:`~emotalk_ros.emotion.voice.VoiceEmotionTracker` from ``model_path`` ('' = the
    shipped ``models/voice_emotion.npz``). Raises :class:`EmotalkError` when it is missing."""
    from emotalk_ros.emotion.voice import (
        DiarizationSmoother,
        VoiceEmotionDetector,
        VoiceEmotionTracker,
    )
    from emotalk_ros.resources import VOICE_MODEL_FILE, shipped_file

    path = model_path or shipped_file("voice_model", VOICE_MODEL_FILE)
    if not os.path.isfile(path):
        raise EmotalkError(f"voice emotion model not found: {path} (train one with "
                           "`emotalk train-voice`)")
    det = VoiceEmotionDetector.from_file(path)
    return VoiceEmotionTracker(det, DiarizationSmoother(step_s=det.step_s,
                                                        min_segment_s=min_segment_s,
                                                        hysteresis=hysteresis))


def blend_weight(source: str, voice_blend: float) -> float:
    """emotion source + voice_blend -> the voice weight b (command 0, voice 1, blend
    voice_blend)."""
    if source not in EMOTION_SOURCES:
        raise EmotalkError(f"emotion source must be one of {', '.join(EMOTION_SOURCES)}, "
                           f"got {source!r}")
    return {"command": 0.0, "voice": 1.0}.get(source, float(voice_blend))
