"""``emotalk evaluate``: lip-sync and emotion metrics on held-out voices.

The metrics are defined in docs/INTERFACE.md (Metrics).

Three systems are scored in the same run, side by side:

* ``model``: the generator (``--model``, default the shipped one; ``baseline`` is valid),
  driven with each clip's own emotion track;
* ``baseline``: the amplitude-to-jaw baseline
(:class:`~emotalk_ros.generator.predictor.AmplitudeJawBaseline`);
* ``teacher``: the procedural teacher rendered on each clip's own phone timings.

Measured: lip metrics per engine and pooled (:func:`metrics.aggregate`); the emotion
response of every emotion (a fixed neutral-prosody clip driven at intensity 0, 0.1, ..., 1);
continuity of that sweep; bilabial closure at full intensity of each emotion against
neutral; jitter. When a voice emotion model exists (``--voice-model``, default the shipped
``models/voice_emotion.npz``), the detector is scored on the same held-out corpus (frame
accuracy, macro-F1, switches per minute, per engine and pooled) next to a majority-class
baseline (:func:`evaluate_voice`). The results are checked against the quality targets
below, printed as a PASS/FAIL table, and written as a markdown report with PNG plots plus a
JSON file next to the report.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from emotalk_ros.animation import teacher
from emotalk_ros.core.emotions import EXPRESSIVE, EXPRESSIVE_INDEX, NUM_EXPRESSIVE
from emotalk_ros.core.phones import PHONES, VOWELS
from emotalk_ros.errors import EmotalkError
from emotalk_ros.generator.predictor import AmplitudeJawBaseline, StreamingPredictor
from emotalk_ros.training import metrics

log = logging.getLogger(__name__)

ALPHA_RATE = 100.0                       # corpus emotion tracks are at 100 Hz
SWEEP = np.round(np.linspace(0.0, 1.0, 11), 2)   # continuity sweep; 0, 0.5, 1 are in it
SYSTEMS = ("model", "baseline", "teacher")

# Quality targets of the shipped generator on held-out voices.
TARGET_BILABIAL = 0.90
TARGET_SILENCE = 0.10
TARGET_CORRELATION = 0.6
TARGET_CLOSURE_DROP = 0.05               # closure at full intensity within this of neutral
TARGET_JITTER_FACTOR = 1.5               # jitter <= teacher * this
NEUTRAL_TOLERANCE = 0.05                 # alpha=0 group means within this of the teacher's


# --------------------------------------------------------------------------------------------
# Systems: (audio, phones, alpha track) -> frames at fps
# --------------------------------------------------------------------------------------------
@dataclass
class Utterance:
    """One evaluation clip: 16 kHz audio, phones, emotion track and where it came from."""

    audio: np.ndarray            # (N,) float32, 16 kHz
    phone_start: np.ndarray      # (P,) float seconds
    phone_end: np.ndarray        # (P,) float seconds
    phone_id: np.ndarray         # (P,) int into PHONES
    alpha: np.ndarray            # (T, 7) float32 at 100 Hz
    engine: str
    voice: str
    index: int

    @property
    def duration(self) -> float:
        """Length of the audio in s."""
        return self.audio.shape[0] / 16000.0

    @property
    def phones(self) -> List[Tuple[float, float, str]]:
        """(start s, end s, phone name) per phone."""
        return [(float(s), float(e), PHONES[int(p)])
                for s, e, p in zip(self.phone_start, self.phone_end, self.phone_id, strict=True)]

    def with_alpha(self, alpha7: np.ndarray) -> "Utterance":
        """A copy driven by a constant (7,) emotion vector."""
        a = np.broadcast_to(np.asarray(alpha7, np.float32), self.alpha.shape).copy()
        return Utterance(self.audio, self.phone_start, self.phone_end, self.phone_id, a,
                         self.engine, self.voice, self.index)


def _alpha_at(alpha100: np.ndarray, times: np.ndarray) -> np.ndarray:
    """Emotion track (T, 7) at 100 Hz evaluated at ``times`` (N,) s -> (N, 7) (linear, held at
    ends)."""
    if alpha100.shape[0] == 0:
        return np.zeros((times.shape[0], NUM_EXPRESSIVE), np.float32)
    t100 = np.arange(alpha100.shape[0]) / ALPHA_RATE
    return np.stack([np.interp(times, t100, alpha100[:, k]) for k in range(NUM_EXPRESSIVE)],
                    axis=1).astype(np.float32)


System = Callable[[Utterance], np.ndarray]


def predictor_system(pred: StreamingPredictor) -> System:
    """A streaming predictor as a system: offline ``animate`` with the clip's emotion track."""
    def run(u: Utterance) -> np.ndarray:
        return pred.animate(u.audio, emotion=lambda t: _alpha_at(u.alpha, t)).values   # (N, 52)
    return run


def teacher_system(fps: float) -> System:
    """The procedural teacher on the clip's own phones, at ``fps``, one frame per output frame."""
    def run(u: Utterance) -> np.ndarray:
        n = int(math.ceil(u.duration * fps - 1e-9))
        alpha = _alpha_at(u.alpha, np.arange(n) / fps)                                 # (n, 7)
        return teacher.render(u.phone_start, u.phone_end, u.phone_id, alpha, rate=fps)
    return run


