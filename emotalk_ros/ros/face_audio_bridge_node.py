"""ROS 2 node ``face_audio_bridge``: a robot's existing audio stream -> ``face/audio``.

For a robot that already runs an audio stack (ros-drivers/audio_common's ``audio_capture``
publishing audio_common_msgs/AudioData on ``audio``, or a stack publishing AudioStamped
best-effort), this node subscribes to that stream and republishes one channel of it as this
package's audio message, so the animator needs no second microphone driver. The message type
is looked up by name at start-up (``input_type``), so the bridge works with any message that
holds its samples in one array field, and this package does not depend on audio_common_msgs.

Subscriptions
  ``input_topic`` (default ``audio``; type ``input_type``; qos.AUDIO_BEST_EFFORT, which
  matches best-effort and reliable publishers, or qos.AUDIO with ``input_qos: reliable``):
  the samples are read from the message's ``field`` (a dotted path): a byte array
  (``uint8[]``, e.g. AudioData.data of audio_common with ``format: wave``) is decoded with
  ``encoding``; a numeric array (e.g. AudioStamped's ``audio.audio_data.int16_data``) is
  scaled by its type. ``channels`` interleaved channels; ``channel`` is forwarded. A message
  that cannot be decoded is dropped with a throttled warning and counted.

Publications
  ``face/audio`` (std_msgs/Float32MultiArray, qos.AUDIO): mono float32 in [-1, 1] at the
  input's sample rate (set the animator's ``sample_rate`` to it; the animator resamples).
  ``/diagnostics`` (diagnostic_msgs/DiagnosticArray, qos.DIAGNOSTICS, 1 Hz): messages
  forwarded and dropped, the last problem.

Parameters (all read-only): ``input_topic``, ``input_type`` (``package/msg/Name``),
``field``, ``encoding`` (s16le|s32le|f32le|u8), ``channels``, ``channel``, ``input_qos``
(best_effort|reliable). An input type whose package is not installed, a field the type does
not have, or a channel outside ``channels`` fails at start-up with one line naming the
parameter, and exit code 1.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any, Tuple

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from rclpy.node import Node
from std_msgs.msg import Float32MultiArray

from emotalk_ros.core.pcm import decode_pcm
from emotalk_ros.errors import EmotalkError
from emotalk_ros.ros import qos
from emotalk_ros.ros.declare import declare_parameters
from emotalk_ros.ros.messages import audio_to_msg, diagnostic_array, stamp_from_ns
from emotalk_ros.ros.parameters import FACE_AUDIO_BRIDGE as PARAMETERS
from emotalk_ros.ros.run import run_node

WARN_THROTTLE_S = 5.0


def message_class(type_name: str):
    """``package/msg/Name`` (or ``package/Name``) -> the Python message class.

    Raises :class:`EmotalkError` naming the ``input_type`` parameter when the name is
    malformed, its package is not installed or has no such message.
    """
    parts = [p for p in str(type_name).strip().split("/") if p]
    if len(parts) == 2:
        parts = [parts[0], "msg", parts[1]]
    if len(parts) != 3 or parts[1] != "msg":
        raise EmotalkError(f"parameter input_type={type_name!r}: expected package/msg/Name, "
                           "e.g. audio_common_msgs/msg/AudioData")
    package, _, name = parts
    try:
        module = importlib.import_module(f"{package}.msg")
    except ImportError:
        raise EmotalkError(
            f"parameter input_type={type_name!r}: the message package {package!r} is not "
            f"installed (e.g. sudo apt install ros-$ROS_DISTRO-{package.replace('_', '-')})"
        ) from None
    cls = getattr(module, name, None)
    if cls is None:
        raise EmotalkError(f"parameter input_type={type_name!r}: {package} has no message "
                           f"{name!r}")
    return cls


def field_path(msg_class, field: str) -> Tuple[str, ...]:
    """The dotted ``field`` as attribute names, checked on a default ``msg_class`` message.

    Raises :class:`EmotalkError` naming the ``field`` parameter when an attribute is missing
    or the last one is not an array.
    """
    path = tuple(p for p in str(field).strip().split(".") if p)
    value: Any = msg_class()
    if not path:
        raise EmotalkError("parameter field is empty: name the message's sample array")
    for i, name in enumerate(path):
        if not hasattr(value, name) or name.startswith("_"):
            where = ".".join(path[:i]) or msg_class.__name__
            raise EmotalkError(f"parameter field={field!r}: {where} has no field {name!r}")
        value = getattr(value, name)
    if isinstance(value, (str, int, float, bool)) or not hasattr(value, "__len__"):
        raise EmotalkError(f"parameter field={field!r} is a {type(value).__name__}, not a "
                           "sample array")
    return path


class AudioBridgeNode(Node):
    """Republishes another stack's audio on ``face/audio`` (see the module docstring)."""

    def __init__(self, **kwargs):
        super().__init__("face_audio_bridge", **kwargs)
        p = declare_parameters(self, PARAMETERS)
        if p["channel"] >= p["channels"]:
            raise EmotalkError(f"parameter channel={p['channel']} must be below "
                               f"channels={p['channels']}")
        msg_class = message_class(p["input_type"])
        self._path = field_path(msg_class, p["field"])
        self._encoding = p["encoding"]
        self._channels = int(p["channels"])
        self._channel = int(p["channel"])
        self._forwarded = 0
        self._dropped = 0
        self._last_problem = ""
        self._pub = self.create_publisher(Float32MultiArray, "face/audio", qos.AUDIO)
        self._pub_diag = self.create_publisher(DiagnosticArray, "/diagnostics", qos.DIAGNOSTICS)
        self._sub = self.create_subscription(msg_class, p["input_topic"], self._on_input,
                                             qos.AUDIO_PROFILES[p["input_qos"]])
        self.create_timer(1.0, self._on_diagnostics)
        self.get_logger().info(
            f"face_audio_bridge: {self._sub.topic_name} ({p['input_type']}, field "
            f"{'.'.join(self._path)}, {self._encoding} if bytes, channel {self._channel} of "
            f"{self._channels}, {p['input_qos']}) -> face/audio")

    def _samples(self, msg) -> Any:
        value = msg
        for name in self._path:
            value = getattr(value, name)
        return value

    def _on_input(self, msg) -> None:
        try:
            x = decode_pcm(self._samples(msg), self._encoding, self._channels, self._channel)
        except (EmotalkError, ValueError, TypeError, AttributeError) as exc:
            self._dropped += 1
            self._last_problem = str(exc)
            self.get_logger().warning(f"{self._sub.topic_name}: message dropped: {exc}",
                                      throttle_duration_sec=WARN_THROTTLE_S)
            return
        if x.size == 0:
            return
        self._pub.publish(audio_to_msg(x))
        self._forwarded += 1

    def _on_diagnostics(self) -> None:
        level = DiagnosticStatus.WARN if self._dropped else DiagnosticStatus.OK
        values = {"input_topic": self._sub.topic_name, "messages_forwarded": self._forwarded,
                  "messages_dropped": self._dropped,
                  "last_problem": self._last_problem or "none"}
        self._pub_diag.publish(diagnostic_array(
            stamp_from_ns(self.get_clock().now().nanoseconds), "face_audio_bridge: input",
            self.get_fully_qualified_name(), level,
            "some input messages could not be decoded" if self._dropped else "ok", values))


def main(args=None) -> int:
    """rclpy.init, spin, Ctrl-C/external shutdown, destroy_node + try_shutdown (run_node)."""
    return run_node(AudioBridgeNode, "face_audio_bridge", args)


if __name__ == "__main__":
    sys.exit(main())
