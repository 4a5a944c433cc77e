"""ROS 2 node ``retarget``: ARKit blendshapes -> safe motor commands for a physical head.

A thin adapter around :class:`emotalk_ros.retarget.safety.Retargeter`: each input message is
mapped to raw motor targets and only the latest is kept; a control timer steps the
safety stage (filter, deadband, velocity/acceleration limits, soft start, stale-input
watchdog) at ``control_rate_hz`` and publishes the commands.

Subscriptions
  ``face/blendshapes`` (sensor_msgs/JointState, qos.FACE_STREAM; with
  ``input_best_effort`` qos.FACE_STREAM_BEST_EFFORT): names + positions in
  [0, 1], any accepted name spelling; a message without names but with 52 positions is
  read in canonical streaming order. Names missing from a message are held at their
  last value (0 before any). Unknown names are skipped and NaN/Inf values ignored
  (throttled warning; the first 16 distinct unknown names are kept for ``/diagnostics``,
  the rest only counted); a message whose names and positions differ in length, that names
  no blendshape, or that is larger than ``MAX_MESSAGE_BYTES`` (it is not even
  deserialised) is dropped with a throttled warning. A message whose non-zero
  ``header.stamp`` equals the previous one on its topic is a repeat, not fresh input: a
  frozen upstream that keeps re-sending its last frame goes stale and the motors ease to
  neutral. Every callback is total (:class:`emotalk_ros.ros.guard.CallbackGuard`).
  ``face/blendshapes_ahead`` (sensor_msgs/JointState, qos.FACE_AHEAD; with
  ``input_best_effort`` qos.FACE_AHEAD_BEST_EFFORT): the animator's frames as soon as they
  are computed (the robot's own speech: before their stamps); checked like
  ``face/blendshapes``. A frame here replaces the frames with later stamps received before
  it; a frame on ``face/blendshapes`` with a stamp already received is a duplicate and
  ignored.

Motor lag compensation: frames are kept by ``header.stamp`` (the time the depicted sound is
heard; 0 = on arrival) and each motor is driven by the face at now + its ``latency_ms`` from
the rig file + the nominal delay of the rig's smoothing filter + half a control period (a
command holds until the next one) (interpolated between frames). When frames arrive ahead of
their stamps, each motor's command is thus sent early by its own latency and those delays;
when they arrive late (the microphone path) every motor follows the newest frame as it
arrives. ``/diagnostics`` says which case applies (``timing``: ahead or late, and by how
much; ``filter_delay_ms``, ``command_hold_ms``).

Publications (at ``control_rate_hz``)
  ``face/motor_commands`` (std_msgs/Float64MultiArray, qos.MOTOR_COMMANDS: reliable,
  keep-last 10 as a ros2_control forward_command_controller subscribes): positions in
  the rig file's motor order and units, always within each motor's [min, max].
  ``face/motor_states`` (sensor_msgs/JointState, qos.FACE_STREAM): the same commands,
  named, with velocities.
  ``face/motor_trajectory`` (trajectory_msgs/JointTrajectory, qos.MOTOR_COMMANDS), only
  with ``publish_trajectory``: one point per tick (positions, velocities,
  ``time_from_start`` = one control period), for a joint_trajectory_controller.
  ``/diagnostics`` (diagnostic_msgs/DiagnosticArray, qos.DIAGNOSTICS, every
  ``diagnostics_period_s``): input age, stale flag, exit state, messages received and
  dropped, and the safety stage's counters (saturated inputs, clamped / non-finite
  targets, limited steps), in total and per motor; ``timing`` (ahead / late / none),
  ``frame_lead_ms`` (median stamp minus arrival of recent frames), the motors' latencies,
  frames replaced and duplicates ignored; the control loop's pacing: ``tick_gap_ms`` (the
  longest interval between two ticks since the previous report), ``tick_gap_max_ms`` (since
  start) and ``late_ticks`` (intervals over 3 control periods). A loop starved for more than
  ``TICK_GAP_WARN_S`` (the motors held still) is a WARN.

Parameters
  ``rig_file`` (string, read-only): rig YAML path or example rig name; the default is the
  installed ``config/rigs/hobby_servo_head.yaml``.
  ``control_rate_hz`` (double, read-only, 1-1000, default 100): safety-stage rate.
  ``stale_timeout_s`` (double, 0-60; 0 = the rig file's): no input for this long -> ease
  to neutral.  ``stale_ease_s`` (double, 0-60; 0 = the rig file's): that ease's duration.
  ``exit_ease_s`` (double, 0-60; 0 = the rig file's): ease to neutral on shutdown.
  ``exit_timeout_s`` (double, 0.1-60, default 5): extra time allowed to reach neutral
  at shutdown before exiting anyway.
  ``publish_trajectory`` (bool, read-only, default false).
  ``input_best_effort`` (bool, read-only, default true): subscribe best-effort without
  requesting a deadline, which matches any publisher (the face_animator, ``ros2 topic
  pub``, bridges); the node's own watchdog detects a stalled stream. false =
  qos.FACE_STREAM (reliable, requests a 50 ms deadline), which DDS only matches with
  publishers that offer one.
  ``diagnostics_period_s`` (double, read-only, 0.1-60, default 1).

Shutdown: SIGINT or SIGTERM makes the node ease every motor to neutral (over
``exit_ease_s``) while it keeps publishing, then exit with code 0; a second signal exits
at once. A rig file that cannot be loaded fails at startup with exit code 1.
"""

