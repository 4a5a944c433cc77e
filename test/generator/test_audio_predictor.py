"""Audio front end and the streaming predictor interface (chunk-size invariance, stamps)."""

import numpy as np
import pytest

from emotalk_ros.core import audio
from emotalk_ros.core.blendshapes import INDEX
from emotalk_ros.errors import EmotalkError
from emotalk_ros.generator.predictor import AmplitudeJawBaseline


def speechlike(seconds=2.0, sr=16000, seed=0):
    rng = np.random.default_rng(seed)
    n = int(seconds * sr)
    t = np.arange(n) / sr
    env = (np.sin(2 * np.pi * 3 * t) > 0).astype(np.float32)
    return (0.2 * env * rng.standard_normal(n)).astype(np.float32)


@pytest.mark.parametrize("chunk", [1, 160, 333, 512, 1600, 16000])
def test_logmel_chunk_invariance(chunk):
    x = speechlike()
    ref = audio.log_mel(x)
    s = audio.LogMelStream()
    got = np.concatenate([s.push(x[i:i + chunk]) for i in range(0, x.size, chunk)])
    assert got.shape == ref.shape == (200, 40)
    np.testing.assert_allclose(got, ref, atol=1e-5)


@pytest.mark.parametrize("chunk", [160, 512, 1600, 16000])
def test_predictor_chunk_invariance(chunk):
    x = speechlike(1.7)
    p = AmplitudeJawBaseline(fps=60)
    ref = p.animate(x)
    got = p.animate(x, chunk=chunk)
    assert len(ref) == int(np.ceil(1.7 * 60))
    np.testing.assert_allclose(got.values, ref.values, atol=1e-5)
    np.testing.assert_allclose(ref.times, np.arange(len(ref)) / 60.0)


def test_baseline_opens_in_sound_and_closes_in_silence():
    x = speechlike(2.0)
    x[16000:] = 0.0
    out = AmplitudeJawBaseline().animate(x)
    jaw = out.values[:, INDEX["jawOpen"]]
    assert jaw[(out.times > 0.1) & (out.times < 0.9)].max() > 0.2
    assert jaw[out.times > 1.3].max() < 0.01


def test_validate_rejects_nan_and_bad_shapes():
    with pytest.raises(EmotalkError, match="NaN"):
        audio.validate_samples(np.array([0.0, np.nan], np.float32))
    with pytest.raises(EmotalkError, match="mono"):
        audio.validate_samples(np.zeros((2, 10)))
    with pytest.raises(EmotalkError):
        audio.validate_samples(["a", "b"])


def test_predictor_rejects_nan_without_losing_state():
    p = AmplitudeJawBaseline()
    x = speechlike(1.0)
    a = p.push(x[:8000])
    with pytest.raises(EmotalkError):
        p.push(np.full(100, np.nan, np.float32))
    b = p.push(x[8000:])
    ref = AmplitudeJawBaseline()
    r = ref.push(x)
    np.testing.assert_allclose(np.concatenate([a.values, b.values]), r.values, atol=1e-6)


@pytest.mark.parametrize("sr,channels", [(8000, 1), (44100, 2), (48000, 1), (22050, 2)])
def test_load_audio_any_rate_and_channels(tmp_path, sr, channels):
    from scipy.io import wavfile
    t = np.arange(sr) / sr
    x = 0.3 * np.sin(2 * np.pi * 220 * t)
    data = np.stack([x] * channels, axis=1) if channels > 1 else x
    p = tmp_path / "a.wav"
    wavfile.write(str(p), sr, (data * 32767).astype(np.int16))
    y = audio.load_audio(str(p))
    assert abs(y.size - 16000) <= 2
    assert 0.15 < np.sqrt(np.mean(y ** 2)) < 0.25


def test_load_audio_errors(tmp_path):
    bad = tmp_path / "not.wav"
    bad.write_text("this is not audio")
    with pytest.raises(EmotalkError, match="not a readable WAV"):
        audio.load_audio(str(bad))
    with pytest.raises(EmotalkError, match="no such file"):
        audio.load_audio(str(tmp_path / "missing.wav"))
    empty = tmp_path / "empty.wav"
    audio.write_wav(str(empty), np.zeros(0, np.float32))
    with pytest.raises(EmotalkError, match="empty"):
        audio.load_audio(str(empty))


@pytest.mark.parametrize("sr_in", [8000, 22050, 44100, 48000])
def test_stream_resampler_chunk_invariant(sr_in):
    x = np.sin(2 * np.pi * 300 * np.arange(sr_in) / sr_in).astype(np.float32)
    whole = audio.StreamResampler(sr_in).push(x)
    r = audio.StreamResampler(sr_in)
    parts = np.concatenate([r.push(x[i:i + 777]) for i in range(0, x.size, 777)])
    np.testing.assert_array_equal(parts, whole)
    ref = np.sin(2 * np.pi * 300 * np.arange(whole.size) / 16000)
    assert np.abs(whole - ref).max() < 0.02
