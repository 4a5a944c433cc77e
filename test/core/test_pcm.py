"""decode_pcm: other stacks' byte and numeric sample arrays -> mono float32 in [-1, 1]."""

import array

import numpy as np
import pytest

from emotalk_ros.core.pcm import decode_pcm
from emotalk_ros.errors import EmotalkError


def test_byte_encodings_round_trip():
    x = np.array([0.0, 0.5, -0.5, 0.999, -1.0])
    s16 = np.round(x * 32767).astype("<i2")
    assert np.allclose(decode_pcm(s16.tobytes(), "s16le"), s16 / 32768.0, atol=1e-7)
    assert np.allclose(decode_pcm(x.astype("<f4").tobytes(), "f32le"), x, atol=1e-7)
    s32 = np.round(x * 2 ** 31 * 0.999).astype("<i4")
    assert np.allclose(decode_pcm(s32.tobytes(), "s32le"), s32 / 2.0 ** 31, atol=1e-7)
    u8 = np.array([128, 255, 0], np.uint8)
    assert np.allclose(decode_pcm(u8.tobytes(), "u8"), [0.0, 127 / 128, -1.0])
    # the containers rclpy hands out for uint8[] and byte[]
    assert np.allclose(decode_pcm(array.array("B", s16.tobytes())), s16 / 32768.0)
    assert np.allclose(decode_pcm([bytes([b]) for b in s16.tobytes()]), s16 / 32768.0)


def test_numeric_arrays_are_scaled_by_their_type_and_channels_are_split():
    i16 = array.array("h", [0, 16384, -32768, 100, -100, 200])
    y = decode_pcm(i16, channels=2, channel=1)
    assert y.dtype == np.float32 and np.allclose(y, [16384 / 32768, 100 / 32768, 200 / 32768])
    assert np.allclose(decode_pcm(array.array("f", [0.25, -2.0])), [0.25, -1.0])   # clipped
    assert np.allclose(decode_pcm(np.array([0, 65535], np.uint16)), [-1.0, 32767 / 32768])
    assert decode_pcm(b"").size == 0 and decode_pcm([]).size == 0


@pytest.mark.parametrize("data,kwargs,text", [
    (b"\x00\x01\x02", {}, "3 bytes are not whole s16le frames of 1 channel"),
    (bytes(8), {"encoding": "mp3"}, "unknown encoding 'mp3'"),
    (bytes(8), {"channels": 2, "channel": 2}, "channel 2 does not exist in 2-channel audio"),
    (array.array("h", [1, 2, 3]), {"channels": 2}, "3 samples are not whole frames"),
    (array.array("f", [0.1, float("nan")]), {}, "NaN or Inf"),
    (["a", "b"], {}, "are not numbers"),
    (np.zeros((2, 2), np.float32), {}, "flat array"),
])
def test_bad_input_is_one_clear_error(data, kwargs, text):
    with pytest.raises(EmotalkError, match=text):
        decode_pcm(data, **kwargs)
