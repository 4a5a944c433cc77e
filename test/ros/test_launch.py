"""launch/face.launch.py and config/face.yaml: structure, declared parameters, and the graph they
start.

``launch``/``launch_ros`` have no PyPI wheels, so the launch file is loaded with the
real API only when importable. Otherwise its structure is checked with ``ast``, and its
``_nodes`` function is run against small stand-ins of ``launch``/``launch_ros`` (they accept
only the keyword arguments that Humble's ``launch_ros`` Node takes) to check what each
argument does: switches, remaps, log level, respawn, the face frame and ros2_control. The
nodes are then started as separate processes exactly as the launch file would
(``--ros-args --params-file config/face.yaml`` plus overrides), every parameter of
the config is checked against the node's ``list_parameters`` service, and audio must
flow through to ``face/blendshapes``.
"""

import ast
import importlib.util
import os
import re
import sys
import types

import numpy as np
import pytest
import yaml
from conftest import ROOT
from ros_harness import JAW, Probe, RosProc, face_array, new_domain  # noqa: E402

LAUNCH = os.path.join(ROOT, "launch", "face.launch.py")
CONFIG = os.path.join(ROOT, "config", "face.yaml")
# this package's executables the launch file can start (all in config/face.yaml)
EXECUTABLES = {"face_audio_capture", "face_audio_bridge", "face_animator", "face_speech",
               "retarget", "face_mesh"}
# other packages' executables it can start: (package, executable)
OTHER_EXECUTABLES = {("tf2_ros", "static_transform_publisher"),
                     ("robot_state_publisher", "robot_state_publisher"),
                     ("controller_manager", "ros2_control_node"),
                     ("controller_manager", "spawner"), ("rviz2", "rviz2")}
LAUNCH_ARGS = {"config", "namespace", "model_path", "rig_file", "use_sim_time", "audio_source",
               "audio_file", "audio_topic", "audio_qos", "use_audio_capture",
               "use_audio_bridge", "use_retarget", "use_mesh", "use_rviz", "command_topic",
               "face_parent_frame", "face_xyz", "face_rpy", "use_ros2_control", "urdf_file",
               "controllers_file", "log_level", "respawn", "respawn_delay", "use_speech"}
MODULES = {"face_audio_capture": "emotalk_ros.ros.face_audio_capture_node",
           "face_audio_bridge": "emotalk_ros.ros.face_audio_bridge_node",
           "face_animator": "emotalk_ros.ros.face_animator_node",
           "face_speech": "emotalk_ros.ros.face_speech_node",
           "retarget": "emotalk_ros.ros.retarget_node",
           "face_mesh": "emotalk_ros.ros.face_mesh_node"}


def console_scripts():
    """{script name: 'module:function'} from setup.py's entry_points (parsed, not imported)."""
    tree = ast.parse(open(os.path.join(ROOT, "setup.py")).read())
    for node in ast.walk(tree):
        if isinstance(node, ast.Dict):
            for k, v in zip(node.keys, node.values, strict=True):
                if isinstance(k, ast.Constant) and k.value == "console_scripts":
                    items = [ast.literal_eval(e) for e in v.elts]
                    return {s.split("=")[0].strip(): s.split("=")[1].strip() for s in items}
    raise AssertionError("no console_scripts in setup.py")


def flatten(d, prefix=""):
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(flatten(v, prefix + k + "."))
        else:
            out[prefix + k] = v
    return out


def config_params(path=CONFIG):
    """{node name: {param: value}} from a ROS 2 params file ('/**' applies to every node)."""
    data = yaml.safe_load(open(path))
    common, per_node = {}, {}
    for key, section in data.items():
        params = flatten(section.get("ros__parameters", {}))
        name = key.rsplit("/", 1)[-1]
        if key in ("/**", "**"):
            common.update(params)
        else:
            per_node.setdefault(name, {}).update(params)
    return {n: {**common, **p} for n, p in per_node.items()}, common


def undeclared(config_keys, declared):
    """Parameters of the config that the node does not declare (typos, stale names)."""
    return sorted(set(config_keys) - set(declared))


def launch_tree():
    return ast.parse(open(LAUNCH).read())


def load_launch_module():
    spec = importlib.util.spec_from_file_location("face_launch", LAUNCH)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


DEFAULT_NODES = {"face_audio_capture", "face_animator", "retarget", "face_mesh"}


