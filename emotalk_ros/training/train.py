"""Training the generator (``emotalk train``): EditEmoTalk with a procedural teacher.

Pipeline (all deterministic for a seed):

1. **Data.** Shards from ``emotalk synth`` (log-mel, per-frame emotion intensities,
   phone timings). Targets come from the procedural teacher
   (:mod:`emotalk_ros.animation.teacher`) rendered from the phones and the clip's emotion
   track; a second "alt" target per clip re-renders it with a random emotion, which
   decorrelates the commanded emotion from the voice's prosody.
2. **Mapping network** pre-trained on teacher motion windows (1 s) to regress the
   window's intensities from an embedding z (and classify the dominant emotion).
3. **Emotion space**: linear boundaries neutral-vs-k and k-vs-l in z; unit normals and
   calibration (:func:`emotalk_ros.emotion.space.fit_emotion_space`).
4. **Generator** trained with: L1 reconstruction weighted by phonetic context (frames
   whose articulation changes weigh more), velocity, bilabial-closure emphasis, and
   the emotional consistency loss ||M(generated window) - z_target||^2 with M frozen.
"""

from __future__ import annotations

import glob
import hashlib
import logging
import math
import os
import sys
import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Dict, List, Optional, Tuple

import numpy as np

from emotalk_ros.core.blendshapes import INDEX, NAMES
from emotalk_ros.core.emotions import EXPRESSIVE, NUM_EXPRESSIVE
from emotalk_ros.core.phones import BILABIALS, PHONE_INDEX
from emotalk_ros.errors import EmotalkError
from emotalk_ros.training.silence import PAIRS, held_group

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

# left/right pairs of shapes, the silence checks' pairs: (..Left indices, ..Right indices)
SYM_LEFT, SYM_RIGHT = (np.array(a, np.int64) for a in zip(*PAIRS))
MOUTH = np.array([i for i, n in enumerate(NAMES)
                  if n.startswith(("jaw", "mouth", "cheekPuff", "tongue"))], np.int64)
# the shapes of every emotion's held expression (FACS groups less the lip seal's shapes)
EXPRESSION = np.array(sorted({i for e in EXPRESSIVE for i in held_group(e)}), np.int64)
BILABIAL_IDS = np.array([PHONE_INDEX[p] for p in sorted(BILABIALS)], np.int64)


# ---------------------------------------------------------------------------------------------
# data
# ---------------------------------------------------------------------------------------------

@dataclass
class TrainData:
    """Concatenated frames of all clips (100 Hz) and per-clip index arrays."""

    mel: np.ndarray            # (N, 40) float16
    alpha: np.ndarray          # (N, 7) float16 (the clip's own emotion track)
    target: np.ndarray         # (N, 52) float16 teacher with the clip's emotion
    alt_alpha: np.ndarray      # (n_clips, 7) float32 random constant emotion per clip
    alt_target: np.ndarray     # (N, 52) float16 teacher with alt_alpha
    phone: np.ndarray          # (N,) int16 phone id per frame
    offsets: np.ndarray        # (n_clips + 1,) int64
    speaker: np.ndarray        # (n_clips,) int32
    corpus: Optional[np.ndarray] = None   # (n_clips,) int32 index of the --data directory

    @property
    def n_clips(self) -> int:
        """Number of clips."""
        return int(self.offsets.shape[0] - 1)


def _data_specs(path: str) -> List[Tuple[str, Optional[int]]]:
    """``DIR`` or ``DIR1,DIR2:N,...`` -> [(dir, clip limit or None)]: several corpora (e.g. two
    synthesis engines); ``:N`` uses only the first N clips of that corpus."""
    out: List[Tuple[str, Optional[int]]] = []
    for p in (q.strip() for q in path.split(",")):
        if not p:
            continue
        d, sep, n = p.rpartition(":")
        if sep and n.isdigit() and d:
            out.append((d, int(n)))
        else:
            out.append((p, None))
    return out


def _data_dirs(path: str) -> List[str]:
    """The corpus directories of a ``--data`` value (clip limits dropped)."""
    return [d for d, _ in _data_specs(path)]


def _shard_paths(path: str) -> List[Tuple[str, int, Optional[int]]]:
    """[(shard path, corpus index, clip limit of the corpus)] in order."""
    out: List[Tuple[str, int, Optional[int]]] = []
    for k, (d, limit) in enumerate(_data_specs(path)):
        paths = sorted(glob.glob(os.path.join(d, "shard_*.npz")))
        if not paths:
            raise EmotalkError(f"{d}: no shard_*.npz files (make them with `emotalk synth`)")
        out += [(p, k, limit) for p in paths]
    return out


def phone_frames(
    start: np.ndarray, end: np.ndarray, pid: np.ndarray, n: int, rate: float = 100.0
) -> np.ndarray:
    """Phone id per frame (n,) int16; frame j depicts t = j / rate."""
    t = np.arange(n) / rate
    k = np.searchsorted(np.asarray(end, np.float64), t, side="right")
    k = np.clip(k, 0, len(pid) - 1)
    out = np.asarray(pid, np.int16)[k]
    out[t >= (end[-1] if len(end) else 0)] = PHONE_INDEX["sil"]
    return out


def random_alpha(rng: np.random.Generator) -> np.ndarray:
    """A random emotion for decorrelation: 20% neutral, 60% one emotion U(0.3, 1), 20% a mix of
    two."""
    a = np.zeros(NUM_EXPRESSIVE, np.float32)
    u = rng.random()
    if u < 0.2:
        return a
    if u < 0.8:
        a[rng.integers(NUM_EXPRESSIVE)] = rng.uniform(0.3, 1.0)
        return a
    i, j = rng.choice(NUM_EXPRESSIVE, 2, replace=False)
    a[i], a[j] = rng.uniform(0.2, 0.8), rng.uniform(0.2, 0.8)
    return a


def _render_clip(args):
    from emotalk_ros.animation import teacher

    ps, pe, pid, alpha = args
    return teacher.render(ps, pe, pid, alpha, rate=100.0).astype(np.float16)


