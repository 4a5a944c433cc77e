"""Conversions between ROS messages and numpy (the nodes' only message-building code).

* :func:`joint_state`: names + (N,) values -> ``sensor_msgs/JointState``.
* :func:`audio_from_msg` / :func:`audio_to_msg`: ``std_msgs/Float32MultiArray`` <-> (N,)
  float32 mono samples.
* :func:`diagnostic_array`: one ``DiagnosticStatus`` with key/values.
* :func:`stamp_from_ns`: nanoseconds -> ``builtin_interfaces/Time``.
"""

from typing import Any, Dict, List, Sequence

import numpy as np
from builtin_interfaces.msg import Time
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from sensor_msgs.msg import JointState

from emotalk_ros.core.limits import quote
from emotalk_ros.errors import EmotalkError


def stamp_from_ns(ns: int) -> Time:
    """Integer nanoseconds -> builtin_interfaces/Time (clamped at 0)."""
    ns = max(0, int(ns))
    return Time(sec=ns // 1_000_000_000, nanosec=ns % 1_000_000_000)


def joint_state(names: Sequence[str], values: np.ndarray, stamp_ns: int,
                frame_id: str = "") -> JointState:
    """JointState with ``names`` and ``values`` (N,) as positions (finite floats)."""
    msg = JointState()
    msg.header.stamp = stamp_from_ns(stamp_ns)
    msg.header.frame_id = frame_id
    msg.name = list(names)
    msg.position = [float(v) for v in np.nan_to_num(np.asarray(values, np.float64))]
    return msg


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v)


def diagnostic_array(stamp: Time, name: str, hardware_id: str, level, message: str,
                     values: Dict[str, Any]) -> DiagnosticArray:
    """A DiagnosticArray holding one status ``name`` with ``values`` as key/value pairs.

    ``level`` is ``DiagnosticStatus.OK``/``WARN``/``ERROR`` (bytes) or the same as int.
    """
    lvl = level if isinstance(level, bytes) else bytes([int(level)])
    st = DiagnosticStatus(level=lvl, name=name, message=message,
                          hardware_id=hardware_id)
    st.values = [KeyValue(key=k, value=_fmt(v)) for k, v in values.items()]
    arr = DiagnosticArray()
    arr.header.stamp = stamp
    arr.status = [st]
    return arr


def audio_from_msg(msg) -> np.ndarray:
    """Float32MultiArray -> (N,) float32 mono samples.

    A layout with more than one dimension of size > 1 (interleaved channels) is
    rejected with :class:`EmotalkError`; NaN/Inf checks happen in the runtime.
    """
    dims: List[int] = [int(d.size) for d in msg.layout.dim]
    if sum(1 for s in dims if s > 1) > 1:
        raise EmotalkError(f"audio: expected mono samples, got layout {quote(dims)}; "
                           "chunk dropped")
    return np.frombuffer(memoryview(msg.data), dtype=np.float32) if hasattr(msg.data, "typecode") \
        else np.asarray(msg.data, dtype=np.float32)


def audio_to_msg(samples: np.ndarray):
    """(N,) float32 -> Float32MultiArray with a one-dimension layout labelled 'samples'."""
    from std_msgs.msg import Float32MultiArray, MultiArrayDimension

    x = np.ascontiguousarray(samples, dtype=np.float32).reshape(-1)
    msg = Float32MultiArray()
    msg.layout.dim = [MultiArrayDimension(label="samples", size=int(x.size), stride=int(x.size))]
    msg.data = x
    return msg