# --------------------------------------------------------------------------------------------
# Corpus access
# --------------------------------------------------------------------------------------------
def open_corpus(path: str):
    """The held-out corpus at ``path`` (``emotalk_ros.training.synth.corpus.Corpus``)."""
    if not os.path.isdir(path):
        raise EmotalkError(f"--data {path}: not a corpus directory (write one with "
                           f"`emotalk synth --engines flite,festival --save-audio`)")
    try:
        from emotalk_ros.training.synth.corpus import Corpus
    except ImportError as exc:
        raise EmotalkError(f"the corpus reader is not available in this build ({exc})") from None
    return Corpus(path)


def load_utterances(corpus, max_clips: Optional[int]) -> List[Utterance]:
    """Up to ``max_clips`` clips spread evenly over the corpus (so every engine is sampled)."""
    n = len(corpus)
    if n == 0:
        raise EmotalkError("the corpus is empty")
    k = n if not max_clips or max_clips >= n else max_clips
    idx = np.unique(np.linspace(0, n - 1, k).round().astype(np.int64))
    out = []
    for i in idx:
        c = corpus.clip(int(i))
        if c.audio is None:
            raise EmotalkError(
                "the corpus has no audio; rebuild it with `emotalk synth --save-audio`"
            )
        meta = c.meta or {}
        out.append(
            Utterance(
                np.asarray(c.audio, np.float32),
                np.asarray(c.phone_start, np.float64),
                np.asarray(c.phone_end, np.float64),
                np.asarray(c.phone_id, np.int64),
                np.asarray(c.alpha, np.float32),
                str(meta.get("engine", "unknown")),
                str(meta.get("voice", "")),
                int(i),
            )
        )
    return out


def pick_neutral(utts: Sequence[Utterance]) -> Utterance:
    """The first clip with neutral prosody (emotion track ~0), else the first clip."""
    for u in utts:
        if u.alpha.size == 0 or float(np.abs(u.alpha).max()) <= 0.05:
            return u
    return utts[0]


# --------------------------------------------------------------------------------------------
# Evaluation
# --------------------------------------------------------------------------------------------
def _onehot(emotion: str, intensity: float) -> np.ndarray:
    a = np.zeros(NUM_EXPRESSIVE, np.float32)
    a[EXPRESSIVE_INDEX[emotion]] = intensity
    return a


def evaluate(utts: Sequence[Utterance], systems: Dict[str, System], fps: float,
             emotion_clips: int = 12, keep_frames: bool = True) -> Dict[str, object]:
    """Run every metric for every system. Returns a JSON-ready dict (see :func:`write_report`).

    utts: evaluation clips; systems: name -> system (must include 'teacher' for the
    neutral-level and jitter references); fps: the systems' output rate.
    """
    if "teacher" not in systems:
        raise EmotalkError("evaluate needs the teacher system as the reference")
    res: Dict[str, object] = {"fps": fps, "n_clips": len(utts),
                              "engines": sorted({u.engine for u in utts}), "systems": {}}
    plot_clips: Dict[str, int] = {}
    for k, u in enumerate(utts):
        plot_clips.setdefault(u.engine, k)
    plot_data: Dict[str, Dict[str, object]] = {e: {"clip": utts[k].index, "phones": utts[k].phones}
                                               for e, k in plot_clips.items()}
    neutral_clip = pick_neutral(utts)
    res["neutral_clip"] = neutral_clip.index
    sub = list(utts[:max(1, emotion_clips)])
    for name, system in systems.items():
        t0 = time.monotonic()
        per_engine: Dict[str, List[dict]] = {}
        jit_sum, jit_n = 0.0, 0
        for k, u in enumerate(utts):
            fr = system(u)
            per_engine.setdefault(u.engine, []).append(metrics.lip_sync_metrics(fr, fps, u.phones))
            nf = fr.shape[0]
            jit_sum += metrics.jitter(fr, fps) * nf
            jit_n += nf
            if keep_frames and plot_clips.get(u.engine) == k:
                ap = metrics.aperture(fr)
                plot_data[u.engine].setdefault("aperture", {})[name] = \
                    (ap / _vowel_scale(ap, fps, u.phones)).tolist()
        lip = {e: metrics.aggregate(v) for e, v in per_engine.items()}
        pooled = metrics.aggregate([d for v in per_engine.values() for d in v])

        sweep = {}
        for emo in EXPRESSIVE:
            sweep[emo] = [
                metrics.emotion_group_mean(system(neutral_clip.with_alpha(_onehot(emo, a))), emo)
                for a in SWEEP
            ]
        at_zero = system(neutral_clip.with_alpha(np.zeros(NUM_EXPRESSIVE)))
        neutral_levels = {emo: metrics.emotion_group_mean(at_zero, emo) for emo in EXPRESSIVE}

        full = {"neutral": metrics.aggregate([
            metrics.lip_sync_metrics(system(u.with_alpha(np.zeros(NUM_EXPRESSIVE))), fps, u.phones)
            for u in sub])}
        for emo in EXPRESSIVE:
            full[emo] = metrics.aggregate([
                metrics.lip_sync_metrics(system(u.with_alpha(_onehot(emo, 1.0))), fps, u.phones)
                for u in sub])
        res["systems"][name] = {
            "lip": {"pooled": pooled, "per_engine": lip},
            "jitter": jit_sum / max(jit_n, 1),
            "sweep": sweep, "neutral_levels": neutral_levels,
            "full_intensity": full, "seconds": time.monotonic() - t0,
        }
        log.info("evaluated %s on %d clips in %.1f s", name, len(utts), time.monotonic() - t0)
    res["checks"] = {name: _checks(res, name) for name in systems}
    if keep_frames:
        res["plot_data"] = plot_data
    return res


