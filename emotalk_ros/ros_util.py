"""Node-side helpers shared by the emotalk_ros nodes (imports rclpy; not part of the core).

* :class:`ParamSpec` + :func:`declare_parameters`: every parameter is declared with a
  ``ParameterDescriptor`` carrying a description, a ``FloatingPointRange`` /
  ``IntegerRange`` where numeric (rclpy then rejects out-of-range sets by itself),
  ``read_only`` for structural parameters, and an allowed-values list for strings
  (checked by :func:`check_choices` in the node's set-parameters callback).
* :func:`diagnostic_array`: one ``DiagnosticStatus`` with key/values.
* :func:`joint_state`: a ``sensor_msgs/JointState`` from names + values.
* :func:`audio_from_msg`: ``std_msgs/Float32MultiArray`` -> (N,) float32, rejecting
  multi-channel layouts with :class:`EmotalkError`.
* :func:`stamp_from_ns`: nanoseconds -> ``builtin_interfaces/Time``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np
from builtin_interfaces.msg import Time
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rcl_interfaces.msg import (
    FloatingPointRange,
    IntegerRange,
    ParameterDescriptor,
    ParameterType,
    SetParametersResult,
)
from rclpy.parameter import Parameter
from sensor_msgs.msg import JointState

from .errors import EmotalkError


@dataclass(frozen=True)
class ParamSpec:
    """One node parameter: name, default (its type fixes the ROS type), description, limits.

    ``lo``/``hi``/``step``: numeric range (int or float parameters); ``choices``:
    allowed string values; ``read_only``: structural (set only at startup).
    ``array_type``: ROS type for list defaults (e.g. an empty string list).
    """

    name: str
    default: Any
    description: str
    lo: Optional[float] = None
    hi: Optional[float] = None
    step: float = 0
    read_only: bool = False
    choices: Tuple[str, ...] = ()
    array_type: Optional[int] = None


def descriptor(spec: ParamSpec) -> ParameterDescriptor:
    """The ``ParameterDescriptor`` of ``spec`` (with range and read-only flag)."""
    text = spec.description
    if spec.choices:
        text += " (one of: " + ", ".join(spec.choices) + ")"
    d = ParameterDescriptor(name=spec.name, description=text, read_only=spec.read_only)
    if spec.lo is not None and spec.hi is not None:
        if isinstance(spec.default, bool):
            pass
        elif isinstance(spec.default, int):
            d.type = ParameterType.PARAMETER_INTEGER
            d.integer_range = [IntegerRange(from_value=int(spec.lo), to_value=int(spec.hi),
                                            step=int(spec.step or 1))]
        elif isinstance(spec.default, float):
            d.type = ParameterType.PARAMETER_DOUBLE
            d.floating_point_range = [FloatingPointRange(from_value=float(spec.lo),
                                                         to_value=float(spec.hi),
                                                         step=float(spec.step))]
    if spec.choices:
        d.additional_constraints = "one of: " + ", ".join(spec.choices)
    return d


def declare_parameters(node, specs: Sequence[ParamSpec]) -> Dict[str, Any]:
    """Declare every spec on ``node``; returns {name: value} after overrides.

    Raises :class:`EmotalkError` when a string value is not one of its choices.
    """
    values = {}
    for spec in specs:
        if spec.array_type is not None and not spec.default:
            p = node.declare_parameter(spec.name, Parameter.Type(spec.array_type),
                                       descriptor(spec))
            value = p.value if p.value is not None else []
        else:
            value = node.declare_parameter(spec.name, spec.default, descriptor(spec)).value
        if spec.choices and value not in spec.choices:
            raise EmotalkError(f"parameter {spec.name}={value!r} is invalid; valid values: "
                               + ", ".join(spec.choices))
        values[spec.name] = value
    return values


def check_choices(specs: Sequence[ParamSpec], params: Iterable[Parameter]) -> SetParametersResult:
    """Set-parameters callback helper: reject string values outside their ``choices``."""
    by_name = {s.name: s for s in specs}
    for p in params:
        spec = by_name.get(p.name)
        if spec is not None and spec.choices and p.value not in spec.choices:
            return SetParametersResult(
                successful=False,
                reason=f"{p.name}={p.value!r} is invalid; valid values: {', '.join(spec.choices)}")
    return SetParametersResult(successful=True)


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
        raise EmotalkError(f"audio: expected mono samples, got layout {dims}; chunk dropped")
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


def run_node(node_factory, name: str, args=None, spin=None, **init_kwargs) -> int:
    """The Humble/Jazzy ``main()`` form shared by the nodes: ``rclpy.init``, spin, stop on
    Ctrl-C or external shutdown, always ``destroy_node`` + ``rclpy.try_shutdown``.

    ``spin(node)`` (default ``rclpy.spin``) runs the node until it should stop;
    ``init_kwargs`` go to ``rclpy.init`` (e.g. ``signal_handler_options``).
    A node whose constructor raises :class:`EmotalkError` (missing model, device or file)
    logs one fatal line and the process exits with 1; otherwise 0.
    """
    import rclpy
    from rclpy.executors import ExternalShutdownException

    rclpy.init(args=args, **init_kwargs)
    node = None
    code = 0
    try:
        node = node_factory()
        (spin or rclpy.spin)(node)
    except EmotalkError as exc:
        rclpy.logging.get_logger(name).fatal(f"cannot start: {exc}")
        code = 1
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
    return code
