"""Every node's parameters, declared once: one table per node.

Each :class:`ParamSpec` gives a parameter's name, default (its Python type fixes the ROS
type), description, numeric range or allowed values, and whether it is read-only (structural:
set at start-up only) or live (``ros2 param set``). The nodes declare their table with
:func:`emotalk_ros.ros.declare.declare_parameters`; ``config/face.yaml`` and the README's
parameter table are generated from these tables (``python -m emotalk_ros.ros.parameters``)
and a test checks that they agree.

This module imports no rclpy, so the tables can be read anywhere.
"""

from __future__ import annotations

import json
import sys
import textwrap
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from emotalk_ros.animation.voice_mix import EMOTION_SOURCES
from emotalk_ros.emotion.command import EASES, MAX_INTENSITY_LIMIT, MAX_TRANSITION_S
from emotalk_ros.errors import EmotalkError
from emotalk_ros.generator.loading import BACKENDS
from emotalk_ros.retarget.rig import DEFAULT_RIG, EXAMPLE_RIGS, resolve_rig_path


def _rig_path(name: str) -> str:
    """A shipped rig name -> its installed file (the name itself when it is not installed)."""
    try:
        return resolve_rig_path(name)
    except EmotalkError:
        return name


@dataclass(frozen=True)
class ParamSpec:
    """One node parameter: name, default (its type fixes the ROS type), description, limits.

    ``lo``/``hi``/``step``: numeric range (int or float parameters); ``choices``: allowed
    string values; ``read_only``: structural (set only at startup). ``array_type``: the ROS
    array type of a list default (``"string_array"``), needed when the default is empty.
    """

    name: str
    default: Any
    description: str
    lo: Optional[float] = None
    hi: Optional[float] = None
    step: float = 0
    read_only: bool = False
    choices: Tuple[str, ...] = ()
    array_type: str = ""
    resolve: Optional[Callable[[Any], Any]] = None

    def declared_default(self) -> Any:
        """The default the node declares: ``default``, or ``resolve(default)`` (e.g. a shipped
        rig name turned into its installed path, so ``ros2 param get`` shows the file)."""
        return self.default if self.resolve is None else self.resolve(self.default)


# the QoS choices of the animator's face/audio subscription (profiles in qos.AUDIO_PROFILES)
AUDIO_QOS_CHOICES = ("reliable", "best_effort")
# how face_audio_bridge reads a byte field (uint8[] / byte[]) of another stack's audio message
PCM_ENCODINGS = ("s16le", "s32le", "f32le", "u8")

FACE_AUDIO_CAPTURE: Tuple[ParamSpec, ...] = (
    ParamSpec("source", "mic", "Audio source", read_only=True, choices=("mic", "file")),
    ParamSpec("device", "", "Input device: name (or unique substring) or index as a string; "
              "'' = the default input device", read_only=True),
    ParamSpec("sample_rate", 16000, "Capture / publish sample rate in Hz", lo=8000, hi=192000,
              read_only=True),
    ParamSpec("block_size", 320, "Samples per published chunk", lo=16, hi=96000,
              read_only=True),
    ParamSpec("channel", 0, "Input channel to publish (0-based)", lo=0, hi=63, read_only=True),
    ParamSpec("file.path", "", "wav file played when source=file", read_only=True),
    ParamSpec("file.loop", False, "Replay the file forever (source=file)", read_only=True),
    ParamSpec("file.wait_subscribers", 1, "face/audio subscribers to wait for (up to 5 s) "
              "before a file starts", lo=0, hi=64, read_only=True),
)
AUDIO_CAPTURE = FACE_AUDIO_CAPTURE     # the table's name before the node was renamed