from __future__ import annotations

import signal
import sys
import time
from dataclasses import dataclass, replace
from typing import List, Optional

import numpy as np
import rclpy
from builtin_interfaces.msg import Duration as DurationMsg
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from rcl_interfaces.msg import SetParametersResult
from rclpy.duration import Duration
from rclpy.node import Node
from rclpy.serialization import deserialize_message
from rclpy.signals import SignalHandlerOptions
from rclpy.task import Future
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64MultiArray
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

from emotalk_ros.core.blendshapes import NAMES, NUM_BLENDSHAPES
from emotalk_ros.core.limits import BoundedNames, quote
from emotalk_ros.errors import EmotalkError
from emotalk_ros.retarget.lag import LagScheduler
from emotalk_ros.retarget.pacing import TickGaps
from emotalk_ros.retarget.rig import Rig
from emotalk_ros.retarget.safety import Retargeter, merge_named
from emotalk_ros.ros import qos
from emotalk_ros.ros.declare import declare_parameters
from emotalk_ros.ros.guard import CallbackGuard
from emotalk_ros.ros.messages import diagnostic_array, joint_state
from emotalk_ros.ros.parameters import RETARGET as PARAMETERS
from emotalk_ros.ros.run import run_node

WARN_THROTTLE_S = 5.0
EXIT_LINGER_S = 0.1  # keep publishing neutral this long before exiting (delivery)
MAX_MESSAGE_BYTES = 64 * 1024   # a 52-name JointState is about 1.5 kB; bigger ones are refused
MAX_NAMES = 4 * NUM_BLENDSHAPES  # most names one message may carry
TICK_GAP_WARN_S = 0.1  # control ticks further apart than this hold the motors visibly still





@dataclass(frozen=True)
class RetargetNodeConfig:
    """The node's parameters (see the module docstring); 0 in the *_s fields = the rig's."""

    rig_file: str
    control_rate_hz: float
    stale_timeout_s: float
    stale_ease_s: float
    exit_ease_s: float
    exit_timeout_s: float
    publish_trajectory: bool
    input_best_effort: bool
    diagnostics_period_s: float


