"""ROS 2 node ``face_speech``: the robot's own voice, heard and seen together.

Text on ``say`` (with inline emotion marks) or ready-made speech audio on ``speech/audio`` is
played on the loudspeaker, and the face for it is computed ahead of the sound and published
by the ``face_animator`` at the moment the sound is heard. The executable ``face_speech``
runs this node *and* the ``face_animator`` node in one process (composition): the speech
hands its pieces, with their loudspeaker clock times, straight to the animator's runtime, so
there is one face, one emotion state, one style and one idle overlay. While the robot speaks
its speech owns ``face/blendshapes``; the microphone path (``face/audio``) takes the face back
afterwards, with a smooth hand-over both ways (see :mod:`emotalk_ros.animation.runtime`). The
core is :class:`emotalk_ros.speech.controller.SpeechController`.

Subscriptions (qos.COMMANDS unless noted)
  ``say`` (std_msgs/String): text to speak, queued after what is already queued. Inline
  marks in the emotion grammar of docs/INTERFACE.md take effect at the next word, e.g.
  ``Hello! {happy:0.8} I am glad you came. {neutral}``. A mark that does not parse is dropped
  with a warning (the text is spoken); empty text or text over ``max_chars`` is refused with
  one warning and an ``error`` state. Long text is synthesised in pieces of ``piece_chars``.
  ``speech/interrupt`` (std_msgs/String): like ``say``, but everything speaking or queued is
  cancelled first (interrupt-and-say).
  ``speech/audio`` (std_msgs/Float32MultiArray, qos.AUDIO): one message = one utterance of
  ready-made speech (another TTS node): mono float samples in [-1, 1] at
  ``audio_in.sample_rate``, or at the rate its layout names (a dimension labelled
  ``rate=22050``); resampled as needed; articulated by the generator. NaN/Inf, empty or
  multi-channel messages are dropped with a warning.
  ``speech/cancel`` (std_msgs/String): '' or ``all`` cancels everything speaking or queued;
  an utterance id cancels that one. The sound fades out in 5 ms (silence after the output
  latency) and the face eases to rest over ``cancel_ease_s``. Cancel while idle: a warning.

Publications
  ``speech/state`` (std_msgs/String JSON, qos.SPEECH_STATE): one event per change, for the
  dialogue system: ``{"id": "u3", "state": "queued"|"started"|"speaking"|"finished"|
  "cancelled"|"error"|"rejected", "progress": 0..1, "elapsed_s": ...}`` (``queued`` adds
  ``text`` and ``queue_length``; ``error``/``rejected`` add ``error``). ``started`` and
  ``finished`` are sent when the sound starts and ends at the loudspeaker and carry
  ``stamp``: that moment in the node's clock (seconds, the clock of ``header.stamp``);
  ``speaking`` reports progress every ``state_period_s``.
  ``/diagnostics`` (diagnostic_msgs/DiagnosticArray, qos.DIAGNOSTICS, 1 Hz): engine, voice,
  articulation, device, utterances, cancels, errors, queue, request-to-sound delay, output
  latency, underflows and resyncs of the output stream.
  (``face/blendshapes`` and ``face/blendshapes_ahead`` come from the animator node.)

Parameters (all read-only: set them at start-up)
  ``engine`` (espeak|flite|festival|piper), ``voice`` ('' = the engine's default; piper: the
  voice's .onnx path), ``rate_wpm`` (words per minute), ``articulation`` (teacher|generator),
  ``device`` (output device name or index; '' = default; ``none`` = no loudspeaker),
  ``playback.sample_rate`` (Hz), ``playback.block_size`` (samples), ``playback.latency_ms``,
  ``playback.extra_latency_ms`` (latency the device does not report),
  ``playback.flush_on_cancel`` (cancel cuts the sound at once), ``lead_ms`` (how far
  ahead of the sound the face is computed: at least the largest motor latency + 30 ms),
  ``preroll_ms`` (request's arrival to first sound when idle), ``handover_s``, ``tail_s``,
  ``cancel_ease_s``, ``max_chars``, ``piece_chars``, ``audio_in.sample_rate``,
  ``max_audio_s``, ``state_period_s``.

A missing engine or voice, or an output device that cannot be opened, is one error line (the
device error lists the output devices) and ERROR on ``/diagnostics``, and the node keeps
running: with espeak-ng's default voice, or without sound (the face follows the clock). A
parameter outside its declared choices or range stops the start with one line and exit code
1, as in every node. Every callback is total
(:class:`emotalk_ros.ros.guard.CallbackGuard`); when the animator's worker gives up the process
exits with code 3 (as ``face_animator`` does), so that launch restarts it.
"""

from __future__ import annotations

import json
import re
import sys
import time
from typing import Any, Dict, Optional

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from std_msgs.msg import Float32MultiArray, String

