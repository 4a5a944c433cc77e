"""Decoding other audio stacks' sample arrays into this package's mono float32 audio.

An audio message of another stack carries its samples either as bytes (audio_common's
``AudioData.data`` is ``uint8[]`` holding, with ``format: wave``, little-endian 16-bit PCM) or
as a numeric array (``AudioStamped``'s ``int16_data``, ``float32_data``). :func:`decode_pcm`
turns either into mono float32 in [-1, 1]: bytes through an explicit encoding, numeric arrays
scaled by their own type (integers by their full scale, floats as they are).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from emotalk_ros.errors import EmotalkError

# encoding of a byte field -> (numpy dtype, full scale, offset)
ENCODINGS = {
    "s16le": ("<i2", 32768.0, 0.0),
    "s32le": ("<i4", 2147483648.0, 0.0),
    "f32le": ("<f4", 1.0, 0.0),
    "u8": ("u1", 128.0, 128.0),
}


def _as_bytes(data: Any):
    """``data`` as a bytes-like object when it holds bytes (bytes, bytearray, uint8 arrays, a
    list of single-byte ``bytes`` as rclpy returns for ``byte[]``); None otherwise."""
    if isinstance(data, (bytes, bytearray, memoryview)):
        return bytes(data)
    typecode = getattr(data, "typecode", None)            # array.array from rclpy
    if typecode == "B":
        return data.tobytes()
    if isinstance(data, np.ndarray) and data.dtype == np.uint8:
        return data.tobytes()
    if isinstance(data, (list, tuple)) and data and all(isinstance(b, bytes) for b in data):
        return b"".join(data)
    return None


def decode_pcm(data: Any, encoding: str = "s16le", channels: int = 1,
               channel: int = 0) -> np.ndarray:
    """Samples of one channel of ``data`` as (N,) float32 in [-1, 1].

    ``data``: bytes (decoded with ``encoding``: s16le, s32le, f32le or u8) or a numeric
    array (integers scaled by their full scale, unsigned ones centred; floats kept).
    ``channels`` interleaved channels, of which ``channel`` (0-based) is returned. Raises
    :class:`EmotalkError` for an unknown encoding, a length that is not a whole number of
    frames, a bad channel, or non-finite samples.
    """
    if channels < 1 or not 0 <= channel < channels:
        raise EmotalkError(f"channel {channel} does not exist in {channels}-channel audio")
    raw = _as_bytes(data)
    if raw is not None:
        if encoding not in ENCODINGS:
            raise EmotalkError(f"unknown encoding {encoding!r}; known: "
                               + ", ".join(ENCODINGS))
        dtype, scale, offset = ENCODINGS[encoding]
        width = np.dtype(dtype).itemsize
        if len(raw) % (width * channels):
            raise EmotalkError(f"{len(raw)} bytes are not whole {encoding} frames of "
                               f"{channels} channel(s)")
        x = (np.frombuffer(raw, dtype=dtype).astype(np.float64) - offset) / scale
    else:
        x = np.asarray(data)
        if x.ndim != 1:
            raise EmotalkError(f"audio samples must be a flat array, got shape {x.shape}")
        if np.issubdtype(x.dtype, np.integer):
            half = float(2 ** (8 * x.dtype.itemsize - 1))
            centre = half if np.issubdtype(x.dtype, np.unsignedinteger) else 0.0
            x = (x.astype(np.float64) - centre) / half
        elif np.issubdtype(x.dtype, np.floating):
            x = x.astype(np.float64)
        elif x.size == 0:
            x = x.astype(np.float64)
        else:
            raise EmotalkError(f"audio samples of type {x.dtype} are not numbers")
        if x.size % channels:
            raise EmotalkError(f"{x.size} samples are not whole frames of {channels} "
                               "channel(s)")
    x = x.reshape(-1, channels)[:, channel]
    if not np.all(np.isfinite(x)):
        raise EmotalkError("audio samples contain NaN or Inf")
    return np.clip(x, -1.0, 1.0).astype(np.float32)
