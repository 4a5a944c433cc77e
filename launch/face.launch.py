"""Launch the emotalk_ros face pipeline: audio_capture -> face_animator -> retarget, face_mesh.

Usage::

    ros2 launch emotalk_ros face.launch.py
    ros2 launch emotalk_ros face.launch.py audio_source:=file audio_file:=/path/speech.wav \
        model_path:=baseline namespace:=robot1

Launch arguments
  ``config``: ROS 2 params file (default: the installed ``config/face.yaml``).
  ``namespace``: namespace of all four nodes (topics are relative, so they connect).
  ``model_path``: overrides ``face_animator`` ``model.path`` ('' keeps the config's).
  ``rig_file``: overrides ``retarget`` ``rig_file`` ('' keeps the config's).
  ``use_sim_time``: 'true' to follow /clock.
  ``audio_source``: 'mic' or 'file' (overrides ``audio_capture`` ``source``; '' keeps
  the config's). ``audio_file``: wav for the file source (``file.path``).

Empty arguments never override the params file: the overrides are built at launch
time (OpaqueFunction) from the arguments that were actually given. ``face_animator`` is
respawned (after 2 s) when it exits: it exits with code 3 when its worker keeps failing.
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

PACKAGE = "emotalk_ros"

ARGUMENTS = (
    ("config", PathJoinSubstitution([FindPackageShare(PACKAGE), "config", "face.yaml"]),
     "ROS 2 params file for all nodes"),
    ("namespace", "", "Namespace of the face nodes"),
    ("model_path", "", "face_animator model.path: model file, 'baseline', or '' for the config's"),
    ("rig_file", "", "retarget rig_file: rig YAML or example rig name; '' for the config's"),
    ("use_sim_time", "false", "Use simulated time from /clock"),
    ("audio_source", "", "audio_capture source: 'mic' or 'file'; '' for the config's"),
    ("audio_file", "", "wav file for audio_source:=file"),
)


def _nodes(context):
    """Build the four nodes with only the overrides that were given."""
    arg = {name: LaunchConfiguration(name).perform(context) for name, _, _ in ARGUMENTS}
    common = {"use_sim_time": arg["use_sim_time"].strip().lower() in ("true", "1", "yes")}
    config = arg["config"]
    ns = arg["namespace"]

    capture = dict(common)
    if arg["audio_source"]:
        capture["source"] = arg["audio_source"]
    if arg["audio_file"]:
        capture["file.path"] = arg["audio_file"]
    animator = dict(common)
    if arg["model_path"]:
        animator["model.path"] = arg["model_path"]
    retarget = dict(common)
    if arg["rig_file"]:
        retarget["rig_file"] = arg["rig_file"]

    def node(executable, overrides, respawn=False):
        return Node(package=PACKAGE, executable=executable, name=executable, namespace=ns,
                    parameters=[config, overrides], output="screen", emulate_tty=True,
                    respawn=respawn, respawn_delay=2.0 if respawn else 0.0)

    return [
        node("audio_capture", capture),
        # a worker that keeps failing exits non-zero (code 3): launch starts a fresh one
        node("face_animator", animator, respawn=True),
        node("retarget", retarget),
        node("face_mesh", dict(common)),
    ]


def generate_launch_description():
    return LaunchDescription(
        [DeclareLaunchArgument(name, default_value=default, description=text)
         for name, default, text in ARGUMENTS]
        + [OpaqueFunction(function=_nodes)])
