"""Launch the emotalk_ros face pipeline: audio capture -> face_animator -> retarget, face_mesh.

Usage::

    ros2 launch emotalk_ros face.launch.py
    ros2 launch emotalk_ros face.launch.py audio_source:=file audio_file:=/path/speech.wav \
        model_path:=baseline namespace:=robot1
    # a robot that already runs audio_common: no second capture node, a bridge instead
    ros2 launch emotalk_ros face.launch.py use_audio_capture:=false use_audio_bridge:=true
    # the motors through ros2_control (mock hardware until you swap the URDF's plugin)
    ros2 launch emotalk_ros face.launch.py rig_file:=morpheus_head use_ros2_control:=true
    # the robot's own voice: text on `say` -> loudspeaker and face together (no microphone)
    ros2 launch emotalk_ros face.launch.py audio_source:=say

Launch arguments (``ros2 launch emotalk_ros face.launch.py --show-args`` lists them)
  ``config``: ROS 2 params file (default: the installed ``config/face.yaml``).
  ``namespace``: namespace of all nodes (topics are relative, so they connect).
  ``model_path``: overrides ``face_animator`` ``model.path`` ('' keeps the config's).
  ``rig_file``: overrides ``retarget`` ``rig_file`` ('' keeps the config's).
  ``use_sim_time``: 'true' to follow /clock.
  ``audio_source``: 'mic' or 'file' (overrides ``face_audio_capture`` ``source``; '' keeps
  the config's), or 'say': no capture node; the robot's own voice (``face_speech``, which
  runs the face_animator in its process) speaks text sent on ``say``. ``audio_file``: wav for
  the file source (``file.path``). ``use_speech``: 'true' adds ``face_speech`` to a
  microphone or file source too (the robot's speech takes the face while it talks).
  ``audio_topic``: the audio topic (default ``face/audio``; remaps it on the capture node,
  the bridge and the animator). ``audio_qos``: the animator's ``audio.qos`` (reliable or
  best_effort; '' keeps the config's).
  ``use_audio_capture``, ``use_audio_bridge``, ``use_retarget``, ``use_mesh``, ``use_rviz``:
  switch each part on or off (defaults true, false, true, true, false).
  ``command_topic``: where the retarget node's ``face/motor_commands`` go (a remap), e.g.
  ``/face_controller/commands`` for a forward_command_controller ('' = not remapped; with
  ``use_ros2_control`` the default is ``face_controller/commands``).
  ``face_parent_frame``: a link of the robot (e.g. ``head``) to attach the ``face`` frame to
  with a static_transform_publisher at ``face_xyz`` (m) and ``face_rpy`` (rad); '' = none
  (the shipped URDFs have ``face`` as their root link, so a robot's URDF can also join it
  with a fixed joint instead).
  ``use_ros2_control``: also start robot_state_publisher, ros2_control_node and the spawners
  for the rig's URDF and controllers file (``urdf_file``, ``controllers_file``; '' = the
  shipped files of a shipped rig). They must match the rig: a mismatch or a missing file
  stops the launch with one line naming the file.
  ``log_level``: every node's log level (debug, info, warn, error, fatal).
  ``respawn``: 'true' restarts a node that exits, after ``respawn_delay`` seconds.

Empty arguments never override the params file: the overrides are built at launch
time (OpaqueFunction) from the arguments that were actually given. ``face_animator`` is
respawned (after ``respawn_delay``) when it exits, whatever ``respawn`` says: it exits with
code 3 when its worker keeps failing.
"""

import os

import yaml
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

PACKAGE = "emotalk_ros"
LOG_LEVELS = ("debug", "info", "warn", "error", "fatal")

