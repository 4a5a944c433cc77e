"""The layout's rules, each checked here (and each check shown to fail on a broken example).

- Only ``emotalk_ros/ros/`` imports rclpy or ROS message packages (decided by folder).
- Every module outside ``ros/`` imports with ROS blocked.
- No import cycles, lazy (function-level) imports included.
- The live path (the node graph on onnxruntime) runs with torch blocked.
- Each node declares its parameters from one table; config/face.yaml and the README tables
  are generated from the tables and qos.py; nodes publish with the QoS the table documents.
- The animator node talks to AnimatorRuntime through its methods only.
- Lint (ruff, lines <= 99) passes with the repository's configuration.
- Tests mirror the package folders and are named after behaviour.
"""

import ast
import collections
import glob
import os
import re
import subprocess
import sys
import textwrap

import pytest
from conftest import ROOT

PKG = os.path.join(ROOT, "emotalk_ros")
ROS_ROOTS = ("rclpy", "rcl_interfaces", "builtin_interfaces", "launch", "launch_ros")


def is_ros_import(name: str) -> bool:
    """True for rclpy, rcl_interfaces, builtin_interfaces, launch and any ``*_msgs`` package."""
    root = name.split(".")[0]
    return root in ROS_ROOTS or root.endswith("_msgs")


def modules():
    """{dotted module name: path} of every module of the package."""
    out = {}
    for dp, _, files in os.walk(PKG):
        for f in files:
            if f.endswith(".py"):
                p = os.path.join(dp, f)
                m = os.path.relpath(p, ROOT)[:-3].replace(os.sep, ".")
                out[m[:-len(".__init__")] if m.endswith(".__init__") else m] = p
    return out


def imports_of(source: str):
    """Every imported module name in ``source`` (top level and inside functions)."""
    names = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names += [node.module] + [f"{node.module}.{a.name}" for a in node.names]
    return names


def ros_imports_outside_ros(mods):
    """[(module, imported name)] for ROS imports in modules outside emotalk_ros.ros."""
    bad = []
    for m, path in mods.items():
        if m == "emotalk_ros.ros" or m.startswith("emotalk_ros.ros."):
            continue
        with open(path) as f:
            bad += [(m, n) for n in imports_of(f.read()) if is_ros_import(n)]
    return bad


def test_only_the_ros_folder_imports_rclpy_or_messages():
    mods = modules()
    assert "emotalk_ros.ros.face_animator_node" in mods and "emotalk_ros.core.audio" in mods
    assert ros_imports_outside_ros(mods) == []


def test_the_ros_import_rule_catches_a_violation(tmp_path):
    fake = tmp_path / "bad.py"
    fake.write_text("def f():\n    from std_msgs.msg import String\n    import rclpy\n")
    found = ros_imports_outside_ros({"emotalk_ros.core.bad": str(fake)})
    assert ("emotalk_ros.core.bad", "rclpy") in found
    assert any(n.startswith("std_msgs") for _, n in found)


BLOCKER = textwrap.dedent("""
    import importlib, sys
    class Block:
        def __init__(self, roots):
            self.roots = roots
        def find_spec(self, name, path=None, target=None):
            root = name.split('.')[0]
            if root in self.roots or root.endswith('_msgs'):
                raise ImportError('blocked import: ' + name)
    sys.meta_path.insert(0, Block({roots!r}))
    for m in {mods!r}:
        importlib.import_module(m)
    print('ok', len({mods!r}))
""")


def run_blocked(mods, roots):
    code = BLOCKER.format(roots=tuple(roots), mods=list(mods))
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)


def test_every_module_outside_ros_imports_with_ros_blocked():
    core = sorted(m for m in modules() if not (m == "emotalk_ros.ros" or ".ros." in m + ".")
                  and m != "emotalk_ros.__main__")
    assert "emotalk_ros.animation.runtime" in core and "emotalk_ros.ros.qos" not in core
    r = run_blocked(core, ("rclpy", "rcl_interfaces", "builtin_interfaces"))
    assert r.returncode == 0, r.stderr[-3000:]
    # the blocker really blocks: a ROS module fails under it
    r = run_blocked(["emotalk_ros.ros.qos"], ("rclpy",))
    assert r.returncode != 0 and "blocked import: rclpy" in r.stderr