def _teacher_hash() -> str:
    from emotalk_ros.animation import teacher

    with open(teacher.__file__, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()[:12]


def load_training_data(
    path: str, seed: int = 0, workers: int = 2, progress: bool = True
) -> TrainData:
    """Load synth shards and render (or load cached) teacher targets."""

    mel, alpha, speaker, offsets, phones, corpus = [], [], [], [0], [], []
    taken: Dict[int, int] = {}
    for p, k, limit in _shard_paths(path):
        with np.load(p, allow_pickle=False) as z:
            mo = z["mel_offsets"]
            po = z["phone_offsets"]
            n_c = len(mo) - 1
            if limit is not None:
                n_c = max(0, min(n_c, limit - taken.get(k, 0)))
            taken[k] = taken.get(k, 0) + n_c
            if n_c == 0:
                continue
            corpus += [k] * n_c
            mel.append(z["mel"][:mo[n_c]])
            alpha.append(z["alpha"][:mo[n_c]])
            speaker.append(z["speaker"][:n_c])
            for c in range(n_c):
                offsets.append(offsets[-1] + int(mo[c + 1] - mo[c]))
                sl = slice(int(po[c]), int(po[c + 1]))
                phones.append(
                    (
                        z["phone_start"][sl].astype(np.float64),
                        z["phone_end"][sl].astype(np.float64),
                        z["phone_id"][sl].astype(np.int64),
                    )
                )
    mel_a = np.concatenate(mel)
    alpha_a = np.concatenate(alpha).astype(np.float16)
    off = np.asarray(offsets, np.int64)
    n_clips = len(off) - 1
    rng = np.random.default_rng(seed + 7)
    alt = np.stack([random_alpha(rng) for _ in range(n_clips)]).astype(np.float32)

    dirs = _data_dirs(path)
    specs = [f"{d}:{n}" if n is not None else d for d, n in _data_specs(path)]
    tag = "" if specs == dirs and len(dirs) == 1 else \
        "_" + hashlib.sha256(",".join(specs if specs != dirs else dirs).encode()).hexdigest()[:8]
    cache = os.path.join(dirs[0], f"targets_{_teacher_hash()}_s{seed}{tag}.npz")
    if os.path.exists(cache):
        with np.load(cache) as z:
            target, alt_target = z["target"], z["alt_target"]
    else:
        jobs = []
        for c in range(n_clips):
            n = int(off[c + 1] - off[c])
            ps, pe, pid = phones[c]
            jobs.append((ps, pe, pid, alpha_a[off[c]:off[c + 1]].astype(np.float32)))
            jobs.append((ps, pe, pid, np.broadcast_to(alt[c], (n, NUM_EXPRESSIVE)).copy()))
        outs = _parallel_map(_render_clip, jobs, workers, progress, "teacher targets")
        target = np.concatenate(outs[0::2])
        alt_target = np.concatenate(outs[1::2])
        np.savez(cache, target=target, alt_target=alt_target)
    pf = np.concatenate(
        [phone_frames(*phones[c], int(off[c + 1] - off[c])) for c in range(n_clips)]
    )
    if target.shape[0] != mel_a.shape[0]:
        raise EmotalkError(
            "teacher targets do not align with features; delete the targets_*.npz cache"
        )
    return TrainData(
        mel_a, alpha_a, target, alt, alt_target, pf, off, np.concatenate(speaker).astype(np.int32),
        np.asarray(corpus, np.int32),
    )


def _parallel_map(fn, jobs, workers: int, progress: bool, desc: str):
    from tqdm import tqdm

    if workers > 1:
        import multiprocessing as mp

        with mp.get_context("fork").Pool(workers) as pool:
            return list(tqdm(pool.imap(fn, jobs, chunksize=8), total=len(jobs), desc=desc,
                             disable=not progress, file=sys.stderr))
    return [fn(j) for j in tqdm(jobs, desc=desc, disable=not progress, file=sys.stderr)]


# ---------------------------------------------------------------------------------------------
# training
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class TrainConfig:
    """Training hyper-parameters: steps, batch, crop and warm-up in 100 Hz frames, loss
    weights, augmentation, run-time smoothing."""

    steps: int = 3000
    map_steps: int = 800
    batch: int = 24
    crop: int = 256                 # frames with loss
    warmup: int = 64                # extra context frames before the crop (>= receptive field)
    lr: float = 2e-3
    alt_fraction: float = 0.35      # crops using the random-emotion alt target
    w_vel: float = 0.5
    w_bilabial: float = 2.0
    w_consistency: float = 0.5
    w_aperture: float = 0.0         # L1 on the lip aperture, opening as well as closing
    w_aperture_corr: float = 0.0    # 1 - correlation of each crop's aperture with the
                                    # target's (its shape over time, not its scale)
    output_smoothing: float = 0.3  # run-time causal one-pole smoothing stored with the model
    freq_warp: float = 0.0  # speaker augmentation: mel axis scaled by a factor in [1/(1+x), 1+x]
    tilt: float = 0.0               # spectral tilt augmentation: +-x log10 units across the band
    # real-speech recipe (all off by default, so older recipes keep their random stream)
    sil_fraction: float = 0.0       # crops that are silence or room noise only, any emotion
    pad_sil: float = 0.0            # crops whose frames past the clip are noise, at rest
    target_lead: int = 0            # frames the target is advanced (offsets output smoothing)
    cons_speech_only: bool = False  # consistency loss on windows that are mostly speech only
    w_symmetry: float = 0.0         # L1 on left/right differences against the target's
    w_expression: float = 0.0       # extra L1 on the emotions' held-expression shapes
    w_accel: float = 0.0            # L1 on second differences against the target's (smooth
                                    # with the look-ahead, not by causal output smoothing)
    phone_after: int = -1           # give the generator a phone bottleneck after this many
                                    # blocks (-1: keep the init's / none)
    w_phone: float = 0.0            # cross-entropy of the bottleneck's phone logits
    phone_replace: bool = False     # the bottleneck replaces the residual stream (strict)
    phone_mixture: bool = False     # face = posterior-weighted mean of per-phone faces
    phone_dominance: bool = False   # ... weighted by a learnt dominance per phone and shape
    bilabial_via_posteriors: bool = False  # with the mixture: the bilabial loss reaches the
                                    # posteriors only (the per-phone faces are held)
    freeze_trunk: bool = False      # train only what follows the phone bottleneck
    w_neutral: float = 0.0          # with the mixture and an init: L1 of the per-phone faces
                                    # at the neutral embedding against the init's, the
                                    # dominance frozen (only how an emotion moves them trains)
    readout_bilabial: float = 0.0   # > 0: train through the aperture readout with this
                                    # /p b m/ dominance (needs a phone-mixture --init)
    readout_temperature: float = 0.7  # ... and this posterior temperature (the calibrate
                                      # default, READOUT_TEMPERATURE)
    data_weights: Tuple[float, ...] = ()   # sampling weight of each --data directory
    val_fraction: float = 0.03
    seed: int = 0
    threads: int = 2
    device: str = "auto"


def consistency_loss(m: "torch.Tensor", z: "torch.Tensor", ph: "torch.Tensor",
                     valid: "torch.Tensor", window: int, speech_only: bool) -> "torch.Tensor":
    """The emotional-consistency loss: mean squared error of the mapping network's reading
    ``m`` (N, D) of N generated windows against their emotion codes ``z`` (N, D).

    ``speech_only``: only windows whose frames are mostly speech (``ph`` (B, N/B * window)
    not silence, and ``valid``) count. The mapping network learned to read emotion from
    speech motion and misreads a face held still (a clean rest face reads far from the
    neutral code), so on silence the loss rewards artefacts (docs/EVALUATION.md). Without
    it every window counts, as in the EditEmoTalk recipe.
    """
    import torch.nn.functional as F

    if not speech_only:
        return F.mse_loss(m, z)
    speech = ((ph != PHONE_INDEX["sil"]).float() * valid).reshape(-1, window).mean(1) >= 0.5
    per = ((m - z) ** 2).mean(-1)                                               # (N,)
    return (per * speech.float()).sum() / speech.float().sum().clamp(min=1.0)


DOM_LR_SCALE = 20.0   # the phone dominance's learning rate over the rest's


def mixture_face(w: "torch.Tensor", faces: "torch.Tensor",
                 hold_faces: bool = False) -> "torch.Tensor":
    """The phone mixture's face from :meth:`Generator.mixture_parts`: weights (B, T, P) (the
    posteriors) or (B, T, P, 52) (with dominance) and per-phone faces (B, T, P, 52) ->
    (B, T, 52). ``hold_faces``: a loss on the result reaches the weights only (the bilabial
    loss, ``bilabial_via_posteriors``: it may raise an unsure /p b m/'s posterior or
    dominance, but not close the other phones' faces, which would shut the vowels)."""
    from emotalk_ros.generator.model import mixture_of

    return mixture_of(w, faces.detach() if hold_faces else faces)


def symmetry_loss(y: "torch.Tensor", tgt: "torch.Tensor", valid: "torch.Tensor",
                  left: "torch.Tensor", right: "torch.Tensor") -> "torch.Tensor":
    """Mean L1 of the left-minus-right differences of ``y`` (B, W, 52) against the target's,
    over the ``valid`` (B, W) frames: a one-sided smile, brow or squint the target does not
    have (contempt's does, and is kept) costs more than its share of the per-shape L1."""
    d = (y[..., left] - y[..., right]) - (tgt[..., left] - tgt[..., right])
    return (d.abs().mean(-1) * valid).sum() / valid.sum().clamp(min=1.0)


def accel_loss(y: "torch.Tensor", tgt: "torch.Tensor", valid: "torch.Tensor") -> "torch.Tensor":
    """Mean L1 of the second differences of ``y`` (B, W, 52) against the target's, over the
    frames whose two neighbours are also ``valid`` (B, W).

    Frame-to-frame noise of the network's output is what the run-time causal output smoothing
    removes, and that smoothing delays the mouth (a one-pole at 0.55 by 1.2 feature frames).
    A network trained to be as smooth as its target uses its look-ahead to be smooth instead,
    so less output smoothing is needed and the lips lag less (docs/EVALUATION.md).
    """
    def d2(x):                                  # (B, W - 2, 52); empty for W < 3
        return x[:, 2:] - 2.0 * x[:, 1:-1] + x[:, :-2]

    diff = d2(y) - d2(tgt)
    m = valid[:, 2:] * valid[:, 1:-1] * valid[:, :-2]
    return (diff.abs().mean(-1) * m).sum() / m.sum().clamp(min=1.0)


CORR_MIN_STD = 0.02   # crops whose target aperture varies less than this carry no shape


def aperture_corr_loss(ap: "torch.Tensor", ap_t: "torch.Tensor", valid: "torch.Tensor"
                       ) -> "torch.Tensor":
    """Mean over the crops of 1 - the Pearson correlation of the aperture ``ap`` (B, W) with
    the target's ``ap_t`` over the ``valid`` (B, W) frames.

    The L1 on the aperture is met by a mouth that opens to the right size on average; under
    unsure phones that is a mouth half open everywhere, whose correlation with the phones is
    low (docs/EVALUATION.md, the aperture by phone class). This term costs the shape of the
    movement alone: it is blind to scale and offset, which the L1 terms hold. A crop whose
    target barely moves (silence, a held vowel: standard deviation under CORR_MIN_STD) is left
    out; 0 when every crop is.
    """
    n = valid.sum(-1)                                                      # (B,)
    keep_n = n.clamp(min=1.0)
    mu = (ap * valid).sum(-1) / keep_n
    mu_t = (ap_t * valid).sum(-1) / keep_n
    d = (ap - mu[:, None]) * valid
    d_t = (ap_t - mu_t[:, None]) * valid
    var = (d * d).sum(-1) / keep_n
    var_t = (d_t * d_t).sum(-1) / keep_n
    cov = (d * d_t).sum(-1) / keep_n
    r = cov / (var.clamp(min=1e-8) * var_t.clamp(min=1e-8)).sqrt()
    keep = ((n >= 3) & (var_t.sqrt() >= CORR_MIN_STD)).float()
    return ((1.0 - r) * keep).sum() / keep.sum().clamp(min=1.0)


def phone_loss(logits: "torch.Tensor", ph: "torch.Tensor", valid: "torch.Tensor"
               ) -> "torch.Tensor":
    """Cross-entropy of phone logits (B, W, P) against the phone ids (B, W) of the frames
    each network frame depicts, over valid frames (0 when none is)."""
    import torch

    ce = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), ph.reshape(-1),
                                           reduction="none")
    v = valid.reshape(-1)
    return (ce * v).sum() / v.sum().clamp(min=1.0)


