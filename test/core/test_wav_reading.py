"""Reading wav files: every layout scipy reads gives the same samples; truncated or corrupt
files give one clear line (property tests over cut and mangled headers); streaming reads and
the chunked resampler equal the whole-file path."""

import struct
import wave

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from scipy.io import wavfile

from emotalk_ros.core import audio
from emotalk_ros.errors import EmotalkError

PROP = settings(max_examples=150, deadline=None, database=None,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.function_scoped_fixture])


def scipy_reference(path, target_sr=16000):
    """The previous loader: scipy's reader, the same scaling, whole-signal resampling."""
    sr, data = wavfile.read(path)
    if data.dtype == np.uint8:
        x = (data.astype(np.float32) - 128.0) / 128.0
    elif data.dtype == np.int16:
        x = data.astype(np.float32) / 32768.0
    elif data.dtype == np.int32:
        x = data.astype(np.float32) / 2147483648.0
    else:
        x = data.astype(np.float32)
    if x.ndim == 2:
        x = x.mean(axis=1)
    return audio.resample(x, int(sr), target_sr)


def make_wav(path, sr, channels, dtype, seconds=0.8, seed=0):
    rng = np.random.default_rng(seed)
    n = int(sr * seconds) + 7
    if dtype == np.uint8:
        d = rng.integers(0, 256, (n, channels)).astype(np.uint8)
    elif np.issubdtype(dtype, np.floating):
        d = (0.5 * rng.uniform(-1, 1, (n, channels))).astype(dtype)
    else:
        d = rng.integers(-2 ** 15, 2 ** 15, (n, channels)).astype(dtype)
        if dtype == np.int32:
            d = d * 65536
    wavfile.write(path, sr, d[:, 0] if channels == 1 else d)
    return path


@pytest.mark.parametrize("sr,channels,dtype", [
    (16000, 1, np.int16), (22050, 1, np.int16), (44100, 2, np.int16), (48000, 2, np.float32),
    (8000, 1, np.uint8), (16000, 1, np.int32), (11025, 3, np.float64), (96000, 1, np.int16)])
def test_every_layout_reads_as_scipy_did(tmp_path, sr, channels, dtype):
    p = make_wav(str(tmp_path / "a.wav"), sr, channels, dtype)
    ref = scipy_reference(p)
    np.testing.assert_array_equal(audio.load_audio(p), ref)
    streamed = np.concatenate(list(audio.iter_audio(p, block_s=0.0731)))
    np.testing.assert_array_equal(streamed, ref)