class RetargetNode(Node):
    """The ``retarget`` node (see the module docstring for topics, QoS and parameters)."""

    def __init__(self, **kwargs):
        super().__init__("retarget", **kwargs)
        values = declare_parameters(self, PARAMETERS)
        self.config = RetargetNodeConfig(**values)
        self.rig = Rig.load(self.config.rig_file)
        self.rt = Retargeter(self.rig)
        self._apply_timing(self.config)
        self.names: List[str] = self.rig.motor_names
        self.finished = Future()

        self._blendshapes = np.zeros(NUM_BLENDSHAPES)  # (52,) latest merged input
        # frames by stamp -> per-motor targets, early by the latency, the filter's delay and
        # the command hold (a command stands for one control period: half of it on average)
        self._hold_s = 0.5 / self.config.control_rate_hz
        self.sched = LagScheduler(self.rig.latency_s,
                                  processing_s=self.rt.filter_delay_s + self._hold_s)
        self._last_input: Optional[float] = None  # monotonic s
        self._received = 0
        self._dropped = 0
        self._repeated = 0
        self._last_stamp_ns = {False: 0, True: 0}   # per topic (on time, ahead)
        self._unknown = BoundedNames(16)
        self.guard = CallbackGuard(self, input_throttle_s=WARN_THROTTLE_S)
        self._errors_seen = 0
        self._exit_requested = 0
        self._exit_deadline = 0.0
        self._neutral_since: Optional[float] = None

        self.pub_cmd = self.create_publisher(Float64MultiArray, "face/motor_commands",
                                             qos.MOTOR_COMMANDS)
        self.pub_state = self.create_publisher(JointState, "face/motor_states", qos.FACE_STREAM)
        self.pub_traj = (self.create_publisher(JointTrajectory, "face/motor_trajectory",
                                               qos.MOTOR_COMMANDS)
                         if self.config.publish_trajectory else None)
        self.pub_diag = self.create_publisher(DiagnosticArray, "/diagnostics", qos.DIAGNOSTICS)
        in_qos = qos.FACE_STREAM_BEST_EFFORT if self.config.input_best_effort else qos.FACE_STREAM
        # raw: the size is checked before a (possibly huge) message is deserialised
        self.sub = self.create_subscription(JointState, "face/blendshapes",
                                            self.guard.wrap(self._on_raw, "face/blendshapes"),
                                            in_qos, raw=True)
        ahead_qos = (qos.FACE_AHEAD_BEST_EFFORT if self.config.input_best_effort
                     else qos.FACE_AHEAD)
        self.sub_ahead = self.create_subscription(
            JointState, "face/blendshapes_ahead",
            self.guard.wrap(self._on_raw_ahead, "face/blendshapes_ahead"), ahead_qos, raw=True)
        # Humble's rclpy has only the on-set hook (the pre/post-set hooks came with Iron). rclpy
        # has checked types, ranges and read-only flags before it calls this, and the node's
        # only other on-set callback (rclpy's time source) judges use_sim_time alone, so
        # applying the change here is what a post-set hook would do.
        self.add_on_set_parameters_callback(self.guard.wrap_parameters(self._on_params))
        self._period = 1.0 / self.config.control_rate_hz
        self._last_tick = time.monotonic()
        self.gaps = TickGaps(self._period)
        self.timer = self.create_timer(self._period, self.guard.wrap(self._tick))
        self.diag_timer = self.create_timer(self.config.diagnostics_period_s,
                                            self.guard.wrap(self._diagnostics))
        self.get_logger().info(
            f"rig {self.rig.name!r} ({self.rig.source}): {len(self.names)} motors "
            f"[{', '.join(self.names)}] at {self.config.control_rate_hz:g} Hz")

    # ---------------------------------------------------------------- parameters
    def _apply_timing(self, cfg: RetargetNodeConfig) -> None:
        s = self.rig.safety
        self.rt.stale_timeout_s = cfg.stale_timeout_s or s.stale_timeout_s
        self.rt.stale_ease_s = cfg.stale_ease_s or s.stale_ease_s
        self.rt.exit_ease_s = cfg.exit_ease_s or s.exit_ease_s

    def _on_params(self, params) -> SetParametersResult:
        changes = {p.name: p.value for p in params if hasattr(self.config, p.name)}
        if changes:
            self.config = replace(self.config, **changes)
            self._apply_timing(self.config)
        return SetParametersResult(successful=True)

    # ---------------------------------------------------------------- input
    def _on_raw(self, data: bytes, ahead: bool = False) -> None:
        if len(data) > MAX_MESSAGE_BYTES:
            self._dropped += 1
            raise EmotalkError(f"message dropped: {len(data)} bytes (at most "
                               f"{MAX_MESSAGE_BYTES} for a blendshape frame)")
        self._on_blendshapes(deserialize_message(data, JointState), ahead)

    def _on_raw_ahead(self, data: bytes) -> None:
        self._on_raw(data, ahead=True)

    def _on_blendshapes(self, msg: JointState, ahead: bool = False) -> None:
        if len(msg.name) > MAX_NAMES or len(msg.position) > MAX_NAMES:
            self._dropped += 1
            raise EmotalkError(f"message dropped: {len(msg.name)} names and "
                               f"{len(msg.position)} positions (at most {MAX_NAMES})")
        stamp_ns = msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec
        if stamp_ns and stamp_ns == self._last_stamp_ns[ahead]:
            self._repeated += 1               # a repeat is not fresh input (watchdog runs on)
            return
        names = list(msg.name)
        if not names and len(msg.position) == NUM_BLENDSHAPES:
            names = list(NAMES)
        try:
            vec, unknown, bad = merge_named(self._blendshapes, names, list(msg.position))
        except EmotalkError as exc:
            self._dropped += 1
            self.guard.warn("face/blendshapes", f"face/blendshapes: message dropped: {exc}")
            return
        if unknown:
            self._unknown.add(unknown)
            self.guard.warn("unknown", "face/blendshapes: skipping unknown name(s) "
                                       f"{', '.join(quote(n, 40) for n in unknown[:5])}")
        if bad:
            self.guard.warn("nonfinite", f"face/blendshapes: {bad} NaN/Inf value(s) ignored")
        self._last_stamp_ns[ahead] = stamp_ns
        self._blendshapes = vec
        stamp_s = msg.header.stamp.sec + 1e-9 * msg.header.stamp.nanosec
        if not self.sched.add(stamp_s, vec, self.get_clock().now().nanoseconds * 1e-9, ahead):
            return                                  # the on-time copy of an early frame
        self._last_input = time.monotonic()
        self._received += 1

    # ---------------------------------------------------------------- exit
    def request_exit(self, signum=None, frame=None) -> None:
        """Signal handler: first call eases to neutral and exits; a second exits at once."""
        self._exit_requested += 1
        if self._exit_requested > 1:
            raise KeyboardInterrupt

    def install_signal_handlers(self) -> None:
        """Route SIGINT and SIGTERM to :meth:`request_exit` (ease to neutral, then exit)."""
        signal.signal(signal.SIGINT, self.request_exit)
        signal.signal(signal.SIGTERM, self.request_exit)

    # ---------------------------------------------------------------- control loop
    def _tick(self) -> None:
        # one reading of both clocks: the step's dt and the stamp of what it publishes come
        # from the same instant, so the motor_states stamps show the rate limit that was
        # applied even when the process is preempted during the step
        now = time.monotonic()
        stamp_ns = self.get_clock().now().nanoseconds
        dt = now - self._last_tick
        self._last_tick = now
        self.gaps.tick(now)
        if self._exit_requested and not self.rt.exiting:
            self.rt.ease_to_neutral()
            self._exit_deadline = now + self.rt.exit_ease_s + self.config.exit_timeout_s
            self.get_logger().info(
                f"shutting down: easing to neutral over {self.rt.exit_ease_s:g} s"
            )
        target = self.sched.targets(stamp_ns * 1e-9, self.rt.map)
        cmd = self.rt.step(target, dt)  # (M,)
        self._publish(cmd, stamp_ns)
        if self.rt.exiting and not self.finished.done():
            if self.rt.at_neutral:
                if self._neutral_since is None:
                    self._neutral_since = now
                if now - self._neutral_since >= EXIT_LINGER_S:
                    self.finished.set_result(True)
            elif now > self._exit_deadline:
                self.get_logger().warning("exit timeout: neutral not reached; exiting anyway")
                self.finished.set_result(False)

    def _publish(self, cmd: np.ndarray, stamp_ns: int) -> None:
        values = [float(v) for v in cmd]
        self.pub_cmd.publish(Float64MultiArray(data=values))
        st = joint_state(self.names, cmd, stamp_ns)
        st.velocity = [float(v) for v in self.rt.velocity]
        self.pub_state.publish(st)
        if self.pub_traj is not None:
            traj = JointTrajectory()
            traj.joint_names = list(self.names)
            ns = int(self._period * 1e9)
            traj.points = [JointTrajectoryPoint(
                positions=values, velocities=[float(v) for v in self.rt.velocity],
                time_from_start=DurationMsg(sec=ns // 1_000_000_000, nanosec=ns % 1_000_000_000))]
            self.pub_traj.publish(traj)

    def flush(self, timeout_s: float = 1.0) -> None:
        """Wait (bounded) until reliable subscribers acknowledged the last commands."""
        self.pub_cmd.wait_for_all_acked(Duration(seconds=timeout_s))

    def _diagnostics(self) -> None:
        age = None if self._last_input is None else time.monotonic() - self._last_input
        stale = self.rt.stale or self._last_input is None
        tick_gap = self.gaps.take_recent()
        values = {
            "rig": self.rig.name, "motors": len(self.names),
            "input_age_s": "never" if age is None else round(age, 4),
            "stale": stale, "exiting": self.rt.exiting,
            "messages_received": self._received, "messages_dropped": self._dropped,
            "messages_repeated": self._repeated,
            "unknown_names": ",".join(self._unknown.names[:10]),
            "unknown_names_seen": self._unknown.total,
            "bad_input_messages": self.guard.bad_input,
            "callback_errors": self.guard.errors,
            "callback_last_error": self.guard.last_error,
            "timing": self.sched.mode,
            "frame_lead_ms": round(1000.0 * self.sched.lead_s, 1),
            "filter_delay_ms": round(1000.0 * self.rt.filter_delay_s, 1),
            "command_hold_ms": round(1000.0 * self._hold_s, 1),
            "frames_replaced": self.sched.replaced,
            "frames_duplicate": self.sched.duplicates,
            "tick_gap_ms": round(1000.0 * tick_gap, 1),
            "tick_gap_max_ms": round(1000.0 * self.gaps.worst_s, 1),
            "late_ticks": self.gaps.late,
        }
        for name, lat in zip(self.names, self.rig.latency_s):
            if lat > 0:
                values[f"latency_ms.{name}"] = round(1000.0 * float(lat), 1)
        for key, counts in self.rt.counts.items():
            values[f"{key}_total"] = int(counts.sum())
        for key, counts in self.rt.counts.items():
            for i in np.flatnonzero(counts):
                values[f"{key}.{self.names[i]}"] = int(counts[i])
        level = DiagnosticStatus.WARN if (stale or self.rt.exiting) else DiagnosticStatus.OK
        lead_ms = 1000.0 * self.sched.lead_s
        compensating = bool(np.any(self.rig.latency_s > 0))
        if self.sched.mode == "ahead":
            timing = (f"frames {lead_ms:.0f} ms ahead: motors commanded early by their latency"
                      if compensating else f"frames {lead_ms:.0f} ms ahead")
        elif self.sched.mode == "late":
            timing = (f"frames {-lead_ms:.0f} ms late: commands follow them as they arrive"
                      + (" (no lag compensation possible)" if compensating else ""))
        else:
            timing = "no frames yet"
        msg = ("input stale: holding neutral" if stale else
               "exiting: easing to neutral" if self.rt.exiting else f"tracking; {timing}")
        if tick_gap > TICK_GAP_WARN_S:
            level = DiagnosticStatus.WARN
            msg += (f"; control loop starved: ticks up to {1000.0 * tick_gap:.0f} ms apart "
                    f"(period {1000.0 * self._period:.0f} ms)")
        if self.guard.errors > self._errors_seen:
            level, msg = DiagnosticStatus.ERROR, "callback error: " + self.guard.last_error
        self._errors_seen = self.guard.errors
        self.pub_diag.publish(diagnostic_array(self.get_clock().now().to_msg(),
                                               f"{self.get_fully_qualified_name()}: retarget",
                                               self.rig.name,
                                               level, msg, values))


def _spin_until_eased(node: "RetargetNode") -> None:
    """Spin until the exit ease has finished, then flush the last command."""
    node.install_signal_handlers()
    rclpy.spin_until_future_complete(node, node.finished)
    node.flush()


def main(args=None) -> int:
    """Run the retarget node until its exit ease has finished; returns the exit status."""
    # Our own SIGINT/SIGTERM handlers: the context must stay up while we ease to neutral.
    return run_node(RetargetNode, "retarget", args, spin=_spin_until_eased,
                    signal_handler_options=SignalHandlerOptions.NO)


if __name__ == "__main__":
    sys.exit(main())