def test_launch_file_with_launch_api():
    # (a bare "import launch" would find this repository's launch/ folder as a namespace package)
    try:
        import launch_ros.actions  # noqa: F401
        from launch import LaunchContext
        from launch.actions import DeclareLaunchArgument
    except ImportError:
        pytest.skip("launch / launch_ros are not installed (no PyPI wheels); structure is "
                    "checked by test_launch_structure and test_launch_arguments_* instead")

    mod = load_launch_module()
    ld = mod.generate_launch_description()
    names = {e.name for e in ld.entities if isinstance(e, DeclareLaunchArgument)}
    assert names == LAUNCH_ARGS
    ctx = LaunchContext()
    for name, default, _ in mod.ARGUMENTS:
        ctx.launch_configurations[name] = default if isinstance(default, str) else CONFIG
    ctx.launch_configurations.update(model_path="baseline", audio_source="file",
                                     audio_file="/tmp/x.wav")
    nodes = mod._nodes(ctx)
    assert {n.node_executable for n in nodes} == DEFAULT_NODES


# ---------------------------------------------------------------------------------------------
# the launch file's _nodes() run against stand-ins of launch / launch_ros
# ---------------------------------------------------------------------------------------------

# keyword arguments of Humble's launch_ros.actions.Node (with those it passes on to
# launch.actions.ExecuteProcess that this launch file may use)
HUMBLE_NODE_KWARGS = {"executable", "package", "name", "namespace", "exec_name", "parameters",
                      "remappings", "ros_arguments", "arguments", "output", "emulate_tty",
                      "respawn", "respawn_delay", "additional_env", "sigterm_timeout",
                      "sigkill_timeout", "cwd", "env", "prefix", "log_cmd", "on_exit"}


class StubNode:
    """launch_ros.actions.Node stand-in: records its keyword arguments, rejects unknown ones."""

    def __init__(self, **kwargs):
        unknown = set(kwargs) - HUMBLE_NODE_KWARGS
        assert not unknown, f"launch_ros Node has no keyword(s) {unknown}"
        assert "executable" in kwargs
        self.kw = kwargs

    def __getattr__(self, name):
        try:
            return self.kw[name]
        except KeyError:
            raise AttributeError(name) from None

    def args(self):
        return list(self.kw.get("arguments", []))

    def remaps(self):
        return dict(self.kw.get("remappings", []))


class StubSubstitution:
    def __init__(self, *args):
        self.args = args

    def perform(self, context):
        return os.path.join(ROOT, *[str(a) for a in self.args[0][1:]]) if self.args else ""


class StubShare:
    def __init__(self, package):
        self.package = package

    def perform(self, context):
        return ROOT


class StubConfiguration:
    def __init__(self, name):
        self.name = name

    def perform(self, context):
        return context[self.name]


@pytest.fixture(scope="module")
def stub_launch():
    """The launch file loaded against stand-in launch / launch_ros modules."""
    names = ("launch", "launch.actions", "launch.substitutions", "launch_ros",
             "launch_ros.actions", "launch_ros.substitutions")
    saved = {n: sys.modules.get(n) for n in names}
    mods = {n: types.ModuleType(n) for n in names}
    mods["launch"].LaunchDescription = lambda entities: list(entities)
    mods["launch.actions"].DeclareLaunchArgument = \
        lambda name, default_value="", description="": (name, default_value)
    mods["launch.actions"].OpaqueFunction = lambda function: function
    mods["launch.substitutions"].LaunchConfiguration = StubConfiguration
    mods["launch.substitutions"].PathJoinSubstitution = StubSubstitution
    mods["launch_ros.actions"].Node = StubNode
    mods["launch_ros.substitutions"].FindPackageShare = StubShare
    sys.modules.update(mods)
    try:
        mod = load_launch_module()
    finally:
        for n, m in saved.items():
            if m is None:
                sys.modules.pop(n, None)
            else:
                sys.modules[n] = m

    def run(**given):
        ctx = {name: (default if isinstance(default, str) else CONFIG)
               for name, default, _ in mod.ARGUMENTS}
        for k in given:
            assert k in ctx, f"no launch argument {k}"
        ctx.update(given)
        return mod._nodes(ctx)

    run.module = mod
    return run


def by_exe(actions):
    return {a.executable: a for a in actions}


