"""ROS 2 node ``face_animator``: speech audio + emotion commands -> 52 ARKit blendshapes.

A thin adapter around :class:`emotalk_ros.animation.runtime.AnimatorRuntime`: messages become
numpy arrays, a worker thread (never the executor) runs the generator, and the
executor publishes each frame as soon as the worker signals it (a guard condition),
so frames come at ``output_rate_hz`` on average with no playout delay. Frames are published
only when new (a stall publishes nothing, so downstream watchdogs see it), and at
``output_rate_hz`` whatever the input rate: audio arriving faster than real time (beyond a
5 % margin and a 1 s burst) is dropped and counted (``dropped_fast_samples``), and frames
beyond the rate (5 % margin; frames missed during a stall may still catch up) are dropped
and counted (``frames_over_rate``).

Every callback is total (:class:`emotalk_ros.ros.guard.CallbackGuard`): bad input is a
throttled warning quoting at most about 80 characters of it; anything unexpected is logged
with its traceback once, counted and reported on ``/diagnostics``. When the worker fails
the face eases to rest, ``/diagnostics`` says ERROR at once, and after
``AnimatorRuntime.MAX_CONSECUTIVE_FAILURES`` failures in a row (about 2 s) the node exits
with code 3 so that a supervisor (launch ``respawn``) restarts it. At start-up the model
gets one dummy push through its real backend; a model that cannot run fails start-up with
one line.

Subscriptions
  ``face/audio`` (std_msgs/Float32MultiArray; qos.AUDIO, or qos.AUDIO_BEST_EFFORT with
  ``audio.qos: best_effort`` so that a best-effort sensor-data publisher connects): mono
  float32 in [-1, 1] at ``sample_rate``, any chunk size. NaN/Inf, empty or multi-channel
  chunks are dropped with a throttled warning and counted. Once a second the node looks at
  the graph: a publisher of another type on this topic (audio_common's AudioData, say), or
  a best-effort publisher that a reliable subscription cannot match, gets a throttled
  warning naming the node and what to do, and a WARN on /diagnostics, instead of silence.
  ``emotion_target`` (std_msgs/String, qos.COMMANDS): the emotion grammar of docs/INTERFACE.md
  (``happy:0.6 surprised:0.3 transition=0.8``, ``va:0.6,0.4``, JSON). A malformed
  command logs one warning naming the problem and the valid names; the state is
  unchanged. A command during a keyframe performance ends it and eases on from the
  face's current value.
  ``emotion_track`` (std_msgs/String, qos.COMMANDS): a keyframe performance starting now
  (parsed on a parser thread, up to 2000 keys / 256 KiB; it starts once parsed),
  the JSON of ``emotalk animate --emotion-track`` (``[{"t": 0.0, "happy": 0.5}, {"t": 2.5,
  "surprised": 0.8, "transition_s": 0.4}]``, ``t`` in s relative to the live edge of audio
  time). It replaces the commanded emotion: the face cross-fades from its current value to
  the first key over that key's ``transition_s`` (default ``transition_s``), then follows
  the keys through the same transition logic as the CLI. A malformed track logs one
  warning and changes nothing.

Publications
  ``face/blendshapes`` (sensor_msgs/JointState, qos.FACE_STREAM): the 52 ARKit names
  and values in [0, 1], at ``output_rate_hz``, also during silence.
  ``header.stamp`` = the moment (node clock) the depicted audio was heard: audio
  time is mapped through the audio arrival clock (see :mod:`emotalk_ros.animation.runtime`).
  Frames of the robot's own speech (``face_speech`` in the same process) are stamped with the
  time their sound reaches the loudspeaker and published at that time, so they meet the sound.
  ``face/blendshapes_ahead`` (sensor_msgs/JointState, qos.FACE_AHEAD): the same frames, each
  as soon as it is computed: the robot's speech arrives here up to ``face_speech``'s
  ``lead_ms`` before its stamp (``retarget`` commands slow motors early from it); live frames
  arrive at the same time as on ``face/blendshapes``. A frame computed again (after a cancel)
  comes again; it replaces every frame with a later stamp received before it.
  ``face/emotion_state`` (std_msgs/String JSON, qos.STATE_LATCHED): the blended
  emotion weights at the depicted time of the last frame, on every change. With the voice
  detector running it adds ``voice_blend``, ``command_weights`` and ``voice``
  (``label`` + ``weights``); ``weights`` is then the blend the face shows.
  ``/diagnostics`` (diagnostic_msgs/DiagnosticArray, qos.DIAGNOSTICS, 1 Hz, and at once
  when the worker fails): latency audio arrival -> publish, real-time factor,
  dropped/invalid chunks, audio dropped for arriving faster than real time, worker and
  callback errors, backend, model version.

Parameters (read-only = structural, set at startup only)
  ``model.path`` (str, read-only): model file; '' = shipped default; 'baseline' = the
  amplitude-to-jaw baseline. ``model.backend`` (auto|torch|onnxruntime, read-only).
  ``model.providers`` (string list, read-only): onnxruntime providers.
  ``sample_rate`` (int Hz, read-only): rate of incoming audio. ``audio.qos``
  (reliable|best_effort, read-only): the face/audio subscription's QoS (see above).
  ``output_rate_hz`` (float, read-only). ``lookahead_ms`` (float, read-only): expected
  model look-ahead; -1 accepts the model's, otherwise a mismatch fails at startup.
  ``idle.seed`` (int, read-only). ``emotion.source`` (command|voice|blend, read-only):
  where the emotion comes from (voice = detected in the speech). ``voice_emotion.model_path``
  (str, read-only; '' = shipped ``models/voice_emotion.npz``). ``style.path`` (str,
  read-only): per-robot style YAML or a shipped name (``subtle``, ``expressive``); '' = none.
  Live: ``voice_blend`` (blend mode's voice weight, eased over ``transition_s``),
  ``voice_emotion.min_segment_s``, ``voice_emotion.hysteresis``, ``emotion_strength``,
  ``max_intensity``,
  ``transition_s``, ``ease``, ``idle.enabled``, ``idle.blink_scale``,
  ``idle.gaze_scale``, ``idle.breath_scale``, ``stale_audio_s``, ``queue_s``.
"""

