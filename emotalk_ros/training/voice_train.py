"""Training the voice emotion detector (torch), data loading, and its command line.

Data sources (both give :class:`Clip` items: 100 Hz log-mel + per-frame intensities):

* **Synthetic shards** from ``emotalk synth`` (``DIR/shard_*.npz`` with ``mel`` (N, 40),
  ``mel_offsets`` (n_clips + 1,), ``alpha`` (N, 7), ``speaker`` (n_clips,), ``clip_meta``
  JSON strings). The synthetic voice's prosody follows ``alpha``.
* **Labelled real speech**: a folder of wav files with ``labels.csv`` whose rows are
  ``file,label`` (the whole clip) or ``file,label,start,end`` (a segment in seconds;
  frames outside every segment of a file are unlabelled and ignored). ``label`` is an
  emotion name or alias (``happy``, ``anger``...), optionally with an intensity
  (``happy:0.6``). A first row ``file,label,...`` is taken as a header.

Training: the pooled window inputs of :class:`emotalk_ros.emotion.voice.WindowFeatureStream`
(exactly what the streaming detector computes) -> a torch MLP of the same shape as
:class:`~emotalk_ros.emotion.voice.VoiceEmotionModel`, soft cross-entropy against
``[1 - sum(alpha), alpha]`` (class-balanced) plus MSE on the intensity ``min(1, sum(alpha))``;
the weights are written as the detector's ``.npz``. Clips of some speakers can be held
out to measure generalisation to unseen voices.

Command line (the integrator wires it as ``emotalk train-voice``)::

    python -m emotalk_ros.training.voice_train DATA_DIR [DATA_DIR2 ...] -o voice_emotion.npz \
        [--steps 3000] [--seed 0] [--holdout-speakers 0.2]
"""

from __future__ import annotations

import csv
import glob
import json
import logging
import os
import time
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from emotalk_ros.core.audio import load_audio, log_mel
from emotalk_ros.core.emotions import EXPRESSIVE_INDEX, NUM_EXPRESSIVE, canonical_emotion
from emotalk_ros.emotion.voice import (
    NUM_CLASSES,
    SILENCE_LOGMEL,
    VoiceEmotionConfig,
    VoiceEmotionDetector,
    VoiceEmotionModel,
    WindowFeatureStream,
    class_targets,
    evaluate_voice_emotion,
)
from emotalk_ros.errors import EmotalkError

log = logging.getLogger(__name__)


@dataclass
class Clip:
    """One training/evaluation clip at 100 Hz."""

    mel: np.ndarray                  # (N, 40) float32 log10 mel power
    alpha: np.ndarray                # (N, 7) float32 intensities over EXPRESSIVE
    mask: np.ndarray                 # (N,) bool, frames that carry a label
    speaker: str = ""
    meta: Dict = field(default_factory=dict)


# ---------------------------------------------------------------------------------------------
# loading
# ---------------------------------------------------------------------------------------------

def load_shard_clips(data_dir: str) -> List[Clip]:
    """All clips of ``data_dir/shard_*.npz`` (synthetic corpus)."""
    paths = sorted(glob.glob(os.path.join(data_dir, "shard_*.npz")))
    if not paths:
        raise EmotalkError(f"{data_dir}: no shard_*.npz files and no labels.csv")
    clips: List[Clip] = []
    for p in paths:
        with np.load(p, allow_pickle=False) as z:
            for k in ("mel", "mel_offsets", "alpha"):
                if k not in z.files:
                    raise EmotalkError(f"{p}: shard lacks the {k!r} array")
            mel = z["mel"].astype(np.float32)                              # (N, 40)
            alpha = z["alpha"].astype(np.float32)                          # (N, 7)
            off = z["mel_offsets"].astype(np.int64)                        # (n_clips + 1,)
            speaker = z["speaker"] if "speaker" in z.files else np.zeros(off.size - 1)
            meta = z["clip_meta"] if "clip_meta" in z.files else None
        if alpha.shape != (mel.shape[0], NUM_EXPRESSIVE):
            raise EmotalkError(f"{p}: alpha {alpha.shape} does not match mel {mel.shape}")
        for c in range(off.size - 1):
            a, b = int(off[c]), int(off[c + 1])
            info: Dict = {}
            if meta is not None:
                try:
                    info = json.loads(str(meta[c]))
                except ValueError:
                    info = {}
            clips.append(Clip(mel[a:b], alpha[a:b], np.ones(b - a, bool), str(speaker[c]), info))
    return clips


