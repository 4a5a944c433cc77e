"""Paired training corpus: speech features, exact phone timings and per-frame emotion labels.

:func:`build_corpus` writes ``out_dir/shard_00000.npz ...`` and ``out_dir/meta.json``.
Clip ``i`` is generated from its own seed ``(seed, i)`` and clips are grouped into shards
of ``clips_per_shard`` consecutive clips, each generated in a fresh process, so the output
is identical for any worker count. Generation stops at the first clip where the total audio reaches
``hours``.

Shard arrays (``N`` clips, ``T`` frames at 100 Hz in total, ``P`` phones in total):

========================  ===================  =============================================
``mel``                   float16 (T, 40)      :func:`emotalk_ros.core.audio.log_mel` per clip
``mel_offsets``           int64 (N+1,)         clip i = rows ``mel_offsets[i]:mel_offsets[i+1]``
``alpha``                 float16 (T, 7)       emotion intensities over ``EXPRESSIVE``, per frame
``phone_start/_end``      float32 (P,)         seconds from the clip start; phones tile the clip
``phone_id``              int16 (P,)           index into :data:`emotalk_ros.core.phones.PHONES`
``phone_offsets``         int64 (N+1,)
``speaker``               int32 (N,)           index into ``meta.json["speakers"]`` (engine:voice;
                                               a pyworld-warped clip keeps its voice's id)
``clip_meta``             str (N,)             JSON: engine, voice, text, prosody, emotions,
augmentations
``audio``                 int16 (S,)           only with save_audio: 16 kHz samples
``audio_offsets``         int64 (N+1,)
========================  ===================  =============================================

Frame ``j`` of a clip depicts time ``j / 100`` s; a clip of ``n`` samples has
``n // 160`` frames.

Emotions per clip (:func:`sample_alpha`): about 30 % neutral, 50 % one emotion with an
intensity in [0.2, 1], 20 % a mix of two. About 15 % of clips are two sentences with
different emotions and a 0.2-0.5 s smoothstep transition starting where the first
sentence's speech ends. Emotions drive the prosody (:func:`emotion_prosody`).
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from collections import Counter, deque
from dataclasses import asdict, dataclass
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np

from emotalk_ros.core.audio import FeatureConfig, log_mel
from emotalk_ros.core.easing import smoothstep
from emotalk_ros.core.emotions import EXPRESSIVE, NUM_EXPRESSIVE, alpha_to_dict
from emotalk_ros.core.phones import PHONES
from emotalk_ros.errors import EmotalkError
from emotalk_ros.speech import engines as ext_engines
from emotalk_ros.speech import espeak
from emotalk_ros.speech.utterance import Utterance, concat_utterances
from emotalk_ros.training.synth.augment import augment as augment_audio
from emotalk_ros.training.synth.augment import gain as apply_gain
from emotalk_ros.training.synth.text import make_text

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
SAMPLE_RATE = 16000
HOP = 160                       # samples per feature/label frame (100 Hz)
FRAME_RATE = SAMPLE_RATE / HOP  # Hz
ENGINES = ("espeak", "flite", "festival", "espeak-intl")
# espeak-intl: espeak-ng in other languages, text from a dialogue pool (--text-root)
INTL_LANGS = ("bg", "cs", "de", "eo", "es", "fr", "it", "nl", "pl", "ru", "sl", "sv")
INTL_VARIANTS = ("", "m1", "m2", "m3", "m4", "m5", "m7", "f1", "f2", "f3", "f4", "f5", "klatt",
                 "klatt3", "Andy", "Annie", "Denis", "Lee", "Michael", "anika", "belinda",
                 "benjamin", "david", "edward", "john", "linda", "max", "norbert", "paul",
                 "rob", "steph", "travis", "victor", "zac")
CHANNELS = ("v1", "real")           # augmentation chain: the original one, or real-channel
P_NEUTRAL, P_SINGLE = 0.30, 0.50    # the rest (0.20) mixes two emotions
P_CHANGE = 0.15                     # clips whose emotion changes between two sentences
WORLD_FRACTION = 0.10               # clips resynthesised by pyworld (slow) when augmenting
PRIOR_CLIP_S = 3.5                  # expected clip length before any is measured (s)

# espeak prosody of each emotion at full intensity; intensities blend the deltas from
# neutral linearly (rate in the log domain). happy/sad/angry are measured (FACTS.md);
# the others are chosen from the speech-emotion literature's direction of change.
NEUTRAL_PROSODY = espeak.Prosody(rate=175, pitch=50, range=50, volume=100)
EMOTION_PROSODY: Dict[str, espeak.Prosody] = {
    "happy": espeak.Prosody(rate=195, pitch=70, range=90, volume=105),
    "sad": espeak.Prosody(rate=130, pitch=30, range=15, volume=70),
    "angry": espeak.Prosody(rate=210, pitch=45, range=70, volume=180),
    "surprised": espeak.Prosody(rate=185, pitch=75, range=100, volume=130),
    "fearful": espeak.Prosody(rate=215, pitch=68, range=30, volume=90),
    "disgusted": espeak.Prosody(rate=150, pitch=38, range=60, volume=115),
    "contempt": espeak.Prosody(rate=160, pitch=42, range=35, volume=95),
}
# median F0 (Hz) of the held-out voices at their defaults (measured with pyworld.dio)
FLITE_F0 = {"slt": 168.0, "rms": 102.0, "awb": 126.0}


def intl_voices() -> List[str]:
    """espeak-intl voices: every INTL_LANGS language x INTL_VARIANTS, in a fixed order."""
    from emotalk_ros.training.realspeech import ESPEAK_VOICE

    return [espeak.voice_name(ESPEAK_VOICE[lang], v) for lang in INTL_LANGS
            for v in INTL_VARIANTS]


def speaker_table() -> List[str]:
    """Every possible speaker name, 'engine:voice', in a fixed order (ids are list indices;
    later engines are appended, so older ids keep their meaning)."""
    return ([f"espeak:{v}" for v in espeak.all_voices()]
            + [f"flite:{v}" for v in ext_engines.FLITE_VOICES]
            + [f"festival:{v}" for v in ext_engines.FESTIVAL_VOICES]
            + [f"espeak-intl:{v}" for v in intl_voices()])


SPEAKER_INDEX = {name: i for i, name in enumerate(speaker_table())}


# --- emotions and prosody ------------------------------------------------------------------

def sample_alpha(rng: np.random.Generator) -> Tuple[np.ndarray, str]:
    """Random emotion intensities -> ((7,) float32 over EXPRESSIVE, kind).

    kind 'neutral' (zeros), 'single' (one emotion, intensity U(0.2, 1)) or 'mix' (two
    emotions, total U(0.4, 1) split with the first taking 50-80 %).
    """
    a = np.zeros(NUM_EXPRESSIVE, np.float32)
    u = rng.random()
    if u < P_NEUTRAL:
        return a, "neutral"
    if u < P_NEUTRAL + P_SINGLE:
        a[int(rng.integers(NUM_EXPRESSIVE))] = rng.uniform(0.2, 1.0)
        return a, "single"
    i, j = rng.choice(NUM_EXPRESSIVE, size=2, replace=False)
    total, share = rng.uniform(0.4, 1.0), rng.uniform(0.5, 0.8)
    a[int(i)], a[int(j)] = total * share, total * (1.0 - share)
    return a, "mix"


def emotion_prosody(alpha: np.ndarray, base: espeak.Prosody = NEUTRAL_PROSODY) -> espeak.Prosody:
    """(7,) intensities -> espeak prosody: ``base`` plus the intensity-weighted deltas."""
    a = np.asarray(alpha, np.float64).reshape(NUM_EXPRESSIVE)
    n = NEUTRAL_PROSODY
    log_rate = math.log(base.rate)
    pitch, rng_, vol = float(base.pitch), float(base.range), math.log(max(base.volume, 1))
    for i, name in enumerate(EXPRESSIVE):
        if a[i] == 0.0:
            continue
        e = EMOTION_PROSODY[name]
        log_rate += a[i] * math.log(e.rate / n.rate)
        pitch += a[i] * (e.pitch - n.pitch)
        rng_ += a[i] * (e.range - n.range)
        vol += a[i] * math.log(e.volume / n.volume)
    return espeak.Prosody(int(round(math.exp(log_rate))), int(round(pitch)), int(round(rng_)),
                          int(round(math.exp(vol))), base.wordgap).clamped()


def _base_prosody(rng: np.random.Generator) -> espeak.Prosody:
    """Per-clip speaker jitter around neutral."""
    return espeak.Prosody(
        rate=int(round(175 * math.exp(rng.normal(0.0, 0.07)))),
        pitch=int(round(50 + rng.normal(0.0, 6.0))),
        range=int(round(50 + rng.normal(0.0, 8.0))),
        volume=int(round(100 * math.exp(rng.normal(0.0, 0.08)))),
        wordgap=int(rng.integers(1, 4)) if rng.random() < 0.1 else 0,
    ).clamped()


def alpha_track(n_frames: int, alphas: Sequence[np.ndarray], switch_s: Sequence[float],
                trans_s: Sequence[float]) -> np.ndarray:
    """Per-frame intensities (n_frames, 7) float32 at 100 Hz.

    Segment k's alpha holds until ``switch_s[k-1]``, then a smoothstep of ``trans_s[k-1]``
    seconds blends into the next.
    """
    t = np.arange(n_frames, dtype=np.float64) / FRAME_RATE            # (T,)
    out = np.repeat(np.asarray(alphas[0], np.float64)[None, :], n_frames, axis=0)  # (T, 7)
    for k in range(1, len(alphas)):
        x = np.clip((t - switch_s[k - 1]) / max(trans_s[k - 1], 1e-6), 0.0, 1.0)
        w = smoothstep(x)[:, None]                                    # (T, 1)
        out = (1.0 - w) * out + w * np.asarray(alphas[k], np.float64)[None, :]
    return out.astype(np.float32)


# --- one clip ------------------------------------------------------------------------------

@dataclass
class ClipData:
    """One generated clip before it is packed into a shard."""

    audio: np.ndarray            # (N,) float32 16 kHz
    mel: np.ndarray              # (T, 40) float32
    alpha: np.ndarray            # (T, 7) float32
    phone_start: np.ndarray      # (P,) float32 s
    phone_end: np.ndarray        # (P,) float32 s
    phone_id: np.ndarray         # (P,) int16
    speaker: int
    meta: Dict[str, Any]


def _engine_voices(engines: Sequence[str]) -> Dict[str, List[str]]:
    out = {}
    for e in engines:
        if e == "espeak":
            out[e] = espeak.all_voices()
        elif e == "espeak-intl":
            out[e] = intl_voices()
        elif e in ("flite", "festival"):
            vs = ext_engines.available_voices(e)
            if not vs:
                raise EmotalkError(f"engine {e!r} has no installed voices")
            out[e] = vs
        else:
            raise EmotalkError(f"unknown engine {e!r}; use one of {', '.join(ENGINES)}")
    return out


def _speak(engine: str, voice: str, text: str, pros: espeak.Prosody) -> Utterance:
    if engine in ("espeak", "espeak-intl"):
        return espeak.synthesize(text, voice, pros)
    stretch = NEUTRAL_PROSODY.rate / float(pros.rate)
    f0 = None
    if engine == "flite":
        f0 = FLITE_F0[voice] * math.exp(0.015 * (pros.pitch - NEUTRAL_PROSODY.pitch))
    u = ext_engines.synthesize(engine, text, voice, stretch, f0)
    u.audio = apply_gain(u.audio, 20.0 * math.log10(max(pros.volume, 1) / 100.0))
    return u


def silence_utterance(seconds: float) -> Utterance:
    """``seconds`` of digital silence labelled ``sil`` (16 kHz)."""
    n = max(1, int(round(seconds * SAMPLE_RATE)))
    return Utterance(np.zeros(n, np.float32), [("sil", 0.0, n / SAMPLE_RATE)], SAMPLE_RATE)


_TEXT_POOLS: Dict[str, Dict[str, List[str]]] = {}


def text_pools(text_root: str) -> Dict[str, List[str]]:
    """{language: dialogue lines} for espeak-intl, from fillets-ng under ``text_root`` minus the
    real-speech development transcripts (cached per process)."""
    if text_root not in _TEXT_POOLS:
        from emotalk_ros.training import realspeech

        ex = realspeech.dev_texts(text_root)
        pools = {lang: realspeech.fillets_texts(text_root, lang, ex) for lang in INTL_LANGS}
        pools = {k: v for k, v in pools.items() if v}
        if not pools:
            raise EmotalkError(f"{text_root}: no fillets-ng dialogue found for espeak-intl "
                               f"(install fillets-ng-data or pass --text-root)")
        _TEXT_POOLS[text_root] = pools
    return _TEXT_POOLS[text_root]


def make_clip(seed: int, index: int, engines: Sequence[str] = ("espeak",), augment: bool = True,
              world_fraction: float = WORLD_FRACTION,
              voices: Optional[Dict[str, List[str]]] = None, channel: str = "v1",
              text_root: Optional[str] = None) -> ClipData:
    """Generate clip ``index`` of the corpus with ``seed`` (deterministic).

    ``channel='real'``: pauses of digital silence before, after and between the sentences
    (0.1-1.2 s), then the real-channel augmentation
    (:func:`emotalk_ros.training.synth.augment.augment_real`: breaths in pauses, room,
    microphone, noise, level) instead of the original chain. ``espeak-intl`` clips speak
    dialogue lines of their voice's language from ``text_root``.
    """
    voices = voices or _engine_voices(engines)
    rng = np.random.default_rng([int(seed), int(index)])
    engine = str(engines[int(rng.integers(len(engines)))])
    voice = voices[engine][int(rng.integers(len(voices[engine])))]
    if engine == "espeak-intl":
        pool = text_pools(text_root or "/")[espeak.language_of(voice)]

        def text_of(r, n):
            return " ".join(pool[int(r.integers(len(pool)))] for _ in range(n))
    else:
        text_of = make_text
    base = _base_prosody(rng)
    change = rng.random() < P_CHANGE
    if change:
        a1, k1 = sample_alpha(rng)
        for _ in range(20):
            a2, k2 = sample_alpha(rng)
            if not np.allclose(a1, a2, atol=0.1):
                break
        plan = [(text_of(rng, 1), a1, k1), (text_of(rng, 1), a2, k2)]
        trans = float(rng.uniform(0.2, 0.5))
    else:
        a1, k1 = sample_alpha(rng)
        plan = [(text_of(rng, 1 if rng.random() < 0.6 else 2), a1, k1)]
        trans = 0.0
    aug_seed = int(rng.integers(2 ** 31))
    pauses = rng.uniform(0.1, 1.2, 3) if channel == "real" else None

    parts, pros_list = [], []
    for text, a, _k in plan:
        pros = emotion_prosody(a, base)
        pros_list.append(pros)
        parts.append(_speak(engine, voice, text, pros))
    if pauses is not None:
        mid = [silence_utterance(float(pauses[2]))] if len(parts) > 1 else []
        parts = ([silence_utterance(float(pauses[0]))] + parts[:1] + mid + parts[1:]
                 + [silence_utterance(float(pauses[1]))])
        first_at = 1
    else:
        first_at = 0
    utt = concat_utterances(parts) if len(parts) > 1 else parts[0]
    switch = []
    if len(plan) > 1:
        first = parts[first_at]
        offset = sum(p.duration for p in parts[:first_at])
        speech = [e for p, _s, e in first.phones if p != "sil"]
        switch = [offset + (speech[-1] if speech else first.duration)]

    audio = utt.audio
    augs: List[Dict[str, Any]] = []
    if augment and channel == "real":
        from emotalk_ros.training.synth.augment import augment_real

        audio, augs = augment_real(audio, SAMPLE_RATE, np.random.default_rng(aug_seed),
                                   [(s, e, p) for p, s, e in utt.phones], world_fraction)
    elif augment:
        audio, augs = augment_audio(audio, SAMPLE_RATE, np.random.default_rng(aug_seed),
                                    world_fraction)
    mel = log_mel(audio, FeatureConfig())                               # (T, 40)
    alpha = alpha_track(mel.shape[0], [a for _, a, _ in plan], switch, [trans])  # (T, 7)
    start, end, ids = utt.phone_arrays()
    meta = {
        "index": int(index), "engine": engine, "voice": voice,
        "text": " ".join(t for t, _, _ in plan),
        "segments": [{"text": t, "kind": k, "emotion": {n: round(float(v), 4) for n, v in
                                                          alpha_to_dict(a).items() if v > 0},
                      "prosody": asdict(p)} for (t, a, k), p in zip(plan, pros_list)],
        "change": bool(change), "switch_s": [round(s, 4) for s in switch],
        "transition_s": round(trans, 4), "duration_s": round(audio.size / SAMPLE_RATE, 4),
        "augmentations": augs,
    }
    return ClipData(audio, mel, alpha, start, end, ids, SPEAKER_INDEX[f"{engine}:{voice}"], meta)


# --- shards --------------------------------------------------------------------------------

def _pack(clips: Sequence[ClipData], save_audio: bool) -> Dict[str, np.ndarray]:
    """Clips -> shard arrays (see the module docstring)."""
    def offsets(sizes):
        return np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)

    arr = {
        "mel": np.concatenate([c.mel for c in clips]).astype(np.float16),        # (T, 40)
        "mel_offsets": offsets([c.mel.shape[0] for c in clips]),
        "alpha": np.concatenate([c.alpha for c in clips]).astype(np.float16),    # (T, 7)
        "phone_start": np.concatenate([c.phone_start for c in clips]).astype(np.float32),
        "phone_end": np.concatenate([c.phone_end for c in clips]).astype(np.float32),
        "phone_id": np.concatenate([c.phone_id for c in clips]).astype(np.int16),
        "phone_offsets": offsets([c.phone_id.size for c in clips]),
        "speaker": np.array([c.speaker for c in clips], np.int32),
        "clip_meta": np.array([json.dumps(c.meta, sort_keys=True) for c in clips], dtype=np.str_),
    }
    if save_audio:
        pcm = [np.round(np.clip(c.audio, -1.0, 1.0) * 32767.0).astype(np.int16) for c in clips]
        arr["audio"] = np.concatenate(pcm)
        arr["audio_offsets"] = offsets([p.size for p in pcm])
    return arr


def _slice_shard(arr: Dict[str, np.ndarray], n: int) -> Dict[str, np.ndarray]:
    """The first ``n`` clips of a shard's arrays."""
    out = dict(arr)
    for key, off in (
        ("mel", "mel_offsets"),
        ("alpha", "mel_offsets"),
        ("phone_start", "phone_offsets"),
        ("phone_end", "phone_offsets"),
        ("phone_id", "phone_offsets"),
        ("audio", "audio_offsets"),
    ):
        if key in arr:
            out[key] = arr[key][:arr[off][n]]
    for off in ("mel_offsets", "phone_offsets", "audio_offsets"):
        if off in arr:
            out[off] = arr[off][:n + 1]
    out["speaker"] = arr["speaker"][:n]
    out["clip_meta"] = arr["clip_meta"][:n]
    return out


