"""A pre-serialised ``visualization_msgs/Marker`` whose stamp, points and colours are
patched in place with numpy, for publishing a large TRIANGLE_LIST at the blendshape rate.

Why: rclpy converts a Marker to its C struct one ``geometry_msgs/Point`` and one
``std_msgs/ColorRGBA`` object at a time (about 3 us per point), so a 34k-point face mesh
costs ~45 ms per message in Python, far below 60 Hz. The triangle topology never changes,
so the serialised message (CDR) has a fixed layout: only the header stamp and the float
payload of ``points`` and ``colors`` change between frames. This module serialises a
template once with ``rclpy.serialization`` (the distro's own type support, so the Humble
and the Jazzy/Kilted Marker definitions both work), finds those three byte ranges by
searching for sentinel values written into the template, and then writes each frame's
values straight into a copy of the bytes. ``Publisher.publish`` accepts the bytes as a
serialised message (rclpy has ``publish_raw`` since Foxy).

On construction the result is checked: a random payload is encoded, deserialised with the
distro's type support and compared field by field. Any mismatch raises
:class:`emotalk_ros.errors.EmotalkError`, and the caller falls back to message objects.
"""

from __future__ import annotations

import copy
from typing import Optional

import numpy as np
from geometry_msgs.msg import Point
from rclpy.serialization import deserialize_message, serialize_message
from std_msgs.msg import ColorRGBA
from visualization_msgs.msg import Marker

from emotalk_ros.errors import EmotalkError

# Stamp sentinel: unlikely to occur elsewhere in a Marker header.
_SENTINEL_SEC = 0x5A3C1E77
_SENTINEL_NSEC = 987_654_321


def _find_unique(buf: bytes, pattern: bytes, what: str) -> int:
    i = buf.find(pattern)
    if i < 0:
        raise EmotalkError(f"marker wire: {what} not found in the serialised template")
    if buf.find(pattern, i + 1) >= 0:
        raise EmotalkError(f"marker wire: {what} occurs more than once in the serialised template")
    return i


class MarkerWire:
    """Serialised Marker bytes for ``n_points`` points (and colours) with a fixed header.

    ``template``: a Marker with every constant field set (frame_id, ns, id, type, action,
    pose, scale, colour, ...); its ``points`` and ``colors`` are ignored. ``with_colors``:
    whether each point carries a colour (RGBA).
    """

    def __init__(self, template: Marker, n_points: int, with_colors: bool = True):
        if n_points <= 0:
            raise EmotalkError(f"marker wire needs at least one point, got {n_points}")
        self.n_points = int(n_points)
        self.with_colors = bool(with_colors)
        n = self.n_points
        # sentinels: distinct, exactly representable values
        p_sent = (np.arange(3 * n, dtype=np.float64) * 0.25 + 1.0e6 + 0.0625).reshape(n, 3)
        c_sent = (
            (np.arange(4 * n, dtype=np.float32) * np.float32(0.5) + np.float32(3.0e5)).reshape(
                n, 4
            )
            if with_colors
            else None
        )
        msg = copy.deepcopy(template)
        msg.header.stamp.sec = _SENTINEL_SEC
        msg.header.stamp.nanosec = _SENTINEL_NSEC
        msg.points = [Point(x=x, y=y, z=z) for x, y, z in p_sent.tolist()]
        msg.colors = [ColorRGBA(r=r, g=g, b=b, a=a) for r, g, b, a in c_sent.tolist()] \
            if with_colors else []
        buf = bytes(serialize_message(msg))
        if buf[:2] not in (b"\x00\x01", b"\x00\x03"):          # CDR / CDR2, little endian
            raise EmotalkError(f"marker wire: unsupported CDR encapsulation {buf[:4].hex()}")
        self._stamp_at = _find_unique(
            buf, np.array([_SENTINEL_SEC, _SENTINEL_NSEC], "<u4").tobytes(), "header stamp"
        )
        self._points_at = _find_unique(buf, p_sent.astype("<f8").tobytes(), "points payload")
        self._colors_at = _find_unique(buf, c_sent.astype("<f4").tobytes(), "colours payload") \
            if with_colors else -1
        self._template = bytearray(buf)
        self._stamp = np.frombuffer(self._template, "<u4", count=2, offset=self._stamp_at)
        self._points = np.frombuffer(self._template, "<f8", count=3 * n,
                                     offset=self._points_at).reshape(n, 3)
        self._colors = np.frombuffer(self._template, "<f4", count=4 * n,
                                     offset=self._colors_at).reshape(n, 4) if with_colors else None
        self._self_check(msg)

    @property
    def nbytes(self) -> int:
        """Size of one serialised Marker in bytes."""
        return len(self._template)

    def encode(self, sec: int, nanosec: int, points: np.ndarray,
               colors: Optional[np.ndarray] = None) -> bytes:
        """Serialised Marker with this stamp, ``points`` (N, 3) and ``colors`` (N, 3 or 4, alpha 1
        if 3)."""
        pts = np.asarray(points)
        if pts.shape != (self.n_points, 3):
            raise EmotalkError(f"marker wire expects points ({self.n_points}, 3), got {pts.shape}")
        self._stamp[0] = int(sec) & 0xFFFFFFFF
        self._stamp[1] = int(nanosec)
        self._points[:] = pts
        if self.with_colors:
            if colors is None:
                raise EmotalkError("marker wire was built with colours: pass colors")
            col = np.asarray(colors)
            if col.shape not in ((self.n_points, 3), (self.n_points, 4)):
                raise EmotalkError(
                    f"marker wire expects colors ({self.n_points}, 3|4), got {col.shape}"
                )
            self._colors[:, :col.shape[1]] = col
            if col.shape[1] == 3:
                self._colors[:, 3] = 1.0
        return bytes(self._template)

    def _self_check(self, template: Marker) -> None:
        """Encode a random payload, deserialise it with the distro's type support, compare."""
        rng = np.random.default_rng(7)
        n = self.n_points
        pts = rng.normal(size=(n, 3))
        cols = rng.random((n, 4)).astype(np.float32) if self.with_colors else None
        back = deserialize_message(self.encode(1234, 5678, pts, cols), Marker)
        ok = (back.header.stamp.sec == 1234 and back.header.stamp.nanosec == 5678
              and back.header.frame_id == template.header.frame_id and back.type == template.type
              and len(back.points) == n)
        if ok:
            # every point would take ~0.1 s on a large mesh: check the ends and a stride
            check = sorted({0, n - 1, *range(0, n, max(1, n // 64))})
            ok = all(
                (back.points[i].x, back.points[i].y, back.points[i].z) == tuple(pts[i])
                for i in check
            )
            if ok and self.with_colors:
                ok = len(back.colors) == n and all(
                    np.allclose(
                        [back.colors[i].r, back.colors[i].g, back.colors[i].b, back.colors[i].a],
                        cols[i],
                        rtol=0,
                        atol=0,
                    )
                    for i in check
                )
        if not ok:
            raise EmotalkError("marker wire: the patched bytes do not deserialise to the intended "
                               "Marker on this ROS distro")
