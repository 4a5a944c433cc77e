"""ROS 2 node ``face_audio_capture``: microphone or wav file -> the ``face/audio`` topic.

The node and topic names cannot collide with ros-drivers/audio_common, whose ``audio_capture``
node publishes audio_common_msgs/AudioData on ``audio``. The old executable ``audio_capture``
is kept for one release as a deprecated alias (:func:`main_deprecated`): it starts this node
under its old node name (so old params files still apply), publishing on ``face/audio``.

Publications
  ``face/audio`` (std_msgs/Float32MultiArray, qos.AUDIO): mono float32 samples in [-1, 1]
  at ``sample_rate``, one message per block of ``block_size`` samples (the last block
  of a non-looped file may be shorter; a burst of more than 10 blocks delivered at once by
  the device is merged into at most 10 messages so the keep-last QoS never replaces unsent
  audio). A file is played at real-time pace.
  ``/diagnostics`` (diagnostic_msgs/DiagnosticArray, qos.DIAGNOSTICS, 1 Hz): device
  overflows, samples dropped because the node fell behind, blocks published.

Parameters (all read-only: set them at startup)
  ``source`` (mic|file): where the audio comes from.
  ``device`` (str): input device name (substring) or index; '' = the default input.
  ``sample_rate`` (int Hz), ``block_size`` (int samples), ``channel`` (int, 0-based
  input channel to keep).
  ``file.path`` (str): wav file for ``source=file`` (any rate/channels; resampled and
  mixed to mono). ``file.loop`` (bool): replay the file forever.
  ``file.wait_subscribers`` (int, read-only, default 1): subscribers of ``face/audio`` to wait
  for before the file starts (e.g. 2 for the animator plus a recorder).

A missing device or file fails at startup with a clear error (for devices: the list
of available input devices) and exit code 1. A file starts playing once the ``face/audio``
topic has ``file.wait_subscribers`` subscribers (plus 0.5 s for the rest of the graph to
match), or after 5 s.
"""

from __future__ import annotations

import sys
import time

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from rclpy.node import Node
from std_msgs.msg import Float32MultiArray

from emotalk_ros.core.sources import FileSource, MicSource
from emotalk_ros.errors import EmotalkError
from emotalk_ros.ros import qos
from emotalk_ros.ros.declare import check_choices, declare_parameters
from emotalk_ros.ros.guard import CallbackGuard
from emotalk_ros.ros.messages import audio_to_msg, diagnostic_array, stamp_from_ns
from emotalk_ros.ros.parameters import FACE_AUDIO_CAPTURE as PARAMETERS
from emotalk_ros.ros.run import run_node

MAX_MESSAGES_PER_POLL = 10  # more blocks than this at once are merged into this many messages
FILE_START_GRACE_S = 0.5     # s after the first subscriber matched before a file starts
FILE_START_TIMEOUT_S = 5.0   # s after which a file starts even without subscribers
NODE_NAME = "face_audio_capture"
TOPIC = "face/audio"
DEPRECATED_NAME = "audio_capture"   # the executable and node name before 0.2; goes in 0.3