def expression_loss(y: "torch.Tensor", tgt: "torch.Tensor", valid: "torch.Tensor",
                    idx: "torch.Tensor") -> "torch.Tensor":
    """Mean L1 of the expression shapes ``idx`` of ``y`` (B, W, 52) against the target over
    the ``valid`` (B, W) frames. The teacher holds an emotion's shapes steady through speech;
    the per-shape L1 spreads its weight over all 52 shapes, and models learned to let the
    expression sag with the mouth's movement (disgust's nose wrinkle at 0.4 in speech
    against 0.6 at rest)."""
    d = (y[..., idx] - tgt[..., idx]).abs().mean(-1)
    return (d * valid).sum() / valid.sum().clamp(min=1.0)


def rest_target(alpha: np.ndarray) -> np.ndarray:
    """The teacher's face in a pause with emotion ``alpha`` (7,) -> (52,) float32 (mouth at
    rest, the emotion's expression)."""
    from emotalk_ros.animation import teacher

    a = np.asarray(alpha, np.float32).reshape(1, NUM_EXPRESSIVE)
    return teacher.render(np.array([0.0]), np.array([1.0]), np.array([PHONE_INDEX["sil"]]), a,
                          rate=100.0)[0]


def silence_bank(seed: int, n: int = 96, seconds: float = 4.0) -> np.ndarray:
    """Log-mel of silence and room noise (n, T, 40) float32 for silence training.

    A quarter digital silence; the rest stationary white/pink/brown noise at -80..-40 dBFS,
    a third of it with mains hum (50/60 Hz and harmonics) or faint breaths (-55..-35 dBFS).
    Deterministic for ``seed``.
    """
    from emotalk_ros.core.audio import FeatureConfig, log_mel
    from emotalk_ros.training.synth.augment import breath, room_tone

    rng = np.random.default_rng([seed, 4242])
    sr = 16000
    ns = int(seconds * sr)
    out = []
    for k in range(n):
        x = np.zeros(ns, np.float32)
        if k % 4:
            color = ("white", "pink", "brown")[int(rng.integers(3))]
            x = room_tone(x, rng, float(rng.uniform(-80.0, -40.0)), color)
            u = rng.random()
            if u < 0.17:
                f0 = 50.0 if rng.random() < 0.5 else 60.0
                t = np.arange(ns) / sr
                hum = sum(np.sin(2 * np.pi * f0 * h * t + rng.uniform(0, 6.3)) / h
                          for h in (1, 2, 3, 5))
                x = x + (10.0 ** (float(rng.uniform(-65.0, -45.0)) / 20.0) * hum).astype(
                    np.float32)
            elif u < 0.34:
                for _ in range(int(rng.integers(1, 4))):
                    m = int(rng.uniform(0.25, 0.6) * sr)
                    i0 = int(rng.integers(0, ns - m))
                    lvl = 10.0 ** (float(rng.uniform(-55.0, -35.0)) / 20.0)
                    x[i0:i0 + m] += lvl * breath(m, sr, rng)
        out.append(log_mel(x, FeatureConfig()))
    return np.stack(out).astype(np.float32)


