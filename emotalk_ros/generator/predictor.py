"""The one streaming predictor interface, and the amplitude-to-jaw baseline.

Every generator backend (the baseline here, the torch model, the ONNX model)
implements :class:`StreamingPredictor`:

* ``reset()`` clears all state (features, network state, output interpolation).
* ``push(samples, emotion)`` accepts any chunk size of mono float32 audio at
  ``sample_rate``; it processes complete feature hops, carries the remainder, and
  returns the output frames (at ``fps``) that became computable, stamped with the
  audio time they depict.
* ``flush(emotion)`` pads the end of an utterance so the last frames come out;
  call ``reset()`` before reusing the predictor after a flush.
* ``animate(samples, emotion)`` = reset + push + flush, for offline use. Feeding the
  same audio in 160-, 512- or 16000-sample chunks gives the same frames.

Internally a backend works on *network frames* at the feature rate (100 Hz): its
``_network(feats (N, F), alpha (N, 7)) -> (N, 52)`` must be causal and stateful.
Network frame ``i`` predicts the face of *target frame* ``j = i - L`` (``L`` is the
look-ahead in feature frames), which depicts audio time ``j / frame_rate``. Output
frames at ``fps`` are linearly interpolated between target frames.

``emotion`` is ``None`` (neutral), a (7,) intensity vector over
:data:`emotalk_ros.core.emotions.EXPRESSIVE`, or a callable mapping depicted times (N,)
float64 seconds to (N, 7) intensities.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Callable, Dict, Optional, Union

import numpy as np

from emotalk_ros.core.audio import FeatureConfig, LogMelStream, validate_samples
from emotalk_ros.core.blendshapes import INDEX, NUM_BLENDSHAPES, sanitize
from emotalk_ros.core.emotions import NUM_EXPRESSIVE
from emotalk_ros.errors import EmotalkError, ModelMismatchError

EmotionLike = Union[None, np.ndarray, Callable[[np.ndarray], np.ndarray]]


@dataclass
class Frames:
    """A batch of output frames: ``times`` (N,) float64 s of audio time, ``values`` (N, 52) float32
    in [0, 1]."""

    times: np.ndarray
    values: np.ndarray

    def __len__(self) -> int:
        return int(self.times.shape[0])

    @staticmethod
    def empty() -> "Frames":
        """No frames: times (0,) float64, values (0, 52) float32."""
        return Frames(np.zeros(0, np.float64), np.zeros((0, NUM_BLENDSHAPES), np.float32))

    @staticmethod
    def concat(parts) -> "Frames":
        """Concatenate Frames in order (empty parts skipped)."""
        parts = [p for p in parts if len(p)]
        if not parts:
            return Frames.empty()
        return Frames(np.concatenate([p.times for p in parts]),
                      np.concatenate([p.values for p in parts]))


def resolve_emotion(emotion: EmotionLike, times: np.ndarray) -> np.ndarray:
    """Evaluate an EmotionLike at depicted ``times`` (N,) -> (N, 7) float32 intensities."""
    n = times.shape[0]
    if emotion is None:
        return np.zeros((n, NUM_EXPRESSIVE), np.float32)
    if callable(emotion):
        a = np.asarray(emotion(times), np.float32)
        if a.shape != (n, NUM_EXPRESSIVE):
            raise EmotalkError(
                f"emotion callable returned shape {a.shape}, expected {(n, NUM_EXPRESSIVE)}"
            )
    else:
        a = np.asarray(emotion, np.float32).reshape(-1)
        if a.shape != (NUM_EXPRESSIVE,):
            raise EmotalkError(
                f"emotion vector must have {NUM_EXPRESSIVE} intensities, got {a.shape}"
            )
        a = np.broadcast_to(a, (n, NUM_EXPRESSIVE))
    return np.nan_to_num(np.asarray(a, np.float32), nan=0.0, posinf=0.0, neginf=0.0)


@dataclass
class PredictorInfo:
    """What diagnostics and model metadata report about a predictor."""

    backend: str
    model_version: str
    lookahead_ms: float
    extra: Dict[str, str] = field(default_factory=dict)


class StreamingPredictor(ABC):
    """Base class: streaming features -> causal network frames -> interpolated output frames."""

    def __init__(self, fps: float = 60.0, feature_cfg: FeatureConfig = FeatureConfig(),
                 lookahead_frames: int = 0, smoothing: float = 0.0):
        if not (1.0 <= fps <= 240.0):
            raise EmotalkError(f"fps must be in [1, 240], got {fps}")
        if not (0.0 <= smoothing < 1.0):
            raise EmotalkError(f"output smoothing must be in [0, 1), got {smoothing}")
        # causal one-pole smoothing of the network's target frames:
        # y[j] = a * y[j-1] + (1 - a) * x[j]; mean delay a / (1 - a) frames (0.3 -> 4.3 ms)
        self.smoothing = float(smoothing)
        if lookahead_frames < 0:
            raise EmotalkError("lookahead must be >= 0")
        self.fps = float(fps)
        self.feature_cfg = feature_cfg
        self.sample_rate = feature_cfg.sample_rate
        self.frame_rate = feature_cfg.frame_rate
        self.lookahead_frames = int(lookahead_frames)
        self._mel = LogMelStream(feature_cfg)
        self.reset()

    # -- subclass API ---------------------------------------------------------------------
    @abstractmethod
    def _reset_network(self) -> None:
        """Clear the network's recurrent/convolutional state."""

    @abstractmethod
    def _network(self, feats: np.ndarray, alpha: np.ndarray) -> np.ndarray:
        """feats (N, n_mels) float32, alpha (N, 7) float32 -> (N, 52) float32; causal, stateful."""

    @property
    @abstractmethod
    def info(self) -> PredictorInfo:
        """Backend name, model version and look-ahead, for diagnostics."""

    # -- public API -----------------------------------------------------------------------
    def self_check(self) -> None:
        """One dummy push through the real backend (twice, so the returned state is fed back),
        then :meth:`reset`. A model that cannot run here (e.g. metadata that disagrees with
        its graph) raises :class:`ModelMismatchError` with a one-line message, at load time
        instead of at the first audio."""
        n = self.lookahead_frames + 2
        feats = np.full((n, self.feature_cfg.n_mels), np.log10(self.feature_cfg.log_floor),
                        np.float32)                                              # (n, F)
        alpha = np.zeros((n, NUM_EXPRESSIVE), np.float32)                        # (n, 7)
        try:
            self.reset()
            for _ in range(2):
                out = np.asarray(self._network(feats, alpha))                    # (n, 52)
                if out.shape != (n, NUM_BLENDSHAPES):
                    raise ModelMismatchError(f"a test push of {n} frames returned shape "
                                             f"{out.shape}, expected {(n, NUM_BLENDSHAPES)}")
                if not np.all(np.isfinite(out)):
                    raise ModelMismatchError("a test push of silence returned NaN/Inf")
        except ModelMismatchError:
            raise
        except Exception as exc:  # any backend error means this model cannot run here
            text = " ".join(ln.strip() for ln in str(exc).splitlines() if ln.strip())
            raise ModelMismatchError(
                f"{self.info.model_version}: the model fails a test push "
                f"({type(exc).__name__}: {text[:240]})") from None
        finally:
            self.reset()

    @property
    def lookahead_s(self) -> float:
        """Audio the predictor must see past a frame before emitting it (look-ahead only)."""
        return self.lookahead_frames / self.frame_rate

    @property
    def samples_pushed(self) -> int:
        """Samples (at ``sample_rate``) pushed since the last reset."""
        return self._samples_pushed

    def reset(self) -> None:
        """Clear all state (features, network, smoothing, output position)."""
        self._mel.reset()
        self._reset_network()
        self._net_count = 0                       # network frames computed so far
        self._targets = np.zeros((0, NUM_BLENDSHAPES), np.float32)
        self._targets_start = 0                   # target-frame index of _targets[0]
        self._next_out = 0                        # index of the next output frame
        self._samples_pushed = 0
        self._end_time: Optional[float] = None    # set by flush()
        self._smooth_y: Optional[np.ndarray] = None  # (52,) last smoothed target frame

    def push(self, samples, emotion: EmotionLike = None) -> Frames:
        """Chunk (N,) float32 mono at ``sample_rate`` -> the Frames (at ``fps``) that became
        computable; raises :class:`EmotalkError` on bad samples or after :meth:`flush`."""
        x = validate_samples(samples)
        if self._end_time is not None:
            raise EmotalkError("predictor was flushed; call reset() before pushing more audio")
        self._samples_pushed += x.size
        return self._advance(x, emotion)

    def flush(self, emotion: EmotionLike = None) -> Frames:
        """End the utterance: pad with silence and return the remaining frames with t < end."""
        if self._end_time is None:
            self._end_time = self._samples_pushed / self.sample_rate
        cfg = self.feature_cfg
        pad = np.zeros((self.lookahead_frames + 3) * cfg.hop + cfg.win, np.float32)
        out = self._advance(pad, emotion)
        keep = out.times < self._end_time - 1e-9
        return Frames(out.times[keep], out.values[keep])

    def animate(self, samples, emotion: EmotionLike = None, chunk: Optional[int] = None) -> Frames:
        """Offline: reset, push everything (optionally in ``chunk``-sample pieces), flush."""
        self.reset()
        x = validate_samples(samples)
        if chunk is None:
            parts = [self.push(x, emotion)]
        else:
            parts = [self.push(x[i:i + chunk], emotion) for i in range(0, x.size, chunk)]
        parts.append(self.flush(emotion))
        out = Frames.concat(parts)
        if self._end_time is not None:
            keep = out.times < self._end_time - 1e-9
            out = Frames(out.times[keep], out.values[keep])
        return out

    # -- internals ------------------------------------------------------------------------
    def _advance(self, x: np.ndarray, emotion: EmotionLike) -> Frames:
        feats = self._mel.push(x)                                        # (n, F)
        n = feats.shape[0]
        if n:
            i = self._net_count + np.arange(n)
            j = i - self.lookahead_frames                                # target frames
            t = np.maximum(j, 0) / self.frame_rate
            keep = j >= 0
            try:
                alpha = resolve_emotion(emotion, t)                      # (n, 7)
                out = sanitize(self._network(feats, alpha))              # (n, 52)
            except Exception:
                # keep the stream consistent (these frames become the rest pose) so that the
                # next push goes on in step with the audio; then let the caller see the error
                self._net_count += n
                if keep.any():
                    self._targets = np.concatenate(
                        [self._targets, np.zeros((int(keep.sum()), NUM_BLENDSHAPES), np.float32)])
                raise
            self._net_count += n
            if keep.any():
                self._targets = np.concatenate([self._targets, self._smooth_targets(out[keep])])
        return self._emit()

    def _smooth_targets(self, x: np.ndarray) -> np.ndarray:
        """Causal one-pole smoothing of target frames (N, 52); state carried across calls."""
        a = self.smoothing
        if a <= 0.0:
            return x
        y = np.empty_like(x)
        prev = x[0] if self._smooth_y is None else self._smooth_y
        for i in range(x.shape[0]):
            prev = a * prev + (1.0 - a) * x[i]
            y[i] = prev
        self._smooth_y = prev
        return y

    def _first_target(self, k):
        """Target frame ``floor(k * rate / fps)`` that output frame(s) ``k`` start from (int64;
        the one place this is computed, so emission and pruning always agree)."""
        return np.floor(np.asarray(k, np.float64) * (self.frame_rate / self.fps)
                        + 1e-9).astype(np.int64)

    def _emit(self) -> Frames:
        have_until = self._targets_start + self._targets.shape[0]       # exclusive target index
        if have_until < 2:
            return Frames.empty()
        # output k needs target j0 = _first_target(k) and the one after it (j0 + 1 < have_until);
        # start from an estimate and check it with the very arithmetic used below (a float
        # epsilon alone stops working once the stream is long: ~46 min at 60 fps)
        k_last = math.floor((have_until - 1) * self.fps / self.frame_rate)
        while k_last >= self._next_out and int(self._first_target(k_last)) + 1 >= have_until:
            k_last -= 1
        if k_last < self._next_out:
            return Frames.empty()
        k = np.arange(self._next_out, k_last + 1)
        pos = k * (self.frame_rate / self.fps)                          # target-frame position
        j0 = self._first_target(k)
        frac = (pos - j0).astype(np.float32)[:, None]
        rel = j0 - self._targets_start
        v = (1.0 - frac) * self._targets[rel] + frac * self._targets[rel + 1]
        self._next_out = k_last + 1
        # drop targets no longer needed
        need_from = int(self._first_target(self._next_out))
        drop = max(0, min(need_from - self._targets_start, self._targets.shape[0]))
        if drop:
            self._targets = self._targets[drop:]
            self._targets_start += drop
        return Frames(k / self.fps, sanitize(v))