def shard_path(out_dir: str, k: int) -> str:
    """Path of shard ``k``."""
    return os.path.join(out_dir, f"shard_{k:05d}.npz")


def _save_shard(path: str, arr: Dict[str, np.ndarray]) -> None:
    tmp = path[:-4] + ".tmp.npz"
    np.savez(tmp, **arr)
    os.replace(tmp, path)


def _build_shard(job: Tuple[str, int, int, int, float, Dict[str, Any]]
                 ) -> Tuple[int, List[Tuple[int, int, int]], List[Dict[str, Any]]]:
    """Worker: generate clips [first, first+n), write shard k -> (k, [(samples, frames, phones)],
    metas).

    Stops early once the shard alone holds ``budget_s`` seconds (an upper bound of what
    can still be needed), so a small corpus does not generate a whole shard for nothing;
    the clips it does generate are the same either way.
    """
    out_dir, k, first, n, budget_s, cfg = job
    voices = _engine_voices(cfg["engines"])
    clips: List[ClipData] = []
    got = 0.0
    for i in range(n):
        clips.append(make_clip(cfg["seed"], first + i, cfg["engines"], cfg["augment"],
                               cfg["world_fraction"], voices, cfg.get("channel", "v1"),
                               cfg.get("text_root")))
        got += clips[-1].audio.size / SAMPLE_RATE
        if got >= budget_s:
            break
    _save_shard(shard_path(out_dir, k), _pack(clips, cfg["save_audio"]))
    sizes = [(c.audio.size, c.mel.shape[0], c.phone_id.size) for c in clips]
    return k, sizes, [c.meta for c in clips]


