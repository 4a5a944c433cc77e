"""`emotalk animate` end to end: outputs, formats, determinism, and bad-input handling."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import ROOT

from emotalk_ros.core.audio import write_wav
from emotalk_ros.core.blendshapes import INDEX, read_live_link_csv


def emotalk(*args, timeout=180):
    return subprocess.run(
        [sys.executable, "-m", "emotalk_ros", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture(scope="module")
def wavs(tmp_path_factory):
    d = tmp_path_factory.mktemp("wavs")
    t = np.arange(24000) / 16000
    x = (0.3 * np.sin(2 * np.pi * 160 * t) * (np.sin(2 * np.pi * 2 * t) > 0)).astype(np.float32)
    good = d / "good.wav"
    write_wav(str(good), x)
    good2 = d / "good2.wav"
    write_wav(str(good2), x[:16000], sr=16000)
    notaudio = d / "notaudio.wav"
    notaudio.write_text("hello, I am text")
    empty = d / "empty.wav"
    write_wav(str(empty), np.zeros(0, np.float32))
    return d, good, good2, notaudio, empty


def test_animate_writes_live_link_csv(wavs, tmp_path):
    d, good, *_ = wavs
    out = tmp_path / "o.csv"
    r = emotalk("animate", str(good), "--model", "baseline", "--no-idle", "-o", str(out))
    assert r.returncode == 0, r.stderr
    t, frames = read_live_link_csv(str(out), fps=60)
    assert frames.shape == (90, 52)
    assert frames[:, INDEX["jawOpen"]].max() > 0.1
    np.testing.assert_allclose(t, np.arange(90) / 60, atol=1e-6)


def test_bad_inputs_fail_clearly_and_others_still_processed(wavs, tmp_path):
    d, good, good2, notaudio, empty = wavs
    outd = tmp_path / "outs"
    r = emotalk(
        "animate",
        str(good),
        str(notaudio),
        str(empty),
        str(d / "missing.wav"),
        str(good2),
        "--model",
        "baseline",
        "--output-dir",
        str(outd),
        "--format",
        "json",
    )
    assert r.returncode != 0
    assert "not a readable WAV" in r.stderr and "empty" in r.stderr and "no such file" in r.stderr
    assert sorted(os.listdir(outd)) == ["good.json", "good2.json"]
    j = json.load(open(outd / "good.json"))
    assert len(j["names"]) == 52 and len(j["frames"]) == 90


def test_unknown_emotion_and_unwritable_output(wavs, tmp_path):
    d, good, *_ = wavs
    r = emotalk(
        "animate",
        str(good),
        "--model",
        "baseline",
        "--emotion",
        "hapy:0.5",
        "-o",
        str(tmp_path / "x.csv"),
    )
    assert r.returncode != 0 and "hapy" in r.stderr and "happy" in r.stderr
    r = emotalk("animate", str(good), "--model", "baseline", "-o", "/nonexistent_dir/x.csv")
    assert r.returncode != 0 and "cannot write" in r.stderr


def test_npy_output_deterministic_without_idle(wavs, tmp_path):
    d, good, *_ = wavs
    for name in ("a.npy", "b.npy"):
        r = emotalk(
            "animate", str(good), "--model", "baseline", "--no-idle", "-o", str(tmp_path / name)
        )
        assert r.returncode == 0, r.stderr
    np.testing.assert_array_equal(np.load(tmp_path / "a.npy"), np.load(tmp_path / "b.npy"))


def test_style_changes_output_and_bad_style_fails(wavs, tmp_path):
    _, good, *_ = wavs
    out = {}
    for style in ("", "subtle", "expressive", "config/styles/expressive.yaml"):
        path = tmp_path / f"{style.replace('/', '_') or 'none'}.npy"
        extra = ["--style", style] if style else []
        r = emotalk(
            "animate", str(good), "--model", "baseline", "--no-idle", "-o", str(path), *extra
        )
        assert r.returncode == 0, r.stderr
        out[style] = np.load(path)
    jaw = {k: v[:, INDEX["jawOpen"]].max() for k, v in out.items()}
    assert jaw["expressive"] > jaw[""] > jaw["subtle"] > 0.05
    assert np.array_equal(out["expressive"], out["config/styles/expressive.yaml"])
    assert all(v.min() >= 0.0 and v.max() <= 1.0 for v in out.values())
    bad = tmp_path / "bad.yaml"
    bad.write_text("format: emotalk_style\nversion: 1\ngain: {jawOpen: 9}\n")
    for spec, msg in (("no_such_style", "no such file"), (str(bad), "jawOpen")):
        r = emotalk("animate", str(good), "--model", "baseline", "--no-idle", "-o",
                    str(tmp_path / "x.npy"), "--style", spec)
        assert r.returncode != 0 and msg in r.stderr, r.stderr
        assert not (tmp_path / "x.npy").exists()


def test_emotion_track_keys_drive_the_output(wavs, tmp_path, monkeypatch):
    """--emotion-track through the real CLI code path, with an alpha-echo predictor (each
    emotion written into one blendshape) in place of the model, so the keys are visible."""
    from stubs import ALPHA_SLOTS, AlphaEcho

    from emotalk_ros.cli.main import main
    from emotalk_ros.core.emotions import EXPRESSIVE_INDEX
    from emotalk_ros.generator import loading as model_io

    _, good, *_ = wavs
    track = tmp_path / "track.json"
    track.write_text(json.dumps([{"t": 0.0, "happy": 0.5},
                                 {"t": 0.8, "surprised": 0.8, "transition_s": 0.4}]))
    monkeypatch.setattr(
        model_io, "load_predictor", lambda *a, **k: AlphaEcho(fps=k.get("fps", 60.0))
    )
    a, b = tmp_path / "a.npy", tmp_path / "b.npy"
    for p in (a, b):
        assert (
            main(["animate", str(good), "--no-idle", "-o", str(p), "--emotion-track", str(track)])
            == 0
        )
    v = np.load(a)
    assert np.array_equal(v, np.load(b))                          # deterministic with --no-idle
    t = np.arange(v.shape[0]) / 60.0
    happy = v[:, INDEX[ALPHA_SLOTS[EXPRESSIVE_INDEX["happy"]]]]
    surprised = v[:, INDEX[ALPHA_SLOTS[EXPRESSIVE_INDEX["surprised"]]]]
    assert np.allclose(happy[t < 0.8 - 1e-6], 0.5, atol=1e-5)  # first key: a step at t = 0
    assert np.allclose(surprised[t >= 1.2], 0.8, atol=1e-5) and np.allclose(
        happy[t >= 1.2], 0, atol=1e-5
    )
    mid = surprised[(t > 0.85) & (t < 1.15)]
    assert np.all(np.diff(mid) > 0) and 0.0 < mid.min() and mid.max() < 0.8   # eased transition
    bad = tmp_path / "bad.json"
    bad.write_text('[{"t": 0, "hapy": 0.5}]')
    assert (
        main(["animate", str(good), "-o", str(tmp_path / "y.npy"), "--emotion-track", str(bad)])
        == 1
    )
    assert not (tmp_path / "y.npy").exists()


def test_emotion_source_voice_cli(wavs, tmp_path):
    _, good, *_ = wavs
    out = tmp_path / "v.json"
    r = emotalk("animate", str(good), "--model", "baseline", "--no-idle", "-o", str(out),
                "--emotion-source", "blend", "--voice-blend", "0.5")
    assert r.returncode == 0, r.stderr
    assert len(json.load(open(out))["frames"]) == 90
    r = emotalk("animate", str(good), "--model", "baseline", "-o", str(out),
                "--emotion-source", "voice", "--voice-model", str(tmp_path / "missing.npz"))
    assert r.returncode != 0 and "voice emotion model not found" in r.stderr
    r = emotalk("animate", str(good), "--model", "baseline", "-o", str(out),
                "--emotion-source", "blend", "--voice-blend", "1.5")
    assert r.returncode != 0 and "--voice-blend" in r.stderr