def test_launch_arguments_switch_parts_on_and_off(stub_launch):
    nodes = stub_launch()
    assert set(by_exe(nodes)) == DEFAULT_NODES
    for n in nodes:
        assert n.package == "emotalk_ros" and n.name == n.executable
        # the animator exits non-zero (code 3) when its worker keeps failing: launch restarts
        # it even without respawn:=true; the others only with it
        assert n.parameters[0] == CONFIG
        assert n.respawn is (n.executable == "face_animator"), n.executable
        assert n.args()[-3:] == ["--ros-args", "--log-level", "info"]
    nodes = stub_launch(use_audio_capture="false", use_audio_bridge="true", use_retarget="false",
                        use_mesh="false", use_rviz="true")
    assert set(by_exe(nodes)) == {"face_audio_bridge", "face_animator", "rviz2"}
    rviz = by_exe(nodes)["rviz2"]
    assert rviz.package == "rviz2" and rviz.args()[:2] == ["-d", os.path.join(
        ROOT, "config", "face.rviz")] and os.path.isfile(rviz.args()[1])


def test_launch_arguments_remap_topics_and_set_log_level_and_respawn(stub_launch):
    nodes = by_exe(stub_launch(command_topic="/face_controller/commands",
                               audio_topic="/robot/mic", audio_qos="best_effort",
                               log_level="debug", respawn="true", respawn_delay="3.5",
                               namespace="robot1"))
    assert nodes["retarget"].remaps() == {"face/motor_commands": "/face_controller/commands"}
    for exe in ("face_audio_capture", "face_animator"):
        assert nodes[exe].remaps() == {"face/audio": "/robot/mic"}
    assert nodes["face_animator"].parameters[1]["audio.qos"] == "best_effort"
    for n in nodes.values():
        assert n.args()[-2:] == ["--log-level", "debug"] and n.namespace == "robot1"
        assert n.respawn is True and n.respawn_delay == 3.5
    # not given: nothing remapped, the config's audio.qos kept
    nodes = by_exe(stub_launch())
    assert nodes["retarget"].remaps() == {}
    assert "audio.qos" not in nodes["face_animator"].parameters[1]
    for bad, text in (({"log_level": "loud"}, "log_level:='loud' is not one of"),
                      ({"respawn_delay": "soon"}, "respawn_delay:='soon' is not a number"),
                      ({"face_parent_frame": "head", "face_xyz": "0 0"},
                       "face_xyz:='0 0' must be three numbers")):
        with pytest.raises(RuntimeError, match=re.escape(text)):
            stub_launch(**bad)


def test_launch_audio_source_say_runs_the_robots_voice(stub_launch):
    nodes = by_exe(stub_launch(audio_source="say", namespace="robot1"))
    assert set(nodes) == {"face_speech", "retarget", "face_mesh"}   # no capture, no 2nd animator
    speech = nodes["face_speech"]
    # one process with two nodes: no name= (it would rename both), the params file for both
    assert "name" not in speech.kw and speech.namespace == "robot1"
    assert speech.parameters[0] == CONFIG
    nodes = by_exe(stub_launch(audio_source="mic", use_speech="true"))
    assert set(nodes) == {"face_audio_capture", "face_speech", "retarget", "face_mesh"}
    assert nodes["face_audio_capture"].parameters[1]["source"] == "mic"
    with pytest.raises(RuntimeError, match=re.escape("audio_source:='tv' is not one of")):
        stub_launch(audio_source="tv")


def test_launch_attaches_the_face_frame_with_a_static_transform(stub_launch):
    assert "static_transform_publisher" not in by_exe(stub_launch())
    tf = by_exe(stub_launch(face_parent_frame="head_link", face_xyz="0.1 0 0.05",
                            face_rpy="0 0 1.57"))["static_transform_publisher"]
    assert tf.package == "tf2_ros"
    a = tf.args()
    flags = {a[i]: a[i + 1] for i in range(0, a.index("--ros-args"), 2)}
    assert flags == {"--x": "0.1", "--y": "0", "--z": "0.05", "--roll": "0", "--pitch": "0",
                     "--yaw": "1.57", "--frame-id": "head_link", "--child-frame-id": "face"}


