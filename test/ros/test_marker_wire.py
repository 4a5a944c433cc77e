"""The pre-serialised Marker deserialises to exactly the message rclpy would build.

(CDR padding bytes are not initialised by the serialiser, so the comparison is of the
deserialised messages, every field, not of the raw bytes.)"""

import numpy as np
import pytest

pytest.importorskip("rclpy")

from geometry_msgs.msg import Point  # noqa: E402
from rclpy.serialization import deserialize_message, serialize_message  # noqa: E402
from std_msgs.msg import ColorRGBA  # noqa: E402
from visualization_msgs.msg import Marker  # noqa: E402

from emotalk_ros.errors import EmotalkError
from emotalk_ros.ros.marker_wire import MarkerWire


def template():
    m = Marker()
    m.header.frame_id = "face"
    m.ns = "face"
    m.id = 3
    m.type = Marker.TRIANGLE_LIST
    m.pose.orientation.x = m.pose.orientation.w = 0.5
    m.scale.x = m.scale.y = m.scale.z = 1.0
    m.color.a = 1.0
    return m


def reference(sec, nsec, pts, cols):
    m = template()
    m.header.stamp.sec, m.header.stamp.nanosec = sec, nsec
    m.points = [Point(x=x, y=y, z=z) for x, y, z in pts.tolist()]
    if cols is not None:
        m.colors = [ColorRGBA(r=r, g=g, b=b, a=a) for r, g, b, a in cols.tolist()]
    # through the wire once, so both sides went through the same float conversions
    return deserialize_message(bytes(serialize_message(m)), Marker)


@pytest.mark.parametrize("with_colors", [True, False])
def test_encode_equals_rclpy_serialisation(with_colors):
    n = 999
    t = template()
    wire = MarkerWire(t, n, with_colors=with_colors)
    assert t.header.stamp.sec == 0 and len(t.points) == 0     # the template is not modified
    rng = np.random.default_rng(0)
    for sec, nsec in ((0, 0), (1_763_700_000, 999_999_999), (42, 7)):
        pts = rng.normal(size=(n, 3))
        cols = rng.random((n, 4)).astype(np.float32) if with_colors else None
        got = wire.encode(sec, nsec, pts, cols)
        assert len(got) == len(serialize_message(template())) + n * (
            24 + (16 if with_colors else 0)
        )
        back = deserialize_message(got, Marker)
        assert back == reference(sec, nsec, pts, cols)
        assert back.header.stamp.sec == sec and back.header.frame_id == "face" and back.id == 3
        assert (back.points[-1].x, back.points[-1].y, back.points[-1].z) == tuple(pts[-1])
    # RGB input gets alpha 1
    if with_colors:
        pts = rng.normal(size=(n, 3))
        rgb = rng.random((n, 3)).astype(np.float32)
        rgba = np.concatenate([rgb, np.ones((n, 1), np.float32)], axis=1)
        assert deserialize_message(wire.encode(5, 6, pts, rgb), Marker) == reference(
            5, 6, pts, rgba
        )
        # a different payload gives a different message (the comparison can fail)
        assert deserialize_message(wire.encode(5, 6, pts + 1e-9, rgb), Marker) != reference(
            5, 6, pts, rgba
        )


def test_bad_shapes_are_refused():
    wire = MarkerWire(template(), 12, with_colors=True)
    with pytest.raises(EmotalkError):
        wire.encode(0, 0, np.zeros((11, 3)), np.zeros((12, 3)))
    with pytest.raises(EmotalkError):
        wire.encode(0, 0, np.zeros((12, 3)), np.zeros((12, 2)))
    with pytest.raises(EmotalkError):
        wire.encode(0, 0, np.zeros((12, 3)), None)
    with pytest.raises(EmotalkError):
        MarkerWire(template(), 0)
