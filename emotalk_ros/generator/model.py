"""The EditEmoTalk-style generator (torch): content channel, emotion channel, dual-channel decoder,
and the mapping network used for the emotional consistency loss.

* **Content channel**: per-bin normalised log-mel (100 Hz) -> linear -> a stack of causal
  dilated residual conv blocks (a TCN). Strictly causal, so it streams with an explicit
  state: each block keeps its last ``(kernel - 1) * dilation`` inputs. Look-ahead is
  obtained by training network frame ``i`` to predict the face of frame ``i - L``.
* **Phone bottleneck** (optional, ``phone_after`` >= 0): after that many blocks a linear
  head reads phone logits (trained with a cross-entropy on the look-ahead-shifted phone,
  ``emotalk train --w-phone``), and their softmax is projected back into the residual
  stream. The posteriors carry what the mouth needs on voices the network never heard: a
  causal phone classifier on the same corpora follows the phone openness far better on real
  speech than the face did (docs/EVALUATION.md). Three small ops per frame.
* **Phone mixture** (optional, ``phone_mixture``; a strict bottleneck after the last block):
  the face is the posterior-weighted mean of the head's face for each phone,
  ``sum_k p_k * head(phone_k, z)``. It equals the plain head wherever the posteriors are sure
  (one-hot), and is linear in them where they are not: on a real voice an unsure frame
  becomes the expected face of the phones it may be, not whatever the head's non-linearity
  makes of a point it never saw in training. No new weights; one (P, H) x (H, 52) product
  more per frame.
* **Phone dominance** (optional, ``phone_dominance``; with the mixture): each phone weighs
  each blendshape with a learnt dominance ``d[k, j] > 0``, the mean becoming
  ``sum_k p_k d_kj face_kj / sum_k p_k d_kj``, as in Cohen and Massaro's coarticulation
  model: a /p b m/ the posteriors are unsure of can still close the lips where it dominates
  them, without closing the faces of the vowels. Starts at ``d = 1`` (the plain mixture);
  still a mean of the per-phone faces, so one-hot posteriors still give the head's face.
  P x 52 weights.
* **Aperture readout** (optional, ``aperture_readout``; with the mixture; added after
  training by ``emotalk calibrate --aperture-readout``): how far the mouth opens is read
  straight from the posteriors as the expected phone openness
  (``emotalk_ros.core.phones.openness``), ``R = sum_k q_k d_k o_k / sum_k q_k d_k``, where
  ``q`` are the posteriors at a temperature, ``d_k`` a fixed dominance of /p b m/ (so an
  unsure bilabial still shuts the mouth) and ``o_k`` the phone's openness. The jaw moves so
  that the *neutral* mixture face would open ``scale * R``; the emotion's own offset to the
  neutral face is kept, so an emotion holds its jaw as before, and every other shape is the
  mixture's. On real voices this linear read-out follows the phones better than the
  mixture's learnt, non-linear jaw (docs/EVALUATION.md). No new weights; a (P,) product
  and a (P, 6) mean more per frame.
* **Emotion channel**: the per-frame embedding ``z`` (D,) from the boundary-aware emotion
  space (:mod:`emotalk_ros.emotion.space`) drives FiLM (scale, shift) in every block and
  is concatenated into the output head (the dual-channel decoder).
* **Mapping network**: a window of motion (T, 52) -> z (D,) (+ an intensity head used in
  pre-training). Frozen while the generator trains; ``||M(generated) - z_target||^2`` is the
  emotional consistency loss.

Style follows nanoGPT/SAiD: frozen config dataclasses, keyword constructors, no argparse
inside, configs stored beside the weights, ``strict=True`` loading, nothing downloaded.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import List, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from emotalk_ros.core.blendshapes import INDEX, NUM_BLENDSHAPES
from emotalk_ros.core.emotions import NUM_EXPRESSIVE
from emotalk_ros.core.phones import BILABIALS, NUM_PHONES, PHONES, openness

# The shapes of the lip aperture (emotalk_ros.core.blendshapes.aperture), in this order.
APERTURE_SHAPES = ("jawOpen", "mouthClose", "mouthUpperUpLeft", "mouthUpperUpRight",
                   "mouthLowerDownLeft", "mouthLowerDownRight")
APERTURE_INDEX = tuple(INDEX[n] for n in APERTURE_SHAPES)


def aperture6(a: torch.Tensor) -> torch.Tensor:
    """The lip aperture (``emotalk_ros.core.blendshapes.aperture``) of (..., 6) values of
    :data:`APERTURE_SHAPES` -> (...,)."""
    return (torch.clamp(a[..., 0] - a[..., 1], min=0.0) + 0.25 * (a[..., 2] + a[..., 3])
            + 0.25 * (a[..., 4] + a[..., 5]))


@dataclass(frozen=True)
class GeneratorConfig:
    """Generator architecture (stored beside the weights); frames are 100 Hz feature
    frames."""

    n_mels: int = 40
    channels: int = 128
    kernel: int = 3
    dilations: Tuple[int, ...] = (1, 2, 4, 8, 16, 1)
    emotion_dim: int = 16
    head_hidden: int = 128
    lookahead_frames: int = 8          # 80 ms at 100 Hz
    dropout: float = 0.05
    phone_after: int = -1              # blocks before the phone bottleneck; -1: none
    phone_replace: bool = False        # the bottleneck replaces the residual stream (strict)
    phone_mixture: bool = False        # face = posterior-weighted mean of per-phone faces
    phone_dominance: bool = False      # ... weighted per phone and blendshape (learnt)
    aperture_readout: bool = False     # the jaw follows the expected phone openness
    readout_bilabial: float = 1.0      # ... with this dominance of /p b m/ (>= 1)
    readout_temperature: float = 1.0   # ... of posteriors at this temperature
    readout_scale: float = 0.6         # ... times this aperture (the open vowels' opening)

    @property
    def state_len(self) -> int:
        """Total carried frames of the streaming state (sum of each block's left context)."""
        return sum((self.kernel - 1) * d for d in self.dilations)

    @property
    def receptive_field(self) -> int:
        """Input frames (100 Hz) that one output frame depends on: ``1 + state_len``."""
        return 1 + self.state_len

    def to_dict(self):
        """Plain dict (dilations as a list) for the checkpoint."""
        d = asdict(self)
        d["dilations"] = list(self.dilations)
        return d

    @staticmethod
    def from_dict(d) -> "GeneratorConfig":
        """Inverse of :meth:`to_dict`."""
        d = dict(d)
        d["dilations"] = tuple(d["dilations"])
        cfg = GeneratorConfig(**d)
        if not -1 <= cfg.phone_after <= len(cfg.dilations):
            raise ValueError(f"phone_after {cfg.phone_after} outside [-1, {len(cfg.dilations)}]")
        cfg.check()
        return cfg

    def check(self) -> None:
        """Raise ValueError for a combination the generator cannot build."""
        if self.phone_mixture and not (self.phone_replace
                                       and self.phone_after == len(self.dilations)):
            raise ValueError("phone_mixture needs a strict phone bottleneck after the last block "
                             f"(phone_after {len(self.dilations)}, phone_replace); got "
                             f"phone_after {self.phone_after}, phone_replace {self.phone_replace}")
        if self.phone_dominance and not self.phone_mixture:
            raise ValueError("phone_dominance needs phone_mixture (--phone-mixture)")
        if self.aperture_readout and not self.phone_mixture:
            raise ValueError("aperture_readout needs phone_mixture (--phone-mixture)")
        if not (self.readout_bilabial >= 1.0 and self.readout_temperature > 0.0
                and self.readout_scale > 0.0):
            raise ValueError("readout_bilabial must be >= 1 and readout_temperature and "
                             f"readout_scale > 0; got {self.readout_bilabial}, "
                             f"{self.readout_temperature}, {self.readout_scale}")


@dataclass(frozen=True)
class MappingConfig:
    """Mapping network architecture; ``window`` in 100 Hz frames (1 s)."""

    channels: int = 64
    emotion_dim: int = 16
    window: int = 100                  # frames (1 s at 100 Hz)
    kernels: Tuple[int, ...] = field(default=(5, 5, 5))

    def to_dict(self):
        """Plain dict (kernels as a list) for the checkpoint."""
        d = asdict(self)
        d["kernels"] = list(self.kernels)
        return d

    @staticmethod
    def from_dict(d) -> "MappingConfig":
        """Inverse of :meth:`to_dict`."""
        d = dict(d)
        d["kernels"] = tuple(d["kernels"])
        return MappingConfig(**d)


class CausalBlock(nn.Module):
    """Causal dilated conv -> FiLM(z) -> GELU -> 1x1 conv, residual. Streams with a (B, C, ctx)
    state.

    The FiLM parameters of all blocks come from one linear layer in :class:`Generator`
    (one op instead of one per block: per-call overhead dominates streaming cost).
    """

    def __init__(self, channels: int, kernel: int, dilation: int, dropout: float):
        super().__init__()
        self.kernel, self.dilation = kernel, dilation
        self.ctx = (kernel - 1) * dilation
        self.norm = nn.LayerNorm(channels)
        self.conv = nn.Conv1d(channels, channels, kernel, dilation=dilation)
        self.proj = nn.Conv1d(channels, channels, 1)
        self.drop = nn.Dropout(dropout)

    def forward(
        self, x: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor, state: torch.Tensor
    ):
        """x (B, C, T), gamma, beta (B, C, T), state (B, C, ctx) -> (residual output
        (B, C, T), new state (B, C, ctx))."""
        # x (B, C, T); gamma, beta (B, C, T) from the emotion channel; state (B, C, ctx)
        T = x.shape[2]
        h = self.norm(x.transpose(1, 2)).transpose(1, 2)                       # (B, C, T)
        full = torch.cat([state, h], dim=2)                                    # (B, C, ctx+T)
        new_state = full[:, :, full.shape[2] - self.ctx:]                      # (B, C, ctx)
        # The dilated causal conv as one matmul over the k shifted taps: identical to
        # self.conv(full), but avoids PyTorch's element-wise CPU path for dilated convs.
        taps = torch.cat([full[:, :, i * self.dilation:i * self.dilation + T]
                          for i in range(self.kernel)], dim=1)                 # (B, k*C, T)
        w = self.conv.weight.transpose(1, 2).reshape(self.conv.out_channels, -1)  # (C, k*C)
        y = torch.matmul(w, taps) + self.conv.bias[:, None]                   # (B, C, T)
        y = y * (1.0 + gamma) + beta
        y = torch.matmul(self.proj.weight[:, :, 0], self.drop(F.gelu(y))) + self.proj.bias[:, None]
        return x + y, new_state


DOM_MAX = 20.0   # |log-dominance| is clamped here: exp() stays finite in float32


def readout_openness() -> torch.Tensor:
    """Each phone's openness (P,) (``emotalk_ros.core.phones.openness``), as the readout
    stores it."""
    return torch.tensor([openness(p) for p in PHONES], dtype=torch.float32)


def readout_dominance(bilabial: float) -> torch.Tensor:
    """(P,): ``bilabial`` for /p b m/, 1 for every other phone."""
    return torch.tensor([bilabial if p in BILABIALS else 1.0 for p in PHONES],
                        dtype=torch.float32)


def readout_openness_of(logits: torch.Tensor, open_: torch.Tensor, dom: torch.Tensor,
                        temperature: float) -> torch.Tensor:
    """The aperture readout's R (...,): the expected openness ``open_`` (P,) under the
    posteriors of ``logits`` (..., P) at ``temperature``, each phone weighted by ``dom``
    (P,) (:func:`readout_dominance`)."""
    w = torch.softmax(logits / temperature, dim=-1) * dom
    return (w @ open_) / w.sum(-1).clamp(min=1e-30)


def apply_readout(y: torch.Tensor, r: torch.Tensor, neutral_aperture: torch.Tensor,
                  scale: float) -> torch.Tensor:
    """y (..., 52) with ``jawOpen`` moved by ``scale * r - neutral_aperture`` (clamped to
    [0, 1]); every other shape untouched."""
    j = INDEX["jawOpen"]
    jaw = torch.clamp(y[..., j] + scale * r - neutral_aperture, 0.0, 1.0)
    return torch.cat([y[..., :j], jaw.unsqueeze(-1), y[..., j + 1:]], dim=-1)


def mixture_of(w: torch.Tensor, faces: torch.Tensor) -> torch.Tensor:
    """The phone mixture's face: weights (..., P) (the posteriors) or (..., P, 52) (with
    dominance) and per-phone faces (..., P, 52) -> (..., 52)."""
    if w.dim() == faces.dim():
        return (w * faces).sum(-2)
    return torch.matmul(w.unsqueeze(-2), faces).squeeze(-2)


class Generator(nn.Module):
    """feats (B, T, n_mels) + z (B, T, D) + state (B, C, S) -> blendshapes (B, T, 52) in [0, 1],
    new state."""

    def __init__(self, cfg: GeneratorConfig):
        super().__init__()
        cfg.check()
        self.cfg = cfg
        self.register_buffer("feat_mean", torch.zeros(cfg.n_mels))
        self.register_buffer("feat_std", torch.ones(cfg.n_mels))
        self.inp = nn.Linear(cfg.n_mels, cfg.channels)
        self.blocks = nn.ModuleList(
            CausalBlock(cfg.channels, cfg.kernel, d, cfg.dropout) for d in cfg.dilations)
        self.film = nn.Linear(cfg.emotion_dim, 2 * cfg.channels * len(cfg.dilations))
        nn.init.zeros_(self.film.weight)
        nn.init.zeros_(self.film.bias)
        self.head = nn.Sequential(
            nn.Linear(cfg.channels + cfg.emotion_dim, cfg.head_hidden), nn.GELU(),
            nn.Linear(cfg.head_hidden, NUM_BLENDSHAPES))
        if cfg.phone_after >= 0:
            self.phone_out = nn.Linear(cfg.channels, NUM_PHONES)
            # zero: a network given a bottleneck starts as the same function it was without
            self.phone_in = nn.Linear(NUM_PHONES, cfg.channels, bias=False)
            nn.init.zeros_(self.phone_in.weight)
        if cfg.phone_dominance:  # log-dominance per phone and blendshape; 0: the plain mixture
            self.phone_dom = nn.Parameter(torch.zeros(NUM_PHONES, NUM_BLENDSHAPES))
        if cfg.aperture_readout:  # fixed: the neutral embedding, each phone's openness
            self.register_buffer("readout_z", torch.zeros(cfg.emotion_dim))
            self.register_buffer("readout_open", readout_openness())
            self.register_buffer("readout_dom", readout_dominance(cfg.readout_bilabial),
                                 persistent=False)

    def initial_state(self, batch: int = 1) -> torch.Tensor:
        """Zero streaming state (batch, C, state_len)."""
        return torch.zeros(batch, self.cfg.channels, self.cfg.state_len)

    def forward(self, feats: torch.Tensor, z: torch.Tensor, state: torch.Tensor):
        """feats (B, T, n_mels) raw log-mel, z (B, T, D), state (B, C, S) -> (blendshapes
        (B, T, 52) in [0, 1], new state (B, C, S))."""
        y, new_state, _ = self.forward_with_phones(feats, z, state)
        return y, new_state

    def forward_with_phones(self, feats: torch.Tensor, z: torch.Tensor, state: torch.Tensor):
        """:meth:`forward` plus the phone logits (B, T, PHONES) of the bottleneck (None
        without one), for training."""
        x, new_state, logits = self._trunk(feats, z, state)
        if self.cfg.phone_mixture:  # the posteriors weigh per-phone faces; no projection
            logits = self.phone_out(x.transpose(1, 2))                         # (B, T, P)
            post = torch.softmax(logits, dim=-1)
            y = self.phone_mixture_face(post, z)                               # (B, T, 52)
            if self.cfg.aperture_readout:
                y = self.aperture_readout(logits, post, y)
        else:
            if self.cfg.phone_after == len(self.blocks):
                x, logits = self._phones(x)
            h = torch.cat([x.transpose(1, 2), z], dim=2)                       # (B, T, C+D)
            y = torch.sigmoid(self.head(h))                                    # (B, T, 52)
        return y, new_state, logits

    def mixture_parts(self, feats: torch.Tensor, z: torch.Tensor, state: torch.Tensor):
        """With ``phone_mixture``: the parts of :meth:`forward_with_phones`' face, for
        training: (weights, per-phone faces (B, T, P, 52), new state, logits). The weights
        are the posteriors (B, T, P), or with ``phone_dominance`` :meth:`mixture_weights`
        (B, T, P, 52); the face is :func:`mixture_of` them. A loss may reach the two parts
        separately."""
        if not self.cfg.phone_mixture:
            raise ValueError("mixture_parts needs phone_mixture")
        x, new_state, _ = self._trunk(feats, z, state)
        logits = self.phone_out(x.transpose(1, 2))                             # (B, T, P)
        post = torch.softmax(logits, dim=-1)
        w = self.mixture_weights(post) if self.cfg.phone_dominance else post
        return w, self.phone_faces(z), new_state, logits

    def mixture_weights(self, post: torch.Tensor) -> torch.Tensor:
        """posteriors (..., P) -> each phone's weight in each blendshape (..., P, 52): the
        posteriors times the dominance, normalised over the phones (``phone_dominance``)."""
        w = post.unsqueeze(-1) * torch.exp(self.phone_dom.clamp(-DOM_MAX, DOM_MAX))
        return w / w.sum(-2, keepdim=True).clamp(min=1e-30)

    def _trunk(self, feats: torch.Tensor, z: torch.Tensor, state: torch.Tensor):
        """The blocks: feats, z, state -> (x (B, C, T) after the last block, new state
        (B, C, S), the logits of a bottleneck inside the trunk or None)."""
        x = (feats - self.feat_mean) / self.feat_std                           # (B, T, F)
        x = self.inp(x).transpose(1, 2)                                        # (B, C, T)
        film = self.film(z).transpose(1, 2).chunk(2 * len(self.blocks), dim=1)  # 2*nb x (B, C, T)
        new_states: List[torch.Tensor] = []
        logits = None
        off = 0
        for i, blk in enumerate(self.blocks):
            if i == self.cfg.phone_after:
                x, logits = self._phones(x)
            s = state[:, :, off:off + blk.ctx]                                 # (B, C, ctx)
            x, ns = blk(x, film[2 * i], film[2 * i + 1], s)
            new_states.append(ns)
            off += blk.ctx
        return x, torch.cat(new_states, dim=2), logits

    def phone_faces(self, z: torch.Tensor) -> torch.Tensor:
        """z (..., D) -> the head's face for each phone alone (..., PHONES, 52): what a strict
        bottleneck after the last block shows when its posteriors are one-hot."""
        C = self.cfg.channels
        w1 = self.head[0].weight                                               # (H, C+D)
        corners = self.phone_in.weight.t() @ w1[:, :C].t()                     # (P, H)
        hz = F.linear(z, w1[:, C:], self.head[0].bias)                         # (..., H)
        h = F.gelu(hz.unsqueeze(-2) + corners)                                 # (..., P, H)
        return torch.sigmoid(self.head[2](h))                                  # (..., P, 52)

    def aperture_readout(self, logits: torch.Tensor, post: torch.Tensor,
                         y: torch.Tensor) -> torch.Tensor:
        """(``aperture_readout``) logits and posteriors (..., P), the mixture's face y (..., 52)
        -> y with its jaw moved so that the neutral face would open ``scale * R`` (R: the
        expected phone openness, module docstring)."""
        cfg = self.cfg
        faces = self.phone_faces(self.readout_z)[:, list(APERTURE_INDEX)]      # (P, 6)
        if cfg.phone_dominance:
            w = self.mixture_weights(post)[..., list(APERTURE_INDEX)]          # (..., P, 6)
            neutral = (w * faces).sum(-2)                                      # (..., 6)
        else:
            neutral = post @ faces
        r = readout_openness_of(logits, self.readout_open, self.readout_dom,
                                cfg.readout_temperature)
        return apply_readout(y, r, aperture6(neutral), cfg.readout_scale)

    def phone_mixture_face(self, post: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """posteriors (B, T, P), z (B, T, D) -> the posterior-weighted mean of
        :meth:`phone_faces` (B, T, 52)."""
        faces = self.phone_faces(z)                                            # (B, T, P, 52)
        if self.cfg.phone_dominance:
            return mixture_of(self.mixture_weights(post), faces)
        return mixture_of(post, faces)                                         # (B, T, 52)

    def _phones(self, x: torch.Tensor):
        """x (B, C, T) -> (x + the posteriors' projection, phone logits (B, T, PHONES))."""
        logits = self.phone_out(x.transpose(1, 2))                             # (B, T, P)
        back = self.phone_in(torch.softmax(logits, dim=-1)).transpose(1, 2)    # (B, C, T)
        return (back if self.cfg.phone_replace else x + back), logits

    def num_parameters(self) -> int:
        """Number of parameters (buffers excluded)."""
        return sum(p.numel() for p in self.parameters())


class StreamingGenerator(nn.Module):
    """Inference-only form of a trained :class:`Generator` for per-frame streaming (B = 1).

    Same function, fewer and cheaper ops: at 1-2 frames per call the cost of the network
    is the number of tensor ops, not their arithmetic. Built once from the trained weights:

    * the input normalisation is folded into the input linear layer;
    * the dilated convs keep their taps flattened as one (k*C, C) matrix and gather the
      k shifted inputs with one ``index_select`` (indices cached per chunk length);
    * all FiLM parameters *and* the emotion half of the head's first layer come from one
      matmul on z, with the FiLM scale pre-offset by 1 (so FiLM is one ``addcmul``);
    * the time-major (T, C) layout needs no transposes, and biases ride in ``addmm``.

    ``forward(feats (T, F), z (T, D), state)`` -> ``(blendshapes (T, 52), new state)``;
    the state is a tuple of per-block (ctx, C) tensors from :meth:`initial_state`.
    Equal to ``Generator.forward`` to float rounding (tested).
    """

    def __init__(self, gen: Generator):
        super().__init__()
        cfg = gen.cfg
        self.cfg = cfg
        C, nb = cfg.channels, len(cfg.dilations)
        with torch.no_grad():
            std = gen.feat_std.detach().clone()
            w_in = gen.inp.weight.detach() / std[None, :]                           # (C, F)
            self.register_buffer("w_in", w_in.t().contiguous())                     # (F, C)
            self.register_buffer("b_in", gen.inp.bias.detach() - w_in @ gen.feat_mean.detach())
            head0 = gen.head[0]
            film_b = gen.film.bias.detach().clone()
            for i in range(nb):  # gamma -> 1 + gamma
                film_b[2 * i * C:(2 * i + 1) * C] += 1.0
            w_z = torch.cat(
                [gen.film.weight.detach(), head0.weight.detach()[:, C:]], 0
            )  # (2CnB+H, D)
            self.register_buffer("w_z", w_z.t().contiguous())                       # (D, 2CnB+H)
            self.register_buffer("b_z", torch.cat([film_b, head0.bias.detach()]))
            self.register_buffer("w_hx", head0.weight.detach()[:, :C].t().contiguous())   # (C, H)
            self.register_buffer("w_out", gen.head[2].weight.detach().t().contiguous())   # (H, 52)
            self.register_buffer("b_out", gen.head[2].bias.detach().clone())
            self.blocks = []
            for i, blk in enumerate(gen.blocks):
                wc = (
                    blk.conv.weight.detach().transpose(1, 2).reshape(C, -1).t().contiguous()
                )  # (kC, C)
                self.blocks.append(
                    dict(
                        ln_w=blk.norm.weight.detach().clone(),
                        ln_b=blk.norm.bias.detach().clone(),
                        eps=float(blk.norm.eps),
                        ctx=blk.ctx,
                        k=blk.kernel,
                        d=blk.dilation,
                        wc=wc,
                        bc=blk.conv.bias.detach().clone(),
                        wp=blk.proj.weight.detach()[:, :, 0].t().contiguous(),
                        bp=blk.proj.bias.detach().clone(),
                        g=slice(2 * i * C, (2 * i + 1) * C),
                        b=slice((2 * i + 1) * C, (2 * i + 2) * C),
                    )
                )
            if cfg.phone_after >= 0:
                self.register_buffer("w_pout", gen.phone_out.weight.detach().t().contiguous())
                self.register_buffer("b_pout", gen.phone_out.bias.detach().clone())
                self.register_buffer("w_pin", gen.phone_in.weight.detach().t().contiguous())
            if cfg.phone_mixture:  # each phone's point in the head's hidden layer (P, H)
                self.register_buffer("corners", self.w_pin @ self.w_hx)
            if cfg.phone_dominance:
                self.register_buffer(
                    "dom", torch.exp(gen.phone_dom.detach().clamp(-DOM_MAX, DOM_MAX)))  # (P, 52)
            if cfg.aperture_readout:  # the neutral per-phone faces' aperture shapes (P, 6)
                self.register_buffer("ro_faces", gen.phone_faces(gen.readout_z.detach())[
                    :, list(APERTURE_INDEX)].detach().clone())
                self.register_buffer("ro_open", gen.readout_open.detach().clone())
                self.register_buffer("ro_dom", gen.readout_dom.detach().clone())
                self.register_buffer("ro_idx", torch.tensor(APERTURE_INDEX, dtype=torch.long))
        self._zh = slice(2 * C * nb, 2 * C * nb + cfg.head_hidden)
        self._taps: dict = {}
        self._device = torch.device("cpu")

    def to(self, device):                                                           # noqa: D401
        """Move every weight (plain tensors in ``blocks`` as well as buffers) to ``device``."""
        super().to(device)
        self._device = torch.device(device)
        for blk in self.blocks:
            for key, val in blk.items():
                if isinstance(val, torch.Tensor):
                    blk[key] = val.to(device)
        self._taps = {}
        return self

    def initial_state(self) -> Tuple[torch.Tensor, ...]:
        """Zero streaming state: one (ctx, C) tensor per block, on the module's device."""
        return tuple(
            torch.zeros(b["ctx"], self.cfg.channels, device=self._device) for b in self.blocks
        )

    def _tap_index(self, i: int, T: int) -> torch.Tensor:
        key = (i, T)
        idx = self._taps.get(key)
        if idx is None:
            b = self.blocks[i]
            t = torch.arange(T, device=self._device)[:, None]
            j = torch.arange(b["k"], device=self._device)[None, :] * b["d"]
            idx = (t + j).reshape(-1)  # (T*k,) time-major
            if T <= 64:  # streaming sizes only
                self._taps[key] = idx
        return idx

    def forward(self, feats: torch.Tensor, z: torch.Tensor, state: Tuple[torch.Tensor, ...]):
        """feats (T, n_mels), z (T, D), state tuple -> (blendshapes (T, 52) in [0, 1], new
        state tuple)."""
        T = feats.shape[0]
        C = self.cfg.channels
        x = torch.addmm(self.b_in, feats, self.w_in)                                # (T, C)
        zz = torch.addmm(self.b_z, z, self.w_z)                                     # (T, 2CnB+H)
        new_state = []
        for i, b in enumerate(self.blocks):
            if i == self.cfg.phone_after:
                x = self._phones(x)
            h = F.layer_norm(x, (C,), b["ln_w"], b["ln_b"], b["eps"])
            full = torch.cat([state[i], h], 0)                                      # (ctx+T, C)
            new_state.append(full[full.shape[0] - b["ctx"]:])
            taps = full.index_select(0, self._tap_index(i, T)).view(T, b["k"] * C)  # (T, kC)
            y = torch.addcmul(zz[:, b["b"]], torch.addmm(b["bc"], taps, b["wc"]), zz[:, b["g"]])
            x = torch.addmm(b["bp"], F.gelu(y), b["wp"]).add_(x)                    # residual
        if self.cfg.phone_mixture:
            logits = torch.addmm(self.b_pout, x, self.w_pout)                       # (T, P)
            p = torch.softmax(logits, dim=-1)
            h = F.gelu(zz[:, None, self._zh] + self.corners)                        # (T, P, H)
            faces = torch.sigmoid(torch.matmul(h, self.w_out).add_(self.b_out))     # (T, P, 52)
            if self.cfg.phone_dominance:
                w = p[:, :, None] * self.dom                                        # (T, P, 52)
                w = w / w.sum(1, keepdim=True).clamp(min=1e-30)
                y = (w * faces).sum(1)
            else:
                y = torch.bmm(p[:, None, :], faces)[:, 0]
            if self.cfg.aperture_readout:
                if self.cfg.phone_dominance:
                    neutral = (w.index_select(2, self.ro_idx) * self.ro_faces).sum(1)  # (T, 6)
                else:
                    neutral = p @ self.ro_faces
                r = readout_openness_of(logits, self.ro_open, self.ro_dom,
                                        self.cfg.readout_temperature)
                y = apply_readout(y, r, aperture6(neutral), self.cfg.readout_scale)
            return y, tuple(new_state)
        if self.cfg.phone_after == len(self.blocks):
            x = self._phones(x)
        h = F.gelu(torch.addmm(zz[:, self._zh], x, self.w_hx))                      # (T, H)
        return torch.sigmoid(torch.addmm(self.b_out, h, self.w_out)), tuple(new_state)


    def _phones(self, x: torch.Tensor) -> torch.Tensor:
        p = torch.softmax(torch.addmm(self.b_pout, x, self.w_pout), dim=-1)         # (T, P)
        return p @ self.w_pin if self.cfg.phone_replace else torch.addmm(x, p, self.w_pin)


class MappingNetwork(nn.Module):
    """Motion window (B, T, 52) -> emotion embedding z (B, D), plus intensity logits (B, 7) for
    pre-training."""

    def __init__(self, cfg: MappingConfig):
        super().__init__()
        self.cfg = cfg
        layers: List[nn.Module] = []
        cin = NUM_BLENDSHAPES
        for i, k in enumerate(cfg.kernels):
            layers += [
                nn.Conv1d(cin, cfg.channels, k, padding=k // 2, stride=1 if i == 0 else 2),
                nn.GELU(),
            ]
            cin = cfg.channels
        self.conv = nn.Sequential(*layers)
        self.to_z = nn.Linear(2 * cfg.channels, cfg.emotion_dim)
        self.intensity = nn.Linear(cfg.emotion_dim, NUM_EXPRESSIVE)

    def forward(self, motion: torch.Tensor) -> torch.Tensor:
        """motion (B, T, 52) -> z (B, D)."""
        h = self.conv(motion.transpose(1, 2))                                  # (B, C, T')
        pooled = torch.cat([h.mean(dim=2), h.amax(dim=2)], dim=1)              # (B, 2C)
        return self.to_z(pooled)                                               # (B, D)

    def predict_alpha(self, z: torch.Tensor) -> torch.Tensor:
        """z (B, D) -> (B, 7) intensity estimates (linear head, trained with MSE)."""
        return self.intensity(z)                                               # (B, 7)


def aperture_torch(y: torch.Tensor, index) -> torch.Tensor:
    """The lip aperture (docs/INTERFACE.md, Metrics) of (..., 52) frames -> (...)."""
    jaw = y[..., index["jawOpen"]] - y[..., index["mouthClose"]]
    up = 0.5 * (y[..., index["mouthUpperUpLeft"]] + y[..., index["mouthUpperUpRight"]])
    low = 0.5 * (y[..., index["mouthLowerDownLeft"]] + y[..., index["mouthLowerDownRight"]])
    return F.relu(jaw) + 0.5 * up + 0.5 * low