from emotalk_ros.core.playback import NO_DEVICE, make_player
from emotalk_ros.errors import EmotalkError
from emotalk_ros.ros import qos
from emotalk_ros.ros.declare import declare_parameters
from emotalk_ros.ros.face_animator_node import FaceAnimatorNode
from emotalk_ros.ros.guard import CallbackGuard
from emotalk_ros.ros.messages import audio_from_msg, diagnostic_array, stamp_from_ns
from emotalk_ros.ros.parameters import FACE_SPEECH as PARAMETERS
from emotalk_ros.ros.run import run_node
from emotalk_ros.speech.controller import SpeechController
from emotalk_ros.speech.tts import make_engine

WARN_THROTTLE_S = 2.0
POLL_PERIOD_S = 0.02
SWITCH_INTERVAL_S = 0.001
_RATE_LABEL = re.compile(r"rate\s*=\s*(\d+)")


class FaceSpeechNode(Node):
    """The ``face_speech`` node, driving ``animator``'s runtime (see the module docstring)."""

    def __init__(self, animator: FaceAnimatorNode, **kwargs):
        super().__init__("face_speech", **kwargs)
        p = declare_parameters(self, PARAMETERS)
        self._params = p
        self.guard = CallbackGuard(self, input_throttle_s=WARN_THROTTLE_S)
        self._errors_seen = 0
        self.animator = animator
        runtime = animator.runtime
        runtime.configure_speech(lead_s=p["lead_ms"] / 1000.0, handover_s=p["handover_s"],
                                 tail_s=p["tail_s"], cancel_ease_s=p["cancel_ease_s"])
        # a missing engine, voice or output device is one clear error and a fallback: the node
        # keeps running (the dialogue system still gets its states, /diagnostics says ERROR)
        self._config_errors = []
        try:
            engine = make_engine(p["engine"], p["voice"], p["rate_wpm"])
        except EmotalkError as exc:
            engine = make_engine("espeak", "", p["rate_wpm"])
            self._config_error(f"{exc}; speaking with espeak-ng's default voice instead")
        try:
            player = make_player(p["device"], p["playback.sample_rate"],
                                 p["playback.block_size"], p["playback.latency_ms"] / 1000.0,
                                 p["playback.extra_latency_ms"] / 1000.0,
                                 flush_on_cancel=p["playback.flush_on_cancel"])
            player.start()                        # opens the device (idempotent)
        except EmotalkError as exc:
            player = make_player(NO_DEVICE, p["playback.sample_rate"],
                                 latency_s=p["playback.latency_ms"] / 1000.0)
            self._config_error(f"{exc}; running without sound (the face follows the clock)")
        self.controller = SpeechController(
            runtime, engine, player, p["articulation"], animator.make_predictor,
            preroll_s=p["preroll_ms"] / 1000.0, max_chars=p["max_chars"],
            piece_chars=p["piece_chars"], max_audio_s=p["max_audio_s"],
            state_period_s=p["state_period_s"])
        self.controller.start()
        self._pub_state = self.create_publisher(String, "speech/state", qos.SPEECH_STATE)
        self._pub_diag = self.create_publisher(DiagnosticArray, "/diagnostics", qos.DIAGNOSTICS)
        g = self.guard.wrap                       # every callback is total
        self.create_subscription(String, "say", g(self._on_say, "say"), qos.COMMANDS)
        self.create_subscription(String, "speech/interrupt",
                                 g(self._on_interrupt, "speech/interrupt"), qos.COMMANDS)
        self.create_subscription(Float32MultiArray, "speech/audio",
                                 g(self._on_audio, "speech/audio"), qos.AUDIO)
        self.create_subscription(String, "speech/cancel", g(self._on_cancel, "speech/cancel"),
                                 qos.COMMANDS)
        self.create_timer(POLL_PERIOD_S, g(self._on_poll))
        self.create_timer(1.0, g(self._on_diagnostics))
        self._rejected = 0
        self._last_problem = ""
        self.get_logger().info(
            f"face_speech: engine {engine.name} voice {engine.voice or '(default)'}, "
            f"articulation {p['articulation']}, output {p['device'] or '(default)'} at "
            f"{p['playback.sample_rate']} Hz, face {p['lead_ms']:g} ms ahead of the sound")

    def _config_error(self, text: str) -> None:
        self._config_errors.append(text)
        self.get_logger().error(text)

    # -- requests (executor thread; synthesis runs on the controller's worker) -----------------
    def _reject(self, what: str, exc: Exception) -> None:
        self._rejected += 1
        self._last_problem = f"{what}: {exc}"
        self.get_logger().warning(f"{what}: {exc}", throttle_duration_sec=WARN_THROTTLE_S)
        self._publish_state({"id": "", "state": "rejected", "progress": 0.0, "error": str(exc)})

    def _say(self, text: str, interrupt: bool, what: str) -> None:
        try:
            uid, problems = self.controller.say(text, interrupt=interrupt)
        except EmotalkError as exc:
            self._reject(what, exc)
            return
        for problem in problems:
            self._last_problem = f"{what} {uid}: {problem}"
            self.get_logger().warning(f"{what} {uid}: {problem}",
                                      throttle_duration_sec=WARN_THROTTLE_S)

    def _on_say(self, msg: String) -> None:
        self._say(msg.data, False, "say")

    def _on_interrupt(self, msg: String) -> None:
        self._say(msg.data, True, "speech/interrupt")

    def _on_audio(self, msg: Float32MultiArray) -> None:
        rate = self._params["audio_in.sample_rate"]
        for d in msg.layout.dim:
            m = _RATE_LABEL.search(d.label or "")
            if m:
                rate = int(m.group(1))
        try:
            x = audio_from_msg(msg)
            self.controller.play(x, rate)
        except EmotalkError as exc:
            self._reject("speech/audio", exc)

    def _on_cancel(self, msg: String) -> None:
        try:
            ids = self.controller.cancel(msg.data)
        except EmotalkError as exc:
            self._last_problem = str(exc)
            self.get_logger().warning(str(exc), throttle_duration_sec=WARN_THROTTLE_S)
            return
        self.get_logger().info(f"cancelled {', '.join(ids)}")

    # -- output ---------------------------------------------------------------------------------
    def _publish_state(self, event: Dict[str, Any]) -> None:
        self._pub_state.publish(String(data=json.dumps(event, separators=(",", ":"))))

    def _on_poll(self) -> None:
        events = self.controller.poll()
        if any("at" in ev for ev in events):
            ros_now, mono_now = self.get_clock().now().nanoseconds * 1e-9, time.monotonic()
            for ev in events:
                if "at" in ev:
                    ev["stamp"] = round(ros_now + (ev.pop("at") - mono_now), 6)
        for ev in events:
            if ev.get("state") == "error":
                self.get_logger().warning(f"speech {ev.get('id')}: {ev.get('error')}")
            self._publish_state(ev)

    def _on_diagnostics(self) -> None:
        s = self.controller.stats()
        level, message = DiagnosticStatus.OK, "ok"
        if self._last_problem:
            level, message = DiagnosticStatus.WARN, self._last_problem
            self._last_problem = ""
        if self._config_errors:
            level, message = DiagnosticStatus.ERROR, "; ".join(self._config_errors)
        if self.guard.errors > self._errors_seen:
            level, message = DiagnosticStatus.ERROR, "callback error: " + self.guard.last_error
        self._errors_seen = self.guard.errors
        p = self._params
        values: Dict[str, object] = {"engine": p["engine"], "voice": p["voice"] or "default",
                                     "articulation": p["articulation"],
                                     "device": p["device"] or "default",
                                     "lead_ms": p["lead_ms"], "preroll_ms": p["preroll_ms"],
                                     "rejected": self._rejected,
                                     "callback_errors": self.guard.errors,
                                     "callback_last_error": self.guard.last_error}
        values.update(s)
        self._pub_diag.publish(diagnostic_array(
            stamp_from_ns(self.get_clock().now().nanoseconds), "face_speech: voice",
            self.get_fully_qualified_name(), level, message, values))

    @property
    def exit_code(self) -> int:
        """The process's exit code: the animator's (3 when its worker gave up), else 0."""
        return int(getattr(self.animator, "exit_code", 0) or 0)

    def destroy_node(self) -> None:
        """Stop the speech (player and worker), then destroy this node and the animator."""
        self.controller.stop()
        super().destroy_node()
        self.animator.destroy_node()


def _build() -> FaceSpeechNode:
    """The animator, then the speech node on its runtime (the animator goes if speech fails)."""
    # the sound card's callback is Python: let it get the interpreter within a millisecond
    # while the animator's threads run (the default hand-over interval is 5 ms)
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    animator = FaceAnimatorNode()
    try:
        return FaceSpeechNode(animator)
    except BaseException:
        animator.destroy_node()
        raise


def _spin_both(node: FaceSpeechNode) -> None:
    executor = SingleThreadedExecutor()
    executor.add_node(node.animator)
    executor.add_node(node)
    try:
        finished = getattr(node.animator, "finished", None)
        if finished is None:
            executor.spin()
        else:            # until Ctrl-C, an external shutdown or the animator's worker gave up
            executor.spin_until_future_complete(finished)
    finally:
        executor.shutdown()


def main(args: Optional[list] = None) -> int:
    """``face_speech``: the face_animator and face_speech nodes in one process (run_node form:
    rclpy.init, spin, Ctrl-C/external shutdown, destroy + try_shutdown); exit code 3 when the
    animator's worker gave up."""
    return run_node(_build, "face_speech", args, spin=_spin_both)


if __name__ == "__main__":
    sys.exit(main())