def evaluate_voice(model_path: str, data_dir: str) -> Dict[str, object]:
    """The voice emotion detector on a held-out corpus (shards with log-mel and emotion tracks).

    Per engine and pooled: :func:`emotalk_ros.emotion.voice.evaluate_voice_emotion` (smoothed
    labels every 20 ms: frame accuracy, macro-F1, switches/min, raw detector scores) and a
    majority-class baseline (always the most frequent true class of the evaluated frames: an
    optimistic baseline, since it peeks at the test labels; it never switches).
    """
    from emotalk_ros.emotion.voice import (
        VoiceEmotionDetector,
        evaluate_voice_emotion,
        labels_from_alpha,
        macro_f1,
    )
    from emotalk_ros.training.voice_train import load_clips

    det = VoiceEmotionDetector.from_file(model_path)
    clips = load_clips(data_dir)
    groups: Dict[str, list] = {}
    for c in clips:
        groups.setdefault(str(c.meta.get("engine", "unknown")), []).append(c)
    groups["all"] = clips
    out: Dict[str, object] = {"model": model_path, "data": data_dir, "engines": {}}
    hop = det.cfg.hop_frames
    for eng, cs in groups.items():
        m = evaluate_voice_emotion(det, cs)
        truth = np.concatenate([labels_from_alpha(c.alpha[::hop])[c.mask[::hop]] for c in cs])
        maj = int(np.bincount(truth).argmax())
        pred = np.full_like(truth, maj)
        out["engines"][eng] = {
            "clips": len(cs), "minutes": m["minutes"],
            "model": {k: m[k] for k in ("frame_accuracy", "macro_f1", "switches_per_min",
                                        "extra_switches_per_min", "raw_frame_accuracy",
                                        "raw_macro_f1")},
            "majority": {"label": maj, "frame_accuracy": float(np.mean(truth == maj)),
                         "macro_f1": macro_f1(truth, pred), "switches_per_min": 0.0},
            "confusion": m["confusion"]}
    return out


def _voice_markdown(v: Dict[str, object]) -> List[str]:
    from emotalk_ros.core.emotions import EMOTIONS

    md = ["", "## Voice emotion", "",
          f"Detector `{v['model']}` on the held-out corpus `{v['data']}` (voices and engines "
          "not used in training). Scores use the smoothed label every 20 ms (what the face "
          "shows); `raw` is the detector's argmax. The majority baseline always answers the "
          "most frequent true class of the evaluated frames (it peeks at the labels).", "",
          "| engine | clips | min | accuracy | macro-F1 | switches/min | raw accuracy | "
          "raw macro-F1 | majority class | majority accuracy | majority macro-F1 |",
          "|---|---|---|---|---|---|---|---|---|---|---|"]
    for eng, d in v["engines"].items():
        m, b = d["model"], d["majority"]
        md.append(f"| {eng} | {d['clips']} | {d['minutes']:.1f} | {m['frame_accuracy']:.3f} | "
                  f"{m['macro_f1']:.3f} | {m['switches_per_min']:.2f} | "
                  f"{m['raw_frame_accuracy']:.3f} | {m['raw_macro_f1']:.3f} | "
                  f"{EMOTIONS[b['label']]} | {b['frame_accuracy']:.3f} | {b['macro_f1']:.3f} |")
    conf = v["engines"]["all"]["confusion"]
    md += ["", "Confusion (all engines; rows = truth, columns = smoothed label):", "",
           "| truth \\ label | " + " | ".join(EMOTIONS) + " |", "|---|" + "---|" * len(EMOTIONS)]
    md += [f"| {EMOTIONS[i]} | " + " | ".join(str(x) for x in row) + " |"
           for i, row in enumerate(conf)]
    a = v["engines"]["all"]
    m, b = a["model"], a["majority"]
    recalled = [
        EMOTIONS[i]
        for i, row in enumerate(conf)
        if i > 0 and sum(row) and row[i] / sum(row) >= 0.1
    ]
    md += [
        "",
        "**How far synthetic prosody carries.** The detector is trained on espeak-ng "
        "prosody only (pitch, range, rate and loudness varied per emotion). On these other "
        f"synthetic engines its macro-F1 is {m['macro_f1']:.3f} against {b['macro_f1']:.3f} for "
        f"always answering '{EMOTIONS[b['label']]}', and its frame accuracy "
        f"{m['frame_accuracy']:.3f} "
        f"is {'below' if m['frame_accuracy'] < b['frame_accuracy'] else 'above'} that baseline's "
        f"{b['frame_accuracy']:.3f}; emotions recalled on at least 10 % of their frames: "
        f"{', '.join(recalled) if recalled else 'none'}. Real speech differs from both engines "
        "far "
        "more than they differ from each other, so expect no better on real voices: treat "
        "`emotion.source: voice` as experimental, prefer `blend` with a low `voice_blend`, or "
        "retrain on labelled recordings (`emotalk train-voice DIR` with a `labels.csv`).",
    ]
    return md