def test_24_bit_and_big_endian_files(tmp_path):
    rng = np.random.default_rng(1)
    v = rng.integers(-2 ** 23, 2 ** 23, 4000).astype("<i4")
    raw = np.frombuffer(v.tobytes(), np.uint8).reshape(-1, 4)[:, :3].tobytes()
    p = str(tmp_path / "b24.wav")
    with wave.open(p, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(3)
        w.setframerate(16000)
        w.writeframes(raw)
    np.testing.assert_array_equal(audio.load_audio(p), scipy_reference(p))
    np.testing.assert_allclose(audio.load_audio(p), v / 2 ** 23, atol=1e-7)
    # RIFX: the same 16-bit samples, big-endian
    x = rng.integers(-2 ** 15, 2 ** 15, 3000).astype(">i2")
    body = b"WAVE" + b"fmt " + struct.pack(">IHHIIHH", 16, 1, 1, 16000, 32000, 2, 16) \
        + b"data" + struct.pack(">I", x.nbytes) + x.tobytes()
    q = tmp_path / "rifx.wav"
    q.write_bytes(b"RIFX" + struct.pack(">I", len(body)) + body)
    np.testing.assert_allclose(audio.load_audio(str(q)), x.astype(np.float32) / 32768.0)


def test_truncated_and_corrupt_files_give_one_clear_line(tmp_path):
    good = make_wav(str(tmp_path / "g.wav"), 16000, 1, np.int16)
    data = open(good, "rb").read()
    cases = {}
    for n in range(0, 45):                                # header cut anywhere (20-30 bytes too)
        cases[f"cut{n}"] = data[:n]
    cases["data_cut"] = data[:3000]                       # truncated data chunk
    cases["half_frame"] = data[:-1]                       # the last frame cut in half
    riff = bytearray(data)
    riff[22:24] = struct.pack("<H", 0)                    # 0 channels
    cases["no_channels"] = bytes(riff)
    fmt = bytearray(data)
    fmt[20:22] = struct.pack("<H", 2)                     # ADPCM: not supported
    cases["adpcm"] = bytes(fmt)
    for rate in (0, 1, 4_000_000_000):
        r = bytearray(data)
        r[24:28] = struct.pack("<I", rate)
        cases[f"rate{rate}"] = bytes(r)
    cases["text"] = b"hello, I am text"
    for name, blob in cases.items():
        p = tmp_path / f"{name}.wav"
        p.write_bytes(blob)
        with pytest.raises(EmotalkError) as e:
            audio.load_audio(str(p))
        msg = str(e.value)
        assert "\n" not in msg and len(msg) < 250 and str(p) in msg, (name, msg)
    for n in range(20, 31):
        with pytest.raises(EmotalkError, match="truncated"):
            audio.load_audio(str(tmp_path / f"cut{n}.wav"))
    with pytest.raises(EmotalkError, match="declares 25614 bytes but only"):
        audio.load_audio(str(tmp_path / "data_cut.wav"))
    with pytest.raises(EmotalkError, match="empty"):
        audio.write_wav(str(tmp_path / "e.wav"), np.zeros(0, np.float32))
        audio.load_audio(str(tmp_path / "e.wav"))


def test_open_ended_data_size_reads_to_the_end(tmp_path):
    good = make_wav(str(tmp_path / "g.wav"), 16000, 1, np.int16)
    data = bytearray(open(good, "rb").read())
    data[40:44] = b"\xff\xff\xff\xff"                     # a recorder that never finished
    p = tmp_path / "open.wav"
    p.write_bytes(bytes(data))
    np.testing.assert_array_equal(audio.load_audio(str(p)), audio.load_audio(good))


@pytest.fixture(scope="module")
def good_wav_bytes(tmp_path_factory):
    d = tmp_path_factory.mktemp("w")
    return open(make_wav(str(d / "g.wav"), 22050, 2, np.int16, seconds=0.1), "rb").read()


@PROP
@given(data=st.data())
def test_mangled_headers_are_read_or_refused_with_emotalk_error(tmp_path, good_wav_bytes,
                                                                 data):
    blob = bytearray(good_wav_bytes)
    for _ in range(data.draw(st.integers(0, 4))):          # overwrite bytes of the header
        i = data.draw(st.integers(0, 60))
        blob[i] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(blob)))
    blob = bytes(blob[:cut]) + data.draw(st.binary(max_size=64))
    p = tmp_path / "m.wav"
    p.write_bytes(blob)
    try:
        x = audio.load_audio(str(p))
    except EmotalkError as exc:
        assert "\n" not in str(exc) and len(str(exc)) < 300
        return
    assert x.ndim == 1 and x.dtype == np.float32 and np.all(np.isfinite(x))


@PROP
@given(sr=st.sampled_from([8000, 11025, 22050, 44100, 48000, 16000, 12345]),
       sizes=st.lists(st.integers(1, 3000), min_size=1, max_size=12))
def test_chunked_resampler_equals_whole_signal_resampling(sr, sizes):
    rng = np.random.default_rng(len(sizes))
    x = rng.uniform(-1, 1, sum(sizes)).astype(np.float32)
    rs = audio.PolyResampler(sr, 16000)
    parts, i = [], 0
    for n in sizes:
        parts.append(rs.push(x[i:i + n]))
        i += n
    parts.append(rs.flush())
    np.testing.assert_allclose(np.concatenate(parts), audio.resample(x, sr, 16000),
                               rtol=0, atol=1e-7)
