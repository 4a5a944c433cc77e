"""launch/face.launch.py and config/face.yaml: structure, declared parameters, and the graph they
start.

``launch``/``launch_ros`` have no PyPI wheels, so the launch file is loaded with the
real API only when importable; otherwise its structure is checked with ``ast``. The
nodes are then started as separate processes exactly as the launch file would
(``--ros-args --params-file config/face.yaml`` plus overrides), every parameter of
the config is checked against the node's ``list_parameters`` service, and audio must
flow through to ``face/blendshapes``.
"""

import ast
import importlib.util
import os
import re

import numpy as np
import pytest
import yaml
from conftest import ROOT
from ros_harness import JAW, Probe, RosProc, face_array, new_domain  # noqa: E402

LAUNCH = os.path.join(ROOT, "launch", "face.launch.py")
CONFIG = os.path.join(ROOT, "config", "face.yaml")
EXECUTABLES = {"audio_capture", "face_animator", "retarget", "face_mesh"}
LAUNCH_ARGS = {"config", "namespace", "model_path", "rig_file", "use_sim_time", "audio_source",
               "audio_file"}
MODULES = {"audio_capture": "emotalk_ros.ros.audio_capture_node",
           "face_animator": "emotalk_ros.ros.face_animator_node",
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


def test_launch_file_with_launch_api():
    # (a bare "import launch" would find this repository's launch/ folder as a namespace package)
    try:
        import launch_ros.actions  # noqa: F401
        from launch import LaunchContext
        from launch.actions import DeclareLaunchArgument
    except ImportError:
        pytest.skip("launch / launch_ros are not installed (no PyPI wheels); structure is "
                    "checked by test_launch_structure instead")

    spec = importlib.util.spec_from_file_location("face_launch", LAUNCH)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    ld = mod.generate_launch_description()
    names = {e.name for e in ld.entities if isinstance(e, DeclareLaunchArgument)}
    assert names == LAUNCH_ARGS
    ctx = LaunchContext()
    for name, default in (("config", CONFIG), ("namespace", ""), ("model_path", "baseline"),
                          ("rig_file", ""), ("use_sim_time", "false"), ("audio_source", "file"),
                          ("audio_file", "/tmp/x.wav")):
        ctx.launch_configurations[name] = default
    nodes = mod._nodes(ctx)
    assert {n.node_executable for n in nodes} == EXECUTABLES


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
    # executables: node("<exe>", ...) helper calls and Node(executable=...) keywords
    exes = set()
    for n in ast.walk(tree):
        if isinstance(n, ast.Call):
            fname = getattr(n.func, "id", getattr(n.func, "attr", ""))
            if fname == "node" and n.args and isinstance(n.args[0], ast.Constant):
                exes.add(n.args[0].value)
            for kw in n.keywords:
                if kw.arg == "executable" and isinstance(kw.value, ast.Constant):
                    exes.add(kw.value.value)
    assert exes == EXECUTABLES
    scripts = console_scripts()
    for exe in exes:
        assert exe in scripts, f"{exe} is not a console script in setup.py"
        assert scripts[exe] == MODULES[exe] + ":main"
    src = open(LAUNCH).read()
    assert "package=PACKAGE" in src and 'PACKAGE = "emotalk_ros"' in src
    assert re.search(r"parameters=\[config, overrides\]", src)
    # the animator exits non-zero when its worker keeps failing: launch restarts it
    assert re.search(r'node\("face_animator", animator, respawn=True\)', src)
    assert "respawn=respawn" in src


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
        "audio_capture": ["-p", "source:=file", "-p", f"file.path:={speech_wav}"],
        "retarget": [], "face_mesh": [],
    }
    log_dir = str(tmp_path_factory.mktemp("launch"))
    procs = {}
    try:
        for exe in ("face_animator", "retarget", "face_mesh", "audio_capture"):
            if importlib.util.find_spec(MODULES[exe]) is None:
                continue
            procs[exe] = RosProc(MODULES[exe], ["--params-file", CONFIG, "-r", f"__ns:={ns}",
                                                *overrides[exe]], dom, log_dir, name=exe)
        yield probe, procs, ns
    finally:
        for p in procs.values():
            p.close()
        probe.close()


@pytest.mark.parametrize("exe", sorted(EXECUTABLES))
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
    assert {"audio_capture", "face_animator"} <= set(procs)
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