def _vowel_scale(ap: np.ndarray, fps: float, phones) -> float:
    """The metric's per-utterance normaliser (vowel-frame p90 of the aperture, floored)."""
    lab = metrics._frame_phones(ap.shape[0], fps, phones)
    v = np.array([p in VOWELS for p in lab])
    base = ap[v] if v.any() else ap
    return max(float(np.percentile(base, 90)), metrics.MIN_SCALE) if base.size else 1.0


def _checks(res: Dict[str, object], name: str) -> List[Dict[str, object]]:
    """The quality targets for system ``name`` -> [{check, target, value, pass}, ...]."""
    s = res["systems"][name]
    ref = res["systems"]["teacher"]
    pooled = s["lip"]["pooled"]
    rows: List[Dict[str, object]] = []

    def add(check, target, value, ok, detail=""):
        rows.append({"check": check, "target": target, "value": value, "pass": bool(ok),
                     "detail": detail})

    bc, sc, cr = (
        pooled["bilabial_closure"],
        pooled["silence_closure"],
        pooled["aperture_correlation"],
    )
    add("bilabial closure", f">= {TARGET_BILABIAL}", bc, bc is not None and bc >= TARGET_BILABIAL,
        " ".join(f"/{p}/ {_fmt(pooled[f'bilabial_closure_{p}'])}" for p in "pbm"))
    add("silence closure", f"<= {TARGET_SILENCE}", sc, sc is not None and sc <= TARGET_SILENCE)
    add("aperture correlation", f">= {TARGET_CORRELATION}", cr,
        cr is not None and cr >= TARGET_CORRELATION)
    responses = {}
    for emo in EXPRESSIVE:
        sw = s["sweep"][emo]
        responses[emo] = metrics.emotion_response([sw[0], sw[5], sw[10]])
    neutral_ok = all(s["neutral_levels"][e] <= ref["neutral_levels"][e] + NEUTRAL_TOLERANCE
                     for e in EXPRESSIVE)
    n_resp = sum(ok for ok, _ in responses.values()) + int(neutral_ok)
    add("emotion response", "8/8", f"{n_resp}/8", n_resp == 8,
        ", ".join(e for e, (ok, _) in responses.items() if not ok)
        + ("" if neutral_ok else " neutral"))
    cont = {emo: metrics.continuity(s["sweep"][emo]) for emo in EXPRESSIVE}
    n_cont = sum(ok for ok, _ in cont.values())
    add("continuity", f"{len(EXPRESSIVE)}/{len(EXPRESSIVE)}", f"{n_cont}/{len(EXPRESSIVE)}",
        n_cont == len(EXPRESSIVE),
        "max step/mean step " + ", ".join(f"{e} {r:.2f}" for e, (_, r) in cont.items()))
    base = s["full_intensity"]["neutral"]["bilabial_closure"]
    drops = {}
    for emo in EXPRESSIVE:
        v = s["full_intensity"][emo]["bilabial_closure"]
        drops[emo] = None if (v is None or base is None) else base - v
    n_hold = sum(d is not None and d <= TARGET_CLOSURE_DROP for d in drops.values())
    add("closure at full intensity", f"{len(EXPRESSIVE)}/{len(EXPRESSIVE)} within "
        f"{TARGET_CLOSURE_DROP} of neutral", f"{n_hold}/{len(EXPRESSIVE)}",
        n_hold == len(EXPRESSIVE),
        "drop " + ", ".join(f"{e} {_fmt(d)}" for e, d in drops.items()))
    jt, jref = s["jitter"], ref["jitter"]
    add("jitter", f"<= teacher x {TARGET_JITTER_FACTOR}", jt,
        jt <= TARGET_JITTER_FACTOR * jref + 1e-12, f"teacher {jref:.5f}")
    add("open-vowel opening (info)", "-", pooled["open_vowel_opening"], True)
    rows[-1]["pass"] = None
    res_emotions = {e: {"margin": m, "ok": ok, "continuity_ratio": cont[e][1],
                        "continuity_ok": cont[e][0], "closure_drop": drops[e]}
                    for e, (ok, m) in responses.items()}
    s["emotion_summary"] = res_emotions
    s["neutral_ok"] = neutral_ok
    return rows


# --------------------------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------------------------
def _fmt(v, digits: int = 3) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, float):
        return f"{v:.{digits}f}" if abs(v) >= 1e-3 or v == 0 else f"{v:.2e}"
    return str(v)


def _verdict(ok) -> str:
    return "-" if ok is None else ("PASS" if ok else "FAIL")


def format_table(res: Dict[str, object]) -> str:
    """The PASS/FAIL table as plain text (one line per check, one column per system)."""
    names = list(res["checks"])
    checks = res["checks"][names[0]]
    w = max(len(r["check"]) for r in checks) + 2
    lines = ["check".ljust(w) + "target".ljust(28) + "".join(n.ljust(18) for n in names)]
    for i, r in enumerate(checks):
        cells = []
        for n in names:
            row = res["checks"][n][i]
            cells.append(f"{_fmt(row['value'])} {_verdict(row['pass'])}".ljust(18))
        lines.append(r["check"].ljust(w) + str(r["target"]).ljust(28) + "".join(cells))
    return "\n".join(lines) + "\n"