class AudioCaptureNode(Node):
    """Publishes mic or file audio; raises EmotalkError at startup for a missing device/file."""

    def __init__(self, node_name: str = NODE_NAME, **kwargs):
        super().__init__(node_name, **kwargs)
        p = declare_parameters(self, PARAMETERS)
        self.add_on_set_parameters_callback(lambda ps: check_choices(PARAMETERS, ps))
        if p["source"] == "file":
            if not p["file.path"]:
                raise EmotalkError("source=file needs the file.path parameter")
            self.source = FileSource(p["file.path"], p["sample_rate"], p["block_size"],
                                     loop=p["file.loop"])
            what = f"file {p['file.path']} ({self.source.duration_s:.2f} s" \
                   f"{', looped' if p['file.loop'] else ''})"
        else:
            self.source = MicSource(p["device"], p["sample_rate"], p["block_size"], p["channel"])
            what = f"microphone {p['device'] or '(default)'} channel {p['channel']}"
        self._pub = self.create_publisher(Float32MultiArray, "face/audio", qos.AUDIO)
        self._pub_diag = self.create_publisher(DiagnosticArray, "/diagnostics", qos.DIAGNOSTICS)
        self._blocks = 0
        self._samples = 0
        self._announced_end = False
        self._prev_overflows = 0
        self._source_kind = p["source"]
        # a file starts once someone listens (plus a short grace for the rest of the graph to
        # match), or after FILE_START_TIMEOUT_S regardless; a microphone starts at once
        self._started = False
        self._t_create = time.monotonic()
        self._t_first_sub = None
        self._wait_subs = int(p["file.wait_subscribers"])
        if p["source"] == "mic":
            self._start_source()
        period = max(0.005, 0.5 * p["block_size"] / p["sample_rate"])
        self.guard = CallbackGuard(self)
        self.create_timer(period, self.guard.wrap(self._on_poll))
        self.create_timer(1.0, self.guard.wrap(self._on_diagnostics))
        self.get_logger().info(f"{self.get_name()}: {what} at {p['sample_rate']} Hz, "
                               f"{p['block_size']}-sample blocks")

    def _start_source(self) -> None:
        self.source.start()
        self._started = True

    def _on_poll(self) -> None:
        if not self._started:
            now = time.monotonic()
            if self._t_first_sub is None and self._pub.get_subscription_count() >= self._wait_subs:
                self._t_first_sub = now
            if (self._t_first_sub is not None and now - self._t_first_sub >= FILE_START_GRACE_S) \
                    or now - self._t_create >= FILE_START_TIMEOUT_S:
                self._start_source()
            return
        blocks = self.source.read()
        if len(blocks) > MAX_MESSAGES_PER_POLL:
            # a burst (device backlog): at most MAX_MESSAGES_PER_POLL messages, so the
            # keep-last AUDIO QoS cannot replace unsent chunks, each as small as that allows
            # (one huge message would raise every buffer's high-water mark for good)
            per = -(-len(blocks) // MAX_MESSAGES_PER_POLL)
            blocks = [np.concatenate(blocks[i:i + per]) for i in range(0, len(blocks), per)]
        for block in blocks:
            self._pub.publish(audio_to_msg(block))
            self._blocks += 1
            self._samples += block.size
        if self.source.done and not self._announced_end:
            self._announced_end = True
            self.get_logger().info(f"end of file after {self._samples} samples")

    def _on_diagnostics(self) -> None:
        overflows = self.source.overflows
        level, message = DiagnosticStatus.OK, "ok"
        if overflows > self._prev_overflows:
            level, message = DiagnosticStatus.WARN, "input overflow: the device lost samples"
        if self.guard.errors > getattr(self, "_errors_seen", 0):
            level, message = DiagnosticStatus.ERROR, "callback error: " + self.guard.last_error
        self._errors_seen = self.guard.errors
        self._prev_overflows = overflows
        values = {"source": self._source_kind, "overflows": overflows,
                  "dropped_samples": self.source.dropped_samples,
                  "blocks_published": self._blocks, "samples_published": self._samples,
                  "finished": self.source.done, "bad_input_messages": self.guard.bad_input,
                  "callback_errors": self.guard.errors}
        self._pub_diag.publish(diagnostic_array(
            stamp_from_ns(self.get_clock().now().nanoseconds), f"{self.get_name()}: source",
            self.get_fully_qualified_name(), level, message, values))

    def destroy_node(self) -> None:
        """Stop the audio source, then destroy the node."""
        self.source.stop()
        super().destroy_node()


def main(args=None) -> int:
    """rclpy.init, spin, Ctrl-C/external shutdown, destroy_node + try_shutdown (run_node)."""
    return run_node(AudioCaptureNode, NODE_NAME, args)


def main_deprecated(args=None) -> int:
    """The deprecated ``audio_capture`` executable: this node under its old node name (old
    params files keep applying), publishing on ``face/audio``; warns once at start."""
    def factory():
        node = AudioCaptureNode(node_name=DEPRECATED_NAME)
        node.get_logger().warning(
            f"the executable and node name '{DEPRECATED_NAME}' are deprecated (they collide "
            f"with audio_common's audio_capture) and go away in 0.3: run '{NODE_NAME}' and "
            f"rename '/**/{DEPRECATED_NAME}' to '/**/{NODE_NAME}' in your params file. "
            f"Audio is published on '{TOPIC}'.")
        return node

    return run_node(factory, DEPRECATED_NAME, args)


if __name__ == "__main__":
    sys.exit(main())
