"""Declaring a node's parameter table (:mod:`emotalk_ros.ros.parameters`) on the node.

Every parameter is declared with a ``ParameterDescriptor`` carrying its description, a
``FloatingPointRange`` / ``IntegerRange`` where numeric (rclpy then rejects out-of-range sets
by itself), ``read_only`` for structural parameters, and the allowed values of a string
(checked by :func:`check_choices` in the node's set-parameters callback).
"""

from __future__ import annotations

from typing import Any, Dict, Iterable, Sequence

from rcl_interfaces.msg import (
    FloatingPointRange,
    IntegerRange,
    ParameterDescriptor,
    ParameterType,
    SetParametersResult,
)
from rclpy.parameter import Parameter

from emotalk_ros.errors import EmotalkError
from emotalk_ros.ros.parameters import ParamSpec

ARRAY_TYPES = {"string_array": Parameter.Type.STRING_ARRAY,
               "double_array": Parameter.Type.DOUBLE_ARRAY,
               "integer_array": Parameter.Type.INTEGER_ARRAY}


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
        if spec.array_type and not spec.default:
            p = node.declare_parameter(spec.name, ARRAY_TYPES[spec.array_type],
                                       descriptor(spec))
            value = p.value if p.value is not None else []
        else:
            value = node.declare_parameter(spec.name, spec.declared_default(),
                                           descriptor(spec)).value
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