def _markdown(res: Dict[str, object], plots: Dict[str, str], report_dir: str) -> str:
    names = list(res["checks"])
    md = [
        "# Evaluation",
        "",
        f"Held-out corpus `{res.get('data', '')}`: {res['n_clips']} clips, engines "
        f"{', '.join(res['engines'])}; model `{res.get('model', '')}`; output {res['fps']:g} fps. "
        f"Generated by `emotalk evaluate` on {res.get('date', '')} in "
        f"{res.get('seconds', 0):.0f} s.",
        "",
        "Metrics are defined in docs/INTERFACE.md (Metrics). `baseline` is the amplitude-to-jaw "
        "baseline, `teacher` the procedural teacher on each clip's own phone timings; all "
        "three are computed in this run.",
        "",
        "## Targets",
        "",
        "| check | target | " + " | ".join(names) + " |",
        "|---|---|" + "---|" * len(names),
    ]
    for i, r in enumerate(res["checks"][names[0]]):
        cells = [f"{_fmt(res['checks'][n][i]['value'])} {_verdict(res['checks'][n][i]['pass'])}"
                 for n in names]
        md.append(f"| {r['check']} | {r['target']} | " + " | ".join(cells) + " |")
    md += ["", "Details (model): " + "; ".join(
        f"{r['check']}: {r['detail']}" for r in res["checks"][names[0]] if r["detail"]), ""]

    md += ["## Lip sync per engine", "",
           "| system | engine | clips | /p b m/ closure | /p/ | /b/ | /m/ | open-vowel opening | "
           "silence closure | aperture corr. |", "|---|---|---|---|---|---|---|---|---|---|"]
    for n in names:
        lip = res["systems"][n]["lip"]
        rows = list(lip["per_engine"].items()) + [("**all**", lip["pooled"])]
        for eng, d in rows:
            md.append(f"| {n} | {eng} | {d['n_utterances']} | {_fmt(d['bilabial_closure'])} "
                      f"({d['n_bilabial']}) | {_fmt(d['bilabial_closure_p'])} | "
                      f"{_fmt(d['bilabial_closure_b'])} | {_fmt(d['bilabial_closure_m'])} | "
                      f"{_fmt(d['open_vowel_opening'])} | {_fmt(d['silence_closure'])} | "
                      f"{_fmt(d['aperture_correlation'])} |")
    md += ["", "## Emotion response", "",
           f"FACS group mean (emotions.FACS_GROUPS) on clip {res['neutral_clip']} (neutral "
           f"prosody) at intensity 0 / 0.5 / 1; response passes when strictly increasing with "
           f"mean(1) - mean(0) >= {metrics.RESPONSE_MARGIN}; continuity when the 0..1 sweep "
           f"(step 0.1) is monotonic with no step above 2x the mean step. Neutral passes when "
           f"every group at intensity 0 is within {NEUTRAL_TOLERANCE} of the teacher's.", "",
           "| system | emotion | 0 | 0.5 | 1 | margin | response | max/mean step | continuity | "
           "closure drop at 1 |", "|---|---|---|---|---|---|---|---|---|---|"]
    for n in names:
        s = res["systems"][n]
        for e in EXPRESSIVE:
            sw, es = s["sweep"][e], s["emotion_summary"][e]
            md.append(f"| {n} | {e} | {sw[0]:.3f} | {sw[5]:.3f} | {sw[10]:.3f} | "
                      f"{es['margin']:.3f} | {_verdict(es['ok'])} | "
                      f"{_fmt(es['continuity_ratio'], 2)} | {_verdict(es['continuity_ok'])} | "
                      f"{_fmt(es['closure_drop'])} |")
        md.append(f"| {n} | neutral | | | | | {_verdict(s['neutral_ok'])} | | | |")
    md += ["", "## Jitter", "", "Mean absolute second difference of the mouth blendshapes at "
           "60 fps.", "", "| system | jitter |", "|---|---|"]
    md += [f"| {n} | {res['systems'][n]['jitter']:.5f} |" for n in names]
    if res.get("voice_emotion"):
        md += _voice_markdown(res["voice_emotion"])
    elif res.get("voice_emotion_skipped"):
        md += ["", "## Voice emotion", "",
               f"Not scored: the voice emotion section was skipped "
               f"({res['voice_emotion_skipped']})."]
    if plots:
        md += ["", "## Plots", ""]
        for title, path in plots.items():
            md += [f"![{title}]({os.path.relpath(path, report_dir or '.')})", ""]
    return "\n".join(md) + "\n"