FACE_ANIMATOR: Tuple[ParamSpec, ...] = (
    ParamSpec("model.path", "", "Model file (.onnx/.pt) or shipped model name "
              "('emotalk_lowlatency': the 30 ms option); '' = the shipped default model; "
              "'baseline' = the amplitude-to-jaw baseline", read_only=True),
    ParamSpec("model.backend", "auto", "Inference backend", read_only=True, choices=BACKENDS),
    ParamSpec("model.providers", [], "onnxruntime execution providers in priority order; "
              "empty = the backend's default", read_only=True, array_type="string_array"),
    ParamSpec("sample_rate", 16000, "Sample rate of the incoming audio topic in Hz "
              "(resampled when it differs from the model's)", lo=8000, hi=192000,
              read_only=True),
    ParamSpec("audio.qos", "reliable", "QoS of the face/audio subscription: reliable (loses "
              "nothing from reliable publishers) or best_effort (also matches best-effort "
              "sensor-data publishers)", read_only=True, choices=AUDIO_QOS_CHOICES),
    ParamSpec("output_rate_hz", 60.0, "Blendshape frame rate in Hz (also the publish rate)",
              lo=1.0, hi=240.0, read_only=True),
    ParamSpec("lookahead_ms", -1.0, "Expected model look-ahead in ms (informational); -1 "
              "accepts the model's, any other value must match it", lo=-1.0, hi=2000.0,
              read_only=True),
    ParamSpec("emotion_strength", 1.0, "Global gain on all emotion intensities", lo=0.0,
              hi=2.0),
    ParamSpec("max_intensity", 1.0, "Largest allowed emotion intensity (> 1 = mild "
              "extrapolation)", lo=1.0, hi=MAX_INTENSITY_LIMIT),
    ParamSpec("transition_s", 0.5, "Default emotion transition time in seconds", lo=0.0,
              hi=MAX_TRANSITION_S),
    ParamSpec("ease", "smooth", "Default emotion transition easing", choices=EASES),
    ParamSpec("idle.enabled", True, "Add idle motion (blinks, gaze, breathing)"),
    ParamSpec("idle.seed", 0, "Random seed of the idle motion", lo=0, hi=2**31 - 1,
              read_only=True),
    ParamSpec("idle.blink_scale", 1.0, "Blink amplitude scale", lo=0.0, hi=2.0),
    ParamSpec("idle.gaze_scale", 1.0, "Gaze motion amplitude scale", lo=0.0, hi=2.0),
    ParamSpec("idle.breath_scale", 1.0, "Breathing motion amplitude scale", lo=0.0, hi=2.0),
    ParamSpec("stale_audio_s", 0.2, "Audio gap in seconds after which silence is fed so the "
              "mouth closes and output continues", lo=0.02, hi=10.0),
    ParamSpec("queue_s", 2.0, "Bound of the audio queue in seconds (oldest audio dropped "
              "beyond it)", lo=0.1, hi=60.0),
    ParamSpec("emotion.source", "command", "Emotion source: command (emotion_target / "
              "emotion_track), voice (detected in the speech) or blend (both, by voice_blend)",
              read_only=True, choices=EMOTION_SOURCES),
    ParamSpec("voice_emotion.model_path", "", "Voice emotion model (.npz); '' = the shipped "
              "models/voice_emotion.npz", read_only=True),
    ParamSpec("voice_blend", 0.5, "Weight of the detected voice emotion in blend mode (0 = "
              "command only, 1 = voice only); changes ease over transition_s", lo=0.0, hi=1.0),
    ParamSpec("voice_emotion.min_segment_s", 2.0, "Shortest stretch of one detected voice "
              "emotion label in seconds (no flicker)", lo=0.0, hi=30.0),
    ParamSpec("voice_emotion.hysteresis", 0.15, "Probability lead a new voice emotion label "
              "needs before it replaces the current one", lo=0.0, hi=0.95),
    ParamSpec("style.path", "", "Per-robot style YAML, or a shipped style name (subtle, "
              "expressive); '' = no style", read_only=True),
)

# speech engines and articulation sources of face_speech (see emotalk_ros.speech.tts/.controller)
SPEECH_ENGINES = ("espeak", "flite", "festival", "piper")
ARTICULATIONS = ("teacher", "generator")

