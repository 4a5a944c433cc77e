"""Every QoS profile of emotalk_ros, each with its reason (the only module that builds QoS)."""

from rclpy.qos import (DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy)
from rclpy.duration import Duration

# Audio: reliable (a lost chunk is an audible glitch in the face), keep about 1 s of
# 20-30 ms chunks so a briefly busy subscriber catches up instead of dropping.
AUDIO = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=50,
                   reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.VOLATILE)

# 60 Hz face streams: a deadline of a few periods (50 ms ~ 3 frames) lets subscribers
# notice a stalled animator. Depth 5, not 1: the animator publishes each frame the moment
# it exists, so one audio chunk can yield 2-3 frames back to back, and a keep-last-1
# reader would lose all but the newest (a reader that wants only the newest still gets it).
FACE_STREAM = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=5,
                         reliability=ReliabilityPolicy.RELIABLE,
                         durability=DurabilityPolicy.VOLATILE,
                         deadline=Duration(seconds=0, nanoseconds=50_000_000))

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