ARGUMENTS = (
    ("config", PathJoinSubstitution([FindPackageShare(PACKAGE), "config", "face.yaml"]),
     "ROS 2 params file for all nodes"),
    ("namespace", "", "Namespace of the face nodes"),
    ("model_path", "", "face_animator model.path: model file, 'baseline', or '' for the config's"),
    ("rig_file", "", "retarget rig_file: rig YAML or example rig name; '' for the config's"),
    ("use_sim_time", "false", "Use simulated time from /clock"),
    ("audio_source", "", "Audio source: 'mic' or 'file' (face_audio_capture's source; '' for "
     "the config's), or 'say' (the robot's own voice from text on say; no capture node)"),
    ("use_speech", "false", "Also run face_speech (text on say) with a mic or file source"),
    ("audio_file", "", "wav file for audio_source:=file"),
    ("audio_topic", "face/audio", "Audio topic of the capture node, the bridge and the animator"),
    ("audio_qos", "", "face_animator audio.qos: reliable or best_effort; '' for the config's"),
    ("use_audio_capture", "true", "Start face_audio_capture (microphone or file)"),
    ("use_audio_bridge", "false", "Start face_audio_bridge (an existing audio stack's stream)"),
    ("use_retarget", "true", "Start retarget (motor commands)"),
    ("use_mesh", "true", "Start face_mesh (the RViz face)"),
    ("use_rviz", "false", "Start RViz with config/face.rviz"),
    ("command_topic", "", "Remap face/motor_commands here (e.g. /face_controller/commands)"),
    ("face_parent_frame", "", "Attach the face frame to this frame (static transform)"),
    ("face_xyz", "0 0 0", "Position of the face frame in face_parent_frame (m)"),
    ("face_rpy", "0 0 0", "Roll, pitch, yaw of the face frame in face_parent_frame (rad)"),
    ("use_ros2_control", "false", "Start ros2_control for the rig (URDF + controllers)"),
    ("urdf_file", "", "URDF for use_ros2_control; '' = the shipped rig's"),
    ("controllers_file", "", "Controllers YAML for use_ros2_control; '' = the shipped rig's"),
    ("log_level", "info", "Log level of every node: " + ", ".join(LOG_LEVELS)),
    ("respawn", "false", "Restart a node that exits"),
    ("respawn_delay", "2.0", "Seconds before a respawn"),
)


def _flag(text):
    """A launch argument as a bool ('true', '1', 'yes', 'on')."""
    return str(text).strip().lower() in ("true", "1", "yes", "on")


def _triple(text, name):
    """'x y z' -> three number strings; raises naming the argument."""
    parts = str(text).replace(",", " ").split()
    try:
        [float(p) for p in parts]
    except ValueError:
        parts = []
    if len(parts) != 3:
        raise RuntimeError(f"launch argument {name}:={text!r} must be three numbers")
    return parts


def _config_rig(config_path):
    """retarget's rig_file in the params file, or '' (read best effort)."""
    try:
        with open(config_path, encoding="utf-8") as f:
            data = yaml.safe_load(f) or {}
    except (OSError, yaml.YAMLError):
        return ""
    for key, section in data.items():
        if str(key).rsplit("/", 1)[-1] == "retarget" and isinstance(section, dict):
            return str((section.get("ros__parameters") or {}).get("rig_file", "") or "")
    return ""


def _control_files(arg):
    """(rig, URDF text, controllers path) for use_ros2_control, checked against each other."""
    from emotalk_ros.errors import EmotalkError
    from emotalk_ros.retarget import urdf
    from emotalk_ros.retarget.rig import DEFAULT_RIG, Rig

    spec = arg["rig_file"] or _config_rig(arg["config"]) or DEFAULT_RIG
    try:
        rig = Rig.load(spec)
        name = os.path.splitext(os.path.basename(rig.source))[0]
        urdf_path = arg["urdf_file"] or urdf.shipped_rig_files(name)[0]
        ctrl_path = arg["controllers_file"] or urdf.shipped_rig_files(name)[1]
        urdf.check_rig_files(rig, urdf_path, ctrl_path)
        with open(urdf_path, encoding="utf-8") as f:
            return rig, f.read(), ctrl_path
    except (EmotalkError, OSError) as exc:
        raise RuntimeError(f"use_ros2_control: {exc}") from None