FACE_SPEECH: Tuple[ParamSpec, ...] = (
    ParamSpec("engine", "espeak", "Text-to-speech engine: espeak (in-process, exact phone and "
              "word timings), flite, festival, or piper (a voice you installed)", read_only=True,
              choices=SPEECH_ENGINES),
    ParamSpec("voice", "", "Voice of the engine ('' = its default: en-us, slt, kal_diphone); "
              "for piper the path of the voice's .onnx file", read_only=True),
    ParamSpec("rate_wpm", 175.0, "Speaking rate in words per minute", lo=80.0, hi=450.0,
              read_only=True),
    ParamSpec("articulation", "teacher", "Mouth of the robot's speech: teacher (the procedural "
              "articulation on the engine's exact phone timings) or generator (the model on the "
              "synthesised audio); audio without phone timings always uses the generator",
              read_only=True, choices=ARTICULATIONS),
    ParamSpec("device", "", "Output device: name (or unique substring) or index as a string; "
              "'' = the default output; 'none' = no loudspeaker (the face runs on the clock)",
              read_only=True),
    ParamSpec("playback.sample_rate", 48000, "Output stream sample rate in Hz", lo=8000,
              hi=192000, read_only=True),
    ParamSpec("playback.block_size", 240, "Samples per output callback", lo=16, hi=8192,
              read_only=True),
    ParamSpec("playback.latency_ms", 30.0, "Output latency asked of the device (ms): lower "
              "starts faster, higher survives a busy CPU", lo=1.0, hi=500.0,
              read_only=True),
    ParamSpec("playback.extra_latency_ms", 0.0, "Latency the device does not report (ms, e.g. "
              "a Bluetooth speaker), added to the reported one", lo=0.0, hi=1000.0,
              read_only=True),
    ParamSpec("playback.flush_on_cancel", True, "Cancel cuts the sound at once by flushing "
              "the output stream's buffer (silent within ~10 ms, not faded); false fades it "
              "out over 5 ms, heard after the output latency", read_only=True),
    ParamSpec("lead_ms", 150.0, "How far ahead of the sound the face is computed and sent on "
              "face/blendshapes_ahead (ms); at least the rig's largest motor latency + its "
              "filter's delay (53 ms for the shipped rigs) + 30", lo=0.0, hi=2000.0,
              read_only=True),
    ParamSpec("preroll_ms", 100.0, "Delay from a request's arrival to its first sound when "
              "nothing plays (ms): synthesis, the hand-over and the early motor commands fit "
              "in it (a motor whose latency + filter delay exceeds it starts the first "
              "syllable late by the difference)",
              lo=20.0, hi=2000.0, read_only=True),
    ParamSpec("handover_s", 0.12, "Blend between the microphone path's face and the speech's "
              "face when the robot starts or stops speaking (s)", lo=0.0, hi=2.0,
              read_only=True),
    ParamSpec("tail_s", 0.3, "Rest after the last word before the microphone path gets the "
              "face back (s)", lo=0.0, hi=5.0, read_only=True),
    ParamSpec("cancel_ease_s", 0.15, "Ease of the face to rest after a cancel (s)", lo=0.0,
              hi=2.0, read_only=True),
    ParamSpec("max_chars", 20000, "Longest text one say message may carry (characters); "
              "longer text is refused", lo=1, hi=1000000, read_only=True),
    ParamSpec("piece_chars", 200, "Long text is synthesised in pieces of about this many "
              "characters (cut at sentence ends) while the first already plays", lo=20,
              hi=100000, read_only=True),
    ParamSpec("audio_in.sample_rate", 16000, "Sample rate of speech/audio messages whose "
              "layout does not say (a dimension labelled 'rate=22050' does)", lo=8000,
              hi=192000, read_only=True),
    ParamSpec("max_audio_s", 300.0, "Longest clip speech/audio accepts (s)", lo=1.0,
              hi=3600.0, read_only=True),
    ParamSpec("state_period_s", 0.2, "Period of the speaking progress events on speech/state "
              "(s)", lo=0.02, hi=10.0, read_only=True),
)

