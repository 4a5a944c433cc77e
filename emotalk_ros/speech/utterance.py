"""Training-data synthesis: speech audio paired with exact phone timings and emotion labels.

Modules:

- :mod:`.espeak`  -- espeak-ng in-process (ctypes), the training voices.
- :mod:`.engines` -- Flite and Festival through their command lines, held-out evaluation voices.
- :mod:`.text`    -- the deterministic sentence generator.
- :mod:`.augment` -- length-preserving audio augmentations (pyworld speaker warp, noise,
reverb...).
- :mod:`.corpus`  -- ``build_corpus`` (parallel, deterministic shards) and the ``Corpus`` reader.
- :mod:`.cli`     -- ``emotalk synth``.

This file holds what every engine shares: the :class:`Utterance` result type and the
phone-sequence helpers that make an engine's timings tile the clip.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Sequence, Tuple

import numpy as np

from emotalk_ros.core.phones import PHONE_INDEX, PHONES
from emotalk_ros.errors import EmotalkError

# (ARPAbet phone, start_s, end_s)
PhoneSeg = Tuple[str, float, float]


@dataclass
class Utterance:
    """One synthesised clip.

    audio: (N,) float32 mono in [-1, 1] at ``sample_rate`` (16 kHz after every engine).
    phones: list of (phone, start_s, end_s) over :data:`emotalk_ros.core.phones.PHONES`, tiling
    [0, N / sample_rate] without gaps (``sil`` included).
    raw_phones: the engine's own phone names in order (diagnostics only).
    """

    audio: np.ndarray
    phones: List[PhoneSeg]
    sample_rate: int = 16000
    raw_phones: List[str] = field(default_factory=list)

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return self.audio.size / float(self.sample_rate)

    def phone_arrays(self) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """-> (start (P,) float32 s, end (P,) float32 s, id (P,) int16 index into PHONES)."""
        start = np.array([s for _, s, _ in self.phones], np.float32)   # (P,)
        end = np.array([e for _, _, e in self.phones], np.float32)     # (P,)
        ids = np.array([PHONE_INDEX[p] for p, _, _ in self.phones], np.int16)  # (P,)
        return start, end, ids


def tile_phones(seq: Sequence[Tuple[str, float]], end_s: float) -> List[PhoneSeg]:
    """Phone onsets -> segments tiling [0, end_s].

    ``seq`` is [(phone, onset_s), ...] in time order (phones in PHONES). A ``sil`` is
    inserted before the first onset when it is > 0; zero-length phones are dropped and
    neighbouring ``sil`` segments merged. Each phone ends where the next one starts; the
    last ends at ``end_s``.
    """
    onsets: List[Tuple[str, float]] = []
    for p, t in seq:
        if p not in PHONE_INDEX:
            raise EmotalkError(f"tile_phones: {p!r} is not in PHONES")
        t = min(max(float(t), 0.0), end_s)
        if onsets and t < onsets[-1][1]:
            t = onsets[-1][1]  # never go back in time
        onsets.append((p, t))
    if not onsets or onsets[0][1] > 0.0:
        onsets.insert(0, ("sil", 0.0))
    out: List[PhoneSeg] = []
    for i, (p, t) in enumerate(onsets):
        e = onsets[i + 1][1] if i + 1 < len(onsets) else end_s
        if e <= t:
            continue
        if out and p == "sil" and out[-1][0] == "sil":
            out[-1] = ("sil", out[-1][1], e)
        elif out and out[-1][2] < t:  # a dropped zero-length phone left no gap; stay tiled
            out.append((p, out[-1][2], e))
        else:
            out.append((p, t, e))
    if not out:
        out = [("sil", 0.0, end_s)]
    # exact tiling: the first starts at 0, each start is the previous end
    fixed = [(out[0][0], 0.0, out[0][2])]
    for p, _s, e in out[1:]:
        fixed.append((p, fixed[-1][2], e))
    return fixed


def concat_utterances(parts: Sequence[Utterance]) -> Utterance:
    """Concatenate utterances in time (same sample rate); phones shift, touching ``sil`` merge."""
    if not parts:
        raise EmotalkError("concat_utterances: nothing to concatenate")
    sr = parts[0].sample_rate
    audio = np.concatenate([u.audio for u in parts]).astype(np.float32)   # (N,)
    seq: List[Tuple[str, float]] = []
    raw: List[str] = []
    offset = 0
    for u in parts:
        t0 = offset / float(sr)
        seq.extend((p, s + t0) for p, s, _ in u.phones)
        raw.extend(u.raw_phones)
        offset += u.audio.size
    return Utterance(audio, tile_phones(seq, audio.size / float(sr)), sr, raw)


__all__ = ["PHONES", "PhoneSeg", "Utterance", "concat_utterances", "tile_phones"]
