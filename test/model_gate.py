"""The quality gate of a generator model: lip sync and emotion on speech with known phone timings.

A fixed set of sentences, spoken by espeak-ng (in-process, the training engine, with voices
and sentences of its own here) and by Flite and Festival (command lines, engines never used
in training), each followed by a pause of silence. Every clip carries the engine's own phone
timings, so the right answer is known frame by frame. :func:`run_gate` scores a
:class:`~emotalk_ros.generator.predictor.StreamingPredictor` on them:

* lips: bilabial closure /p b m/ >= 0.9 (pooled and per engine), open-vowel opening >= 0.9,
  aperture correlation above the amplitude-to-jaw baseline's on the same clips by
  ``CORRELATION_MARGIN``, the mouth at rest in pauses (normalised silence closure <= 0.10
  and a small absolute aperture);
* emotion: each emotion's FACS group mean rises strictly over intensities 0, 0.25, ... 1,
  by at least ``metrics.RESPONSE_MARGIN`` in all, and the lips still close on /p b m/ at
  full intensity (>= 0.9).

Metrics are those of ``emotalk evaluate`` (:mod:`emotalk_ros.training.metrics`). The
thresholds are the model card's targets; a model that only moves the jaw with loudness,
one with random weights, or one whose mouth never closes fails them (the tests prove it).
"""

from __future__ import annotations

import glob
import os
import shutil
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from emotalk_ros.core.blendshapes import INDEX, aperture
from emotalk_ros.core.emotions import EXPRESSIVE, group_index
from emotalk_ros.training import metrics

FPS = 60.0
BILABIAL_MIN = 0.90            # pooled and per engine
OPEN_VOWEL_MIN = 0.90
CORRELATION_MARGIN = 0.05      # above the amplitude baseline on the same clips
SILENCE_MAX = 0.10             # normalised aperture in pauses (evaluate's silence closure)
PAUSE_APERTURE_MAX = 0.05      # absolute aperture in the trailing pause (blendshape units)
LEVELS = (0.0, 0.25, 0.5, 0.75, 1.0)
FULL_INTENSITY_CLOSURE_MIN = 0.90
BACKEND_TOLERANCE = 1e-4       # torch against onnxruntime, per blendshape value
PAUSE_S = 0.6                  # silence appended to every clip

# (engine, voice, text): bilabials, open vowels and phrase breaks in every sentence
SENTENCES: Tuple[Tuple[str, str, str], ...] = (
    ("espeak", "en-us", "Papa made a banana pie, but Bob ate my apple."),
    ("espeak", "en-gb-x-rp+f3", "Mama, buy me a big blue map, maybe."),
    ("espeak", "en-us+m7", "Park the bike by the barn, and come back home."),
    ("espeak", "en-029", "My mom bought a palm lamp at the market."),
    ("flite", "slt", "Papa made a banana pie, but Bob ate my apple."),
    ("flite", "rms", "Bring the map, Pam, and maybe a cup of hot milk."),
    ("flite", "awb", "Bob's big boat bumped the dock at dawn."),
    ("flite", "slt", "Park the bike by the barn, and come back home."),
    ("festival", "kal_diphone", "Mama, buy me a big blue map, maybe."),
    ("festival", "cmu_us_slt_arctic_hts", "My mom bought a palm lamp at the market."),
)
ENGINES = ("espeak", "flite", "festival")


@dataclass
class GateClip:
    """One gate clip: 16 kHz audio and its phones [(start s, end s, ARPAbet)], pause at the end."""

    engine: str
    voice: str
    text: str
    audio: np.ndarray                          # (N,) float32, 16 kHz
    phones: List[Tuple[float, float, str]]
    pause: Tuple[float, float]                 # the appended silence (start s, end s)


def _synthesize(engine: str, voice: str, text: str):
    if engine == "espeak":
        from emotalk_ros.speech.espeak import synthesize

        return synthesize(text, voice)
    from emotalk_ros.speech.engines import synthesize

    return synthesize(engine, text, voice)


def missing_engines() -> List[str]:
    """Gate engines that are not installed here (espeak-ng runs in-process, the others are
    command lines)."""
    return [e for e in ("flite", "festival") if shutil.which(e) is None]


