"""Emotion from the voice: a small causal speech-emotion detector and diarization smoothing.

Pipeline (numpy only at inference; training lives in :mod:`emotalk_ros.training.voice_train`):

1. **Per-frame features** from the 100 Hz log-mel stream
(:class:`emotalk_ros.core.audio.LogMelStream`,
   40 bins of log10 power): the spectral shape (log-mel minus its frame mean, 40), the
   log energy, the spectral slope, a crude pitch proxy (log2 of the power centroid of the
   mel bands below 500 Hz) and the spectral flux (mean absolute change from the previous
   frame, a speaking-rate cue). A soft speech weight (sigmoid of the level in dBFS)
   marks which frames count.
2. **Window pooling**: every ``hop_frames`` (2 = 20 ms) the speech-weighted mean and
   standard deviation of those features over the last ``window_frames`` (100 = 1 s)
   frames, plus the speech fraction. The window ends ``lookahead_frames`` (8 = 80 ms,
   the generator's look-ahead) after the time the output depicts, so the detector is
   causal with the same look-ahead as the generator.
3. **MLP** (2 hidden layers, tanh) on the standardised pooled vector -> 8 logits over
   :data:`emotalk_ros.core.emotions.EMOTIONS` (softmax) and one intensity (sigmoid).

The weights and the architecture config live together in one ``.npz`` file
(:class:`VoiceEmotionModel`); that file *is* the exported model (a few tens of kB,
no ONNX needed, loaded with strict key/shape checks).

:class:`DiarizationSmoother` turns the 50 Hz distributions into a stable label with a
minimum segment length, hysteresis and a confirmation time (no flicker), plus a smoothed
intensity vector alpha (7,) for the boundary-aware emotion space. :func:`blend_emotion`
mixes a commanded alpha with the detected one; because the emotion space embedding is
linear in alpha (:meth:`emotalk_ros.emotion.space.EmotionSpace.embed`), this is a
straight, continuous move in that space.
"""

from __future__ import annotations

import json
import logging
import math
import os
from dataclasses import asdict, dataclass
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np

from emotalk_ros.core.audio import FeatureConfig
from emotalk_ros.core.emotions import EMOTIONS, NUM_EXPRESSIVE
from emotalk_ros.errors import EmotalkError, ModelMismatchError

log = logging.getLogger(__name__)

NUM_CLASSES = len(EMOTIONS)          # 8, neutral first
FORMAT_VERSION = 1
SILENCE_LOGMEL = math.log10(FeatureConfig().log_floor)   # the log-mel value of digital silence


@dataclass(frozen=True)
class VoiceEmotionConfig:
    """Architecture of the detector (stored beside the weights)."""

    n_mels: int = 40
    frame_rate: float = 100.0        # feature frames per second
    window_frames: int = 100         # pooling window (1 s), look-ahead included
    lookahead_frames: int = 8        # 80 ms, same as the generator
    hop_frames: int = 2              # one output every 20 ms
    hidden: int = 64
    shape_bands: int = 40  # spectral-shape bands (n_mels = full; fewer = coarser, 0 = none)
    speech_floor_db: float = -45.0   # dBFS where the speech weight is 0.5
    speech_slope_db: float = 3.0     # width of the soft speech threshold
    min_speech: float = 0.1          # speech fraction below which a window counts as silent

    @property
    def frame_dim(self) -> int:
        """Per-frame feature size: shape bands + energy, slope, pitch proxy, flux."""
        return self.shape_bands + 4

    @property
    def input_dim(self) -> int:
        """Pooled input size: mean and std of the frame features + speech fraction."""
        return 2 * self.frame_dim + 1

    def validate(self) -> None:
        """Raise :class:`EmotalkError` when hop, look-ahead, shape bands or window (<= 1 s) are
        out of range."""
        if not (1 <= self.hop_frames <= self.window_frames):
            raise EmotalkError("hop_frames must be in [1, window_frames]")
        if not (0 <= self.lookahead_frames < self.window_frames):
            raise EmotalkError("lookahead_frames must be in [0, window_frames)")
        if not (0 <= self.shape_bands <= self.n_mels):
            raise EmotalkError(f"shape_bands must be in [0, {self.n_mels}]")
        if self.window_frames > self.frame_rate:
            raise EmotalkError(f"the window must be at most 1 s ({int(self.frame_rate)} frames), "
                               f"got {self.window_frames}")