def make_plots(res: Dict[str, object], plots_dir: str) -> Dict[str, str]:
    """Aperture-over-time per engine and emotion response curves as PNGs -> {title: path}."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    os.makedirs(plots_dir, exist_ok=True)
    out: Dict[str, str] = {}
    fps = float(res["fps"])
    styles = {"model": "-", "baseline": ":", "teacher": "--"}
    for eng, pd in res.get("plot_data", {}).items():
        if "aperture" not in pd:
            continue
        dur = max((p[1] for p in pd["phones"]), default=1.0)
        fig, ax = plt.subplots(figsize=(min(30.0, max(10.0, 2.6 * dur)), 3.4))
        for n, ap in pd["aperture"].items():
            t = np.arange(len(ap)) / fps
            ax.plot(t, ap, styles.get(n, "-"), label=n, lw=1.3)
        k = 0
        for t0, t1, ph in pd["phones"]:
            if ph in ("p", "b", "m"):
                ax.axvspan(t0, t1, color="tab:red", alpha=0.15, lw=0)
            elif ph == "sil":
                ax.axvspan(t0, t1, color="0.85", alpha=0.5, lw=0)
            if ph != "sil":                      # labels on two alternating rows
                ax.text(0.5 * (t0 + t1), 1.01 + 0.06 * (k % 2), ph, ha="center", va="bottom",
                        transform=ax.get_xaxis_transform(), fontsize=7)
                k += 1
        ax.set_xlim(0.0, dur)
        ax.set_xlabel("time (s)")
        ax.set_ylabel("normalised aperture")
        ax.set_title(f"{eng}: clip {pd['clip']} (red: /p b m/, grey: pauses)", pad=22)
        ax.legend(loc="upper right", fontsize=8)
        fig.tight_layout()
        path = os.path.join(plots_dir, f"aperture_{_safe(eng)}.png")
        fig.savefig(path, dpi=110)
        plt.close(fig)
        out[f"aperture over time ({eng})"] = path
    fig, axes = plt.subplots(1, len(EXPRESSIVE), figsize=(16, 2.8), sharey=True)
    for ax, e in zip(axes, EXPRESSIVE, strict=True):
        for n, s in res["systems"].items():
            ax.plot(SWEEP, s["sweep"][e], styles.get(n, "-"), marker=".", label=n)
        ax.set_title(e)
        ax.set_xlabel("intensity")
    axes[0].set_ylabel("FACS group mean")
    axes[-1].legend(fontsize=8)
    fig.tight_layout()
    path = os.path.join(plots_dir, "emotion_response.png")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    out["emotion response"] = path
    return out


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in name) or "engine"


def write_report(res: Dict[str, object], report: str, plots_dir: Optional[str]) -> Tuple[str, str]:
    """Write the markdown report, its plots and ``<report>.json`` -> (report path, json path)."""
    report_dir = os.path.dirname(os.path.abspath(report))
    os.makedirs(report_dir, exist_ok=True)
    if res.get("kind") == "real":
        with open(report, "w") as f:
            f.write(real_markdown(res))
        js = os.path.splitext(report)[0] + ".json"
        with open(js, "w") as f:
            json.dump(res, f, indent=1, default=_json_default)
        return report, js
    plots = make_plots(res, plots_dir) if plots_dir else {}
    with open(report, "w") as f:
        f.write(_markdown(res, {k: os.path.abspath(v) for k, v in plots.items()}, report_dir))
    js = os.path.splitext(report)[0] + ".json"
    slim = {k: v for k, v in res.items() if k != "plot_data"}
    slim["plots"] = plots
    with open(js, "w") as f:
        json.dump(slim, f, indent=1, default=_json_default)
    return report, js


def _json_default(o):
    if isinstance(o, (np.floating, np.integer)):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, (np.bool_,)):
        return bool(o)
    raise TypeError(f"not JSON serialisable: {type(o)}")


# --------------------------------------------------------------------------------------------
# Real speech (corpora from emotalk_ros.training.realspeech: meta kind 'real')
# --------------------------------------------------------------------------------------------
# Targets of the shipped generator on the real-speech development set, per language and
# pooled (docs/EVALUATION.md, Real speech).
REAL_TARGET_BILABIAL = 0.95
REAL_TARGET_OPEN = 0.95
REAL_TARGET_CORRELATION = 0.65
REAL_TARGET_OVER_BASELINE = 0.10
REAL_TARGET_PAUSE = 0.05
REAL_TARGET_LAG = 0.0                    # frames at the evaluation fps; <= 0: lips lead or meet


def is_real_corpus(corpus) -> bool:
    """True for a corpus written by :func:`emotalk_ros.training.synth.corpus.build_real_corpus`."""
    return str(getattr(corpus, "meta", {}).get("kind", "")) == "real"


def load_real_utterances(corpus, max_per_language: Optional[int]) -> List[Utterance]:
    """Up to ``max_per_language`` clips of each language (engine ``real:<lang>``), spread
    evenly over that language's clips; the first copy of each clip only."""
    groups: Dict[str, List[int]] = {}
    for i in range(len(corpus)):
        c = corpus.clip(i)
        if int(c.meta.get("copy", 0)) != 0:
            continue
        groups.setdefault(str(c.meta.get("engine", "real")), []).append(i)
    picked: List[int] = []
    for eng in sorted(groups):
        idx = groups[eng]
        k = len(idx) if not max_per_language or max_per_language >= len(idx) else \
            max_per_language
        picked += [idx[j] for j in np.unique(np.linspace(0, len(idx) - 1, k).round().astype(int))]
    out = []
    for i in picked:
        c = corpus.clip(int(i))
        if c.audio is None:
            raise EmotalkError("the corpus has no audio; rebuild it with save_audio")
        out.append(Utterance(np.asarray(c.audio, np.float32), c.phone_start.astype(np.float64),
                             c.phone_end.astype(np.float64), c.phone_id.astype(np.int64),
                             c.alpha.astype(np.float32), str(c.meta.get("engine", "real")),
                             str(c.meta.get("voice", "")), int(i)))
    return out