RETARGET: Tuple[ParamSpec, ...] = (
    ParamSpec("rig_file", DEFAULT_RIG, "Rig YAML file: a path, or an example rig name ("
              + ", ".join(EXAMPLE_RIGS) + ")", read_only=True, resolve=_rig_path),
    ParamSpec("control_rate_hz", 100.0, "Rate of the safety stage and of the command topics "
              "(Hz)", lo=1.0, hi=1000.0, read_only=True),
    ParamSpec("stale_timeout_s", 0.0, "No input for this long (s) -> ease to neutral; "
              "0 = the rig file's value", lo=0.0, hi=60.0),
    ParamSpec("stale_ease_s", 0.0, "Duration (s) of the ease to neutral on stale input; "
              "0 = the rig file's value", lo=0.0, hi=60.0),
    ParamSpec("exit_ease_s", 0.0, "Duration (s) of the ease to neutral on shutdown; "
              "0 = the rig file's value", lo=0.0, hi=60.0),
    ParamSpec("exit_timeout_s", 5.0, "Extra time (s) allowed to reach neutral at shutdown",
              lo=0.1, hi=60.0),
    ParamSpec("publish_trajectory", False, "Also publish face/motor_trajectory "
              "(trajectory_msgs/JointTrajectory)", read_only=True),
    ParamSpec("input_best_effort", True, "Subscribe to face/blendshapes best-effort without a "
              "deadline, to match any publisher; false = qos.FACE_STREAM (reliable, 50 ms "
              "deadline)", read_only=True),
    ParamSpec("diagnostics_period_s", 1.0, "Period of /diagnostics (s)", lo=0.1, hi=60.0,
              read_only=True),
)

FACE_AUDIO_BRIDGE: Tuple[ParamSpec, ...] = (
    ParamSpec("input_topic", "audio", "Topic of the robot's existing audio stream",
              read_only=True),
    ParamSpec("input_type", "audio_common_msgs/msg/AudioData", "Message type of input_topic "
              "(package/msg/Name; its Python package must be installed)", read_only=True),
    ParamSpec("field", "data", "Dotted path of the sample array in that message (data for "
              "AudioData; audio.audio_data.int16_data for AudioStamped)", read_only=True),
    ParamSpec("encoding", "s16le", "Sample format of a byte field (uint8[]); a numeric field "
              "is scaled by its own type", read_only=True, choices=PCM_ENCODINGS),
    ParamSpec("channels", 1, "Interleaved channels in the input", lo=1, hi=64, read_only=True),
    ParamSpec("channel", 0, "Channel to forward (0-based)", lo=0, hi=63, read_only=True),
    ParamSpec("input_qos", "best_effort", "QoS of the input subscription: best_effort "
              "matches any publisher, reliable only reliable ones", read_only=True,
              choices=("best_effort", "reliable")),
)

FACE_MESH: Tuple[ParamSpec, ...] = (
    ParamSpec("frame_id", "face", "Frame of the published marker"),
    ParamSpec("max_rate_hz", 60.0, "Maximum face/mesh publishing rate (Hz); 60 follows the "
              "blendshape stream frame by frame", lo=0.5, hi=120.0),
    ParamSpec("mesh.path", "", "Face mesh .npz ('' = the shipped models/face_mesh.npz)",
              read_only=True),
    ParamSpec("mesh.front_only", True, "Publish only the front half of the head",
              read_only=True),
    ParamSpec("shading.ambient", 0.35, "Ambient light fraction of the vertex shading",
              lo=0.0, hi=1.0),
    ParamSpec("scale", 1.0, "Marker scale (1 = metres, life size)", lo=0.1, hi=10.0),
    ParamSpec("publish.preserialized", True, "Patch a pre-serialised Marker with numpy (fast) "
              "instead of building Point/ColorRGBA objects", read_only=True),
)

# node name -> its table, in launch order
NODES: Dict[str, Tuple[ParamSpec, ...]] = {
    "face_audio_capture": FACE_AUDIO_CAPTURE,
    "face_audio_bridge": FACE_AUDIO_BRIDGE,
    "face_animator": FACE_ANIMATOR,
    "face_speech": FACE_SPEECH,
    "retarget": RETARGET,
    "face_mesh": FACE_MESH,
}


