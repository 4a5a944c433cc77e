"""`emotalk animate` robustness: atomic writes (the old file survives any failure), each input
of a batch on its own with a summary line, one clear line for truncated wavs and hostile
options (no tracebacks), and streaming in chunks that gives the same frames as the whole-file
path."""

import os
import subprocess
import sys
import wave

import numpy as np
import pytest
from conftest import ROOT
from hostile_payloads import COMMAND_PAYLOADS
from scipy.io import wavfile

from emotalk_ros.cli import animate as animate_cli
from emotalk_ros.cli.main import main
from emotalk_ros.core.audio import resample, write_wav
from emotalk_ros.core.blendshapes import read_live_link_csv


@pytest.fixture(scope="module")
def wavs(tmp_path_factory):
    d = tmp_path_factory.mktemp("wavs")
    t = np.arange(24000) / 16000
    x = (0.3 * np.sin(2 * np.pi * 160 * t) * (np.sin(2 * np.pi * 2 * t) > 0)).astype(np.float32)
    good = str(d / "good.wav")
    write_wav(good, x)
    data = open(good, "rb").read()
    cut_header = d / "cut_header.wav"
    cut_header.write_bytes(data[:26])
    cut_data = d / "cut_data.wav"
    cut_data.write_bytes(data[:5000])
    return d, good, str(cut_header), str(cut_data)


def leftovers(folder):
    return [f for f in os.listdir(folder) if f.endswith(".tmp")]