def evaluate_real(utts: Sequence[Utterance], systems: Dict[str, System],
                  fps: float) -> Dict[str, object]:
    """Lip metrics (closure, open vowels, correlation, pause opening, best lag) of every system
    per language and pooled, plus the real-speech checks per language."""
    res: Dict[str, object] = {"fps": fps, "n_clips": len(utts), "kind": "real",
                              "engines": sorted({u.engine for u in utts}), "systems": {}}
    for name, system in systems.items():
        t0 = time.monotonic()
        per: Dict[str, List[dict]] = {}
        for u in utts:
            per.setdefault(u.engine, []).append(
                metrics.lip_sync_metrics(system(u), fps, u.phones))
        res["systems"][name] = {
            "lip": {"pooled": metrics.aggregate([d for v in per.values() for d in v]),
                    "per_engine": {e: metrics.aggregate(v) for e, v in per.items()}},
            "seconds": time.monotonic() - t0}
        log.info("evaluated %s on %d real clips in %.1f s", name, len(utts),
                 time.monotonic() - t0)
    res["real_checks"] = real_checks(res)
    return res


def real_checks(res: Dict[str, object], system: str = "model") -> Dict[str, List[Dict]]:
    """The real-speech targets of ``system`` per language and pooled ('all') -> {language:
    [{check, target, value, pass}]}; correlation is also checked against the baseline."""
    out: Dict[str, List[Dict]] = {}
    sysres = res["systems"][system]["lip"]
    base = res["systems"].get("baseline", {}).get("lip")
    keys = sorted(sysres["per_engine"]) + ["all"]
    for eng in keys:
        d = sysres["pooled"] if eng == "all" else sysres["per_engine"][eng]
        b = None
        if base is not None:
            b = base["pooled"] if eng == "all" else base["per_engine"].get(eng)
        rows = []

        def add(check, target, value, ok):
            rows.append({"check": check, "target": target, "value": value,
                         "pass": None if value is None else bool(ok)})

        bc, ov = d["bilabial_closure"], d["open_vowel_opening"]
        cr, pz, lag = d["aperture_correlation"], d["silence_closure"], d.get("best_lag_frames")
        add("bilabial closure", f">= {REAL_TARGET_BILABIAL}", bc,
            bc is not None and bc >= REAL_TARGET_BILABIAL)
        add("open vowels", f">= {REAL_TARGET_OPEN}", ov, ov is not None and ov >= REAL_TARGET_OPEN)
        add("aperture correlation", f">= {REAL_TARGET_CORRELATION}", cr,
            cr is not None and cr >= REAL_TARGET_CORRELATION)
        bcr = None if b is None else b["aperture_correlation"]
        add("correlation over baseline", f">= +{REAL_TARGET_OVER_BASELINE}",
            None if (cr is None or bcr is None) else cr - bcr,
            cr is not None and bcr is not None and cr - bcr >= REAL_TARGET_OVER_BASELINE - 1e-12)
        add("pause opening", f"<= {REAL_TARGET_PAUSE}", pz,
            pz is not None and pz <= REAL_TARGET_PAUSE)
        add("best lag (frames)", f"<= {REAL_TARGET_LAG:g}", lag,
            lag is not None and lag <= REAL_TARGET_LAG + 1e-9)
        out[eng] = rows
    return out


def format_real_table(res: Dict[str, object]) -> str:
    """Per-language lip metrics of every system as plain text."""
    names = list(res["systems"])
    lines = [f"{'language':12s}{'system':10s}{'clips':>6s}{'closure':>9s}{'open':>7s}"
             f"{'corr':>7s}{'pause':>9s}{'lag fr':>8s}"]
    for eng in list(res["engines"]) + ["all"]:
        for n in names:
            lip = res["systems"][n]["lip"]
            d = lip["pooled"] if eng == "all" else lip["per_engine"][eng]
            lines.append(f"{eng:12s}{n:10s}{d['n_utterances']:6d}"
                         f"{_fmt(d['bilabial_closure']):>9s}{_fmt(d['open_vowel_opening']):>7s}"
                         f"{_fmt(d['aperture_correlation']):>7s}"
                         f"{_fmt(d['silence_closure']):>9s}"
                         f"{_fmt(d.get('best_lag_frames'), 2):>8s}")
    fails = [f"{eng}: {r['check']}" for eng, rows in res["real_checks"].items() for r in rows
             if r["pass"] is False]
    lines.append("model FAILS: " + ", ".join(fails) if fails else "model passes every target")
    return "\n".join(lines) + "\n"


