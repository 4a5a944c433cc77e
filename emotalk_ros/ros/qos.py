"""Every QoS profile of emotalk_ros, each with its reason (the only module that builds QoS),
and the topic table that documents which publisher uses which."""

from rclpy.duration import Duration
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

# Audio: reliable (a lost chunk is an audible glitch in the face), keep about 1 s of
# 20-30 ms chunks so a briefly busy subscriber catches up instead of dropping.
AUDIO = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=50,
                   reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.VOLATILE)

# Audio from a sensor-data publisher (another audio stack publishing best-effort): a reliable
# reader cannot match a best-effort writer, a best-effort reader matches both. Same depth.
AUDIO_BEST_EFFORT = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=50,
                               reliability=ReliabilityPolicy.BEST_EFFORT,
                               durability=DurabilityPolicy.VOLATILE)

# the animator's ``audio.qos`` (and face_audio_bridge's ``input_qos``) choices
AUDIO_PROFILES = {"reliable": AUDIO, "best_effort": AUDIO_BEST_EFFORT}

# 60 Hz face streams: a deadline of a few periods (50 ms ~ 3 frames) lets subscribers
# notice a stalled animator. Depth 5, not 1: the animator publishes each frame the moment
# it exists, so one audio chunk can yield 2-3 frames back to back, and a keep-last-1
# reader would lose all but the newest (a reader that wants only the newest still gets it).
FACE_STREAM = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=5,
                         reliability=ReliabilityPolicy.RELIABLE,
                         durability=DurabilityPolicy.VOLATILE,
                         deadline=Duration(seconds=0, nanoseconds=50_000_000))

# The face stream ahead of time (face/blendshapes_ahead): every frame as soon as it is
# computed, for consumers that act early (motors with a latency). The robot's speech computes a
# burst of frames at a time (up to the speech lead plus a hand-over), so keep 30 (0.5 s at
# 60 Hz) rather than 5; no deadline, since it only runs ahead while the robot speaks.
FACE_AHEAD = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=30,
                        reliability=ReliabilityPolicy.RELIABLE,
                        durability=DurabilityPolicy.VOLATILE)

# What retarget subscribes to face/blendshapes_ahead with when it matches any publisher
# (input_best_effort): best-effort, and as deep as FACE_AHEAD so a burst is not cut.
FACE_AHEAD_BEST_EFFORT = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=30,
                                    reliability=ReliabilityPolicy.BEST_EFFORT,
                                    durability=DurabilityPolicy.VOLATILE)

# Speaking state for a dialogue system (speech/state): every event matters (started,
# finished), a few per second at most: reliable, keep 20.
SPEECH_STATE = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=20,
                          reliability=ReliabilityPolicy.RELIABLE,
                          durability=DurabilityPolicy.VOLATILE)

# Best-effort variant of the face stream for subscribers that match any publisher
# (RViz, plotting); never used for motors.
FACE_STREAM_BEST_EFFORT = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=5,
                                     reliability=ReliabilityPolicy.BEST_EFFORT,
                                     durability=DurabilityPolicy.VOLATILE)

# Toward a ros2_control forward_command_controller: it subscribes with the default
# (reliable, keep-last 10), so we publish reliable to match and never lose a command.
MOTOR_COMMANDS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=10,
                            reliability=ReliabilityPolicy.RELIABLE,
                            durability=DurabilityPolicy.VOLATILE)

# Emotion commands and state: rare, must not be lost; transient-local so a late
# joiner sees the current emotion state.
COMMANDS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=10,
                      reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.VOLATILE)
STATE_LATCHED = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1,
                           reliability=ReliabilityPolicy.RELIABLE,
                           durability=DurabilityPolicy.TRANSIENT_LOCAL)

# Mesh markers for RViz: large messages, only the newest matters.
MESH = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1,
                  reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.VOLATILE)

# /diagnostics: the standard depth used by diagnostic_updater.
DIAGNOSTICS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=10,
                         reliability=ReliabilityPolicy.RELIABLE,
                         durability=DurabilityPolicy.VOLATILE)


# ---------------------------------------------------------------------------------------------
# The topic table (README and docs/INTERFACE.md are generated from it; a test checks them)
# ---------------------------------------------------------------------------------------------

# (topic, message type, from -> to, the profile its publisher uses)
TOPICS = (
    ("face/audio", "std_msgs/Float32MultiArray", "capture, bridge → animator", "AUDIO"),
    ("emotion_target", "std_msgs/String", "user → animator", "COMMANDS"),
    ("emotion_track", "std_msgs/String (JSON keys)", "user → animator", "COMMANDS"),
    ("say", "std_msgs/String (text with {emotion} marks)", "dialogue → face_speech",
     "COMMANDS"),
    ("speech/interrupt", "std_msgs/String (as say)", "dialogue → face_speech", "COMMANDS"),
    ("speech/audio", "std_msgs/Float32MultiArray", "another TTS → face_speech", "AUDIO"),
    ("speech/cancel", "std_msgs/String ('' or an id)", "dialogue → face_speech", "COMMANDS"),
    ("speech/state", "std_msgs/String (JSON)", "face_speech → dialogue", "SPEECH_STATE"),
    ("face/blendshapes", "sensor_msgs/JointState", "animator → retarget, mesh, users",
     "FACE_STREAM"),
    ("face/blendshapes_ahead", "sensor_msgs/JointState", "animator → retarget",
     "FACE_AHEAD"),
    ("face/emotion_state", "std_msgs/String (JSON)", "animator → users", "STATE_LATCHED"),
    ("face/motor_commands", "std_msgs/Float64MultiArray",
     "retarget → ros2_control forward command controller", "MOTOR_COMMANDS"),
    ("face/motor_states", "sensor_msgs/JointState", "retarget → users", "FACE_STREAM"),
    ("face/motor_trajectory", "trajectory_msgs/JointTrajectory",
     "retarget → joint_trajectory_controller (optional)", "MOTOR_COMMANDS"),
    ("face/mesh", "visualization_msgs/Marker", "face_mesh → RViz", "MESH"),
    ("/diagnostics", "diagnostic_msgs/DiagnosticArray", "all nodes → diagnostics tools",
     "DIAGNOSTICS"),
)


# topics that only users publish (the nodes subscribe to them)
INPUT_TOPICS = ("emotion_target", "emotion_track", "say", "speech/interrupt", "speech/audio",
                "speech/cancel")


def describe(profile: QoSProfile) -> str:
    """A profile in words: ``reliable, keep-last 5, volatile, 50 ms deadline``."""
    rel = "reliable" if profile.reliability == ReliabilityPolicy.RELIABLE else "best-effort"
    hist = (f"keep-last {profile.depth}" if profile.history == HistoryPolicy.KEEP_LAST
            else "keep-all")
    dur = ("transient-local" if profile.durability == DurabilityPolicy.TRANSIENT_LOCAL
           else "volatile")
    parts = [rel, hist, dur]
    deadline_ns = profile.deadline.nanoseconds
    if 0 < deadline_ns < 2**62:
        parts.append(f"{deadline_ns / 1e6:g} ms deadline")
    return ", ".join(parts)


def render_markdown() -> str:
    """The topic table (markdown) with each publisher's QoS in words."""
    rows = ["| topic | type | direction | QoS (publisher) |", "|---|---|---|---|"]
    for topic, msg_type, direction, name in TOPICS:
        rows.append(f"| `{topic}` | `{msg_type}` | {direction} | "
                    f"{describe(globals()[name])} (`qos.{name}`) |")
    return "\n".join(rows) + "\n"