def _summarise(metas: List[Dict[str, Any]]) -> Dict[str, Any]:
    kinds = Counter(s["kind"] for m in metas for s in m["segments"])
    augs = Counter(a["type"] for m in metas for a in m["augmentations"])
    return {
        "engines": dict(Counter(m["engine"] for m in metas)),
        "voices": dict(Counter(f"{m['engine']}:{m['voice']}" for m in metas)),
        "segment_kinds": dict(kinds),
        "emotion_change_clips": int(sum(m["change"] for m in metas)),
        "augmentations": dict(augs),
    }


def build_corpus(out_dir: str, hours: float, seed: int, engines: Sequence[str] = ("espeak",),
                 workers: int = 2, save_audio: bool = False, augment: bool = True,
                 progress: bool = True, clips_per_shard: int = 300,
                 world_fraction: float = WORLD_FRACTION, channel: str = "v1",
                 text_root: Optional[str] = None) -> Dict[str, Any]:
    """Generate ``hours`` of paired data into ``out_dir`` (shards + meta.json) -> the meta dict.

    Deterministic for ``seed`` whatever ``workers`` is: each shard is generated in a fresh
    spawned worker process (which initialises espeak-ng once), so its content depends only
    on (seed, shard index, options). Existing shards in ``out_dir`` are removed first.
    """
    if not hours > 0:
        raise EmotalkError(f"hours must be > 0, got {hours}")
    if workers < 1 or clips_per_shard < 1:
        raise EmotalkError("workers and clips_per_shard must be >= 1")
    engines = tuple(engines)
    voices = _engine_voices(engines)  # validates engines early
    os.makedirs(out_dir, exist_ok=True)
    for name in os.listdir(out_dir):
        if name.startswith("shard_") and name.endswith(".npz") or name == "meta.json":
            os.remove(os.path.join(out_dir, name))
    if channel not in CHANNELS:
        raise EmotalkError(f"channel {channel!r}: use one of {', '.join(CHANNELS)}")
    cfg = {"seed": int(seed), "engines": list(engines), "augment": bool(augment),
           "world_fraction": float(world_fraction) if augment else 0.0,
           "save_audio": bool(save_audio)}
    if channel != "v1":
        cfg["channel"] = channel
    if "espeak-intl" in engines:
        cfg["text_root"] = text_root or "/"
        text_pools(cfg["text_root"])                  # fails early without the text
    target_s = float(hours) * 3600.0
    t0 = time.monotonic()
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=round(target_s), unit="s", desc="synth (audio seconds)")

    def job(k):
        # total_s (finished shards before k) only grows, so this budget is always enough
        return (out_dir, k, k * clips_per_shard, clips_per_shard, target_s - total_s, cfg)

    total_s, metas, shards = 0.0, [], []
    done_s = [0.0, 0]   # audio seconds and clips of the finished shards (for the estimate)
    pool = None
    try:
        # every shard runs in a fresh spawned process: espeak-ng's output depends on what the
        # process synthesised before (see espeak.py), so this makes shards reproducible
        import multiprocessing as mp

        pool = mp.get_context("spawn").Pool(workers, maxtasksperchild=1)
        pending: deque = deque()

        def results() -> Iterator:
            # keep the workers busy, but only with shards that are probably needed: shard k is
            # submitted while its expected start (mean clip length so far) is before the target,
            # or when nothing else is pending
            k = 0
            while True:
                mean_clip = (done_s[0] / done_s[1]) if done_s[1] else PRIOR_CLIP_S
                while len(pending) < 2 * workers and (
                        not pending or k * clips_per_shard * mean_clip < target_s):
                    pending.append(pool.apply_async(_build_shard, (job(k),)))
                    k += 1
                yield pending.popleft().get()

        for k, sizes, clip_metas in results():
            cum = np.cumsum([sz[0] / SAMPLE_RATE for sz in sizes])   # (n,) seconds
            done_s[0] += float(cum[-1])
            done_s[1] += len(sizes)
            done = total_s + cum[-1] >= target_s
            if not done and len(sizes) < clips_per_shard:
                raise EmotalkError(f"shard {k} stopped early without reaching the target")
            n = (
                int(np.searchsorted(cum, target_s - total_s, side="left")) + 1
                if done
                else len(sizes)
            )
            if n < len(sizes):
                with np.load(shard_path(out_dir, k)) as z:
                    _save_shard(shard_path(out_dir, k), _slice_shard(dict(z), n))
            total_s += float(cum[n - 1])
            metas.extend(clip_metas[:n])
            shards.append({"file": os.path.basename(shard_path(out_dir, k)), "clips": n,
                           "hours": float(cum[n - 1]) / 3600.0,
                           "samples": int(sum(sz[0] for sz in sizes[:n])),
                           "frames": int(sum(sz[1] for sz in sizes[:n])),
                           "phones": int(sum(sz[2] for sz in sizes[:n]))})
            if bar is not None:
                bar.update(min(round(float(cum[n - 1])), max(0, bar.total - bar.n)))
            if done:
                break
    finally:
        if pool is not None:
            pool.terminate()
            pool.join()
        if bar is not None:
            bar.close()
    # remove shards computed ahead by the pool beyond the cut
    for name in os.listdir(out_dir):
        if name.startswith("shard_") and name.endswith(".npz") and (
                name.endswith(".tmp.npz") or int(name[6:11]) >= len(shards)):
            os.remove(os.path.join(out_dir, name))
    seconds = time.monotonic() - t0
    meta = {
        "format_version": FORMAT_VERSION,
        "config": dict(cfg, hours_requested=float(hours), clips_per_shard=int(clips_per_shard),
                       workers=int(workers)),
        "features": {"sample_rate": SAMPLE_RATE, "hop": HOP, "frame_rate_hz": FRAME_RATE,
                     "n_mels": FeatureConfig().n_mels},
        "phones": list(PHONES), "emotions": list(EXPRESSIVE), "speakers": speaker_table(),
        "engine_voices": voices,
        "clips": len(metas), "hours": total_s / 3600.0, "shards": shards,
        "counts": _summarise(metas),
        "seconds": seconds, "realtime_factor": total_s / max(seconds, 1e-9),
    }
    with open(os.path.join(out_dir, "meta.json"), "w", encoding="utf-8") as f:
        json.dump(meta, f, indent=1)
    log.info("synth: %.3f h in %d clips, %.1f s (%.0fx real time)", meta["hours"], meta["clips"],
             seconds, meta["realtime_factor"])
    return meta