from __future__ import annotations

import sys
import time
from typing import Dict, List

import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from rcl_interfaces.msg import SetParametersResult
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import ReliabilityPolicy
from rclpy.task import Future
from sensor_msgs.msg import JointState
from std_msgs.msg import Float32MultiArray, String

from emotalk_ros.animation.idle import IdleAnimator, IdleConfig
from emotalk_ros.animation.runtime import AnimatorRuntime, OutFrame
from emotalk_ros.animation.style import load_style
from emotalk_ros.animation.voice_mix import blend_weight, load_voice_tracker
from emotalk_ros.core.blendshapes import NAMES
from emotalk_ros.core.limits import quote
from emotalk_ros.emotion.command import (
    parse_emotion_command,
)
from emotalk_ros.emotion.state import EmotionState
from emotalk_ros.errors import EmotalkError
from emotalk_ros.generator.loading import load_predictor
from emotalk_ros.ros import qos
from emotalk_ros.ros.declare import check_choices, declare_parameters
from emotalk_ros.ros.guard import CallbackGuard
from emotalk_ros.ros.messages import audio_from_msg, diagnostic_array, joint_state, stamp_from_ns
from emotalk_ros.ros.parameters import FACE_ANIMATOR as PARAMETERS
from emotalk_ros.ros.run import run_node

AUDIO_TYPE = "std_msgs/msg/Float32MultiArray"
GRAPH_WARN_THROTTLE_S = 10.0

# live parameter -> keyword of AnimatorRuntime.set_live_params (the others are read-only)
LIVE_PARAMS = {
    "transition_s": "transition_s", "ease": "ease", "emotion_strength": "emotion_strength",
    "max_intensity": "max_intensity", "idle.enabled": "idle_enabled",
    "idle.blink_scale": "blink_scale", "idle.gaze_scale": "gaze_scale",
    "idle.breath_scale": "breath_scale", "stale_audio_s": "stale_audio_s",
    "queue_s": "queue_s", "voice_blend": "voice_blend",
    "voice_emotion.min_segment_s": "voice_min_segment_s",
    "voice_emotion.hysteresis": "voice_hysteresis",
}


