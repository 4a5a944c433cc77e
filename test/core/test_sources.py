"""Audio sources: real-time pacing and looping of FileSource, MicSource device errors."""

import time

import numpy as np
import pytest

from emotalk_ros.core import sources as audio_source
from emotalk_ros.core.audio import write_wav
from emotalk_ros.core.sources import FileSource, MicSource
from emotalk_ros.errors import EmotalkError

SR = 16000


@pytest.fixture
def ramp_wav(tmp_path):
    """0.25 s of a distinct ramp, so positions in the stream can be identified."""
    x = np.linspace(-0.5, 0.5, SR // 4, dtype=np.float32)
    p = tmp_path / "ramp.wav"
    write_wav(str(p), x, SR)
    return str(p), x


def test_file_source_realtime_pacing(ramp_wav):
    path, _ = ramp_wav
    src = FileSource(path, SR, block_size=320, loop=True)
    src.start()
    t0 = time.monotonic()
    got = 0
    checkpoints = []
    while time.monotonic() - t0 < 0.6:
        got += sum(b.size for b in src.read())
        checkpoints.append((time.monotonic() - t0, got))
        time.sleep(0.005)
    for t, n in checkpoints:
        # never ahead of real time, never more than ~2 blocks + poll jitter behind
        assert n <= t * SR + 1
        assert n >= (t - 0.05) * SR - 2 * 320
    assert abs(got - 0.6 * SR) < 0.05 * SR


def test_file_source_loops_seamlessly(ramp_wav):
    path, x = ramp_wav
    q = np.round(x * 32767) / 32767            # what the 16-bit file holds
    src = FileSource(path, SR, block_size=300, loop=True, realtime=False)
    src.start()
    blocks = src.read() + src.read() + src.read()
    assert all(b.size == 300 for b in blocks)
    stream = np.concatenate(blocks)
    assert stream.size >= 2 * x.size          # wrapped around at least once
    expected = np.tile(q, 3)[:stream.size]
    assert np.allclose(stream, expected, atol=2e-4)
    assert not src.done


def test_file_source_without_loop_ends(ramp_wav):
    path, x = ramp_wav
    src = FileSource(path, SR, block_size=320, loop=False, realtime=False)
    src.start()
    blocks = src.read()
    assert sum(b.size for b in blocks) == x.size
    assert all(b.size == 320 for b in blocks[:-1]) and blocks[-1].size == x.size % 320
    assert src.done and src.read() == []


def test_file_source_bad_file(tmp_path):
    p = tmp_path / "not_audio.wav"
    p.write_text("hello")
    with pytest.raises(EmotalkError, match="not a readable WAV"):
        FileSource(str(p), SR)


class _FakeSd:
    """Stands in for the sounddevice module: two inputs and one output-only device."""

    class PortAudioError(Exception):
        pass

    @staticmethod
    def query_devices():
        return [
            {"name": "HDA Intel PCH: ALC892 Analog", "max_input_channels": 2},
            {"name": "speakers", "max_input_channels": 0},
            {"name": "pulse", "max_input_channels": 32},
        ]


def test_mic_missing_device_lists_devices(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "sounddevice", _FakeSd)
    with pytest.raises(EmotalkError) as e:
        MicSource(device="no-such-microphone", sample_rate=SR)
    msg = str(e.value)
    assert "no-such-microphone" in msg
    assert "0: HDA Intel PCH: ALC892 Analog" in msg and "2: pulse" in msg
    assert "speakers" not in msg               # output-only devices are not offered
    with pytest.raises(EmotalkError, match="available input devices"):
        MicSource(device="1", sample_rate=SR)  # index of an output-only device
    assert audio_source.resolve_input_device("pulse") == 2
    assert audio_source.resolve_input_device("alc892") == 0
    assert audio_source.resolve_input_device("") is None


def test_mic_missing_device_real_portaudio():
    pytest.importorskip("sounddevice")
    with pytest.raises(EmotalkError, match="available input devices"):
        MicSource(device="definitely-not-a-device-42", sample_rate=SR)