# ---------------------------------------------------------------------------------------------
# features
# ---------------------------------------------------------------------------------------------

def _mel_centres(n_mels: int, fc: FeatureConfig = FeatureConfig()) -> np.ndarray:
    """Centre frequencies (n_mels,) in Hz of the audio front end's mel bands."""
    def hz2mel(f):
        return 2595.0 * np.log10(1.0 + np.asarray(f) / 700.0)

    m = np.linspace(hz2mel(fc.fmin), hz2mel(fc.fmax), n_mels + 2)[1:-1]
    return 700.0 * (10.0 ** (m / 2595.0) - 1.0)


class _FrameFeatures:
    """Causal per-frame features (stateful only through the previous log-mel frame, for flux)."""

    def __init__(self, cfg: VoiceEmotionConfig):
        self.cfg = cfg
        pos = np.linspace(-1.0, 1.0, cfg.n_mels)
        self._slope_w = pos / float((pos * pos).sum())                    # (n_mels,)
        edges = np.linspace(0, cfg.n_mels, cfg.shape_bands + 1).round().astype(int)
        self._bands = np.zeros((cfg.n_mels, cfg.shape_bands))              # band averaging
        for b in range(cfg.shape_bands):
            self._bands[edges[b]:edges[b + 1], b] = 1.0 / max(edges[b + 1] - edges[b], 1)
        centres = _mel_centres(cfg.n_mels)
        self._low = np.flatnonzero(centres < 500.0)  # low bands (F0/F1 region)
        self._low_log2 = np.log2(centres[self._low])                       # (n_low,)
        self._db_offset = 10.0 * math.log10(FeatureConfig().n_fft ** 2 / 8.0)
        self.reset()

    def reset(self) -> None:
        self._prev: Optional[np.ndarray] = None

    def __call__(self, mel: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """mel (N, n_mels) log10 power -> (features (N, frame_dim) float64, speech weight (N,)
        float64)."""
        m = np.asarray(mel, np.float64)
        cfg = self.cfg
        if m.shape[0] == 0:
            return np.zeros((0, cfg.frame_dim)), np.zeros(0)
        power = 10.0 ** m                                                  # (N, n_mels)
        energy = np.log10(power.sum(axis=1) + 1e-12)                       # (N,) log10 power
        full = m - m.mean(axis=1, keepdims=True)                           # (N, n_mels)
        shape = full @ self._bands                                         # (N, shape_bands)
        slope = full @ self._slope_w                                      # (N,)
        low = power[:, self._low]                                          # (N, n_low)
        pitch = (low @ self._low_log2) / (low.sum(axis=1) + 1e-12)         # (N,) log2 Hz
        prev = m[:1] if self._prev is None else self._prev[None, :]
        flux = np.abs(np.diff(np.concatenate([prev, m]), axis=0)).mean(axis=1)   # (N,)
        self._prev = m[-1].copy()
        db = 10.0 * energy - self._db_offset                               # (N,) dBFS
        z = np.clip((db - cfg.speech_floor_db) / cfg.speech_slope_db, -30.0, 30.0)
        weight = 1.0 / (1.0 + np.exp(-z))                                  # (N,)
        feats = np.concatenate([shape, energy[:, None], slope[:, None], pitch[:, None],
                                flux[:, None]], axis=1)                    # (N, frame_dim)
        return feats, weight


def pool_windows(feats: np.ndarray, weight: np.ndarray, ends: np.ndarray, window: int
                 ) -> np.ndarray:
    """Speech-weighted window statistics.

    feats (T, D) float64 per-frame features; weight (T,) speech weights in [0, 1];
    ends (M,) int row indices (inclusive) where windows end; each window covers rows
    ``[end - window + 1, end]`` and needs ``end >= window - 1`` (callers pad the stream start
    with zero-weight rows). Returns (M, 2D + 1) float64: weighted mean (D), weighted std (D),
    speech fraction (1).
    """
    ends = np.asarray(ends, np.int64)
    d = feats.shape[1]
    if ends.size == 0:
        return np.zeros((0, 2 * d + 1))
    idx = ends[:, None] - window + 1 + np.arange(window)[None, :]           # (M, W)
    x = feats[idx]                                                         # (M, W, D)
    w = weight[idx][..., None]                                             # (M, W, 1)
    ws = w.sum(axis=1)                                                     # (M, 1)
    mean = (x * w).sum(axis=1) / (ws + 1e-3)                               # (M, D)
    var = (((x - mean[:, None, :]) ** 2) * w).sum(axis=1) / (ws + 1e-3)    # (M, D)
    return np.concatenate([mean, np.sqrt(var), ws / window], axis=1)       # (M, 2D+1)


class WindowFeatureStream:
    """Streaming window inputs of the detector: log-mel frames -> pooled vectors every hop.

    ``push(mel (N, n_mels)) -> (frame_index (M,) int64, inputs (M, input_dim) float64)``
    where ``frame_index`` is the *depicted* feature frame ``j`` (time ``j / frame_rate``):
    its window ends at frame ``j + lookahead_frames``. Chunking does not change the result.
    """

    def __init__(self, cfg: VoiceEmotionConfig):
        cfg.validate()
        self.cfg = cfg
        self._ff = _FrameFeatures(cfg)
        self.reset()

    def reset(self) -> None:
        """Forget the history (zero-weight rows, as at the stream start) and ``frames_seen``."""
        cfg = self.cfg
        self._ff.reset()
        self._buf = np.zeros((cfg.window_frames - 1, cfg.frame_dim))       # (W-1, D) history
        self._wbuf = np.zeros(cfg.window_frames - 1)                       # (W-1,) weights
        self.frames_seen = 0

    def push(self, mel: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """mel (N, n_mels) log-mel -> (depicted frame index (M,) int64, pooled inputs
        (M, input_dim) float64), one per hop whose window is complete."""
        cfg = self.cfg
        mel = np.asarray(mel, np.float32)
        if mel.ndim != 2 or mel.shape[1] != cfg.n_mels:
            raise EmotalkError(f"voice emotion features must be (N, {cfg.n_mels}) log-mel, "
                               f"got {mel.shape}")
        if mel.size and not np.isfinite(mel).all():
            raise EmotalkError("voice emotion features contain NaN/Inf")
        n = mel.shape[0]
        if n == 0:
            return np.zeros(0, np.int64), np.zeros((0, cfg.input_dim))
        f, w = self._ff(mel)                                               # (n, D), (n,)
        ext = np.concatenate([self._buf, f])                               # (W-1+n, D)
        wext = np.concatenate([self._wbuf, w])                             # (W-1+n,)
        base = self.frames_seen - (cfg.window_frames - 1)                  # global index of row 0
        i = self.frames_seen + np.arange(n)                                # global frames pushed
        j = i - cfg.lookahead_frames                                       # depicted frames
        sel = (j >= 0) & (j % cfg.hop_frames == 0)
        out = pool_windows(ext, wext, i[sel] - base, cfg.window_frames)    # (M, input_dim)
        keep = cfg.window_frames - 1
        self._buf, self._wbuf = ext[-keep:].copy(), wext[-keep:].copy()
        self.frames_seen += n
        return j[sel].astype(np.int64), out


# ---------------------------------------------------------------------------------------------
# model
# ---------------------------------------------------------------------------------------------

_WEIGHT_KEYS = ("mu", "sd", "w1", "b1", "w2", "b2", "w3", "b3")


@dataclass
class VoiceEmotionModel:
    """MLP weights (float32) and the standardisation of its inputs, plus the config."""

    cfg: VoiceEmotionConfig
    mu: np.ndarray     # (input_dim,)
    sd: np.ndarray     # (input_dim,)
    w1: np.ndarray     # (input_dim, hidden)
    b1: np.ndarray     # (hidden,)
    w2: np.ndarray     # (hidden, hidden)
    b2: np.ndarray     # (hidden,)
    w3: np.ndarray     # (hidden, 9): 8 logits + intensity logit
    b3: np.ndarray     # (9,)
    meta: Optional[Dict] = None

    def expected_shapes(self) -> Dict[str, Tuple[int, ...]]:
        """Shape of every weight array for this config (D = input_dim, H = hidden)."""
        d, h = self.cfg.input_dim, self.cfg.hidden
        return {"mu": (d,), "sd": (d,), "w1": (d, h), "b1": (h,), "w2": (h, h), "b2": (h,),
                "w3": (h, NUM_CLASSES + 1), "b3": (NUM_CLASSES + 1,)}

    def check(self) -> None:
        """Raise :class:`ModelMismatchError` on a wrong shape or a NaN/Inf weight."""
        for k, shp in self.expected_shapes().items():
            a = getattr(self, k)
            if tuple(a.shape) != shp:
                raise ModelMismatchError(f"voice emotion model: {k} has shape {a.shape}, "
                                         f"expected {shp}")
            if not np.isfinite(a).all():
                raise ModelMismatchError(f"voice emotion model: {k} contains NaN/Inf")

    @staticmethod
    def random(
        cfg: VoiceEmotionConfig = VoiceEmotionConfig(), seed: int = 0
    ) -> "VoiceEmotionModel":
        """An untrained model with seeded random weights (tests, and the start of training)."""
        rng = np.random.default_rng(seed)
        d, h = cfg.input_dim, cfg.hidden

        def lin(a: int, b: int) -> np.ndarray:
            return (rng.standard_normal((a, b)) / math.sqrt(a)).astype(np.float32)

        return VoiceEmotionModel(cfg, np.zeros(d, np.float32), np.ones(d, np.float32),
                                 lin(d, h), np.zeros(h, np.float32), lin(h, h),
                                 np.zeros(h, np.float32), lin(h, NUM_CLASSES + 1),
                                 np.zeros(NUM_CLASSES + 1, np.float32))

    def forward(self, x: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """Pooled inputs (M, input_dim) -> (probs (M, 8) float32, intensity (M,) float32)."""
        z = (np.asarray(x, np.float64) - self.mu) / self.sd                # (M, D)
        h = np.tanh(z @ self.w1 + self.b1)                                 # (M, H)
        h = np.tanh(h @ self.w2 + self.b2)                                 # (M, H)
        o = h @ self.w3 + self.b3                                          # (M, 9)
        logits = o[:, :NUM_CLASSES]
        e = np.exp(logits - logits.max(axis=1, keepdims=True))
        probs = e / e.sum(axis=1, keepdims=True)                           # (M, 8)
        inten = 1.0 / (1.0 + np.exp(-np.clip(o[:, NUM_CLASSES], -30.0, 30.0)))   # (M,)
        return probs.astype(np.float32), inten.astype(np.float32)

    def save(self, path: str) -> None:
        """Write the ``.npz`` (weights + JSON config + metadata)."""
        self.check()
        header = {"format": "emotalk_voice_emotion", "version": FORMAT_VERSION,
                  "emotions": list(EMOTIONS), "config": asdict(self.cfg), "meta": self.meta or {}}
        arrays = {k: np.asarray(getattr(self, k), np.float32) for k in _WEIGHT_KEYS}
        d = os.path.dirname(os.path.abspath(path))
        os.makedirs(d, exist_ok=True)
        with open(path, "wb") as f:
            np.savez(f, header=np.array(json.dumps(header)), **arrays)

    @staticmethod
    def load(path: str) -> "VoiceEmotionModel":
        """Load strictly: exact keys, emotion names, config fields and shapes, or raise."""
        if not os.path.isfile(path):
            raise EmotalkError(f"{path}: no such voice emotion model file")
        try:
            with np.load(path, allow_pickle=False) as z:
                data = {k: z[k] for k in z.files}
        except (OSError, ValueError) as exc:
            raise EmotalkError(f"{path}: not a voice emotion model (.npz): {exc}") from None
        want = set(_WEIGHT_KEYS) | {"header"}
        if set(data) != want:
            raise ModelMismatchError(f"{path}: keys {sorted(data)} != expected {sorted(want)}")
        header = json.loads(str(data["header"]))
        if (
            header.get("format") != "emotalk_voice_emotion"
            or header.get("version") != FORMAT_VERSION
        ):
            raise ModelMismatchError(
                f"{path}: format {header.get('format')} v{header.get('version')}"
                f" is not emotalk_voice_emotion v{FORMAT_VERSION}"
            )
        if list(header.get("emotions", [])) != list(EMOTIONS):
            raise ModelMismatchError(
                f"{path}: emotions {header.get('emotions')} != {list(EMOTIONS)}"
            )
        try:
            cfg = VoiceEmotionConfig(**header["config"])
        except TypeError as exc:
            raise ModelMismatchError(f"{path}: config does not match this code: {exc}") from None
        m = VoiceEmotionModel(cfg, *(data[k].astype(np.float32) for k in _WEIGHT_KEYS),
                              meta=header.get("meta"))
        m.check()
        return m


# ---------------------------------------------------------------------------------------------
# streaming detector
# ---------------------------------------------------------------------------------------------

class VoiceEmotionDetector:
    """Streaming speech-emotion detector on 100 Hz log-mel features.

    ``push_features(feats (N, 40)) -> (times (M,) float64 s, probs (M, 8) float32,
    intensity (M,) float32)``: one output every 20 ms of depicted audio time, emitted as
    soon as the window (1 s, ending 80 ms after the depicted time) is complete. With
    ``return_activity=True`` a fourth array (M,) gives each window's speech fraction in
    [0, 1] (low = silence; :class:`DiarizationSmoother` then holds its state).
    Chunking never changes the outputs.
    """

    def __init__(self, model: VoiceEmotionModel):
        model.check()
        self.model = model
        self.cfg = model.cfg
        self._stream = WindowFeatureStream(model.cfg)
        self.reset()

    @staticmethod
    def from_file(path: str) -> "VoiceEmotionDetector":
        """Load a ``.npz`` voice emotion model strictly and wrap it."""
        return VoiceEmotionDetector(VoiceEmotionModel.load(path))

    @property
    def lookahead_s(self) -> float:
        """How far past a depicted time (s) its window reaches (80 ms by default)."""
        return self.cfg.lookahead_frames / self.cfg.frame_rate

    @property
    def step_s(self) -> float:
        """Time between outputs in s (20 ms by default)."""
        return self.cfg.hop_frames / self.cfg.frame_rate

    def reset(self) -> None:
        """Clear the feature stream (a new utterance)."""
        self._stream.reset()

    def push_features(self, feats: np.ndarray, return_activity: bool = False):
        """feats (N, n_mels) 100 Hz log-mel -> (times (M,) float64 s, probs (M, 8) float32,
        intensity (M,) float32[, speech fraction (M,) float32])."""
        j, x = self._stream.push(feats)                                    # (M,), (M, D)
        probs, inten = self.model.forward(x)
        times = j / self.cfg.frame_rate
        if return_activity:
            return times, probs, inten, x[:, -1].astype(np.float32)
        return times, probs, inten

    def flush(self, return_activity: bool = False):
        """End of an utterance: pad with silence so the last look-ahead frames come out.

        Returns only outputs depicting times before the end of the pushed features.
        """
        end = self._stream.frames_seen
        pad = np.full((self.cfg.lookahead_frames, self.cfg.n_mels), SILENCE_LOGMEL, np.float32)
        out = self.push_features(pad, return_activity=True)
        keep = out[0] * self.cfg.frame_rate < end - 1e-6
        out = tuple(a[keep] for a in out)
        return out if return_activity else out[:3]

    def detect(self, mel: np.ndarray, return_activity: bool = False):
        """Offline: reset, push the whole (N, 40) log-mel, flush -> same arrays as
        push_features."""
        self.reset()
        a = self.push_features(mel, return_activity=True)
        b = self.flush(return_activity=True)
        out = tuple(np.concatenate([p, q]) for p, q in zip(a, b))
        return out if return_activity else out[:3]


# ---------------------------------------------------------------------------------------------
# smoothing and blending
# ---------------------------------------------------------------------------------------------

class DiarizationSmoother:
    """Stable emotion label + smoothed intensities from a stream of detector outputs.

    Per step (``step_s``, 20 ms): the class distribution and intensity are smoothed with a
    one-pole filter (``tau_s``). Windows whose speech fraction is below ``min_activity``
    hold the state (pauses change nothing); the first active window initialises it. A
    challenger label replaces the current one only when its smoothed probability leads by
    more than ``hysteresis`` continuously for ``confirm_s`` *and* the current segment is at
    least ``min_segment_s`` old, so there can never be more than one switch per
    ``min_segment_s``. A lasting change is followed after about
    ``tau_s * ln(...) + confirm_s`` (well under 1.5 s for the defaults) once the current
    segment is old enough.

    The output alpha (7,) eases (``alpha_tau_s``) toward ``intensity * onehot(label)``
    (zeros for neutral): continuous, never a jump.
    """

    def __init__(self, step_s: float = 0.02, min_segment_s: float = 2.0, hysteresis: float = 0.15,
                 confirm_s: float = 0.3, tau_s: float = 0.4, alpha_tau_s: float = 0.4,
                 min_activity: float = 0.1):
        if not (step_s > 0 and min_segment_s >= 0 and confirm_s >= 0 and tau_s > 0
                and alpha_tau_s > 0 and 0.0 <= hysteresis < 1.0 and 0.0 <= min_activity <= 1.0):
            raise EmotalkError("DiarizationSmoother: need step_s, tau_s, alpha_tau_s > 0, "
                               "min_segment_s, confirm_s >= 0, hysteresis in [0, 1), "
                               "min_activity in [0, 1]")
        self.step_s, self.min_segment_s, self.hysteresis = step_s, min_segment_s, hysteresis
        self.confirm_s, self.tau_s, self.alpha_tau_s = confirm_s, tau_s, alpha_tau_s
        self.min_activity = min_activity
        self._k = 1.0 - math.exp(-step_s / tau_s)
        self._ka = 1.0 - math.exp(-step_s / alpha_tau_s)
        self.reset()

    def reset(self) -> None:
        """Back to the start: neutral, zero intensity, no speech seen, no switches."""
        self.probs = np.zeros(NUM_CLASSES)
        self.probs[0] = 1.0                                # start neutral
        self.intensity = 0.0
        self.label = 0
        self.alpha = np.zeros(NUM_EXPRESSIVE)
        self.switches = 0
        self._started = False                              # no speech seen yet
        self._age = float("inf")                           # time since the last switch
        self._challenger = -1
        self._lead_time = 0.0

    def update(self, probs: np.ndarray, intensity: np.ndarray,
               activity: Optional[np.ndarray] = None) -> Tuple[np.ndarray, np.ndarray]:
        """probs (M, 8), intensity (M,), activity (M,) or None -> (labels (M,) int64, alpha (M, 7)
        float32)."""
        p = np.asarray(probs, np.float64).reshape(-1, NUM_CLASSES)
        inten = np.asarray(intensity, np.float64).reshape(-1)
        m = p.shape[0]
        act = np.ones(m) if activity is None else np.asarray(activity, np.float64).reshape(-1)
        if inten.shape[0] != m or act.shape[0] != m:
            raise EmotalkError(f"smoother: probs {p.shape}, intensity {inten.shape} and activity "
                               f"{act.shape} must have the same length")
        p = np.nan_to_num(p, nan=0.0)
        labels = np.zeros(m, np.int64)
        alphas = np.zeros((m, NUM_EXPRESSIVE), np.float32)
        for t in range(m):
            self._age += self.step_s
            if act[t] >= self.min_activity:
                if not self._started:                      # first speech: no lag from the prior
                    self._started = True
                    self.probs[:] = p[t]
                    self.intensity = float(np.clip(inten[t], 0.0, 1.0))
                self.probs += self._k * (p[t] - self.probs)
                self.intensity += self._k * (float(np.clip(inten[t], 0.0, 1.0)) - self.intensity)
                self._decide()
            target = np.zeros(NUM_EXPRESSIVE)
            if self.label > 0:
                target[self.label - 1] = self.intensity
            self.alpha += self._ka * (target - self.alpha)
            labels[t] = self.label
            alphas[t] = self.alpha
        return labels, alphas

    def _decide(self) -> None:
        best = int(np.argmax(self.probs))
        if best != self.label and self.probs[best] - self.probs[self.label] > self.hysteresis:
            if best != self._challenger:
                self._challenger, self._lead_time = best, 0.0
            self._lead_time += self.step_s
            if self._lead_time >= self.confirm_s - 1e-9 and self._age >= self.min_segment_s - 1e-9:
                self.label = best
                self.switches += 1
                self._age = 0.0
                self._challenger, self._lead_time = -1, 0.0
        else:
            self._challenger, self._lead_time = -1, 0.0


class VoiceEmotionTracker:
    """Detector + smoother as one streaming object, for the animator runtime.

    ``push_features(feats (N, 40))`` feeds the same 100 Hz log-mel the generator sees;
    ``alpha_at(times (M,) s) -> (M, 7)`` answers with the smoothed voice emotion for depicted
    times: the latest output at or before each time (step hold), zeros before the first
    output. The detector's outputs lag the audio by its look-ahead (80 ms), the same as the
    generator's, so pushing the same features to both first keeps them in step. At most
    ``history`` outputs are kept (bounded).
    """

    def __init__(self, detector: VoiceEmotionDetector,
                 smoother: Optional[DiarizationSmoother] = None, history: int = 250):
        self.detector = detector
        self.smoother = smoother or DiarizationSmoother(step_s=detector.step_s)
        self.history = int(history)
        self.reset()

    def reset(self) -> None:
        """Reset the detector and the smoother and drop the output history."""
        self.detector.reset()
        self.smoother.reset()
        self._times = np.zeros(0)
        self._alpha = np.zeros((0, NUM_EXPRESSIVE), np.float32)
        self._labels = np.zeros(0, np.int64)

    def push_features(self, feats: np.ndarray) -> int:
        """Feed (N, 40) log-mel; returns the number of new 20 ms outputs."""
        times, probs, inten, act = self.detector.push_features(feats, return_activity=True)
        if times.size:
            labels, alpha = self.smoother.update(probs, inten, act)
            self._times = np.concatenate([self._times, times])[-self.history:]
            self._alpha = np.concatenate([self._alpha, alpha])[-self.history:]
            self._labels = np.concatenate([self._labels, labels])[-self.history:]
        return int(times.size)

    def alpha_at(self, times: np.ndarray) -> np.ndarray:
        """Depicted times (M,) float64 s -> (M, 7) float32 smoothed voice intensities."""
        t = np.asarray(times, np.float64).reshape(-1)
        out = np.zeros((t.size, NUM_EXPRESSIVE), np.float32)
        if self._times.size == 0:
            return out
        k = np.searchsorted(self._times, t + 1e-9, side="right") - 1           # (M,)
        ok = k >= 0
        out[ok] = self._alpha[k[ok]]
        return out

    @property
    def label(self) -> str:
        """The current stable label (an EMOTIONS name)."""
        return EMOTIONS[self.smoother.label]

    @property
    def alpha(self) -> np.ndarray:
        """The latest smoothed intensities (7,) float32."""
        return (
            self._alpha[-1].copy()
            if self._alpha.shape[0]
            else np.zeros(NUM_EXPRESSIVE, np.float32)
        )


def blend_emotion(
    command_alpha: np.ndarray, voice_alpha: np.ndarray, voice_blend: float
) -> np.ndarray:
    """Mix the commanded intensities with the detected ones: (7,) or (N, 7) -> float32 same shape.

    ``voice_blend`` in [0, 1]: 0 = command only, 1 = voice only. The emotion space's
    embedding is linear in alpha, so this is a straight line between the two targets in
    the boundary-aware space (continuous in ``voice_blend`` and in both inputs).
    """
    b = float(voice_blend)
    if not (0.0 <= b <= 1.0) or not math.isfinite(b):
        raise EmotalkError(f"voice_blend must be in [0, 1], got {voice_blend}")
    c = np.asarray(command_alpha, np.float32)
    v = np.asarray(voice_alpha, np.float32)
    if c.shape[-1] != NUM_EXPRESSIVE or v.shape[-1] != NUM_EXPRESSIVE:
        raise EmotalkError(f"alpha vectors must end in {NUM_EXPRESSIVE}, got {c.shape}, {v.shape}")
    return ((1.0 - b) * c + b * v).astype(np.float32)


# ---------------------------------------------------------------------------------------------
# labels and evaluation
# ---------------------------------------------------------------------------------------------

def labels_from_alpha(alpha: np.ndarray) -> np.ndarray:
    """Per-frame intensities (N, 7) -> dominant class (N,) int64 over EMOTIONS (0 = neutral).

    The class distribution is [max(0, 1 - sum), alpha...]; its argmax is the label.
    """
    a = np.clip(np.asarray(alpha, np.float64), 0.0, None)
    return np.argmax(class_targets(a), axis=1).astype(np.int64)


def class_targets(alpha: np.ndarray) -> np.ndarray:
    """(N, 7) intensities -> (N, 8) target distribution [max(0, 1 - sum), alpha] normalised."""
    a = np.clip(np.asarray(alpha, np.float64), 0.0, None)
    p = np.concatenate([np.maximum(0.0, 1.0 - a.sum(axis=1, keepdims=True)), a], axis=1)
    return p / np.maximum(p.sum(axis=1, keepdims=True), 1e-9)


def macro_f1(truth: np.ndarray, pred: np.ndarray, n_classes: int = NUM_CLASSES) -> float:
    """Mean F1 over the classes present in ``truth`` (int arrays of the same length)."""
    truth, pred = np.asarray(truth), np.asarray(pred)
    f1 = []
    for c in range(n_classes):
        if not np.any(truth == c):
            continue
        tp = float(np.sum((truth == c) & (pred == c)))
        fp = float(np.sum((truth != c) & (pred == c)))
        fn = float(np.sum((truth == c) & (pred != c)))
        f1.append(2 * tp / max(2 * tp + fp + fn, 1e-9))
    return float(np.mean(f1)) if f1 else 0.0


def evaluate_voice_emotion(detector: VoiceEmotionDetector, clips: Iterable,
                           smoother: Optional[DiarizationSmoother] = None) -> Dict[str, object]:
    """Frame accuracy, macro-F1 and switch rate of the detector on labelled clips.

    clips: items with ``mel`` (N, 40) log-mel at 100 Hz and ``alpha`` (N, 7) per-frame
    intensities (objects with those attributes, or (mel, alpha) / (mel, alpha, mask)
    tuples; ``mask`` (N,) bool marks labelled frames). Each clip is run offline from a
    fresh state. Scores use the *smoothed* labels (what the face shows); ``raw_*`` use
    the detector's argmax. Returns frame_accuracy, macro_f1, switches_per_min (smoothed
    label changes per minute of audio, each clip's first acquisition from the neutral start
    included), extra_switches_per_min (changes beyond the first per clip: flicker and real
    changes within a clip), raw_frame_accuracy, raw_macro_f1, n_frames,
    minutes, confusion (8x8 list, rows = truth).
    """
    smoother = smoother or DiarizationSmoother(step_s=detector.step_s)
    truth_all: List[np.ndarray] = []
    pred_all: List[np.ndarray] = []
    raw_all: List[np.ndarray] = []
    switches = extra = 0
    minutes = 0.0
    for clip in clips:
        mel, alpha, mask = _clip_arrays(clip)
        if mel.shape[0] == 0:
            continue
        times, probs, inten, act = detector.detect(mel, return_activity=True)
        smoother.reset()
        labels, _ = smoother.update(probs, inten, act)
        switches += smoother.switches
        extra += max(0, smoother.switches - 1)
        minutes += mel.shape[0] / detector.cfg.frame_rate / 60.0
        j = np.clip(
            np.round(times * detector.cfg.frame_rate).astype(np.int64), 0, mel.shape[0] - 1
        )
        ok = mask[j]
        truth_all.append(labels_from_alpha(alpha[j])[ok])
        pred_all.append(labels[ok])
        raw_all.append(np.argmax(probs, axis=1)[ok])
    if not truth_all:
        raise EmotalkError("evaluate_voice_emotion: no clips with frames")
    truth, pred, raw = (np.concatenate(a) for a in (truth_all, pred_all, raw_all))
    if truth.size == 0:
        raise EmotalkError("evaluate_voice_emotion: no labelled frames")
    conf = np.zeros((NUM_CLASSES, NUM_CLASSES), np.int64)
    np.add.at(conf, (truth, pred), 1)
    return {
        "frame_accuracy": float(np.mean(truth == pred)),
        "macro_f1": macro_f1(truth, pred),
        "switches_per_min": switches / max(minutes, 1e-9),
        "extra_switches_per_min": extra / max(minutes, 1e-9),
        "raw_frame_accuracy": float(np.mean(truth == raw)),
        "raw_macro_f1": macro_f1(truth, raw),
        "n_frames": int(truth.size),
        "minutes": minutes,
        "confusion": conf.tolist(),
    }


def _clip_arrays(clip) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A clip (object or tuple) -> (mel (N, 40) float32, alpha (N, 7) float32, mask (N,) bool)."""
    if hasattr(clip, "mel"):
        mel, alpha, mask = clip.mel, clip.alpha, getattr(clip, "mask", None)
    elif isinstance(clip, Sequence) and len(clip) in (2, 3):
        mel, alpha = clip[0], clip[1]
        mask = clip[2] if len(clip) == 3 else None
    else:
        raise EmotalkError("a clip must have .mel and .alpha, or be (mel, alpha[, mask])")
    mel = np.asarray(mel, np.float32)
    alpha = np.asarray(alpha, np.float32)
    if alpha.shape != (mel.shape[0], NUM_EXPRESSIVE):
        raise EmotalkError(
            f"clip alpha must be ({mel.shape[0]}, {NUM_EXPRESSIVE}), got {alpha.shape}"
        )
    mask = np.ones(mel.shape[0], bool) if mask is None else np.asarray(mask, bool)
    return mel, alpha, mask


__all__ = [
    "VoiceEmotionConfig",
    "VoiceEmotionModel",
    "VoiceEmotionDetector",
    "WindowFeatureStream",
    "DiarizationSmoother",
    "VoiceEmotionTracker",
    "blend_emotion",
    "evaluate_voice_emotion",
    "labels_from_alpha",
    "class_targets",
    "macro_f1",
    "pool_windows",
    "NUM_CLASSES",
]