def _parse_label(text: str, where: str) -> np.ndarray:
    """'happy' / 'anger:0.6' -> (7,) intensities; 'neutral' -> zeros."""
    name, _, val = text.strip().partition(":")
    emo = canonical_emotion(name)
    if emo is None:
        raise EmotalkError(f"{where}: unknown emotion label {text!r}; valid: neutral, "
                           + ", ".join(EXPRESSIVE_INDEX))
    a = np.zeros(NUM_EXPRESSIVE, np.float32)
    if emo != "neutral":
        try:
            v = float(val) if val else 1.0
        except ValueError:
            raise EmotalkError(f"{where}: bad intensity in {text!r}") from None
        if not (0.0 <= v <= 1.0):
            raise EmotalkError(f"{where}: intensity must be in [0, 1], got {v}")
        a[EXPRESSIVE_INDEX[emo]] = v
    return a


def load_labelled_folder(folder: str, frame_rate: float = 100.0) -> List[Clip]:
    """A folder of wavs + ``labels.csv`` (file,label[,start,end]) -> clips, one per wav file.

    Per-clip rows label every frame; segment rows label frames whose time lies in
    [start, end); other frames of that file are masked out. Raises :class:`EmotalkError`
    naming the row for a missing file, an unknown label or a bad segment.
    """
    table = os.path.join(folder, "labels.csv")
    if not os.path.isfile(table):
        raise EmotalkError(f"{folder}: no labels.csv (rows: file,label[,start,end])")
    with open(table, newline="") as f:
        rows = [r for r in csv.reader(f) if r and any(c.strip() for c in r)]
    if rows and rows[0][0].strip().lower() == "file":
        rows = rows[1:]
    if not rows:
        raise EmotalkError(f"{table}: no label rows")
    per_file: Dict[str, List[Tuple[np.ndarray, Optional[float], Optional[float]]]] = {}
    for i, r in enumerate(rows):
        where = f"{table} row {i + 1}"
        r = [c.strip() for c in r]
        if len(r) not in (2, 4):
            raise EmotalkError(f"{where}: expected file,label or file,label,start,end; got {r}")
        a = _parse_label(r[1], where)
        t0 = t1 = None
        if len(r) == 4:
            try:
                t0, t1 = float(r[2]), float(r[3])
            except ValueError:
                raise EmotalkError(
                    f"{where}: start/end must be seconds, got {r[2]!r}, {r[3]!r}"
                ) from None
            if not (0.0 <= t0 < t1):
                raise EmotalkError(f"{where}: need 0 <= start < end, got {t0}, {t1}")
        per_file.setdefault(r[0], []).append((a, t0, t1))
    clips: List[Clip] = []
    for name, segs in sorted(per_file.items()):
        path = os.path.join(folder, name)
        mel = log_mel(load_audio(path))                                    # (N, 40)
        n = mel.shape[0]
        alpha = np.zeros((n, NUM_EXPRESSIVE), np.float32)
        mask = np.zeros(n, bool)
        t = np.arange(n) / frame_rate
        for a, t0, t1 in segs:
            sel = np.ones(n, bool) if t0 is None else (t >= t0) & (t < t1)
            alpha[sel] = a
            mask[sel] = True
        clips.append(Clip(mel, alpha, mask, speaker=os.path.splitext(name)[0],
                          meta={"engine": "labelled", "file": name}))
    return clips