def import_graph(mods):
    """{module: set of package modules it imports} (function-level imports included)."""
    graph = collections.defaultdict(set)
    for m, path in mods.items():
        with open(path) as f:
            for n in imports_of(f.read()):
                if n in mods and n != m:
                    graph[m].add(n)
    return graph


def cycles(graph):
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in list(graph):
        if v not in index:
            visit(v)
    return out


def test_no_import_cycles():
    graph = import_graph(modules())
    assert graph["emotalk_ros.ros.face_animator_node"], "the graph finds imports"
    assert cycles(graph) == []


def test_the_cycle_check_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


# ---------------------------------------------------------------------------------------------
# parameters, generated documents, QoS
# ---------------------------------------------------------------------------------------------

def test_generated_documents_are_current():
    r = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "gen_docs.py"), "--check"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr


def test_generated_document_check_notices_hand_edits(tmp_path):
    import shutil

    sys.path.insert(0, os.path.join(ROOT, "tools"))
    try:
        import gen_docs
    finally:
        sys.path.pop(0)
    rigs = [os.path.relpath(p, ROOT) for p in glob.glob(os.path.join(ROOT, "config", "rigs",
                                                                   "*.yaml"))]
    control = [os.path.relpath(p, ROOT) for p in glob.glob(os.path.join(ROOT, "config",
                                                                      "ros2_control", "*"))]
    for rel in ["README.md", "docs/INTERFACE.md", "config/face.yaml"] + rigs + control:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(os.path.join(ROOT, rel), tmp_path / rel)
    assert gen_docs.stale(str(tmp_path)) == []
    yaml_path = tmp_path / "config" / "face.yaml"
    yaml_path.write_text(yaml_path.read_text().replace("control_rate_hz: 100.0",
                                                       "control_rate_hz: 50.0"))
    readme = tmp_path / "README.md"
    readme.write_text(readme.read_text().replace("keep-last 50", "keep-last 1"))
    urdf = tmp_path / "config" / "ros2_control" / "hobby_servo_head.urdf"
    urdf.write_text(urdf.read_text().replace('lower="1100.0"', 'lower="900.0"'))
    assert sorted(gen_docs.stale(str(tmp_path))) == sorted([
        "README.md", os.path.join("config", "face.yaml"),
        os.path.join("config", "ros2_control", "hobby_servo_head.urdf")])


def test_config_holds_every_parameter_with_its_default_range_and_flag():
    import yaml

    from emotalk_ros.ros import parameters

    data = yaml.safe_load(open(os.path.join(ROOT, "config", "face.yaml")))
    text = open(os.path.join(ROOT, "config", "face.yaml")).read()
    for node, table in parameters.NODES.items():
        section = data[f"/**/{node}"]["ros__parameters"]
        for s in table:
            if isinstance(s.default, list) and not s.default:
                assert f"# {s.name}: []" in text
                continue
            assert section[s.name] == s.default, (node, s.name)
            line = next(ln for ln in text.splitlines() if ln.strip().startswith(f"{s.name}:"))
            assert ("read-only" in line) == s.read_only, line
            if parameters.limits_text(s):
                assert parameters.limits_text(s) in line, line


def node_sources():
    ros = os.path.join(PKG, "ros")
    return {f[:-len("_node.py")]: open(os.path.join(ros, f)).read()
            for f in sorted(os.listdir(ros)) if f.endswith("_node.py")}


def test_nodes_declare_parameters_only_through_their_table():
    from emotalk_ros.ros import parameters

    srcs = node_sources()
    assert set(srcs) == set(parameters.NODES)
    for node, src in srcs.items():
        calls = [n for n in ast.walk(ast.parse(src)) if isinstance(n, ast.Call)
                 and isinstance(n.func, ast.Attribute)
                 and n.func.attr in ("declare_parameter", "declare_parameters")]
        assert not calls, f"{node} declares parameters outside emotalk_ros/ros/parameters.py"
        table = {"face_audio_capture": "FACE_AUDIO_CAPTURE",
                 "face_audio_bridge": "FACE_AUDIO_BRIDGE", "face_animator": "FACE_ANIMATOR",
                 "face_speech": "FACE_SPEECH", "retarget": "RETARGET",
                 "face_mesh": "FACE_MESH"}[node]
        assert f"from emotalk_ros.ros.parameters import {table}" in src
        # the node's docstring names every parameter of its table
        doc = ast.get_docstring(ast.parse(src))
        missing = [s.name for s in parameters.NODES[node] if s.name not in doc]
        assert not missing, f"{node}'s docstring does not mention {missing}"