def _nodes(context):
    """Build the nodes that are switched on, with only the overrides that were given."""
    arg = {name: LaunchConfiguration(name).perform(context) for name, _, _ in ARGUMENTS}
    common = {"use_sim_time": _flag(arg["use_sim_time"])}
    config = arg["config"]
    ns = arg["namespace"]
    level = arg["log_level"].strip().lower()
    if level not in LOG_LEVELS:
        raise RuntimeError(f"launch argument log_level:={arg['log_level']!r} is not one of "
                           + ", ".join(LOG_LEVELS))
    respawn = _flag(arg["respawn"])
    try:
        respawn_delay = float(arg["respawn_delay"])
    except ValueError:
        raise RuntimeError(f"launch argument respawn_delay:={arg['respawn_delay']!r} is not "
                           "a number") from None
    audio_remap = [("face/audio", arg["audio_topic"])] if arg["audio_topic"] else []

    source = arg["audio_source"].strip().lower()
    if source not in ("", "mic", "file", "say"):
        raise RuntimeError(f"launch argument audio_source:={arg['audio_source']!r} is not one "
                           "of mic, file, say")
    speech = source == "say" or _flag(arg["use_speech"])
    capture = dict(common)
    if source in ("mic", "file"):
        capture["source"] = source
    if arg["audio_file"]:
        capture["file.path"] = arg["audio_file"]
    animator = dict(common)
    if arg["model_path"]:
        animator["model.path"] = arg["model_path"]
    if arg["audio_qos"]:
        animator["audio.qos"] = arg["audio_qos"]
    retarget = dict(common)
    if arg["rig_file"]:
        retarget["rig_file"] = arg["rig_file"]

    control = _flag(arg["use_ros2_control"])
    command_topic = arg["command_topic"] or ("face_controller/commands" if control else "")
    command_remap = [("face/motor_commands", command_topic)] if command_topic else []

    def node(executable, overrides, remappings=(), supervised=False):
        # supervised: restarted even without respawn:=true (face_animator exits with code 3
        # when its worker keeps failing, so that launch starts a fresh one)
        return Node(package=PACKAGE, executable=executable, name=executable, namespace=ns,
                    parameters=[config, overrides], remappings=list(remappings),
                    arguments=["--ros-args", "--log-level", level], output="screen",
                    emulate_tty=True, respawn=respawn or supervised,
                    respawn_delay=respawn_delay)

    def other(package, executable, arguments=(), restart=True, **kwargs):
        return Node(package=package, executable=executable, namespace=ns,
                    arguments=[*arguments, "--ros-args", "--log-level", level],
                    output="screen", respawn=respawn and restart, respawn_delay=respawn_delay,
                    **kwargs)

    actions = []
    if _flag(arg["use_audio_capture"]) and source != "say":
        actions.append(node("face_audio_capture", capture, audio_remap))
    if _flag(arg["use_audio_bridge"]):
        actions.append(node("face_audio_bridge", dict(common), audio_remap))
    if speech:
        # one process, two nodes (face_animator and face_speech): no name= (it would rename
        # both); the params file addresses each node by its own name. Supervised like
        # face_animator (it exits with code 3 when the animator's worker keeps failing).
        actions.append(Node(package=PACKAGE, executable="face_speech", namespace=ns,
                            parameters=[config, animator], remappings=list(audio_remap),
                            arguments=["--ros-args", "--log-level", level], output="screen",
                            emulate_tty=True, respawn=True, respawn_delay=respawn_delay))
    else:
        actions.append(node("face_animator", animator, audio_remap, supervised=True))
    if _flag(arg["use_retarget"]):
        actions.append(node("retarget", retarget, command_remap))
    if _flag(arg["use_mesh"]):
        actions.append(node("face_mesh", dict(common)))
    if arg["face_parent_frame"]:
        xyz = _triple(arg["face_xyz"], "face_xyz")
        rpy = _triple(arg["face_rpy"], "face_rpy")
        actions.append(other(
            "tf2_ros", "static_transform_publisher",
            ["--x", xyz[0], "--y", xyz[1], "--z", xyz[2], "--roll", rpy[0], "--pitch", rpy[1],
             "--yaw", rpy[2], "--frame-id", arg["face_parent_frame"], "--child-frame-id",
             "face"], name="face_frame_publisher"))
    if control:
        _, description, controllers = _control_files(arg)
        actions.append(other("robot_state_publisher", "robot_state_publisher",
                             parameters=[{"robot_description": description, **common}]))
        actions.append(other("controller_manager", "ros2_control_node",
                             parameters=[{"robot_description": description}, controllers,
                                         common],
                             remappings=[("~/robot_description", "robot_description")]))
        for controller in ("joint_state_broadcaster", "face_controller"):
            # a spawner exits once its controller runs: never respawned
            actions.append(other("controller_manager", "spawner", [controller], restart=False))
    if _flag(arg["use_rviz"]):
        rviz = os.path.join(FindPackageShare(PACKAGE).perform(context), "config", "face.rviz")
        actions.append(other("rviz2", "rviz2", ["-d", rviz], parameters=[common]))
    return actions


def generate_launch_description():
    return LaunchDescription(
        [DeclareLaunchArgument(name, default_value=default, description=text)
         for name, default, text in ARGUMENTS]
        + [OpaqueFunction(function=_nodes)])
