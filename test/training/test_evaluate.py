"""``emotalk evaluate`` end to end on a tiny synthetic held-out corpus (baseline as the model)."""

import json
import os
from dataclasses import dataclass, field
from types import SimpleNamespace

import numpy as np
import pytest

from emotalk_ros.cli import evaluate as cli_evaluate
from emotalk_ros.cli import main as cli
from emotalk_ros.core.emotions import EXPRESSIVE_INDEX
from emotalk_ros.core.phones import BILABIALS, PHONE_INDEX, VOWELS, openness
from emotalk_ros.errors import EmotalkError
from emotalk_ros.training import evaluate

SR = 16000


@dataclass
class FakeClip:
    audio: np.ndarray
    phone_start: np.ndarray
    phone_end: np.ndarray
    phone_id: np.ndarray
    alpha: np.ndarray
    meta: dict
    speaker: int = 0
    mel: np.ndarray = field(default_factory=lambda: np.zeros((0, 40), np.float32))


class FakeCorpus:
    """The reader interface evaluate uses: len() and clip(i)."""

    def __init__(self, clips):
        self.clips = clips

    def __len__(self):
        return len(self.clips)

    def clip(self, i):
        return self.clips[i]


def speechlike(phones, seed):
    """Loud voiced buzz in vowels (scaled by openness), quiet noise in consonants, silence in
    pauses and /p/ closures, a weak hum in /b m/."""
    rng = np.random.default_rng(seed)
    n = int(round(phones[-1][1] * SR))
    x = np.zeros(n, np.float32)
    for t0, t1, ph in phones:
        a, b = int(round(t0 * SR)), int(round(t1 * SR))
        t = np.arange(b - a) / SR
        if ph in VOWELS:
            x[a:b] = (
                0.3
                * openness(ph)
                * np.sign(np.sin(2 * np.pi * 120 * t))
                * (0.6 + 0.4 * rng.random())
            )
        elif ph in ("b", "m"):
            x[a:b] = 0.08 * np.sign(np.sin(2 * np.pi * 120 * t))
        elif ph not in ("sil", "p"):
            x[a:b] = 0.04 * rng.standard_normal(b - a)
    return x


def make_clip(spec, engine, seed, emotion=None):
    phones, t = [], 0.0
    for ph, dur in spec:
        phones.append((t, t + dur, ph))
        t += dur
    audio = speechlike(phones, seed)
    T = audio.size // 160
    alpha = np.zeros((T, 7), np.float32)
    if emotion:
        alpha[:, EXPRESSIVE_INDEX[emotion[0]]] = emotion[1]
    return FakeClip(audio, np.array([p[0] for p in phones], np.float32),
                    np.array([p[1] for p in phones], np.float32),
                    np.array([PHONE_INDEX[p[2]] for p in phones], np.int16), alpha,
                    {"engine": engine, "voice": f"{engine}-v{seed}"})


SPECS = [
    [
        ("sil", 0.3),
        ("b", 0.06),
        ("aa", 0.15),
        ("m", 0.08),
        ("iy", 0.12),
        ("p", 0.08),
        ("ae", 0.14),
        ("s", 0.08),
        ("sil", 0.3),
        ("m", 0.07),
        ("ah", 0.12),
        ("t", 0.06),
        ("ow", 0.15),
        ("sil", 0.3),
    ],
    [
        ("sil", 0.25),
        ("w", 0.06),
        ("ae", 0.14),
        ("b", 0.07),
        ("ah", 0.06),
        ("p", 0.07),
        ("aa", 0.16),
        ("n", 0.06),
        ("sil", 0.3),
        ("f", 0.08),
        ("ay", 0.18),
        ("v", 0.06),
        ("m", 0.08),
        ("uw", 0.14),
        ("sil", 0.3),
    ],
]


@pytest.fixture
def corpus():
    clips = [make_clip(SPECS[0], "flite", 0), make_clip(SPECS[1], "flite", 1, ("happy", 0.7)),
             make_clip(SPECS[1], "festival", 2), make_clip(SPECS[0], "festival", 3, ("sad", 1.0))]
    return FakeCorpus(clips)