def real_markdown(res: Dict[str, object]) -> str:
    """The real-speech report (markdown): per-language table of all systems and the checks."""
    names = list(res["systems"])
    md = ["# Evaluation on real speech", "",
          f"Development set `{res.get('data', '')}`: {res['n_clips']} clips, languages "
          f"{', '.join(e.split(':')[-1] for e in res['engines'])}; model "
          f"`{res.get('model', '')}`; output {res['fps']:g} fps. Generated by `emotalk "
          f"evaluate` on {res.get('date', '')} in {res.get('seconds', 0):.0f} s.", "",
          "Phones are forced-aligned (`emotalk_ros/speech/align.py`). `pause opening` is the "
          "mean aperture in pauses as a fraction of the vowel opening; `lag` is the shift (in "
          f"{res['fps']:g} fps frames) of the aperture against the phone openness that "
          "correlates best, positive = the mouth trails the sound. `baseline` is loudness -> "
          "jaw, `teacher` the procedural teacher on the aligned phones.", "",
          "| language | system | clips | /p b m/ closure | /b/ | /m/ | open vowels | "
          "aperture corr. | pause opening | lag (frames) |",
          "|---|---|---|---|---|---|---|---|---|---|"]
    for eng in list(res["engines"]) + ["all"]:
        for n in names:
            lip = res["systems"][n]["lip"]
            d = lip["pooled"] if eng == "all" else lip["per_engine"][eng]
            md.append(f"| {eng.split(':')[-1]} | {n} | {d['n_utterances']} | "
                      f"{_fmt(d['bilabial_closure'])} ({d['n_bilabial']}) | "
                      f"{_fmt(d['bilabial_closure_b'])} | {_fmt(d['bilabial_closure_m'])} | "
                      f"{_fmt(d['open_vowel_opening'])} | {_fmt(d['aperture_correlation'])} | "
                      f"{_fmt(d['silence_closure'])} | {_fmt(d.get('best_lag_frames'), 2)} |")
    md += ["", "## Aperture by phone class (all languages)", "",
           "Mean ± standard deviation of the normalised aperture over the frames of each "
           "phone class (the openness target is 0 for pauses and /p b m/, 0.25 for the other "
           "consonants, 0.45/0.7/1 for close/mid/open vowels). The correlation is high when "
           "the means rise with the target and the spread inside each class is small.", "",
           "| system | " + " | ".join(metrics.PHONE_CLASSES) + " |",
           "|---|" + "---|" * len(metrics.PHONE_CLASSES)]
    for n in names:
        prof = res["systems"][n]["lip"]["pooled"].get("aperture_profile", {})
        md.append(f"| {n} | " + " | ".join(
            f"{prof[c]['mean']:.3f} ± {prof[c]['std']:.3f}" if prof.get(c, {}).get("frames")
            else "n/a" for c in metrics.PHONE_CLASSES) + " |")
    md += ["", "## Targets (model)", "", "| language | " + " | ".join(
        r["check"] for r in res["real_checks"]["all"]) + " |",
        "|---|" + "---|" * len(res["real_checks"]["all"])]
    for eng, rows in res["real_checks"].items():
        md.append(f"| {eng.split(':')[-1]} | " + " | ".join(
            f"{_fmt(r['value'], 3)} {_verdict(r['pass'])}" for r in rows) + " |")
    return "\n".join(md) + "\n"


def run_evaluation(data: str, model: Optional[str] = None, backend: str = "auto",
                   fps: float = 60.0, max_clips: Optional[int] = 100, emotion_clips: int = 12,
                   voice_model: Optional[str] = None,
                   voice_required: bool = False) -> Dict[str, object]:
    """Evaluate ``model`` against the amplitude baseline and the teacher on the corpus ``data``.

    ``voice_model``: a voice emotion model (.npz) to score as well, or None. When scoring it
    fails, the section is skipped with a warning and the reason is kept in
    ``voice_emotion_skipped`` (the report and the CLI say so), unless ``voice_required``
    (then the error is raised). Returns the result dict of :func:`evaluate` with ``model``,
    ``data``, ``date`` and ``seconds`` (wall time).
    """
    from emotalk_ros.generator.loading import default_model_path, load_predictor

    t0 = time.monotonic()
    corpus = open_corpus(data)
    real = is_real_corpus(corpus)
    utts = load_real_utterances(corpus, max_clips) if real else load_utterances(corpus, max_clips)
    pred = load_predictor(model, backend, fps=fps)
    systems = {"model": predictor_system(pred),
               "baseline": predictor_system(AmplitudeJawBaseline(fps=fps)),
               "teacher": teacher_system(fps)}
    if real:
        res = evaluate_real(utts, systems, fps)
        res["model"] = model or default_model_path() or ""
        res["data"] = data
        res["date"] = time.strftime("%Y-%m-%d %H:%M")
        res["seconds"] = time.monotonic() - t0
        return res
    res = evaluate(utts, systems, fps, emotion_clips=emotion_clips)
    res["model"] = model or default_model_path() or ""
    res["data"] = data
    res["date"] = time.strftime("%Y-%m-%d %H:%M")
    if voice_model:
        try:
            res["voice_emotion"] = evaluate_voice(voice_model, data)
        except EmotalkError as exc:
            if voice_required:
                raise
            log.warning("voice emotion section skipped: %s", exc)
            res["voice_emotion_skipped"] = str(exc)        # said in the report and the CLI
    res["seconds"] = time.monotonic() - t0
    return res