# --- reader --------------------------------------------------------------------------------

@dataclass
class Clip:
    """One clip read back from a corpus (float32 copies)."""

    mel: np.ndarray              # (T, 40) float32
    alpha: np.ndarray            # (T, 7) float32
    phone_start: np.ndarray      # (P,) float32 s
    phone_end: np.ndarray        # (P,) float32 s
    phone_id: np.ndarray         # (P,) int16
    speaker: int
    meta: Dict[str, Any]
    audio: Optional[np.ndarray]  # (N,) float32 16 kHz, or None


def build_real_corpus(clips: Sequence, alignments: Dict[str, Dict], out_dir: str,
                      copies: int = 1, augment: bool = False, seed: int = 0,
                      save_audio: bool = True, max_cost: float = 2.5,
                      clips_per_shard: int = 300, min_s: float = 0.5,
                      max_s: float = 20.0) -> Dict:
    """Write aligned real clips (:class:`emotalk_ros.training.realspeech.RealClip`, aligned
    by :func:`emotalk_ros.training.realspeech.align_clips`) as a corpus (shards + meta.json
    readable by :class:`Corpus`) -> the meta dict.

    Each clip is written ``copies`` times; with ``augment`` every copy after the first goes
    through :func:`emotalk_ros.training.synth.augment.augment_real` (seeded by seed, clip
    and copy). The emotion track is neutral (zeros). Clips whose alignment cost exceeds
    ``max_cost`` (a transcript that does not match the recording) or whose length is outside
    [min_s, max_s] are left out and listed in ``meta["rejected"]``. ``engine`` in each clip's
    metadata is ``real:<lang>`` and ``voice`` the speaker.
    """
    from emotalk_ros.core.phones import PHONE_INDEX
    from emotalk_ros.training.realspeech import decode, speakers
    from emotalk_ros.training.synth.augment import augment_real

    t0 = time.time()
    os.makedirs(out_dir, exist_ok=True)
    for name in os.listdir(out_dir):
        if name.startswith("shard_") and name.endswith(".npz") or name == "meta.json":
            os.remove(os.path.join(out_dir, name))
    spk_names = sorted({c.speaker for c in clips})
    spk_index = {s: i for i, s in enumerate(spk_names)}
    rejected, kept, shards, buf = [], [], [], []
    total_s = 0.0

    def flush():
        nonlocal buf
        if not buf:
            return
        k = len(shards)
        _save_shard(shard_path(out_dir, k), _pack(buf, save_audio))
        shards.append({"file": os.path.basename(shard_path(out_dir, k)), "clips": len(buf),
                       "hours": sum(c.audio.size for c in buf) / 16000 / 3600,
                       "samples": int(sum(c.audio.size for c in buf)),
                       "frames": int(sum(c.mel.shape[0] for c in buf)),
                       "phones": int(sum(c.phone_id.size for c in buf))})
        buf = []

    for i, c in enumerate(clips):
        al = alignments.get(c.path)
        dur = (al or {}).get("seconds", 0.0)
        if not al or not al["phones"] or al["cost"] > max_cost or not (min_s <= dur <= max_s):
            rejected.append({"clip": c.clip_id, "speaker": c.speaker,
                             "cost": None if not al else al["cost"], "seconds": dur})
            continue
        x = decode(c.path, c.fmt)
        ph = al["phones"]
        start = np.array([p[0] for p in ph], np.float32)
        end = np.array([p[1] for p in ph], np.float32)
        ids = np.array([PHONE_INDEX[p[2]] for p in ph], np.int16)
        for copy in range(copies):
            y, augs = x, []
            if augment and copy > 0:
                y, augs = augment_real(x, 16000, np.random.default_rng([seed, i, copy]),
                                       [(p[0], p[1], p[2]) for p in ph])
            mel = log_mel(y, FeatureConfig())
            meta = {"index": i, "engine": f"real:{c.lang}", "voice": c.speaker,
                    "source": c.source, "clip": c.clip_id, "text": c.text, "copy": copy,
                    "align_cost": al["cost"], "augmentations": augs,
                    "duration_s": round(y.size / 16000, 4), "change": False, "segments": []}
            buf.append(ClipData(y, mel, np.zeros((mel.shape[0], NUM_EXPRESSIVE), np.float32),
                                start, end, ids, spk_index[c.speaker], meta))
            total_s += y.size / 16000
            if len(buf) >= clips_per_shard:
                flush()
        kept.append(c.clip_id)
    flush()
    meta = {"format_version": 1, "kind": "real",
            "config": {"copies": copies, "augment": augment, "seed": seed,
                       "max_cost": max_cost, "min_s": min_s, "max_s": max_s},
            "features": {"sample_rate": 16000, "hop": 160, "frame_rate_hz": 100.0,
                         "n_mels": 40},
            "speakers": spk_names, "languages": sorted({c.lang for c in clips}),
            "clips": sum(s["clips"] for s in shards), "hours": total_s / 3600.0,
            "shards": shards, "rejected": rejected,
            "per_speaker": speakers([c for c in clips if c.clip_id in set(kept)]),
            "seconds": time.time() - t0}
    with open(os.path.join(out_dir, "meta.json"), "w", encoding="utf-8") as f:
        json.dump(meta, f, indent=1)
    return meta