def test_evaluate_end_to_end_with_baseline(corpus, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(evaluate, "open_corpus", lambda path: corpus)
    report = tmp_path / "docs" / "EVALUATION.md"
    plots = tmp_path / "docs" / "img"
    rc = cli.main(["evaluate", "--data", str(tmp_path), "--model", "baseline",
                   "--report", str(report), "--plots-dir", str(plots), "--max-clips", "4",
                   "--emotion-clips", "2"])
    assert rc == 0
    out = capsys.readouterr().out
    assert "bilabial closure" in out and "PASS" in out and "FAIL" in out
    text = report.read_text()
    assert "| check | target | model | baseline | teacher |" in text
    for png in ("aperture_flite.png", "aperture_festival.png", "emotion_response.png"):
        assert (plots / png).stat().st_size > 1000
        assert f"img/{png}" in text
    res = json.loads((tmp_path / "docs" / "EVALUATION.json").read_text())
    assert res["n_clips"] == 4 and res["engines"] == ["festival", "flite"]
    checks = {s: {r["check"]: r for r in rows} for s, rows in res["checks"].items()}

    # the teacher on its own phones meets every target
    for name in ("bilabial closure", "silence closure", "aperture correlation", "emotion response",
                 "continuity", "closure at full intensity", "jitter"):
        assert checks["teacher"][name]["pass"], (name, checks["teacher"][name])
    assert checks["teacher"]["bilabial closure"]["value"] == 1.0
    # the amplitude baseline has no emotion at all (neutral is its only pass) ...
    assert checks["baseline"]["emotion response"]["value"] == "1/8"
    assert not checks["baseline"]["continuity"]["pass"]
    # ... and closes /b m/ less than the teacher (they are voiced, so never silent)
    lip = res["systems"]["baseline"]["lip"]["pooled"]
    assert lip["bilabial_closure_m"] < 1.0
    assert lip["n_bilabial"] == res["systems"]["teacher"]["lip"]["pooled"]["n_bilabial"] == 14
    # model == baseline here, so they agree exactly
    assert res["systems"]["model"]["lip"] == res["systems"]["baseline"]["lip"]
    # per-engine pooling adds up
    per = res["systems"]["teacher"]["lip"]["per_engine"]
    assert per["flite"]["n_bilabial"] + per["festival"]["n_bilabial"] == 14


def test_evaluate_function_reports_sweeps_and_levels(corpus):
    utts = evaluate.load_utterances(corpus, 2)
    assert [u.index for u in utts] == [0, 3]
    res = evaluate.evaluate(utts, {"teacher": evaluate.teacher_system(60.0)}, 60.0,
                            emotion_clips=1, keep_frames=False)
    s = res["systems"]["teacher"]
    assert res["neutral_clip"] == 0
    for emo, sweep in s["sweep"].items():
        assert len(sweep) == 11 and sweep[10] > sweep[0] + 0.15, emo
        assert s["neutral_levels"][emo] == pytest.approx(sweep[0])
    assert s["jitter"] > 0.0
    assert "plot_data" not in res


def test_strict_exit_and_missing_audio(corpus, tmp_path, monkeypatch):
    monkeypatch.setattr(evaluate, "open_corpus", lambda path: corpus)
    args = SimpleNamespace(data=str(tmp_path), model="baseline", backend="auto", fps=60.0,
                           report=str(tmp_path / "r.md"), plots_dir="", max_clips=2,
                           emotion_clips=1, strict=True)
    assert cli_evaluate.run(args) == 1      # the baseline fails the targets
    assert os.path.exists(tmp_path / "r.json") and not os.path.exists(tmp_path / "img")
    corpus.clips[0].audio = None
    with pytest.raises(EmotalkError, match="save-audio"):
        evaluate.load_utterances(corpus, 2)


def test_open_corpus_rejects_a_missing_directory(tmp_path):
    with pytest.raises(EmotalkError, match="not a corpus directory"):
        evaluate.open_corpus(str(tmp_path / "nope"))


def test_bilabials_in_fixture_are_scored():
    # guard against a fixture that silently scores nothing
    n = sum(1 for spec in SPECS for ph, d in spec if ph in BILABIALS and d >= 0.04)
    assert n == 7
