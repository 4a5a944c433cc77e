"""A language-independent phone classifier trained on espeak-ng speech, for forced alignment.

:class:`PhoneNet` maps per-utterance normalised log-mel frames (the model's front end,
100 Hz) to posteriors over :data:`emotalk_ros.core.phones.PHONES`. It is trained on
espeak-ng renditions of dialogue in thirteen languages plus the English sentence
generator, with many voice variants, rates, pitches and channel augmentations
(:func:`make_examples`), so it has no per-language acoustic model: the phone classes are
the shared ARPAbet set every language maps to (:func:`emotalk_ros.speech.espeak.map_phoneme`).
:func:`emotalk_ros.speech.align.align_hmm` uses its posteriors in a Viterbi pass through the
transcript's phone sequence.

torch is imported inside functions only (the live path never imports this module).
"""

from __future__ import annotations

import logging
import time
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from emotalk_ros.core.audio import FeatureConfig, log_mel
from emotalk_ros.core.phones import NUM_PHONES, PHONE_INDEX
from emotalk_ros.errors import EmotalkError

log = logging.getLogger(__name__)

CHANNELS = 128
DILATIONS = (1, 2, 4, 8, 1, 2, 4)
VARIANTS = ("", "m1", "m2", "m3", "m4", "m5", "m7", "f1", "f2", "f3", "f4", "f5", "klatt",
            "klatt3", "Andy", "Annie", "Denis", "Lee", "Michael", "anika", "belinda",
            "benjamin", "david", "edward", "john", "linda", "max", "norbert", "paul", "rob",
            "steph", "travis", "victor", "zac")


def normalise(mel: np.ndarray) -> np.ndarray:
    """Per-utterance mean/variance normalisation of log-mel (T, F) -> (T, F) float32."""
    m = np.asarray(mel, np.float64)
    return ((m - m.mean(axis=0)) / (m.std(axis=0) + 1e-3)).astype(np.float32)


def build_net(n_in: int = 40, channels: int = CHANNELS):
    """The classifier: a non-causal dilated residual conv stack, (B, T, F) -> (B, T, PHONES)
    logits; receptive field +-(2 + sum(DILATIONS)) frames."""
    import torch
    from torch import nn

    class _Block(nn.Module):
        def __init__(self, d: int):
            super().__init__()
            self.conv = nn.Conv1d(channels, channels, 3, padding=d, dilation=d)
            self.norm = nn.GroupNorm(1, channels)

        def forward(self, x):
            return x + torch.nn.functional.gelu(self.norm(self.conv(x)))

    class PhoneNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.inp = nn.Conv1d(n_in, channels, 5, padding=2)
            self.blocks = nn.Sequential(*[_Block(d) for d in DILATIONS])
            self.out = nn.Conv1d(channels, NUM_PHONES, 1)

        def forward(self, x):                                   # (B, T, F)
            h = self.blocks(self.inp(x.transpose(1, 2)))
            return self.out(h).transpose(1, 2)                  # (B, T, P)

    return PhoneNet()


def _phone_labels(phones: Sequence[Tuple[str, float, float]], n: int) -> np.ndarray:
    """Per-frame phone ids (n,) int64 of (phone, start_s, end_s) segments; frame j at j/100."""
    lab = np.full(n, PHONE_INDEX["sil"], np.int64)
    for p, s, e in phones:
        j0, j1 = int(round(s * 100.0)), int(round(e * 100.0))
        lab[max(j0, 0):min(j1, n)] = PHONE_INDEX[p]
    return lab


def make_examples(texts: Dict[str, List[str]], n_clips: int, seed: int,
                  progress: bool = False) -> List[Tuple[np.ndarray, np.ndarray]]:
    """``n_clips`` espeak-ng clips -> [(normalised log-mel (T, 40) float32, labels (T,) int64)].

    texts: {language: sentences}; a clip draws a language uniformly, one or two of its
    sentences, a voice variant, rate 120-280 wpm, pitch and range, and the synthetic-corpus
    channel augmentation (no pyworld). Deterministic for ``seed`` in a fresh process.
    """
    from emotalk_ros.speech import espeak
    from emotalk_ros.training.realspeech import ESPEAK_VOICE
    from emotalk_ros.training.synth.augment import augment

    rng = np.random.default_rng(seed)
    langs = sorted(texts)
    out = []
    t0 = time.time()
    for i in range(n_clips):
        lang = langs[int(rng.integers(len(langs)))]
        pool = texts[lang]
        n_sent = 1 + int(rng.random() < 0.3)
        text = " ".join(pool[int(rng.integers(len(pool)))] for _ in range(n_sent))
        var = VARIANTS[int(rng.integers(len(VARIANTS)))]
        voice = espeak.voice_name(ESPEAK_VOICE[lang], var)
        pros = espeak.Prosody(rate=int(rng.integers(120, 281)), pitch=int(rng.integers(25, 76)),
                              range=int(rng.integers(20, 91)),
                              wordgap=int(rng.integers(0, 3)) if rng.random() < 0.2 else 0)
        try:
            u = espeak.synthesize(text, voice, pros)
        except EmotalkError:
            continue
        x, _ = augment(u.audio, 16000, np.random.default_rng([seed, i]), 0.0)
        mel = log_mel(x, FeatureConfig())
        out.append((normalise(mel), _phone_labels(u.phones, mel.shape[0])))
        if progress and i % 200 == 0:
            log.info("phonenet data %d/%d %.0f s", i, n_clips, time.time() - t0)
    return out