def publisher_topics(src):
    """[(topic, qos profile name)] of create_publisher calls with literal topic and qos.X."""
    out = []
    for n in ast.walk(ast.parse(src)):
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) \
                and n.func.attr == "create_publisher" and len(n.args) >= 3:
            topic, prof = n.args[1], n.args[2]
            assert isinstance(topic, ast.Constant), ast.unparse(n)
            assert isinstance(prof, ast.Attribute) and ast.unparse(prof.value) == "qos", \
                f"publisher without a qos.py profile: {ast.unparse(n)}"
            out.append((topic.value, prof.attr))
    return out


def test_nodes_publish_with_the_qos_the_topic_table_documents():
    from emotalk_ros.ros import qos

    documented = {(t, p) for t, _, _, p in qos.TOPICS}
    published = set()
    for src in node_sources().values():
        published |= set(publisher_topics(src))
    assert published <= documented, published - documented
    assert {"emotion_target", "emotion_track"} <= set(qos.INPUT_TOPICS)
    assert {t for t, _ in published} == {t for t, _, _, _ in qos.TOPICS} - set(qos.INPUT_TOPICS)
    # and the check fails on a publisher the table does not document
    bad = 'self.create_publisher(String, "face/other", qos.MESH)'
    assert not set(publisher_topics(bad)) <= documented


# ---------------------------------------------------------------------------------------------
# the animator node and its runtime
# ---------------------------------------------------------------------------------------------

def reaches_into(src, owner="runtime"):
    """Expressions ``self.<owner>.a.b...`` and assignments to ``self.<owner>.a`` in ``src``."""
    found = []
    for n in ast.walk(ast.parse(src)):
        if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Attribute) \
                and isinstance(n.value.value, ast.Attribute) \
                and ast.unparse(n.value.value) == f"self.{owner}":
            found.append(ast.unparse(n))
        if isinstance(n, (ast.Assign, ast.AugAssign)):
            targets = n.targets if isinstance(n, ast.Assign) else [n.target]
            for t in targets:
                if isinstance(t, ast.Attribute) and ast.unparse(t.value) == f"self.{owner}":
                    found.append(ast.unparse(t) + " = ...")
    return found


def test_animator_node_uses_the_runtime_through_its_methods_only():
    src = node_sources()["face_animator"]
    assert "self.runtime.set_live_params(" in src
    assert reaches_into(src) == []


def test_the_reach_in_check_catches_collaborator_access():
    src = ("class N:\n    def f(self):\n"
           "        self.runtime.voice.tracker.smoother.min_segment_s = 1.0\n"
           "        self.runtime.queue_s = 2.0\n")
    found = reaches_into(src)
    assert any("voice.tracker" in f for f in found) and "self.runtime.queue_s = ..." in found


# ---------------------------------------------------------------------------------------------
# the live path without torch
# ---------------------------------------------------------------------------------------------