def test_launch_starts_ros2_control_for_the_rig(stub_launch, tmp_path):
    nodes = stub_launch(use_ros2_control="true", rig_file="morpheus_head")
    exes = [(n.package, n.executable) for n in nodes]
    assert set(exes) - {("emotalk_ros", e) for e in DEFAULT_NODES} == {
        ("robot_state_publisher", "robot_state_publisher"),
        ("controller_manager", "ros2_control_node"), ("controller_manager", "spawner")}
    spawned = [n.args()[0] for n in nodes if n.executable == "spawner"]
    assert spawned == ["joint_state_broadcaster", "face_controller"]
    assert all(n.respawn is False for n in nodes if n.executable == "spawner")
    control = os.path.join(ROOT, "config", "ros2_control")
    cm = by_exe(nodes)["ros2_control_node"]
    assert cm.parameters[0]["robot_description"] == open(
        os.path.join(control, "morpheus_head.urdf")).read()
    assert cm.parameters[1] == os.path.join(control, "morpheus_head_controllers.yaml")
    # the motor commands go to the forward_command_controller
    assert by_exe(nodes)["retarget"].remaps() == {"face/motor_commands":
                                                  "face_controller/commands"}
    # the rig of the params file when rig_file is not given
    cfg = tmp_path / "mine.yaml"
    data = yaml.safe_load(open(CONFIG))
    data["/**/retarget"]["ros__parameters"]["rig_file"] = "arkit_passthrough"
    cfg.write_text(yaml.safe_dump(data))
    cm = by_exe(stub_launch(use_ros2_control="true", config=str(cfg)))["ros2_control_node"]
    assert cm.parameters[1].endswith("arkit_passthrough_controllers.yaml")
    # a missing or mismatched file stops the launch with one line naming it
    for given, text in (({"urdf_file": str(tmp_path / "none.urdf")}, "none.urdf not found"),
                        ({"controllers_file": os.path.join(control,
                                                           "hobby_servo_head_controllers.yaml")},
                         "hobby_servo_head_controllers.yaml: joints"),
                        ({"rig_file": str(tmp_path / "gone.yaml")}, "gone.yaml")):
        with pytest.raises(RuntimeError) as err:
            stub_launch(use_ros2_control="true", **{"rig_file": "morpheus_head", **given})
        assert text in str(err.value) and len(str(err.value).splitlines()) == 1


def test_launch_structure():
    tree = launch_tree()
    funcs = {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}
    assert "generate_launch_description" in funcs
    imports = {a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)
               for a in n.names}
    assert {"LaunchDescription", "DeclareLaunchArgument", "Node"} <= imports
    # launch arguments: the ARGUMENTS table
    args = None
    for n in ast.walk(tree):
        if isinstance(n, ast.Assign) and any(
            getattr(t, "id", "") == "ARGUMENTS" for t in n.targets
        ):
            args = {e.elts[0].value for e in n.value.elts}
    assert args == LAUNCH_ARGS
    # this package's executables: node("<exe>", ...) helper calls; others: other(pkg, exe)
    exes, others = set(), set()
    for n in ast.walk(tree):
        if isinstance(n, ast.Call):
            fname = getattr(n.func, "id", getattr(n.func, "attr", ""))
            if fname == "node" and n.args and isinstance(n.args[0], ast.Constant):
                exes.add(n.args[0].value)
            if fname == "Node":                    # a process started without the helper
                kw = {k.arg: k.value for k in n.keywords}
                if isinstance(kw.get("executable"), ast.Constant) and \
                        ast.unparse(kw.get("package", ast.Constant(""))) == "PACKAGE":
                    exes.add(kw["executable"].value)
            if fname == "other" and len(n.args) >= 2 and all(
                    isinstance(a, ast.Constant) for a in n.args[:2]):
                others.add((n.args[0].value, n.args[1].value))
    assert exes == EXECUTABLES
    assert others == OTHER_EXECUTABLES
    scripts = console_scripts()
    for exe in exes:
        assert exe in scripts, f"{exe} is not a console script in setup.py"
        assert scripts[exe] == MODULES[exe] + ":main"
    # the deprecated alias of the capture node stays installed for one release
    assert scripts["audio_capture"] == MODULES["face_audio_capture"] + ":main_deprecated"
    # tf2_ros (the face frame) is a declared dependency; the optional parts are documented
    import xml.etree.ElementTree as ET
    deps = {e.text for e in ET.parse(os.path.join(ROOT, "package.xml")).getroot()
            .findall("exec_depend")}
    assert {"launch", "launch_ros", "tf2_ros"} <= deps
    readme = open(os.path.join(ROOT, "README.md")).read()
    for pkg in ("rviz2", "robot-state-publisher", "ros2-control", "ros2-controllers"):
        assert pkg in readme, f"README does not say that optional parts need {pkg}"
    src = open(LAUNCH).read()
    assert "package=PACKAGE" in src and 'PACKAGE = "emotalk_ros"' in src
    assert re.search(r"parameters=\[config, overrides\]", src)


