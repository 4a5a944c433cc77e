"""``emotalk train-phones``: retrain the phone path of a phone-mixture generator on speech
with phone labels, everything else frozen.

In a phone-mixture generator (``--phone-mixture``) the face depends on the audio only
through the phone posteriors after the last block: the per-phone faces and their
dominances depend on the emotion alone. The posteriors were trained mostly on synthetic
voices, and on real voices they miss /p b m/ (docs/EVALUATION.md, "Where the last +0.03
is"). This step retrains the last ``blocks`` blocks and the phone layer on the real
training speech with the phone cross-entropy, plus ``kl`` times the KL divergence of the
new posteriors from the init's (``KL(p_init || p_new)``), which keeps them near the
function the faces were trained with; the earlier blocks, the emotion channel, the faces
and the dominances are not touched.

With ``w_corr`` > 0 the loss also holds ``w_corr`` times one minus the correlation, per clip,
of the aperture of the face those posteriors give (the frozen per-phone faces and
dominances, at the clip's emotion) with the aperture of the teacher's face (the data's
targets), the term of ``emotalk train --w-aperture-corr``: the posteriors then learn what
the face needs of them, not only the phone labels. With ``w_bilabial`` > 0 it holds
``w_bilabial`` times the mean excess of that aperture over the teacher's on the frames
labelled /p b m/ (the aperture part of ``emotalk train``'s bilabial term), so that the
correlation is not bought with open bilabials.

Each step draws ``clips_per_step`` whole clips (seeded); network frame ``i`` of a clip is
labelled with the phone of frame ``i - lookahead`` (as in training), and the first
``lookahead`` frames are not scored. The frozen blocks run once per clip before training
(their outputs are cached), so a step costs the trained blocks only: 300 steps on the
real training speech take under a minute on one thread. Dropout is off, so the result
is a function of the init, the data and the seed.

With ``lead`` > 0 the labels are advanced: network frame ``i`` learns the phone of frame
``i - lookahead + lead``, so that the mouth leads the sound by ``lead`` frames, paid for
from the look-ahead (the face then has ``lead`` frames less of the audio after a phone).

Real recordings carry no emotion, so on them alone the retrained phone path is trained under
the neutral FiLM only, and under a held emotion it can lose the phones it was trained on
(a bilabial left open at full disgust on Flite). With ``emotions`` > 0 that fraction of the
neutral clips is heard under one emotion at a random strength (seeded, once per clip: the
frozen blocks, the init's posteriors and the face terms all see it), so the phones are
learnt under every emotion's FiLM.
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from emotalk_ros.errors import EmotalkError


@dataclass(frozen=True)
class PhonePathConfig:
    """How the phone path is retrained (see the module docstring)."""
    steps: int = 300
    blocks: int = 1               # the last this many blocks (and the phone layer) train
    kl: float = 0.5               # weight of KL(p_init || p_new)
    lr: float = 3e-4
    clips_per_step: int = 16
    seed: int = 0
    w_corr: float = 0.0           # weight of 1 - corr(face aperture, teacher aperture)
    w_bilabial: float = 0.0       # weight of the face's excess aperture on /p b m/ frames
    lead: int = 0                 # network frame i learns the phone of frame i - L + lead
    emotions: float = 0.0         # fraction of neutral clips heard under a random emotion

    def check(self, n_blocks: int, lookahead: int) -> None:
        """EmotalkError for a setting that cannot run on a generator of ``n_blocks`` blocks
        and a look-ahead of ``lookahead`` frames."""
        if not 1 <= self.blocks <= n_blocks:
            raise EmotalkError(f"--blocks must be in [1, {n_blocks}], got {self.blocks}")
        if self.steps < 1 or self.clips_per_step < 1:
            raise EmotalkError(f"--steps and --clips-per-step must be >= 1, got {self.steps} "
                               f"and {self.clips_per_step}")
        if not (self.kl >= 0.0 and np.isfinite(self.kl)):
            raise EmotalkError(f"--kl must be a finite number >= 0, got {self.kl}")
        if not (self.lr > 0.0 and np.isfinite(self.lr)):
            raise EmotalkError(f"--lr must be a finite number > 0, got {self.lr}")
        if not (self.w_corr >= 0.0 and np.isfinite(self.w_corr)):
            raise EmotalkError(f"--w-corr must be a finite number >= 0, got {self.w_corr}")
        if not (self.w_bilabial >= 0.0 and np.isfinite(self.w_bilabial)):
            raise EmotalkError(f"--w-bilabial must be a finite number >= 0, got "
                               f"{self.w_bilabial}")
        if not (0.0 <= self.emotions <= 1.0):
            raise EmotalkError(f"--emotions must be a fraction in [0, 1], got {self.emotions}")
        if not 0 <= self.lead <= lookahead:
            raise EmotalkError(f"--lead must be in [0, {lookahead}] (the look-ahead in frames), "
                               f"got {self.lead}")

    @property
    def uses_face(self) -> bool:
        """Whether a loss term sees the face (and so needs the teacher's faces)."""
        return self.w_corr > 0.0 or self.w_bilabial > 0.0


def trained_keys(state: Dict[str, Any], n_blocks: int, blocks: int) -> List[str]:
    """The generator weights this step changes: those of the last ``blocks`` blocks and of
    the phone layer."""
    first = n_blocks - blocks
    keep = tuple(f"blocks.{i}." for i in range(first, n_blocks)) + ("phone_out.",)
    return [k for k in state if k.startswith(keep)]


def prefix(net, feats, z, first: int):
    """The frozen part of ``net`` (a :class:`Generator`): feats (1, T, F), z (1, T, D) ->
    (x (1, C, T) before block ``first``, the FiLM (gamma, beta) of every block from
    ``first`` on). Mirrors ``Generator._trunk`` (tested: prefix then the rest gives the
    generator's own phone logits)."""
    nb = len(net.blocks)
    x = net.inp((feats - net.feat_mean) / net.feat_std).transpose(1, 2)
    film = net.film(z).transpose(1, 2).chunk(2 * nb, dim=1)
    state = net.initial_state(feats.shape[0])
    off = 0
    for i, blk in enumerate(net.blocks[:first]):
        x, _ = blk(x, film[2 * i], film[2 * i + 1], state[:, :, off:off + blk.ctx])
        off += blk.ctx
    return x, list(film[2 * first:])


def rest_logits(blocks, phone_out, x, film):
    """The trained part: x before the first trained block, their FiLM -> phone logits
    (T, P)."""
    import torch

    for i, blk in enumerate(blocks):
        x, _ = blk(x, film[2 * i], film[2 * i + 1],
                   torch.zeros(x.shape[0], x.shape[1], blk.ctx))
    return phone_out(x.transpose(1, 2))[0]


def _frozen_net(ckpt: Dict[str, Any]):
    """``ckpt`` -> (its GeneratorConfig, the generator in eval mode, z_neutral (D,), the scaled
    edit directions (7, D)): what both :func:`retrain_phone_path` and :func:`frames_ce` run."""
    import torch

    from emotalk_ros.emotion.space import EmotionSpace
    from emotalk_ros.generator.model import Generator, GeneratorConfig

    gcfg = GeneratorConfig.from_dict(ckpt["generator_config"])
    net = Generator(gcfg)
    net.load_state_dict(ckpt["generator"], strict=True)
    net.eval()
    space = EmotionSpace.from_dict(ckpt["emotion_space"])
    dirs = torch.from_numpy((space.scales[:, None] * space.normals).astype(np.float32))
    zn = torch.from_numpy(np.asarray(space.z_neutral, np.float32))
    return gcfg, net, zn, dirs


def _clip(data, c: int, L: int, zn, dirs, lead: int = 0, alpha=None):
    """Clip ``c`` of ``data`` -> (feats (1, T, F), z (1, T, D), the phone labels of network
    frames L.. (T - L,: frame i gets the phone of frame i - L + ``lead``), s0, s1), or None
    for a clip no longer than the look-ahead ``L``. ``alpha`` (7,), when given, is the
    emotion of every frame in place of the data's."""
    import torch

    s0, s1 = int(data.offsets[c]), int(data.offsets[c + 1])
    if s1 - s0 <= L:
        return None
    feats = torch.from_numpy(np.asarray(data.mel[s0:s1], np.float32))[None]
    al = (np.asarray(data.alpha[s0:s1], np.float32) if alpha is None
          else np.broadcast_to(np.asarray(alpha, np.float32), (s1 - s0, len(alpha))))
    z = zn + torch.from_numpy(np.ascontiguousarray(al))[None] @ dirs
    lab = torch.from_numpy(np.asarray(data.phone[s0 + lead:s1 - L + lead], np.int64))
    return feats, z, lab, s0, s1


EMOTION_STRENGTH = (0.3, 1.0)     # the range a clip's random emotion is drawn from


def emotion_of(data, c: int, cfg: PhonePathConfig, rng) -> Optional[np.ndarray]:
    """The emotion (7,) clip ``c`` is heard under in :func:`retrain_phone_path`: with
    probability ``cfg.emotions`` a neutral clip gets one emotion at a strength drawn from
    :data:`EMOTION_STRENGTH` (the phone labels do not depend on it); None keeps the data's.
    The same three draws per clip whatever the outcome, so the choice of one clip never
    shifts another's."""
    u, k, s = rng.random(), int(rng.integers(0, 7)), rng.uniform(*EMOTION_STRENGTH)
    if cfg.emotions <= 0.0 or u >= cfg.emotions:
        return None
    s0, s1 = int(data.offsets[c]), int(data.offsets[c + 1])
    if np.any(np.asarray(data.alpha[s0:s1]) != 0):
        return None
    out = np.zeros(7, np.float32)
    out[k] = s
    return out


def aperture_parts(net, z):
    """The frozen side of the face: z (T, D) -> (the per-phone faces' aperture shapes, (P, 6)
    when every frame has the same emotion, else (T, P, 6); the dominances of those shapes
    (P, 6), or None without ``phone_dominance``)."""
    import torch

    from emotalk_ros.generator.model import APERTURE_INDEX, DOM_MAX

    idx = list(APERTURE_INDEX)
    same = bool((z == z[:1]).all())
    faces = net.phone_faces(z[:1] if same else z)[..., idx]                  # (1|T, P, 6)
    dom = (torch.exp(net.phone_dom.clamp(-DOM_MAX, DOM_MAX))[:, idx]
           if net.cfg.phone_dominance else None)
    return (faces[0] if same else faces), dom


def face_aperture(logp, faces, dom):
    """Log-posteriors (T, P) and :func:`aperture_parts` -> the aperture (T,) of the phone
    mixture's face (mirrors ``Generator.phone_mixture_face``; tested against it)."""
    from emotalk_ros.generator.model import aperture6

    w = logp.exp().unsqueeze(-1)                                             # (T, P, 1)
    if dom is not None:
        w = w * dom
        w = w / w.sum(-2, keepdim=True).clamp(min=1e-30)
    return aperture6((w * faces).sum(-2))                                    # (T,)


def retrain_phone_path(ckpt: Dict[str, Any], data, cfg: PhonePathConfig,
                       data_name: str = "", progress: bool = True
                       ) -> Tuple[Dict[str, Any], Dict[str, Any]]:
    """``ckpt`` (a loaded phone-mixture checkpoint), ``data`` (a
    :class:`emotalk_ros.training.train.TrainData` with phone labels) -> (the new checkpoint,
    its record). The new checkpoint is ``ckpt`` with the phone path's weights replaced and
    ``train["phone_path"]`` set to the record (config, data, clips, per-50-step losses; no
    time, so that a rerun writes the same bytes)."""
    import torch
    import torch.nn.functional as F
    from tqdm import tqdm

    from emotalk_ros.core.blendshapes import aperture
    from emotalk_ros.core.phones import BILABIALS, PHONES
    from emotalk_ros.generator.model import GeneratorConfig
    from emotalk_ros.training.train import aperture_corr_loss

    gcfg = GeneratorConfig.from_dict(ckpt["generator_config"])
    if not gcfg.phone_mixture:
        raise EmotalkError("train-phones needs a phone-mixture checkpoint (--phone-mixture): "
                           "only there does the face follow the audio through the phones alone")
    nb = len(gcfg.dilations)
    cfg.check(nb, gcfg.lookahead_frames)
    n_clips = len(data.offsets) - 1
    if n_clips < 1:
        raise EmotalkError("train-phones: the data holds no clips")
    if cfg.uses_face and getattr(data, "target", None) is None:
        raise EmotalkError("train-phones --w-corr/--w-bilabial need the teacher's faces in the "
                           "data (the targets of `emotalk synth` / tools/make_real_speech.py)")
    torch.manual_seed(cfg.seed)
    _, net, zn, dirs = _frozen_net(ckpt)
    L, first = gcfg.lookahead_frames, nb - cfg.blocks
    bil = np.array([p in BILABIALS for p in PHONES])

    emo_rng = np.random.default_rng([cfg.seed, 1])
    cache = []
    with torch.no_grad():
        for c in tqdm(range(n_clips), desc="frozen blocks", disable=not progress):
            clip = _clip(data, c, L, zn, dirs, cfg.lead, emotion_of(data, c, cfg, emo_rng))
            if clip is None:
                continue
            feats, z, lab, s0, s1 = clip
            x, film = prefix(net, feats, z, first)
            init = F.log_softmax(rest_logits(net.blocks[first:], net.phone_out, x, film)[L:], -1)
            face = None
            if cfg.uses_face:
                tgt = np.asarray(data.target[s0 + cfg.lead:s1 - L + cfg.lead], np.float32)
                ap_t = torch.from_numpy(aperture(tgt).astype(np.float32))
                is_bil = torch.from_numpy(bil[lab.numpy()].astype(np.float32))
                face = (*aperture_parts(net, z[0, L:]), ap_t, is_bil)
            cache.append((x, film, lab, init, face))
    if not cache:
        raise EmotalkError(f"train-phones: every clip is shorter than the look-ahead ({L} frames)")

    blocks = copy.deepcopy(net.blocks[first:])
    phone_out = copy.deepcopy(net.phone_out)
    params = list(blocks.parameters()) + list(phone_out.parameters())
    opt = torch.optim.Adam(params, lr=cfg.lr)
    rng = np.random.default_rng(cfg.seed)
    history: List[Dict[str, float]] = []
    for step in tqdm(range(cfg.steps), desc="train-phones", disable=not progress):
        opt.zero_grad()
        ce_sum = kl_sum = corr_sum = bil_sum = 0.0
        for c in rng.integers(0, len(cache), cfg.clips_per_step):
            x, film, lab, init, face = cache[int(c)]
            logp = F.log_softmax(rest_logits(blocks, phone_out, x, film)[L:], -1)
            ce = F.nll_loss(logp, lab)
            kl = F.kl_div(logp, init, log_target=True, reduction="batchmean")
            loss = ce + cfg.kl * kl
            if face is not None:
                faces, dom, ap_t, is_bil = face
                ap = face_aperture(logp, faces, dom)
                corr = aperture_corr_loss(ap[None], ap_t[None], torch.ones(1, ap.shape[0]))
                excess = ((ap - ap_t).clamp(min=0.0) * is_bil).sum() / (is_bil.sum() + 1.0)
                loss = loss + cfg.w_corr * corr + cfg.w_bilabial * excess
                corr_sum += float(corr.detach()) / cfg.clips_per_step
                bil_sum += float(excess.detach()) / cfg.clips_per_step
            (loss / cfg.clips_per_step).backward()
            ce_sum += float(ce.detach()) / cfg.clips_per_step
            kl_sum += float(kl.detach()) / cfg.clips_per_step
        if not all(torch.isfinite(p.grad).all() for p in params if p.grad is not None):
            raise EmotalkError(f"train-phones: a non-finite gradient at step {step}; "
                               "nothing was written")
        opt.step()
        if step % 50 == 0 or step == cfg.steps - 1:
            row = {"step": step, "ce": round(ce_sum, 5), "kl": round(kl_sum, 5)}
            if cfg.uses_face:
                row["1-corr"] = round(corr_sum, 5)
                row["bilabial"] = round(bil_sum, 5)
            history.append(row)

    state = dict(ckpt["generator"])
    new = {**{f"blocks.{first + int(k.split('.', 1)[0])}.{k.split('.', 1)[1]}": v
              for k, v in blocks.state_dict().items()},
           **{f"phone_out.{k}": v for k, v in phone_out.state_dict().items()}}
    if sorted(new) != sorted(trained_keys(state, nb, cfg.blocks)):
        raise EmotalkError("train-phones: the trained weights do not match the checkpoint's")
    state.update({k: v.detach().clone().contiguous() for k, v in new.items()})
    record = {"config": asdict(cfg), "data": data_name, "clips": len(cache), "history": history}
    out = dict(ckpt)
    out["generator"] = state
    out["train"] = {**dict(ckpt.get("train") or {}), "phone_path": record}
    return out, record


def frames_ce(ckpt: Dict[str, Any], data, clips: Sequence[int], lead: int = 0) -> float:
    """The mean phone cross-entropy of ``ckpt``'s posteriors on ``clips`` of ``data`` (frames
    labelled as in :func:`retrain_phone_path` with ``lead``); for tests and reports."""
    import torch
    import torch.nn.functional as F

    gcfg, net, zn, dirs = _frozen_net(ckpt)
    L = gcfg.lookahead_frames
    tot, n = 0.0, 0
    with torch.no_grad():
        for c in clips:
            clip = _clip(data, c, L, zn, dirs, lead)
            if clip is None:
                continue
            feats, z, lab, _, _ = clip
            _, _, logits = net.forward_with_phones(feats, z, net.initial_state(1))
            tot += float(F.cross_entropy(logits[0, L:], lab, reduction="sum"))
            n += int(lab.shape[0])
    return tot / max(n, 1)