def build_corpus() -> List[GateClip]:
    """Synthesise every gate sentence (about 5 s on one core) -> clips, in SENTENCES order."""
    from emotalk_ros.speech.utterance import Utterance, concat_utterances

    out = []
    for engine, voice, text in SENTENCES:
        u = _synthesize(engine, voice, text)
        n = int(PAUSE_S * u.sample_rate)
        pause = Utterance(np.zeros(n, np.float32), [("sil", 0.0, PAUSE_S)], u.sample_rate)
        full = concat_utterances([u, pause])
        phones = [(float(s), float(e), p) for p, s, e in full.phones]
        out.append(GateClip(engine, voice, text, full.audio.astype(np.float32), phones,
                            (u.duration, full.duration)))
    return out


def shipped_generators(models_dir: str) -> List[Tuple[str, str, str]]:
    """Every shipped generator: (name, .onnx path, .pt path) for each ``*.onnx`` with a ``.pt``
    of the same stem in ``models_dir``, sorted by name."""
    out = []
    for onnx in sorted(glob.glob(os.path.join(models_dir, "*.onnx"))):
        pt = os.path.splitext(onnx)[0] + ".pt"
        if os.path.isfile(pt):
            out.append((os.path.splitext(os.path.basename(onnx))[0], onnx, pt))
    return out


def load(path: str, backend: str):
    """A predictor at the gate's frame rate: ``backend`` 'torch' (a .pt) or 'onnxruntime'."""
    if backend == "torch":
        from emotalk_ros.generator import checkpoint
        from emotalk_ros.generator.backends import TorchPredictor

        return TorchPredictor(checkpoint.load(path), fps=FPS, device="cpu", threads=1)
    from emotalk_ros.generator.backends import OnnxPredictor

    return OnnxPredictor(path, fps=FPS, threads=1)


def frames(pred, clip: GateClip, alpha=None, chunk: Optional[int] = None) -> np.ndarray:
    """The predictor's frames (T, 52) for ``clip`` with a constant (7,) emotion (None =
    neutral)."""
    return pred.animate(clip.audio, alpha, chunk=chunk).values


def _onehot(k: int, a: float) -> np.ndarray:
    v = np.zeros(len(EXPRESSIVE), np.float32)
    v[k] = a
    return v


def lip_scores(pred, clips: Sequence[GateClip], alpha=None) -> Dict[str, Dict[str, object]]:
    """Pooled ('all') and per-engine :func:`metrics.aggregate` of the clips' lip metrics, plus
    'pause_aperture': the largest mean absolute aperture in a trailing pause (trimmed 0.15 s
    at each end)."""
    per: Dict[str, List[dict]] = {}
    worst_pause = 0.0
    for c in clips:
        fr = frames(pred, c, alpha)
        per.setdefault(c.engine, []).append(metrics.lip_sync_metrics(fr, FPS, c.phones))
        t = np.arange(fr.shape[0]) / FPS
        inside = (t >= c.pause[0] + 0.15) & (t <= c.pause[1] - 0.15)
        if inside.any():
            worst_pause = max(worst_pause, float(aperture(fr[inside]).mean()))
    out: Dict[str, Dict[str, object]] = {e: metrics.aggregate(v) for e, v in per.items()}
    out["all"] = metrics.aggregate([d for v in per.values() for d in v])
    out["all"]["pause_aperture"] = worst_pause
    return out


def emotion_clips(clips: Sequence[GateClip]) -> List[GateClip]:
    """The clips the emotion checks use: the first of each engine."""
    seen, out = set(), []
    for c in clips:
        if c.engine not in seen:
            seen.add(c.engine)
            out.append(c)
    return out


def emotion_scores(pred, clips: Sequence[GateClip]) -> Dict[str, Dict[str, object]]:
    """Per emotion: FACS group mean at each of LEVELS (averaged over the clips) and the
    pooled bilabial closure at full intensity."""
    out = {}
    for k, emo in enumerate(EXPRESSIVE):
        idx = group_index(emo)
        means, full = [], None
        for a in LEVELS:
            fr = [frames(pred, c, _onehot(k, a)) for c in clips]
            means.append(float(np.mean([f[:, idx].mean() for f in fr])))
            if a == 1.0:
                full = metrics.aggregate([metrics.lip_sync_metrics(f, FPS, c.phones)
                                          for f, c in zip(fr, clips, strict=True)])
        out[emo] = {"means": means, "closure_full": full["bilabial_closure"],
                    "n_bilabial": full["n_bilabial"]}
    return out