class FaceAnimatorNode(Node):
    """Audio + emotion -> blendshapes; raises EmotalkError at startup when the model cannot
    load or run."""

    # frames are drained as soon as they exist, so a burst (a late worker) is caught up by
    # publishing it (within the output rate); only a backlog older than this is skipped
    MAX_BACKLOG_S = 0.25
    WORKER_FAILED_EXIT_CODE = 3   # the worker gave up: exit so that a supervisor restarts us
    # a frame whose stamp would not be at least this much after the previous one (the audio
    # clock re-anchored, e.g. after a burst) is stamped that much after it (stamps_bumped)
    MIN_STAMP_STEP_NS = 1_000_000

    def __init__(self, **kwargs):
        super().__init__("face_animator", **kwargs)
        p = declare_parameters(self, PARAMETERS)
        self._params = p
        predictor = load_predictor(p["model.path"], p["model.backend"], p["output_rate_hz"],
                                   p["model.providers"] or None)
        info = predictor.info
        if p["lookahead_ms"] >= 0 and abs(p["lookahead_ms"] - info.lookahead_ms) > 1.0:
            raise EmotalkError(f"lookahead_ms={p['lookahead_ms']:g} does not match the model's "
                               f"look-ahead of {info.lookahead_ms:g} ms; set -1 to accept it")
        self._info = info
        # how face_speech (same process) builds a generator of its own for the robot's speech
        self.model_args = (p["model.path"], p["model.backend"], p["output_rate_hz"],
                           p["model.providers"] or None)
        state = EmotionState(transition_s=p["transition_s"], ease=p["ease"],
                             emotion_strength=p["emotion_strength"],
                             max_intensity=p["max_intensity"])
        idle = IdleAnimator(IdleConfig(enabled=p["idle.enabled"], seed=p["idle.seed"],
                                       blink_scale=p["idle.blink_scale"],
                                       gaze_scale=p["idle.gaze_scale"],
                                       breath_scale=p["idle.breath_scale"]))
        source = p["emotion.source"]
        tracker = None
        if source != "command":
            tracker = load_voice_tracker(p["voice_emotion.model_path"],
                                         p["voice_emotion.min_segment_s"],
                                         p["voice_emotion.hysteresis"])
        style = load_style(p["style.path"])
        self.guard = CallbackGuard(self)
        self.exit_code = 0
        self.finished = Future()
        # the worker triggers this guard condition when frames exist; the executor publishes
        self._guard = self.create_guard_condition(self.guard.wrap(self._on_frames_ready))
        self.runtime = AnimatorRuntime(predictor, state, idle, input_rate=p["sample_rate"],
                                       queue_s=p["queue_s"], stale_audio_s=p["stale_audio_s"],
                                       voice=tracker,
                                       voice_blend=blend_weight(source, p["voice_blend"]),
                                       style=style, max_backlog_s=self.MAX_BACKLOG_S,
                                       on_frames=self._guard.trigger,
                                       max_output_rate_hz=p["output_rate_hz"])
        self.add_on_set_parameters_callback(self.guard.wrap_parameters(self._on_set_parameters))

        self._pub_face = self.create_publisher(JointState, "face/blendshapes", qos.FACE_STREAM)
        self._pub_ahead = self.create_publisher(JointState, "face/blendshapes_ahead",
                                                qos.FACE_AHEAD)
        self._pub_state = self.create_publisher(String, "face/emotion_state", qos.STATE_LATCHED)
        self._pub_diag = self.create_publisher(DiagnosticArray, "/diagnostics", qos.DIAGNOSTICS)
        g = self.guard.wrap
        self._audio_qos = p["audio.qos"]
        self._sub_audio = self.create_subscription(Float32MultiArray, "face/audio",
                                                   g(self._on_audio),
                                                   qos.AUDIO_PROFILES[self._audio_qos])
        self.create_subscription(String, "emotion_target", g(self._on_emotion), qos.COMMANDS)
        self.create_subscription(String, "emotion_track", g(self._on_track), qos.COMMANDS)

        self._last_stamp_ns = 0
        self._published = 0
        self._same_stamp = 0
        self._diag_seen = (0, 0)          # (worker errors, callback errors) at the last report
        self._fast_seen = 0
        self._bad_commands = 0
        self._state_json = ""
        self._tick = 0
        self._prev_drops = 0
        self._names: List[str] = list(NAMES)
        self._period = 1.0 / p["output_rate_hz"]
        self.runtime.start()
        self._publish_state(0.0)
        self.create_timer(self._period, g(self._on_output))
        self.create_timer(1.0, g(self._on_diagnostics))
        self.get_logger().info(
            f"face_animator: backend={info.backend} model={info.model_version} "
            f"look-ahead={info.lookahead_ms:g} ms, audio {p['sample_rate']} Hz -> "
            f"{p['output_rate_hz']:g} fps, emotion source {source}"
            + (f", style {style.name or p['style.path']}" if style is not None else ""))

    # -- callbacks (executor thread; no inference here; each wrapped by self.guard) ----------
    def _on_audio(self, msg: Float32MultiArray) -> None:
        try:
            x = audio_from_msg(msg).copy()                   # (N,) float32
        except EmotalkError as exc:
            self.runtime.count_invalid()
            self.guard.warn("audio", str(exc))
            return
        try:
            self.runtime.submit(x)
        except EmotalkError as exc:
            self.guard.warn("audio", f"{exc} (invalid chunks so far: "
                                     f"{self.runtime.invalid_chunks})")

    def _on_emotion(self, msg: String) -> None:
        try:
            cmd = parse_emotion_command(msg.data, max_intensity=self.runtime.max_intensity)
            self.runtime.command(cmd)
        except EmotalkError as exc:
            self._bad_commands += 1
            self.guard.warn("emotion_target",
                            f"emotion_target {quote(msg.data, 40)} ignored: {exc}")

    def _on_track(self, msg: String) -> None:
        """Hand the track to the runtime's parser thread (a big track never stalls us)."""
        self.runtime.submit_track(msg.data)

    def make_predictor(self):
        """A new generator instance with this node's model settings (for face_speech)."""
        return load_predictor(*self.model_args)

    def _flush_ahead(self, now_mono: float) -> None:
        """Publish the speech frames made since the last call on face/blendshapes_ahead (live
        frames are late anyway: they go out on face/blendshapes only, so the microphone path
        costs no extra traffic)."""
        frames = [f for f in self.runtime.take_ahead() if f.source != "live"]
        if not frames:
            return
        ros_now = self.get_clock().now().nanoseconds
        for f in frames:
            if f.stamp_ns is None:
                f.stamp_ns = ros_now + int((f.clock_time - now_mono) * 1e9)
            self._pub_ahead.publish(joint_state(self._names, f.values, f.stamp_ns))

    def _on_frames_ready(self) -> None:
        """Guard condition (triggered by the worker when frames exist or an early one is due):
        publish new frames on face/blendshapes_ahead, and every due frame on face/blendshapes
        (within the output rate)."""
        self._drain(time.monotonic())

    def _on_output(self) -> None:
        """Timer at ``output_rate_hz``: publish frames the rate limit held back, log the
        runtime's reports, and react at once to worker failures (diagnostics, exit)."""
        self._drain(time.monotonic())
        for level, text in self.runtime.take_reports():
            if level == "warn" and text.startswith("emotion_track"):
                self.guard.warn("emotion_track", text)
            else:
                self.guard.log(level, text)
        if (self.runtime.worker_errors, self.guard.errors) != self._diag_seen:
            self._on_diagnostics()                 # an error is reported within one period
        if self.runtime.failed and not self.finished.done():
            self.exit_code = self.WORKER_FAILED_EXIT_CODE
            self.guard.log("fatal", "the animator worker failed "
                           f"{self.runtime.MAX_CONSECUTIVE_FAILURES} times in a row; exiting "
                           f"with code {self.exit_code} so that a supervisor restarts the node")
            self._on_diagnostics()
            self.finished.set_result(self.exit_code)

    def _drain(self, now_mono: float) -> None:
        self._flush_ahead(now_mono)
        while True:
            f = self.runtime.take_frame(now_mono)
            if f is None:
                return
            self._publish_frame(f, now_mono)

    def _publish_frame(self, f: OutFrame, now_mono: float) -> None:
        stamp_ns = f.stamp_ns          # set when the frame went out ahead (the same stamp)
        if stamp_ns is None:
            ros_now = self.get_clock().now().nanoseconds
            stamp_ns = ros_now + int((f.clock_time - now_mono) * 1e9)
        if stamp_ns < self._last_stamp_ns + self.MIN_STAMP_STEP_NS:   # never back, never equal
            self._same_stamp += 1
            stamp_ns = self._last_stamp_ns + self.MIN_STAMP_STEP_NS
        self._last_stamp_ns = stamp_ns
        self._pub_face.publish(joint_state(self._names, f.values, stamp_ns))
        self._published += 1
        self._tick += 1
        if self._tick % 3 == 0:
            self._publish_state(f.time)

    def _publish_state(self, t: float) -> None:
        js = self.runtime.emotion_json(t)
        if js != self._state_json:
            self._state_json = js
            self._pub_state.publish(String(data=js))

    def _check_audio_publishers(self) -> str:
        """The graph's publishers on the audio topic that cannot feed this node: their node
        and why (another message type, or best-effort against a reliable subscription);
        '' when there are none. Warns about them (throttled)."""
        topic = self._sub_audio.topic_name
        try:
            infos = self.get_publishers_info_by_topic(topic)
        except (RuntimeError, ValueError):        # graph query failed (shutting down): skip
            return ""
        problems = []
        for info in infos:
            who = info.node_namespace.rstrip("/") + "/" + info.node_name
            if info.topic_type != AUDIO_TYPE:
                problems.append(
                    f"{who} publishes {info.topic_type} on {topic}, but the animator takes "
                    f"{AUDIO_TYPE}: it hears nothing from it; convert it with "
                    "face_audio_bridge (README: 'Feeding the face from an existing audio stack')")
            elif self._audio_qos == "reliable" and \
                    info.qos_profile.reliability == ReliabilityPolicy.BEST_EFFORT:
                problems.append(
                    f"{who} publishes best-effort on {topic}, which the reliable "
                    "subscription cannot match: set the animator's audio.qos to best_effort")
        text = "; ".join(problems)
        if text:
            self.get_logger().warning(text, throttle_duration_sec=GRAPH_WARN_THROTTLE_S)
        return text

    def _on_diagnostics(self) -> None:
        s = self.runtime.stats()
        drops = s["dropped_samples"]
        fast = s["dropped_fast_samples"]
        errors = (s["worker_errors"], self.guard.errors)
        level, message = DiagnosticStatus.OK, "ok"
        graph_problem = self._check_audio_publishers()
        if self.runtime.failed:
            level, message = DiagnosticStatus.ERROR, ("worker failed; exiting: "
                                                      + s["worker_last_error"])
        elif s["worker_consecutive_failures"] or errors[0] > self._diag_seen[0]:
            level, message = DiagnosticStatus.ERROR, ("worker failing (face easing to rest): "
                                                      + s["worker_last_error"])
        elif errors[1] > self._diag_seen[1]:
            level, message = DiagnosticStatus.ERROR, "callback error: " + self.guard.last_error
        elif graph_problem:
            level, message = DiagnosticStatus.WARN, graph_problem
        elif fast > self._fast_seen:
            level, message = (DiagnosticStatus.WARN,
                              "audio faster than real time: the excess is dropped")
        elif drops > self._prev_drops:
            level, message = DiagnosticStatus.WARN, "audio queue overflow: oldest audio dropped"
        elif s["rtf_recent"] == s["rtf_recent"] and s["rtf_recent"] > 1.0:
            level, message = DiagnosticStatus.WARN, "slower than real time"
        self._prev_drops, self._fast_seen, self._diag_seen = drops, fast, errors
        values: Dict[str, object] = {
            "backend": self._info.backend, "model_version": self._info.model_version,
            "lookahead_ms": self._info.lookahead_ms,
            "sample_rate": self._params["sample_rate"],
            "output_rate_hz": self._params["output_rate_hz"],
            "frames_published": self._published, "stamps_bumped": self._same_stamp,
            "bad_emotion_commands": self._bad_commands + s["bad_tracks"],
            "bad_input_messages": self.guard.bad_input,
            "callback_errors": self.guard.errors,
            "callback_last_error": self.guard.last_error,
            "audio_qos": self._audio_qos, "audio_publishers_unusable": graph_problem or "none",
        }
        values.update(s)
        self._pub_diag.publish(diagnostic_array(
            stamp_from_ns(self.get_clock().now().nanoseconds), "face_animator: runtime",
            self.get_fully_qualified_name(), level, message, values))

    def _on_set_parameters(self, params: List[Parameter]) -> SetParametersResult:
        res = check_choices(PARAMETERS, params)
        if not res.successful:
            return res
        changes = {LIVE_PARAMS[p.name]: p.value for p in params if p.name in LIVE_PARAMS}
        if "voice_blend" in changes and self._params["emotion.source"] != "blend":
            del changes["voice_blend"]             # only blend mode has a voice weight to move
        try:
            self.runtime.set_live_params(**changes)
        except EmotalkError as exc:
            return SetParametersResult(successful=False, reason=str(exc))
        self._params.update({p.name: p.value for p in params})
        return SetParametersResult(successful=True)

    def destroy_node(self) -> None:
        """Stop the runtime's worker thread, then destroy the node."""
        self.runtime.stop()
        super().destroy_node()


def _spin_until_finished(node: FaceAnimatorNode) -> None:
    """Spin until Ctrl-C, an external shutdown, or the worker gave up (``node.finished``)."""
    rclpy.spin_until_future_complete(node, node.finished)


def main(args=None) -> int:
    """rclpy.init, spin, Ctrl-C/external shutdown, destroy_node + try_shutdown
    (run.run_node); exit code 3 when the worker gave up."""
    return run_node(FaceAnimatorNode, "face_animator", args, spin=_spin_until_finished)


if __name__ == "__main__":
    sys.exit(main())
