"""`emotalk animate` end to end: outputs, formats, determinism, and bad-input handling."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from emotalk_ros.audio import write_wav
from emotalk_ros.blendshapes import INDEX, read_live_link_csv

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def emotalk(*args, timeout=180):
    return subprocess.run([sys.executable, "-m", "emotalk_ros", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout)


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
    r = emotalk("animate", str(good), str(notaudio), str(empty), str(d / "missing.wav"), str(good2),
                "--model", "baseline", "--output-dir", str(outd), "--format", "json")
    assert r.returncode != 0
    assert "not a readable WAV" in r.stderr and "empty" in r.stderr and "no such file" in r.stderr
    assert sorted(os.listdir(outd)) == ["good.json", "good2.json"]
    j = json.load(open(outd / "good.json"))
    assert len(j["names"]) == 52 and len(j["frames"]) == 90


def test_unknown_emotion_and_unwritable_output(wavs, tmp_path):
    d, good, *_ = wavs
    r = emotalk("animate", str(good), "--model", "baseline", "--emotion", "hapy:0.5", "-o", str(tmp_path / "x.csv"))
    assert r.returncode != 0 and "hapy" in r.stderr and "happy" in r.stderr
    r = emotalk("animate", str(good), "--model", "baseline", "-o", "/nonexistent_dir/x.csv")
    assert r.returncode != 0 and "cannot write" in r.stderr


def test_npy_output_deterministic_without_idle(wavs, tmp_path):
    d, good, *_ = wavs
    for name in ("a.npy", "b.npy"):
        r = emotalk("animate", str(good), "--model", "baseline", "--no-idle", "-o", str(tmp_path / name))
        assert r.returncode == 0, r.stderr
    np.testing.assert_array_equal(np.load(tmp_path / "a.npy"), np.load(tmp_path / "b.npy"))