@dataclass
class GateResult:
    """What :func:`run_gate` found: ``failures`` (empty = the model passes) and the scores."""

    failures: List[str] = field(default_factory=list)
    lip: Dict[str, Dict[str, object]] = field(default_factory=dict)
    emotion: Dict[str, Dict[str, object]] = field(default_factory=dict)

    def summary(self) -> str:
        """One line per score, for assertion messages."""
        a = self.lip["all"]
        lines = [f"pooled: closure {a['bilabial_closure']:.3f} ({a['n_bilabial']}), open vowels "
                 f"{a['open_vowel_opening']:.3f}, correlation {a['aperture_correlation']:.3f}, "
                 f"silence {a['silence_closure']:.3f}, pause aperture {a['pause_aperture']:.3f}"]
        lines += [f"{e}: means {np.round(s['means'], 3).tolist()}, closure at 1 "
                  f"{s['closure_full']}" for e, s in self.emotion.items()]
        return "\n".join(lines + self.failures)


def _low(v, lo) -> bool:
    return v is None or not (v >= lo)


def run_gate(pred, clips: Sequence[GateClip], baseline_correlation: float) -> GateResult:
    """Score ``pred`` on the gate clips against the targets -> :class:`GateResult`.

    ``baseline_correlation``: the amplitude baseline's pooled aperture correlation on the
    same clips (:func:`lip_scores` of ``AmplitudeJawBaseline``).
    """
    res = GateResult(lip=lip_scores(pred, clips))
    a = res.lip["all"]
    fail = res.failures.append
    if _low(a["bilabial_closure"], BILABIAL_MIN):
        fail(f"bilabial closure {a['bilabial_closure']} < {BILABIAL_MIN}")
    for e in ENGINES:
        if e in res.lip and _low(res.lip[e]["bilabial_closure"], BILABIAL_MIN):
            fail(f"bilabial closure on {e} {res.lip[e]['bilabial_closure']} < {BILABIAL_MIN}")
    if _low(a["open_vowel_opening"], OPEN_VOWEL_MIN):
        fail(f"open-vowel opening {a['open_vowel_opening']} < {OPEN_VOWEL_MIN}")
    if _low(a["aperture_correlation"], baseline_correlation + CORRELATION_MARGIN):
        fail(f"aperture correlation {a['aperture_correlation']} not above the amplitude "
             f"baseline's {baseline_correlation:.3f} by {CORRELATION_MARGIN}")
    if a["silence_closure"] is None or not (a["silence_closure"] <= SILENCE_MAX):
        fail(f"silence closure {a['silence_closure']} > {SILENCE_MAX}")
    if not (a["pause_aperture"] <= PAUSE_APERTURE_MAX):
        fail(f"mouth not at rest in pauses: aperture {a['pause_aperture']:.3f} > "
             f"{PAUSE_APERTURE_MAX}")
    res.emotion = emotion_scores(pred, emotion_clips(clips))
    for emo, s in res.emotion.items():
        m = np.asarray(s["means"])
        if not (np.all(np.diff(m) > 0) and m[-1] - m[0] >= metrics.RESPONSE_MARGIN):
            fail(f"{emo}: FACS group does not rise monotonically by {metrics.RESPONSE_MARGIN}: "
                 f"{np.round(m, 3).tolist()}")
        if _low(s["closure_full"], FULL_INTENSITY_CLOSURE_MIN):
            fail(f"{emo} at full intensity: bilabial closure {s['closure_full']} < "
                 f"{FULL_INTENSITY_CLOSURE_MIN}")
    return res


def force_mouth_open(pred, jaw: float = 0.6):
    """Break ``pred`` in place the way a mouth-always-open model would: jawOpen >= ``jaw`` and
    mouthClose = 0 on every network frame. Returns ``pred``."""
    inner = pred._network

    def network(feats, alpha):
        y = np.array(inner(feats, alpha), np.float32)                # (N, 52)
        y[:, INDEX["jawOpen"]] = np.maximum(y[:, INDEX["jawOpen"]], jaw)
        y[:, INDEX["mouthClose"]] = 0.0
        return y

    pred._network = network
    return pred


def random_weights(ckpt: Dict, seed: int = 0) -> Dict:
    """A copy of checkpoint ``ckpt`` with freshly initialised generator weights (same config,
    same feature normalisation and emotion space): a model that learned nothing."""
    import torch

    from emotalk_ros.generator.model import Generator, GeneratorConfig

    torch.manual_seed(seed)
    gen = Generator(GeneratorConfig.from_dict(ckpt["generator_config"]))
    sd = gen.state_dict()
    for k in ("feat_mean", "feat_std"):
        if k in sd and k in ckpt["generator"]:
            sd[k] = ckpt["generator"][k].clone()
    return dict(ckpt, generator=sd)