def load_clips(path: str) -> List[Clip]:
    """A labelled folder (has labels.csv) or a shard directory -> clips."""
    if os.path.isfile(os.path.join(path, "labels.csv")):
        return load_labelled_folder(path)
    return load_shard_clips(path)


# ---------------------------------------------------------------------------------------------
# examples
# ---------------------------------------------------------------------------------------------

def clip_inputs(mel: np.ndarray, cfg: VoiceEmotionConfig) -> Tuple[np.ndarray, np.ndarray]:
    """Offline pooled inputs of one clip, exactly as the streaming detector computes them.

    -> (depicted frame index (M,) int64, inputs (M, input_dim) float64), indices < N.
    """
    s = WindowFeatureStream(cfg)
    j1, x1 = s.push(mel)
    j2, x2 = s.push(np.full((cfg.lookahead_frames, cfg.n_mels), SILENCE_LOGMEL, np.float32))
    j = np.concatenate([j1, j2])
    x = np.concatenate([x1, x2])
    keep = j < mel.shape[0]
    return j[keep], x[keep]


def build_examples(clips: Sequence[Clip], cfg: VoiceEmotionConfig
                   ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Clips -> (inputs (M, input_dim) float32, class targets (M, 8) float32, intensity (M,)
    float32).

    Only labelled frames (mask) are kept.
    """
    xs, ps, ins = [], [], []
    for c in clips:
        if c.mel.shape[0] == 0:
            continue
        j, x = clip_inputs(c.mel, cfg)
        ok = c.mask[j]
        a = c.alpha[j[ok]]                                                 # (m, 7)
        xs.append(x[ok])
        ps.append(class_targets(a))
        ins.append(np.minimum(1.0, np.clip(a, 0.0, None).sum(axis=1)))
    if not xs or sum(x.shape[0] for x in xs) == 0:
        raise EmotalkError("no labelled training frames")
    return (np.concatenate(xs).astype(np.float32), np.concatenate(ps).astype(np.float32),
            np.concatenate(ins).astype(np.float32))


def split_speakers(
    clips: Sequence[Clip], holdout: float, seed: int
) -> Tuple[List[Clip], List[Clip]]:
    """Hold out a fraction of speakers (by ``Clip.speaker``) -> (train, held-out)."""
    speakers = sorted({c.speaker for c in clips})
    if holdout <= 0 or len(speakers) < 2:
        return list(clips), []
    rng = np.random.default_rng(seed)
    n_hold = min(len(speakers) - 1, max(1, int(round(holdout * len(speakers)))))
    held = set(rng.permutation(speakers)[:n_hold].tolist())
    return ([c for c in clips if c.speaker not in held], [c for c in clips if c.speaker in held])


# ---------------------------------------------------------------------------------------------
# training
# ---------------------------------------------------------------------------------------------

def _torch_mlp(cfg: VoiceEmotionConfig):
    import torch.nn as nn

    return nn.Sequential(nn.Linear(cfg.input_dim, cfg.hidden), nn.Tanh(),
                         nn.Linear(cfg.hidden, cfg.hidden), nn.Tanh(),
                         nn.Linear(cfg.hidden, NUM_CLASSES + 1))


def fit_model(x: np.ndarray, p: np.ndarray, inten: np.ndarray, cfg: VoiceEmotionConfig,
              steps: int = 2000, seed: int = 0, batch: int = 256, lr: float = 3e-3,
              weight_decay: float = 1e-4) -> VoiceEmotionModel:
    """Train the MLP on pooled inputs x (M, D), targets p (M, 8), intensity (M,) -> model."""
    import torch

    if steps < 1:
        raise EmotalkError(f"steps must be >= 1, got {steps}")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)          # a tiny MLP: more threads only add contention
    try:
        return _fit(torch, x, p, inten, cfg, steps, seed, batch, lr, weight_decay)
    finally:
        torch.set_num_threads(threads)


def _fit(torch, x, p, inten, cfg, steps, seed, batch, lr, weight_decay) -> VoiceEmotionModel:
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    mu = x.mean(axis=0)                                                    # (D,)
    sd = np.maximum(x.std(axis=0), 1e-3)                                   # (D,)
    xt = torch.from_numpy(((x - mu) / sd).astype(np.float32))              # (M, D)
    pt = torch.from_numpy(p)                                               # (M, 8)
    it = torch.from_numpy(inten)                                           # (M,)
    hard = p.argmax(axis=1)
    freq = np.bincount(hard, minlength=NUM_CLASSES).astype(np.float64)
    cw = np.where(freq > 0, 1.0 / np.maximum(freq, 1.0), 0.0)
    cw = cw / (cw[hard].mean())
    wt = torch.from_numpy(cw[hard].astype(np.float32))                     # (M,) class balance
    net = _torch_mlp(cfg)
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)
    m = xt.shape[0]
    for step in range(steps):
        idx = torch.from_numpy(rng.integers(0, m, size=min(batch, m)))
        o = net(xt[idx])                                                   # (B, 9)
        logp = torch.log_softmax(o[:, :NUM_CLASSES], dim=1)                # (B, 8)
        ce = -(pt[idx] * logp).sum(dim=1)                                  # (B,)
        loss = (wt[idx] * ce).mean() + ((torch.sigmoid(o[:, NUM_CLASSES]) - it[idx]) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if step % max(1, steps // 5) == 0:
            log.info("voice emotion step %d/%d loss %.4f", step, steps, float(loss.detach()))
    lin = [mod for mod in net if isinstance(mod, torch.nn.Linear)]
    w = [(l_.weight.detach().numpy().T.copy(), l_.bias.detach().numpy().copy()) for l_ in lin]
    return VoiceEmotionModel(cfg, mu.astype(np.float32), sd.astype(np.float32),
                             w[0][0], w[0][1], w[1][0], w[1][1], w[2][0], w[2][1])


def train_voice_emotion(data_dir, out_path: str, steps: int = 2000, seed: int = 0,
                        holdout_speakers: float = 0.2,
                        cfg: VoiceEmotionConfig = VoiceEmotionConfig()) -> Dict[str, object]:
    """Train the detector and write it to ``out_path`` (.npz).

    data_dir: a shard directory or a labelled folder, or a list of them (mixed). A
    fraction ``holdout_speakers`` of the speakers is held out and scored with
    :func:`emotalk_ros.emotion.voice.evaluate_voice_emotion`. Returns a dict with the
    example counts, seconds, and ``train``/``heldout`` metrics (heldout None when no
    speaker was held out).
    """
    t0 = time.time()
    dirs = [data_dir] if isinstance(data_dir, (str, os.PathLike)) else list(data_dir)
    clips: List[Clip] = []
    for d in dirs:
        clips.extend(load_clips(str(d)))
    train, held = split_speakers(clips, holdout_speakers, seed)
    x, p, inten = build_examples(train, cfg)
    log.info("voice emotion: %d clips (%d held out), %d training windows", len(clips), len(held),
             x.shape[0])
    model = fit_model(x, p, inten, cfg, steps=steps, seed=seed)
    det = VoiceEmotionDetector(model)
    info: Dict[str, object] = {"clips": len(clips), "train_clips": len(train),
                               "heldout_clips": len(held), "windows": int(x.shape[0]),
                               "steps": steps, "seed": seed,
                               "heldout_speakers": sorted({c.speaker for c in held})}
    info["train"] = _strip(evaluate_voice_emotion(det, train))
    info["heldout"] = _strip(evaluate_voice_emotion(det, held)) if held else None
    info["seconds"] = time.time() - t0
    model.meta = {k: v for k, v in info.items() if k != "heldout_speakers"}
    model.meta["data"] = [os.path.abspath(str(d)) for d in dirs]
    model.save(out_path)
    return info


def _strip(m: Dict[str, object]) -> Dict[str, object]:
    return {k: v for k, v in m.items() if k != "confusion"}