def test_a_failed_write_leaves_the_old_file_and_no_partial_file(wavs, tmp_path, monkeypatch):
    _, good, *_ = wavs
    out = tmp_path / "o.csv"
    assert main(["animate", good, "--model", "baseline", "--no-idle", "-o", str(out)]) == 0
    before = out.read_bytes()
    real = animate_cli.write_live_link_csv

    def half_then_disk_full(f, frames, fps, **kw):
        real(f, frames[: len(frames) // 2], fps, **kw)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(animate_cli, "write_live_link_csv", half_then_disk_full)
    assert main(["animate", good, "--model", "baseline", "--seed", "3", "-o", str(out)]) == 1
    assert out.read_bytes() == before and leftovers(tmp_path) == []

    def interrupted(f, frames, fps, **kw):
        real(f, frames[:5], fps, **kw)
        raise KeyboardInterrupt

    monkeypatch.setattr(animate_cli, "write_live_link_csv", interrupted)
    assert main(["animate", good, "--model", "baseline", "-o", str(out)]) == 130
    assert out.read_bytes() == before and leftovers(tmp_path) == []
    for fmt in ("npy", "json"):                           # the other writers are atomic too
        p = tmp_path / f"o.{fmt}"
        p.write_text("previous")
        monkeypatch.setattr(animate_cli.FrameWriter, "close",
                            lambda self: (_ for _ in ()).throw(OSError(5, "I/O error")))
        assert main(["animate", good, "--model", "baseline", "-o", str(p)]) == 1
        assert p.read_text() == "previous" and leftovers(tmp_path) == []


def test_batch_inputs_fail_on_their_own_with_a_summary(wavs, tmp_path):
    d, good, cut_header, cut_data = wavs
    outd = tmp_path / "outs"
    r = subprocess.run([sys.executable, "-m", "emotalk_ros", "animate", good, cut_header,
                        cut_data, str(d / "missing.wav"), "--model", "baseline",
                        "--output-dir", str(outd)],
                       cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert r.returncode == 1
    assert sorted(os.listdir(outd)) == ["good.csv"]
    assert "Traceback" not in r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.startswith("emotalk animate:")]
    assert len(lines) == 4, r.stderr                      # one line per failure + the summary
    assert f"{cut_header}: truncated WAV file" in r.stderr
    assert f"{cut_data}: truncated WAV file: the data chunk declares" in r.stderr
    assert lines[-1] == "emotalk animate: 1 of 4 input(s) done, 3 failed"


@pytest.mark.parametrize("name,text", COMMAND_PAYLOADS[:12], ids=[n for n, _ in
                                                                 COMMAND_PAYLOADS[:12]])
def test_hostile_emotion_options_give_one_line(wavs, tmp_path, capsys, name, text):
    _, good, *_ = wavs
    assert main(["animate", good, "--model", "baseline", "-o", str(tmp_path / "o.csv"),
                 "--emotion", text]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.count("\n") == 1 and len(err) < 1500, err[:300]
    assert not (tmp_path / "o.csv").exists()


def test_reported_triggers_through_the_real_command_line(wavs, tmp_path):
    _, good, *_ = wavs
    style = tmp_path / "v.yaml"
    style.write_text("format: emotalk_style\nversion: abc\n")
    for extra in (["--emotion", '{"happy": 1' + "0" * 400 + "}"], ["--style", str(style)]):
        r = subprocess.run([sys.executable, "-m", "emotalk_ros", "animate", good, "--model",
                            "baseline", "-o", str(tmp_path / "o.csv"), *extra],
                           cwd=ROOT, capture_output=True, text=True, timeout=180)
        assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
        assert len([ln for ln in r.stderr.splitlines() if "emotalk animate" in ln]) == 1


# ---------------------------------------------------------------------------------------------
# streaming equals the whole-file path
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def long_speech(tmp_path_factory):
    """About 40 s of espeak-ng speech at 22.05 kHz, stereo (both channels alike)."""
    d = tmp_path_factory.mktemp("long")
    one = str(d / "one.wav")
    subprocess.run(["espeak-ng", "-v", "en-us", "-s", "170", "-w", one,
                    "Hello robot. Papa made a banana pie, and the quick brown fox jumps over "
                    "the lazy dog while we measure every frame."], check=True, timeout=30)
    with wave.open(one) as w:
        sr, pcm = w.getframerate(), np.frombuffer(w.readframes(w.getnframes()), "<i2")
    reps = int(np.ceil(40 * sr / (pcm.size + sr // 3)))
    x = np.concatenate([np.concatenate([pcm, np.zeros(sr // 3, "<i2")])] * reps)
    path = str(d / "long.wav")
    wavfile.write(path, sr, np.stack([x, x // 2], axis=1))
    return path


def whole_file_reference(path, predictor, emotion=None, idle_seed=None, style=None):
    """What `emotalk animate` computed before streaming: scipy's reader, one resample of the
    whole signal, one push of all of it, flush, then style and idle on all frames."""
    from emotalk_ros.animation.idle import IdleAnimator, IdleConfig
    from emotalk_ros.core.blendshapes import aperture
    from emotalk_ros.generator.predictor import Frames
    sr, data = wavfile.read(path)
    x = (data.astype(np.float32) / 32768.0).mean(axis=1)
    out = predictor.animate(resample(x, int(sr), 16000), emotion)
    if style is not None:
        out = Frames(out.times, style.apply(out.values))
    if idle_seed is not None:
        speaking = aperture(out.values) > 0.08
        out = Frames(out.times, IdleAnimator(IdleConfig(seed=idle_seed)).apply(
            out.times, out.values, speaking))
    return out.values


@pytest.mark.parametrize("extra", [[], ["--seed", "5", "--style", "expressive",
                                        "--emotion", "happy:0.7"]])
def test_streaming_frames_equal_the_whole_file_path(long_speech, tmp_path, extra):
    from emotalk_ros.animation.offline import emotion_from_args
    from emotalk_ros.animation.style import load_style
    from emotalk_ros.generator.loading import load_predictor
    out = tmp_path / "s.npy"
    args = ["animate", long_speech, "-o", str(out)] + (extra or ["--no-idle"])
    assert main(args) == 0
    got = np.load(out)
    p = load_predictor("")
    ref = whole_file_reference(long_speech, p, emotion_from_args(
        "happy:0.7" if extra else None, None), 5 if extra else None,
        load_style("expressive") if extra else None)
    assert got.shape == ref.shape and got.shape[0] > 60 * 38
    assert np.abs(got - ref).max() <= 1e-5
    csv = tmp_path / "s.csv"
    assert main(args[:2] + ["-o", str(csv)] + args[4:]) == 0
    _, frames = read_live_link_csv(str(csv), fps=60)
    assert np.abs(frames - got).max() <= 5.1e-7           # 6 decimals in the CSV


def test_streaming_with_the_voice_tracker_equals_one_push(long_speech):
    from emotalk_ros.animation.offline import animate_samples, animate_stream
    from emotalk_ros.animation.voice_mix import load_voice_tracker
    from emotalk_ros.core.audio import iter_audio, load_audio
    from emotalk_ros.generator.loading import load_predictor
    from emotalk_ros.generator.predictor import Frames
    p = load_predictor("")
    x = load_audio(long_speech)
    whole = animate_samples(p, x, None, voice=load_voice_tracker(), voice_blend=0.6)
    streamed = Frames.concat(list(animate_stream(p, iter_audio(long_speech, block_s=3.3), None,
                                                 voice=load_voice_tracker(),
                                                 voice_blend=0.6)))
    assert len(streamed) == len(whole)
    assert np.abs(streamed.values - whole.values).max() <= 1e-5