class Corpus:
    """Reader for a directory written by :func:`build_corpus`.

    ``clip(i)`` loads one clip (the last shard used is cached); ``iter_shards()`` yields
    each shard's raw arrays for bulk training access; ``load_arrays(keys)`` concatenates
    chosen arrays over all shards into preallocated arrays with global offsets.
    """

    def __init__(self, path: str):
        meta_path = os.path.join(path, "meta.json")
        if not os.path.exists(meta_path):
            raise EmotalkError(f"{path}: not a corpus directory (no meta.json)")
        with open(meta_path, encoding="utf-8") as f:
            self.meta = json.load(f)
        self.path = path
        self.shards = [os.path.join(path, s["file"]) for s in self.meta["shards"]]
        counts = [int(s["clips"]) for s in self.meta["shards"]]
        self._first = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)  # (S+1,)
        self._cache: Tuple[int, Optional[Dict[str, np.ndarray]]] = (-1, None)

    def __len__(self) -> int:
        return int(self._first[-1])

    @property
    def hours(self) -> float:
        """Total audio duration in hours."""
        return float(self.meta["hours"])

    def _shard(self, k: int) -> Dict[str, np.ndarray]:
        if self._cache[0] != k:
            with np.load(self.shards[k]) as z:
                self._cache = (k, {key: z[key] for key in z.files})
        return self._cache[1]

    def clip(self, i: int) -> Clip:
        """Clip ``i`` (0 <= i < len)."""
        if not 0 <= i < len(self):
            raise EmotalkError(f"clip index {i} out of range (corpus has {len(self)} clips)")
        k = int(np.searchsorted(self._first, i, side="right")) - 1
        j = i - int(self._first[k])
        z = self._shard(k)
        m0, m1 = z["mel_offsets"][j], z["mel_offsets"][j + 1]
        p0, p1 = z["phone_offsets"][j], z["phone_offsets"][j + 1]
        audio = None
        if "audio" in z:
            a0, a1 = z["audio_offsets"][j], z["audio_offsets"][j + 1]
            audio = z["audio"][a0:a1].astype(np.float32) / 32767.0
        return Clip(
            mel=z["mel"][m0:m1].astype(np.float32),
            alpha=z["alpha"][m0:m1].astype(np.float32),
            phone_start=z["phone_start"][p0:p1].copy(),
            phone_end=z["phone_end"][p0:p1].copy(),
            phone_id=z["phone_id"][p0:p1].copy(),
            speaker=int(z["speaker"][j]),
            meta=json.loads(str(z["clip_meta"][j])),
            audio=audio,
        )

    def iter_shards(self, keys: Optional[Sequence[str]] = None) -> Iterator[Dict[str, np.ndarray]]:
        """Yield each shard's raw arrays (float16 mel/alpha, local offsets), optionally only
        ``keys``."""
        for p in self.shards:
            with np.load(p) as z:
                yield {key: z[key] for key in (keys or z.files)}

    def load_arrays(self, keys: Sequence[str] = ("mel", "alpha", "phone_start", "phone_end",
                                                  "phone_id", "speaker")) -> Dict[str, np.ndarray]:
        """Concatenate ``keys`` over all shards (raw dtypes) with global ``*_offsets`` (N+1,).

        Sizes come from meta.json, so the result is preallocated and each shard is read
        once: peak memory is the result plus one shard (about 600 MB for 20 h of mel+alpha).
        """
        per_row = {
            "mel": "frames",
            "alpha": "frames",
            "phone_start": "phones",
            "phone_end": "phones",
            "phone_id": "phones",
            "speaker": "clips",
            "clip_meta": "clips",
            "audio": "samples",
        }
        for key in keys:
            if key not in per_row:
                raise EmotalkError(f"unknown corpus array {key!r}; use {', '.join(per_row)}")
        total = {u: sum(int(s[u]) for s in self.meta["shards"]) for u in set(per_row.values())}
        offset_of = {
            "mel": "mel_offsets",
            "alpha": "mel_offsets",
            "phone_start": "phone_offsets",
            "phone_end": "phone_offsets",
            "phone_id": "phone_offsets",
            "audio": "audio_offsets",
        }
        offs = sorted({offset_of[k] for k in keys if k in offset_of})
        out: Dict[str, np.ndarray] = {o: np.zeros(len(self) + 1, np.int64) for o in offs}
        pos = {key: 0 for key in keys}
        for k, z in enumerate(self.iter_shards(list(keys) + offs)):
            c0 = int(self._first[k])
            for key in keys:
                a = z[key]
                if key not in out:
                    out[key] = np.empty((total[per_row[key]],) + a.shape[1:], a.dtype)
                out[key][pos[key]:pos[key] + a.shape[0]] = a
                pos[key] += a.shape[0]
            for o in offs:
                local = z[o].astype(np.int64)                     # (n+1,)
                out[o][c0 + 1:c0 + local.size] = out[o][c0] + local[1:]
        return out