_BANKS: Dict[int, np.ndarray] = {}


def _bank(seed: int) -> np.ndarray:
    if seed not in _BANKS:
        _BANKS[seed] = silence_bank(seed)
    return _BANKS[seed]


def _pick_clip(data: TrainData, clips: np.ndarray, cfg: TrainConfig,
               rng: np.random.Generator) -> int:
    """A training clip: uniform over ``clips``, or first a corpus by ``cfg.data_weights``."""
    if not cfg.data_weights or data.corpus is None:
        return int(clips[rng.integers(len(clips))])
    groups = _corpus_groups(data, clips)
    w = np.asarray([cfg.data_weights[k] if groups[k].size else 0.0
                    for k in range(len(cfg.data_weights))], np.float64)
    k = int(rng.choice(len(w), p=w / w.sum()))
    g = groups[k]
    return int(g[rng.integers(len(g))])


# id(clips) -> (clips, corpus, groups). An entry holds its arrays, so their ids cannot be
# reused by other arrays while it is cached (an id alone can: a later run's clips would then
# read an earlier run's groups); a hit must be the same objects. At most _MAX_GROUPS entries.
_GROUPS: Dict[int, Tuple[np.ndarray, np.ndarray, List[np.ndarray]]] = {}
_MAX_GROUPS = 8


def _corpus_groups(data: TrainData, clips: np.ndarray) -> List[np.ndarray]:
    """``clips`` split by corpus (one array per corpus index), cached per clips array."""
    hit = _GROUPS.get(id(clips))
    if hit is None or hit[0] is not clips or hit[1] is not data.corpus:
        if len(_GROUPS) >= _MAX_GROUPS:
            _GROUPS.clear()
        n = int(data.corpus.max()) + 1
        hit = (clips, data.corpus, [clips[data.corpus[clips] == k] for k in range(n)])
        _GROUPS[id(clips)] = hit
    return hit[2]