def test_config_is_a_params_file_with_comments():
    per_node, _ = config_params()
    assert set(per_node) == EXECUTABLES
    # every parameter line carries a comment
    in_params = False
    for line in open(CONFIG):
        s = line.strip()
        if line[:1] not in (" ", "\t"):
            in_params = False                      # a top-level (node) key
        if s.startswith("ros__parameters:"):
            in_params = True
            continue
        if in_params and s and not s.startswith("#") and ":" in s:
            assert "#" in s, f"parameter without a comment: {line!r}"
    assert per_node["face_animator"]["model.path"] == ""          # shipped default model
    assert per_node["face_animator"]["output_rate_hz"] == 60.0


@pytest.fixture(scope="module")
def graph(speech_wav, tmp_path_factory):  # noqa: F811 (fixture)
    """The launch file's executables (those in the tree) started with config/face.yaml."""
    dom = new_domain()
    ns = "/face_test"
    probe = Probe(dom, namespace=ns)
    overrides = {
        "face_animator": ["-p", "model.path:=baseline"],
        "face_audio_capture": ["-p", "source:=file", "-p", f"file.path:={speech_wav}"],
        # (off by default in the launch file; audio_common_msgs has no wheels, so the bridge
        # listens to a message type that exists here)
        "face_audio_bridge": ["-p", "input_type:=std_msgs/msg/UInt8MultiArray",
                              "-r", "face/audio:=bridge_out"],
        "retarget": [], "face_mesh": [],
    }
    log_dir = str(tmp_path_factory.mktemp("launch"))
    procs = {}
    try:
        for exe in ("face_animator", "retarget", "face_mesh", "face_audio_bridge",
                    "face_audio_capture"):
            if importlib.util.find_spec(MODULES[exe]) is None:
                continue
            procs[exe] = RosProc(MODULES[exe], ["--params-file", CONFIG, "-r", f"__ns:={ns}",
                                                *overrides[exe]], dom, log_dir, name=exe)
        yield probe, procs, ns
    finally:
        for p in procs.values():
            p.close()
        probe.close()


# (face_speech runs its own face_animator in its process: its parameters are checked against
# the config in test/ros/test_face_speech.py)
@pytest.mark.parametrize("exe", sorted(EXECUTABLES - {"face_speech"}))
def test_config_parameters_are_declared(graph, exe):
    probe, procs, ns = graph
    if exe not in procs:
        pytest.skip(f"{MODULES[exe]} is not in the tree yet, so {exe} was not started")
    per_node, _ = config_params()
    declared = probe.list_parameters(f"{ns}/{exe}")
    bad = undeclared(per_node[exe], declared)
    assert not bad, f"config/face.yaml sets parameters that {exe} does not declare: {bad}"
    # the checker really catches a typo against the node's real declarations
    typo = dict(per_node[exe])
    key = sorted(typo)[0]
    typo[key[:-1] + "x" + key[-1]] = typo.pop(key)
    assert undeclared(typo, declared) == [key[:-1] + "x" + key[-1]]
    assert procs[exe].alive(), procs[exe].output()


def test_config_graph_flows_end_to_end(graph):
    probe, procs, _ = graph
    assert {"face_audio_capture", "face_animator"} <= set(procs)
    from std_msgs.msg import Float64MultiArray
    from visualization_msgs.msg import Marker

    from emotalk_ros.ros import qos

    got = {"retarget": [], "face_mesh": []}
    probe.node.create_subscription(Float64MultiArray, "face/motor_commands",
                                   lambda m: got["retarget"].append(m), qos.MOTOR_COMMANDS)
    probe.node.create_subscription(Marker, "face/mesh", lambda m: got["face_mesh"].append(m),
                                   qos.MESH)
    probe.wait_for(lambda: any(m.position[JAW] > 0.2 for _, m in probe.face), 25,
                   "speech to open the mouth on face/blendshapes")
    probe.wait_for(lambda: len(probe.audio) > 0, 10, "audio on the audio topic")
    _, _, v = face_array(probe.face)
    assert np.all(np.isfinite(v)) and v.min() >= 0.0 and v.max() <= 1.0
    for exe in ("retarget", "face_mesh"):                      # downstream, when in the tree
        if exe in procs:
            probe.wait_for(lambda e=exe: len(got[e]) > 0, 15, f"output of {exe}")
    for p in procs.values():
        assert p.alive(), p.output()