def test_live_path_runs_without_torch(tmp_path, speech_wav):
    pytest.importorskip("rclpy")
    pytest.importorskip("onnxruntime")
    from ros_harness import Probe, RosProc, face_array, new_domain

    from emotalk_ros.core.blendshapes import INDEX

    blocked = tmp_path / "blocked" / "torch"
    blocked.mkdir(parents=True)
    (blocked / "__init__.py").write_text("raise ImportError('torch is blocked for this test')\n")
    env_path = str(tmp_path / "blocked")
    check = subprocess.run([sys.executable, "-c", "import torch"], capture_output=True,
                           text=True, env={**os.environ, "PYTHONPATH": env_path})
    assert "torch is blocked" in check.stderr          # the blocker works
    dom = new_domain()
    probe = Probe(dom)
    extra = {"PYTHONPATH": env_path}
    procs = []
    try:
        anim = RosProc("emotalk_ros.ros.face_animator_node",
                       ["-p", "idle.enabled:=false"], dom, str(tmp_path), extra_env=extra)
        retarget = RosProc("emotalk_ros.ros.retarget_node", [], dom, str(tmp_path),
                           extra_env=extra)
        mesh = RosProc("emotalk_ros.ros.face_mesh_node", [], dom, str(tmp_path),
                       extra_env=extra)
        procs = [anim, retarget, mesh]
        probe.wait_for(lambda: len(probe.face) > 10, 60, "frames from the animator")
        cap = RosProc("emotalk_ros.ros.face_audio_capture_node",
                      ["-p", "source:=file", "-p", f"file.path:={speech_wav}",
                       "-p", "file.wait_subscribers:=2"], dom, str(tmp_path), extra_env=extra)
        procs.append(cap)
        # the capture process starts in seconds on a loaded machine: time the speech from its
        # first chunk, not from the spawn
        probe.wait_for(lambda: len(probe.audio) > 0, 30, "audio from audio_capture")
        n0 = len(probe.face)
        # (a loaded machine takes seconds to start the capture process: wait for its audio)
        probe.wait_for(lambda: len(probe.audio) > 0, 30, "audio from face_audio_capture")
        probe.spin(4.0)
        _, _, v = face_array(probe.face[n0:])
        for p in procs:
            assert p.alive(), p.output()[-2000:]
        assert "backend=onnxruntime" in anim.output()
        assert v.shape[0] > 120 and v[:, INDEX["jawOpen"]].max() > 0.2, "the mouth opened"
        for p in procs:
            assert "Traceback" not in p.output(), p.output()[-2000:]
    finally:
        for p in procs:
            p.close()
        probe.close()


# ---------------------------------------------------------------------------------------------
# lint, test layout, references
# ---------------------------------------------------------------------------------------------

def test_lint_passes_with_the_repository_configuration():
    ruff = os.path.join(os.path.dirname(sys.executable), "ruff")
    if not os.path.exists(ruff):
        pytest.skip("ruff is not installed in this environment")
    r = subprocess.run([ruff, "check", "emotalk_ros", "test", "tools", "launch", "setup.py"],
                       cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-3000:]
    assert "line-length = 99" in open(os.path.join(ROOT, "ruff.toml")).read()


def test_tests_mirror_the_package_folders():
    subpackages = {d for d in os.listdir(PKG)
                   if os.path.isfile(os.path.join(PKG, d, "__init__.py"))}
    test_dir = os.path.join(ROOT, "test")
    folders = {d for d in os.listdir(test_dir) if os.path.isdir(os.path.join(test_dir, d))
               and not d.startswith((".", "__"))}
    assert folders <= subpackages, folders - subpackages
    missing = subpackages - folders - {"speech"}      # speech is tested through training/ros
    assert not missing, f"package folders without tests: {missing}"
    names = collections.Counter()
    for dp, _, files in os.walk(test_dir):
        for f in files:
            if f.startswith("test_") and f.endswith(".py"):
                names[f] += 1
                assert not re.search(r"issue|contract", f), f
                src = open(os.path.join(dp, f)).read()
                assert not re.findall(r"def test_\w*(?:issue|contract)", src), f
    assert all(c == 1 for c in names.values()), [n for n, c in names.items() if c > 1]


def test_no_comment_points_at_unseen_documents():
    pattern = re.compile(r"contract section|issue[- ]?\d|emotalk_ros\.captures", re.I)
    hits = []
    for base in ("emotalk_ros", "test", "launch", "config", "tools"):
        for dp, _, files in os.walk(os.path.join(ROOT, base)):
            for f in files:
                if f.endswith((".py", ".yaml")) and f != "test_architecture.py":
                    for i, line in enumerate(open(os.path.join(dp, f)), 1):
                        if pattern.search(line):
                            hits.append(f"{os.path.join(dp, f)}:{i}: {line.strip()}")
    assert not hits, "\n".join(hits)