def spec(node: str, name: str) -> ParamSpec:
    """The spec of parameter ``name`` of ``node`` (KeyError when there is none)."""
    for s in NODES[node]:
        if s.name == name:
            return s
    raise KeyError(f"{node} has no parameter {name!r}")


def defaults(table: Sequence[ParamSpec]) -> Dict[str, Any]:
    """{name: default} of a table."""
    return {s.name: s.default for s in table}


# ---------------------------------------------------------------------------------------------
# generated documents: config/face.yaml and the README table
# ---------------------------------------------------------------------------------------------

YAML_HEADER = """\
# emotalk_ros parameters (a ROS 2 params file), used by launch/face.launch.py.
# GENERATED from emotalk_ros/ros/parameters.py by `python -m emotalk_ros.ros.parameters --yaml`:
# edit the tables there, not this file (a test checks that they agree). To tune a robot,
# copy this file and pass it as `config:=/path/mine.yaml`.
# Every value here is the node's default. [lo, hi] is the accepted range and {a|b} the
# accepted values (rclpy rejects anything else); read-only parameters are set at start-up,
# live ones can also be changed with `ros2 param set`. Node keys use the '/**/' wildcard so
# they apply in any namespace.
"""


def format_value(value: Any) -> str:
    """A parameter value as YAML / README text (``''`` for the empty string)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(format_value(v) for v in value) + "]"
    text = str(value)
    if text == "":
        return '""'
    if any(c in text for c in ":#{}[],&*!|>'\"%@`") or text.strip() != text or \
            text.lower() in ("true", "false", "yes", "no", "on", "off", "null", "~"):
        return json.dumps(text)
    return text


def limits_text(s: ParamSpec) -> str:
    """``[lo, hi]`` or ``{a|b}`` or '' for a spec."""
    if s.choices:
        return "{" + "|".join(s.choices) + "}"
    if s.lo is not None and s.hi is not None and not isinstance(s.default, bool):
        return f"[{format_value(type(s.default)(s.lo))}, {format_value(type(s.default)(s.hi))}]"
    return ""


def render_yaml() -> str:
    """The text of ``config/face.yaml``: every node's table with its defaults."""
    out: List[str] = [YAML_HEADER]
    for node, table in NODES.items():
        out.append(f"/**/{node}:")
        out.append("  ros__parameters:")
        for s in table:
            out.extend(textwrap.wrap(s.description, width=95, initial_indent="    # ",
                                     subsequent_indent="    # ", break_on_hyphens=False))
            note = " ".join(x for x in (limits_text(s), "read-only" if s.read_only else "live")
                            if x)
            line = f"{s.name}: {format_value(s.default)}  # {note}"
            if isinstance(s.default, (list, tuple)) and not s.default:
                # an empty list has no type a params file can carry on every distro
                line = "# " + line
            out.append(f"    {line}")
        out.append("")
    return "\n".join(out)


def render_markdown() -> str:
    """The README's parameter table (markdown) for every node."""
    rows = ["| node | parameter | default | range / values | set | description |",
            "|---|---|---|---|---|---|"]
    for node, table in NODES.items():
        for i, s in enumerate(table):
            rows.append("| {} | `{}` | `{}` | {} | {} | {} |".format(
                node if i == 0 else "", s.name, format_value(s.default),
                limits_text(s).replace("|", "\\|"),
                "start-up" if s.read_only else "live", s.description.replace("|", "\\|")))
    return "\n".join(rows) + "\n"


def main(argv: Optional[Sequence[str]] = None) -> int:
    """``python -m emotalk_ros.ros.parameters --yaml|--markdown``: print a generated document."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args == ["--yaml"]:
        sys.stdout.write(render_yaml())
        return 0
    if args == ["--markdown"]:
        sys.stdout.write(render_markdown())
        return 0
    sys.stderr.write("usage: python -m emotalk_ros.ros.parameters --yaml|--markdown\n")
    return 2


if __name__ == "__main__":
    sys.exit(main())