def _batch(data: TrainData, clips: np.ndarray, cfg: TrainConfig, L: int, rng: np.random.Generator):
    """Random crops -> mel (B, W, F), alpha_in (B, W, 7), target (B, W, 52), phone (B, W), valid
    (B, W).

    Network frame i of a crop predicts target frame i - L + ``target_lead``; arrays are
    aligned so index i holds the target for network frame i (shifted). ``valid`` masks the
    warm-up and edges (unless ``pad_sil`` supervises the edges at rest).
    """
    W = cfg.crop + cfg.warmup
    B = cfg.batch
    mel = np.zeros((B, W, data.mel.shape[1]), np.float32)
    alpha = np.zeros((B, W, NUM_EXPRESSIVE), np.float32)
    tgt = np.zeros((B, W, 52), np.float32)
    ph = np.full((B, W), PHONE_INDEX["sil"], np.int64)
    valid = np.zeros((B, W), np.float32)
    for b in range(B):
        if cfg.sil_fraction > 0.0 and rng.random() < cfg.sil_fraction:
            bank = _bank(cfg.seed)
            seg = bank[int(rng.integers(len(bank)))]
            o = int(rng.integers(0, max(1, seg.shape[0] - W)))
            mel[b] = seg[o:o + W]
            a = random_alpha(rng) if rng.random() < 0.85 else np.zeros(NUM_EXPRESSIVE, np.float32)
            alpha[b] = a
            tgt[b] = rest_target(a)
            valid[b, cfg.warmup:] = 1.0
            mel[b] += rng.uniform(-0.8, 0.8)
            continue
        c = _pick_clip(data, clips, cfg, rng)
        s0, s1 = int(data.offsets[c]), int(data.offsets[c + 1])
        n = s1 - s0
        start = int(rng.integers(-cfg.warmup, max(1, n - cfg.crop // 2)))
        idx = start + np.arange(W)                                  # network frame indices in clip
        ok = (idx >= 0) & (idx < n)
        mel[b, ok] = data.mel[s0 + idx[ok]]
        pad = cfg.pad_sil > 0.0 and rng.random() < cfg.pad_sil
        if pad and not ok.all():
            bank = _bank(cfg.seed)
            seg = bank[int(rng.integers(len(bank)))]
            o = int(rng.integers(0, max(1, seg.shape[0] - W)))
            mel[b, ~ok] = seg[o:o + W][~ok]
        else:
            mel[b, ~ok] = data.mel[s0:s1].min(axis=0)               # silence-like padding
        j = idx - L + cfg.target_lead                               # target frame for net frame
        okj = (j >= 0) & (j < n)
        use_alt = rng.random() < cfg.alt_fraction
        if use_alt:
            alpha[b] = data.alt_alpha[c]
            tgt[b, okj] = data.alt_target[s0 + j[okj]]
        else:
            jj = np.clip(j, 0, n - 1)
            alpha[b] = data.alpha[s0 + jj]
            tgt[b, okj] = data.target[s0 + j[okj]]
        ph[b, okj] = data.phone[s0 + j[okj]]
        valid[b, okj] = 1.0
        if pad and not okj.all():
            for side in (j < 0, j >= n):
                if side.any():
                    edge = int(np.flatnonzero(side)[0])
                    tgt[b, side] = rest_target(alpha[b, edge])
                    valid[b, side] = 1.0
        valid[b, :cfg.warmup] = 0.0
        # gain augmentation in the log10 mel domain (+-8 dB)
        mel[b] += rng.uniform(-0.8, 0.8)
        if cfg.freq_warp > 0.0 or cfg.tilt > 0.0:
            mel[b] = spectral_augment(mel[b], rng, cfg.freq_warp, cfg.tilt)
    return mel, alpha, tgt, ph, valid


def spectral_augment(
    mel: np.ndarray, rng: np.random.Generator, warp: float, tilt: float
) -> np.ndarray:
    """Vocal-tract-length and channel augmentation of one crop's log-mel (W, F) -> (W, F).

    ``warp``: the mel-bin axis is scaled about bin 0 by a log-uniform factor in
    [1/(1+warp), 1+warp] (linear interpolation, edge bins held), which moves the formants
    the way a longer or shorter vocal tract does. ``tilt``: a linear spectral slope of up to
    +-``tilt`` log10 units from the lowest to the highest band (a different microphone or
    voice quality). Both are drawn only when non-zero, so a zero setting leaves the random
    stream, and thus older recipes, unchanged.
    """
    out = mel
    n_bins = mel.shape[1]
    pos = np.arange(n_bins, dtype=np.float32)                            # (F,)
    if warp > 0.0:
        f = math.exp(rng.uniform(-math.log1p(warp), math.log1p(warp)))
        src = np.clip(pos / f, 0.0, n_bins - 1.0)                        # (F,) source bins
        lo = np.floor(src).astype(np.int64)
        hi = np.minimum(lo + 1, n_bins - 1)
        frac = (src - lo).astype(np.float32)
        out = out[:, lo] * (1.0 - frac) + out[:, hi] * frac              # (W, F)
    if tilt > 0.0:
        slope = rng.uniform(-tilt, tilt)
        out = out + (slope * (pos / max(n_bins - 1, 1) - 0.5)).astype(np.float32)
    return out.astype(np.float32)


def _windows(data: TrainData, clips: np.ndarray, n: int, win: int, rng: np.random.Generator):
    """n teacher-motion windows (n, win, 52) and their mean intensities (n, 7)."""
    X = np.zeros((n, win, 52), np.float32)
    A = np.zeros((n, NUM_EXPRESSIVE), np.float32)
    for i in range(n):
        c = int(clips[rng.integers(len(clips))])
        s0, s1 = int(data.offsets[c]), int(data.offsets[c + 1])
        if s1 - s0 < win:
            c = int(clips[0])
            s0, s1 = int(data.offsets[c]), int(data.offsets[c + 1])
        st = s0 + int(rng.integers(0, max(1, s1 - s0 - win)))
        m = min(win, s1 - st)
        if rng.random() < 0.5:
            X[i, :m] = data.alt_target[st:st + m]
            A[i] = data.alt_alpha[c]
        else:
            X[i, :m] = data.target[st:st + m]
            A[i] = data.alpha[st:st + m].astype(np.float32).mean(axis=0)
    return X, A


def _pretrain_mapping(mapper, mcfg, data, train_clips, val_clips, cfg, rng, device, progress):
    """Pre-train the mapping network on teacher motion windows, then fit the emotion space."""
    import torch
    import torch.nn.functional as F
    from tqdm import tqdm

    from emotalk_ros.emotion.space import fit_emotion_space

    opt = torch.optim.AdamW(mapper.parameters(), lr=2e-3, weight_decay=1e-4)
    cls_head = torch.nn.Linear(mcfg.emotion_dim, NUM_EXPRESSIVE + 1).to(device)
    opt.add_param_group({"params": cls_head.parameters()})
    bar = tqdm(range(cfg.map_steps), desc="mapping net", disable=not progress, file=sys.stderr)
    for step in bar:
        X, A = _windows(data, train_clips, 64, mcfg.window, rng)
        X += rng.normal(0, 0.02, X.shape).astype(np.float32)
        xt, at = torch.from_numpy(X).to(device), torch.from_numpy(A).to(device)
        z = mapper(xt)
        cls = torch.where(
            at.max(dim=1).values < 0.15,
            torch.zeros_like(at[:, 0], dtype=torch.long),
            at.argmax(dim=1) + 1,
        )
        loss = F.mse_loss(mapper.predict_alpha(z), at) * 10 + 0.2 * F.cross_entropy(
            cls_head(z), cls
        )
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 50 == 0:
            bar.set_postfix(loss=f"{loss.item():.4f}")
    mapper.eval()
    with torch.no_grad():
        X, A = _windows(data, train_clips, 6000, mcfg.window, rng)
        Z = (
            torch.cat(
                [
                    mapper(torch.from_numpy(X[i : i + 500]).to(device))
                    for i in range(0, len(X), 500)
                ]
            )
            .cpu()
            .numpy()
        )
        Xv, Av = _windows(data, val_clips, 400, mcfg.window, rng)
        map_val = float(F.mse_loss(mapper.predict_alpha(mapper(torch.from_numpy(Xv).to(device))),
                                   torch.from_numpy(Av).to(device)).sqrt())
    return fit_emotion_space(Z, A), map_val


def _check_generator_config(gcfg) -> None:
    """A generator config the options asked for but the generator cannot build -> one
    EmotalkError line (``--phone-mixture`` without a strict bottleneck after the last
    block, ``--phone-dominance`` without the mixture)."""
    try:
        gcfg.check()
    except ValueError as exc:
        raise EmotalkError(f"generator options: {exc}") from None


def train(
    data_path: str,
    out_path: str,
    cfg: TrainConfig = TrainConfig(),
    lookahead_ms: Optional[float] = None,
    progress: bool = True,
    model_version: Optional[str] = None,
    init: Optional[str] = None,
) -> Dict:
    """Train (or, with ``init``, fine-tune from a checkpoint: its mapping network, emotion
    space, feature statistics and generator weights are kept and only the generator trains).

    ``lookahead_ms``: None keeps the init checkpoint's look-ahead when fine-tuning and
    means 80 ms otherwise; a value given with ``init`` re-targets the fine-tune to that
    look-ahead (same network, the targets are re-aligned by whole 10 ms frames)."""
    import torch
    from tqdm import tqdm

    from emotalk_ros.core.audio import FeatureConfig
    from emotalk_ros.emotion.space import EmotionSpace
    from emotalk_ros.generator import checkpoint
    from emotalk_ros.generator.model import (
        Generator,
        GeneratorConfig,
        MappingConfig,
        MappingNetwork,
        aperture_torch,
    )

    if lookahead_ms is not None and not (0.0 <= lookahead_ms <= 200.0):
        raise EmotalkError(f"lookahead_ms must be in [0, 200], got {lookahead_ms}")
    if cfg.data_weights and (len(cfg.data_weights) != len(_data_dirs(data_path))
                             or min(cfg.data_weights) < 0 or sum(cfg.data_weights) <= 0):
        raise EmotalkError(f"--data-weights: {len(cfg.data_weights)} weights (>= 0, not all "
                           f"0) for {len(_data_dirs(data_path))} data directories")
    t_start = time.time()
    torch.manual_seed(cfg.seed)
    torch.set_num_threads(cfg.threads)
    torch.use_deterministic_algorithms(True, warn_only=True)
    device = torch.device("cuda" if cfg.device == "auto" and torch.cuda.is_available() else
                          ("cpu" if cfg.device == "auto" else cfg.device))
    rng = np.random.default_rng(cfg.seed)
    data = load_training_data(data_path, seed=cfg.seed, workers=cfg.threads, progress=progress)
    order = rng.permutation(data.n_clips)
    n_val = max(1, int(cfg.val_fraction * data.n_clips))
    val_clips, train_clips = order[:n_val], order[n_val:]
    hours = float(data.offsets[-1]) / 100.0 / 3600.0
    log.info("training data: %d clips, %.2f h, device %s", data.n_clips, hours, device)

    # ---- 1. mapping network ---------------------------------------------------------------
    mcfg = MappingConfig()
    mapper = MappingNetwork(mcfg).to(device)
    init_ck = checkpoint.load(init) if init else None
    if init_ck is not None and init_ck.get("generator_config", {}).get("aperture_readout"):
        from emotalk_ros.training.calibrate import without_readout

        # like the intensity warp and the smoothing, calibrate adds the readout after training
        log.info("fine-tune starts from the network without its aperture readout")
        init_ck = without_readout(init_ck)
    if cfg.readout_bilabial > 0.0:
        from emotalk_ros.training.calibrate import add_aperture_readout

        if init_ck is None:
            raise EmotalkError("--aperture-readout needs --init of a phone-mixture generator")
        # the losses see the face that ships: the jaw read from the posteriors (its scale
        # measured on the init's faces and then held, like the neutral embedding it uses)
        with torch.random.fork_rng(devices=[]):     # the run's random stream as without it
            init_ck = add_aperture_readout(init_ck, cfg.readout_bilabial,
                                           cfg.readout_temperature)
        log.info("fine-tune trains through the aperture readout (/p b m/ dominance %g, "
                 "temperature %g)", cfg.readout_bilabial, cfg.readout_temperature)
    if init_ck is not None:
        mcfg = MappingConfig.from_dict(init_ck["mapping_config"])
        mapper = MappingNetwork(mcfg).to(device)
        mapper.load_state_dict(init_ck["mapping"], strict=True)
        space = EmotionSpace.from_dict(init_ck["emotion_space"])
        map_val = float(init_ck["train"].get("mapping_val_rmse", float("nan")))
    else:
        space, map_val = _pretrain_mapping(
            mapper, mcfg, data, train_clips, val_clips, cfg, rng, device, progress
        )
    mapper.eval()
    for p in mapper.parameters():
        p.requires_grad_(False)
    log.info(
        "mapping net val RMSE(alpha)=%.3f; emotion scales %s", map_val, np.round(space.scales, 2)
    )

    # ---- 2. generator -----------------------------------------------------------------------
    L = int(round((80.0 if lookahead_ms is None else lookahead_ms) / 10.0))
    gcfg = GeneratorConfig(lookahead_frames=L, emotion_dim=mcfg.emotion_dim,
                           phone_after=cfg.phone_after, phone_replace=cfg.phone_replace,
                           phone_mixture=cfg.phone_mixture and init_ck is None,
                           phone_dominance=cfg.phone_dominance and init_ck is None)
    if init_ck is None:
        _check_generator_config(gcfg)
    gen = Generator(gcfg)
    if init_ck is not None:
        gcfg = GeneratorConfig.from_dict(init_ck["generator_config"])
        if lookahead_ms is not None and L != gcfg.lookahead_frames:
            log.info(
                "fine-tune re-targets the look-ahead: %d -> %d frames", gcfg.lookahead_frames, L
            )
            gcfg = replace(gcfg, lookahead_frames=L)
        L = gcfg.lookahead_frames
        added = cfg.phone_after >= 0 and gcfg.phone_after < 0
        if cfg.phone_after >= 0 and gcfg.phone_after >= 0 and cfg.phone_after != gcfg.phone_after:
            raise EmotalkError(f"--phone-after {cfg.phone_after}: the init's bottleneck is after "
                               f"block {gcfg.phone_after}")
        if added:
            if cfg.phone_after > len(gcfg.dilations):
                raise EmotalkError(f"--phone-after {cfg.phone_after}: the network has "
                                   f"{len(gcfg.dilations)} blocks")
            log.info("fine-tune adds a phone bottleneck after block %d", cfg.phone_after)
            gcfg = replace(gcfg, phone_after=cfg.phone_after)
        if cfg.phone_replace and not gcfg.phone_replace:
            if gcfg.phone_after < 0:
                raise EmotalkError("--phone-replace needs a phone bottleneck (--phone-after)")
            log.info("fine-tune makes the phone bottleneck strict (it replaces the stream)")
            gcfg = replace(gcfg, phone_replace=True)
        if cfg.phone_mixture and not gcfg.phone_mixture:
            log.info("fine-tune makes the face the posterior-weighted mean of per-phone faces")
            gcfg = replace(gcfg, phone_mixture=True)
            _check_generator_config(gcfg)
        if cfg.phone_dominance and not gcfg.phone_dominance:
            log.info("fine-tune weighs the mixture by a learnt dominance per phone and shape")
            gcfg = replace(gcfg, phone_dominance=True)
            _check_generator_config(gcfg)
            added = True
        gen = Generator(gcfg)
        missing, unexpected = gen.load_state_dict(init_ck["generator"], strict=not added)
        if added and (unexpected or any(not k.startswith("phone_") for k in missing)):
            raise EmotalkError(f"--init {init}: weights do not match the generator "
                               f"(missing {missing}, unexpected {unexpected})")
    else:
        m = data.mel.astype(np.float32)
        gen.feat_mean.copy_(torch.from_numpy(m.mean(axis=0)))
        gen.feat_std.copy_(torch.from_numpy(m.std(axis=0) + 1e-3))
        del m
    if cfg.bilabial_via_posteriors and not gcfg.phone_mixture:
        raise EmotalkError("--bilabial-via-posteriors needs the phone mixture (--phone-mixture)")
    if cfg.w_neutral > 0.0 and not (gcfg.phone_mixture and init_ck is not None):
        raise EmotalkError("--w-neutral needs --init of a phone-mixture generator")
    gen = gen.to(device)
    if cfg.freeze_trunk:
        if gcfg.phone_after < 0:
            raise EmotalkError("--freeze-trunk needs a phone bottleneck (--phone-after)")
        frozen = [gen.inp, gen.phone_out, *gen.blocks[:gcfg.phone_after]]
        for mod in frozen:
            for p in mod.parameters():
                p.requires_grad_(False)
        n_fixed = 2 * gcfg.channels * gcfg.phone_after     # FiLM rows of the frozen blocks
        keep = torch.ones(gen.film.weight.shape[0], 1, device=device)
        keep[:n_fixed] = 0.0
        gen.film.weight.register_hook(lambda g: g * keep)
        gen.film.bias.register_hook(lambda g: g * keep[:, 0])
    neutral0 = None
    if cfg.w_neutral > 0.0:  # the init's neutral per-phone faces (P, 52), held by the loss
        if gcfg.phone_dominance:
            gen.phone_dom.requires_grad_(False)
        with torch.no_grad():
            neutral0 = gen.phone_faces(
                torch.from_numpy(space.z_neutral).to(device)).detach().clone()
    if gcfg.phone_dominance and gen.phone_dom.requires_grad:
        # the log-dominance moves DOM_LR_SCALE x faster: a fine-tune's
        # cosine schedule moves a weight by about steps * lr / 2 at most (0.4 in 750 steps at
        # 1e-3), and a dominance that matters is a factor of tens (log 3-5)
        dom = [gen.phone_dom]
        rest = [p for n, p in gen.named_parameters() if p.requires_grad and n != "phone_dom"]
        opt = torch.optim.AdamW([{"params": rest}, {"params": dom, "lr": cfg.lr * DOM_LR_SCALE}],
                                lr=cfg.lr, weight_decay=1e-4)
    else:
        opt = torch.optim.AdamW([p for p in gen.parameters() if p.requires_grad], lr=cfg.lr,
                                weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt,
        lambda s: (
            min(1.0, (s + 1) / 200) * 0.5 * (1 + math.cos(math.pi * min(1.0, s / cfg.steps)))
        ),
    )
    dirs = torch.from_numpy((space.scales[:, None] * space.normals).astype(np.float32)).to(
        device
    )  # (7, D)
    zn = torch.from_numpy(space.z_neutral).to(device)
    mouth = torch.from_numpy(MOUTH).to(device)
    bil = torch.from_numpy(BILABIAL_IDS).to(device)
    sym_l, sym_r = torch.from_numpy(SYM_LEFT).to(device), torch.from_numpy(SYM_RIGHT).to(device)
    expr = torch.from_numpy(EXPRESSION).to(device)
    state0 = gen.initial_state(cfg.batch).to(device)

    def validate() -> float:
        """Mean masked L1 on 8 validation batches, the same batches every call (own seed)."""
        vrng = np.random.default_rng(cfg.seed + 1)
        gen.eval()
        with torch.no_grad():
            vals = []
            for _ in range(8):
                mel, alpha, tgt, ph, valid = (
                    torch.from_numpy(a).to(device) for a in _batch(data, val_clips, cfg, L, vrng)
                )
                y, _ = gen(mel, zn + alpha @ dirs, state0)
                vals.append(float(((y - tgt).abs().mean(-1) * valid).sum() / valid.sum()))
        return float(np.mean(vals))

    # before any step: what the run starts from (a run that learns ends well below it)
    val_initial = validate()
    history = []
    bar = tqdm(range(cfg.steps), desc="generator", disable=not progress, file=sys.stderr)
    gen.train()
    for step in bar:
        mel, alpha, tgt, ph, valid = (
            torch.from_numpy(a).to(device) for a in _batch(data, train_clips, cfg, L, rng)
        )
        z = zn + alpha @ dirs                                                    # (B, W, D)
        if gcfg.phone_mixture:
            post, faces, _, logits = gen.mixture_parts(mel, z, state0)  # (B,W,P), (B,W,P,52)
            y = mixture_face(post, faces)                                        # (B, W, 52)
            y_bil = (mixture_face(post, faces, hold_faces=True)
                     if cfg.bilabial_via_posteriors else y)
            if gcfg.aperture_readout:                     # the jaw the shipped face has
                probs = torch.softmax(logits, dim=-1)
                y = gen.aperture_readout(logits, probs, y)
                y_bil = (gen.aperture_readout(logits, probs, y_bil)
                         if cfg.bilabial_via_posteriors else y)
        else:
            y, _, logits = gen.forward_with_phones(mel, z, state0)               # (B, W, 52)
            y_bil = y
        d_t = torch.zeros_like(tgt[..., 0])
        d_t[:, 1:-1] = (tgt[:, 2:, :][..., mouth] - tgt[:, :-2, :][..., mouth]).abs().sum(-1)
        w = valid * (1.0 + 2.0 * d_t / (d_t[valid > 0].mean() + 1e-6))          # phonetic context
        rec = ((y - tgt).abs().mean(-1) * w).sum() / w.sum()
        vmask = valid[:, 1:] * valid[:, :-1]
        vel = (
            ((y[:, 1:] - y[:, :-1]) - (tgt[:, 1:] - tgt[:, :-1])).abs().mean(-1) * vmask
        ).sum() / vmask.sum()
        is_bil = torch.isin(ph, bil).float() * valid
        ap = aperture_torch(y, INDEX)
        ap_t = aperture_torch(tgt, INDEX)
        ap_bil = ap if y_bil is y else aperture_torch(y_bil, INDEX)
        bil_loss = (
            (
                (ap_bil - ap_t).clamp(min=0)
                + (y_bil[..., INDEX["mouthClose"]] - tgt[..., INDEX["mouthClose"]]).abs()
            )
            * is_bil
        ).sum() / (is_bil.sum() + 1.0)
        yw = y[:, cfg.warmup:cfg.warmup + 2 * mcfg.window].reshape(-1, mcfg.window, 52)
        zw = (
            z[:, cfg.warmup : cfg.warmup + 2 * mcfg.window]
            .reshape(-1, mcfg.window, z.shape[-1])
            .mean(1)
        )
        cons = consistency_loss(mapper(yw), zw, ph[:, cfg.warmup:cfg.warmup + 2 * mcfg.window],
                                valid[:, cfg.warmup:cfg.warmup + 2 * mcfg.window],
                                mcfg.window, cfg.cons_speech_only)
        ap_loss = ((ap - ap_t).abs() * valid).sum() / valid.sum()
        loss = (rec + cfg.w_vel * vel + cfg.w_bilabial * bil_loss + cfg.w_consistency * cons
                + cfg.w_aperture * ap_loss)
        if cfg.w_symmetry > 0.0:                      # (off: the older recipes' graph as it was)
            loss = loss + cfg.w_symmetry * symmetry_loss(y, tgt, valid, sym_l, sym_r)
        if cfg.w_expression > 0.0:
            loss = loss + cfg.w_expression * expression_loss(y, tgt, valid, expr)
        if cfg.w_accel > 0.0:
            loss = loss + cfg.w_accel * accel_loss(y, tgt, valid)
        if cfg.w_aperture_corr > 0.0:
            loss = loss + cfg.w_aperture_corr * aperture_corr_loss(ap, ap_t, valid)
        if cfg.w_phone > 0.0 and logits is not None:
            loss = loss + cfg.w_phone * phone_loss(logits, ph, valid)
        if neutral0 is not None:
            loss = loss + cfg.w_neutral * (gen.phone_faces(zn) - neutral0).abs().mean()
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(gen.parameters(), 1.0)
        opt.step()
        sched.step()
        if step % 25 == 0:
            rec_v = dict(
                step=step,
                loss=loss.item(),
                rec=rec.item(),
                vel=vel.item(),
                bil=bil_loss.item(),
                cons=cons.item(),
            )
            if logits is not None:
                rec_v["phone"] = phone_loss(logits, ph, valid).item()
            history.append(rec_v)
            bar.set_postfix(
                rec=f"{rec.item():.4f}", bil=f"{bil_loss.item():.3f}", cons=f"{cons.item():.3f}"
            )
    val_l1 = validate()
    train_s = time.time() - t_start
    ckpt = {
        "format": checkpoint.FORMAT,
        "format_version": checkpoint.FORMAT_VERSION,
        "model_version": model_version or time.strftime("emotalk-%Y%m%d"),
        "generator_config": gcfg.to_dict(),
        "mapping_config": mcfg.to_dict(),
        "feature_config": checkpoint.feature_config_to_dict(FeatureConfig()),
        "blendshapes": list(NAMES),
        "emotions": list(EXPRESSIVE),
        "emotion_space": space.to_dict(),
        "output_smoothing": cfg.output_smoothing,
        "generator": {k: v.detach().cpu() for k, v in gen.state_dict().items()},
        "mapping": {k: v.detach().cpu() for k, v in mapper.state_dict().items()},
        # no wall-clock time and the paths as given: the same command gives the same bytes
        "train": {
            "data": [f"{d}:{n}" if n is not None else d for d, n in _data_specs(data_path)],
            "hours": hours,
            "clips": data.n_clips,
            "config": cfg.__dict__,
            "lookahead_ms": 10.0 * L,
            "val_l1": val_l1,
            "val_l1_initial": val_initial,
            "mapping_val_rmse": map_val,
            "init": init,
            "params": gen.num_parameters(),
            "history": history[-40:],
        },
    }
    checkpoint.save(out_path, ckpt)
    ckpt["train"]["seconds"] = train_s            # reported, not stored
    log.info(
        "saved %s (%d params, val L1 %.4f, %.0f s)",
        out_path,
        gen.num_parameters(),
        val_l1,
        train_s,
    )
    return ckpt["train"]


# ---------------------------------------------------------------------------------------------
# CLI
# ---------------------------------------------------------------------------------------------