def train(examples: List[Tuple[np.ndarray, np.ndarray]], steps: int = 2000, seed: int = 0,
          batch: int = 16, crop: int = 256, lr: float = 2e-3, threads: int = 2,
          progress: bool = False) -> Dict:
    """Train a :func:`build_net` on ``examples`` -> checkpoint dict {state, prior, config,
    train_acc}. Deterministic for ``seed`` and ``threads``."""
    import torch

    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    rng = np.random.default_rng(seed)
    net = build_net()
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps,
                                                pct_start=0.1)
    counts = np.bincount(np.concatenate([lab for _, lab in examples]), minlength=NUM_PHONES)
    prior = (counts + 1.0) / (counts.sum() + NUM_PHONES)
    acc_hist = []
    net.train()
    for step in range(steps):
        X = np.zeros((batch, crop, 40), np.float32)
        Y = np.full((batch, crop), -100, np.int64)
        for b in range(batch):
            m, lab = examples[int(rng.integers(len(examples)))]
            s = int(rng.integers(0, max(1, m.shape[0] - crop)))
            n = min(crop, m.shape[0] - s)
            X[b, :n] = m[s:s + n]
            Y[b, :n] = lab[s:s + n]
            # SpecAugment-style frequency mask: robustness to channel colouration
            if rng.random() < 0.5:
                f0 = int(rng.integers(0, 36))
                X[b, :, f0:f0 + int(rng.integers(1, 6))] = 0.0
        logits = net(torch.from_numpy(X))
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, NUM_PHONES),
                                                 torch.from_numpy(Y).reshape(-1),
                                                 ignore_index=-100)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if step % 100 == 0 or step == steps - 1:
            with torch.no_grad():
                yt = torch.from_numpy(Y)
                ok = (logits.argmax(-1) == yt)[yt >= 0].float().mean().item()
            acc_hist.append(ok)
            if progress:
                log.info("phonenet step %d loss %.3f acc %.3f", step, loss.item(), ok)
    net.eval()
    return {"state": {k: v.detach().clone() for k, v in net.state_dict().items()},
            "prior": prior.astype(np.float64).tolist(),
            "config": {"channels": CHANNELS, "dilations": list(DILATIONS), "steps": steps,
                       "seed": seed, "clips": len(examples)},
            "train_acc": float(np.mean(acc_hist[-3:]))}


class PhonePosteriors:
    """A trained classifier: ``log_posteriors(audio)`` -> (T, PHONES) float32 log p(phone|x)."""

    def __init__(self, ckpt: Dict):
        import torch

        self.net = build_net()
        self.net.load_state_dict(ckpt["state"], strict=True)
        self.net.eval()
        self.log_prior = np.log(np.asarray(ckpt["prior"], np.float64)).astype(np.float32)
        self._torch = torch

    @staticmethod
    def load(path: str) -> "PhonePosteriors":
        """From a file written by :meth:`save_checkpoint`."""
        import torch

        return PhonePosteriors(torch.load(path, map_location="cpu", weights_only=True))

    @staticmethod
    def save_checkpoint(ckpt: Dict, path: str) -> None:
        """Write a :func:`train` result (torch.save)."""
        import torch

        torch.save(ckpt, path)

    def log_posteriors(self, audio: np.ndarray, mel: Optional[np.ndarray] = None) -> np.ndarray:
        """16 kHz audio (N,) (or its log-mel (T, 40)) -> (T, PHONES) float32 log posteriors."""
        torch = self._torch
        m = log_mel(np.asarray(audio, np.float32), FeatureConfig()) if mel is None else mel
        with torch.no_grad():
            logits = self.net(torch.from_numpy(normalise(m))[None])[0]
            return torch.log_softmax(logits, -1).numpy()