class AmplitudeJawBaseline(StreamingPredictor):
    """BASELINE, not the generator: speech loudness drives ``jawOpen`` and nothing else.

    This is the amplitude-to-jaw baseline of docs/INTERFACE.md (Metrics): frame energy in dB
    above a floor, mapped linearly to jawOpen in [0, 0.6] with causal one-pole
    smoothing. It closes the mouth in silence but cannot articulate /b m/.
    """

    def __init__(self, fps: float = 60.0, feature_cfg: FeatureConfig = FeatureConfig(),
                 floor_db: float = -55.0, range_db: float = 35.0, smooth: float = 0.5,
                 max_open: float = 0.6):
        self._floor_db, self._range_db = floor_db, range_db
        self._smooth, self._max_open = smooth, max_open
        super().__init__(fps=fps, feature_cfg=feature_cfg, lookahead_frames=0)

    @property
    def info(self) -> PredictorInfo:
        """Backend 'baseline-amplitude', model version 'baseline', no look-ahead."""
        return PredictorInfo(
            backend="baseline-amplitude", model_version="baseline", lookahead_ms=0.0
        )

    def _reset_network(self) -> None:
        self._y = 0.0

    def _network(self, feats: np.ndarray, alpha: np.ndarray) -> np.ndarray:
        # feats are log10 mel power; total power in dB relative to full scale
        power = np.sum(10.0 ** feats.astype(np.float64), axis=1)                 # (N,)
        db = 10.0 * np.log10(power + 1e-12) - 10.0 * np.log10(self.feature_cfg.n_fft ** 2 / 8.0)
        target = np.clip((db - self._floor_db) / self._range_db, 0.0, 1.0) * self._max_open
        out = np.zeros((feats.shape[0], NUM_BLENDSHAPES), np.float32)
        y = self._y
        for t in range(feats.shape[0]):                                          # causal smoothing
            y = self._smooth * y + (1.0 - self._smooth) * target[t]
            out[t, INDEX["jawOpen"]] = y
        self._y = y
        return out
