"""package.xml: every key resolves in rosdistro's rosdep database for Humble (ubuntu jammy) and
Jazzy (ubuntu noble), every ROS package the code imports is declared, and the training and tool
dependencies stay out of the runtime (exec) set.

The database is a snapshot of rosdistro (``base.yaml``, ``python.yaml`` and each distro's
``distribution.yaml``) in ``../shared/data/rosdep`` next to the repository (or where
``EMOTALK_ROSDEP_SNAPSHOT`` points); the resolution tests skip when it is absent. A key
resolves when it is a ROS package released in the distro, or a rosdep rule gives ubuntu's
release (or every release) an apt or pip package list.
"""

import ast
import glob
import os
import xml.etree.ElementTree as ET

import pytest
import yaml
from conftest import ROOT

SNAPSHOT = os.environ.get("EMOTALK_ROSDEP_SNAPSHOT") or os.path.join(
    ROOT, "..", "shared", "data", "rosdep")
PLATFORMS = {"humble": "jammy", "jazzy": "noble"}
# third-party Python modules of the live path -> the key that installs them
RUNTIME_PYTHON = {"numpy": "python3-numpy", "scipy": "python3-scipy", "yaml": "python3-yaml",
                  "onnxruntime": "python3-onnxruntime-pip",
                  "sounddevice": "python3-sounddevice-pip"}
# training and tool dependencies: never in the runtime set
NOT_RUNTIME = {"python3-torch", "python3-matplotlib", "python3-tqdm", "ffmpeg",
               "libespeak-ng1", "espeak-ng", "python3-pytest", "python3-hypothesis"}


def package_keys():
    """{dependency tag: [keys]} of package.xml."""
    root = ET.parse(os.path.join(ROOT, "package.xml")).getroot()
    out = {}
    for tag in ("depend", "build_depend", "buildtool_depend", "exec_depend", "test_depend",
                "build_export_depend", "doc_depend"):
        keys = [e.text.strip() for e in root.findall(tag)]
        if keys:
            out[tag] = keys
    return out


def all_keys():
    return sorted({k for keys in package_keys().values() for k in keys})


@pytest.fixture(scope="module")
def rosdep_db():
    if not os.path.isdir(SNAPSHOT):
        pytest.skip(f"no rosdep database snapshot at {os.path.normpath(SNAPSHOT)}")
    rules = {}
    for name in ("base.yaml", "python.yaml"):
        with open(os.path.join(SNAPSHOT, name), encoding="utf-8") as f:
            rules.update(yaml.safe_load(f))
    released = {}
    for distro in PLATFORMS:
        with open(os.path.join(SNAPSHOT, f"{distro}-distribution.yaml"), encoding="utf-8") as f:
            dist = yaml.safe_load(f)
        pkgs = set()
        for repo_name, repo in dist["repositories"].items():
            release = repo.get("release") or {}
            if release:
                pkgs.update(release.get("packages", [repo_name]))
        released[distro] = pkgs
        assert PLATFORMS[distro] in dist["release_platforms"]["ubuntu"]
    return rules, released


def resolve(key, distro, rules, released):
    """How rosdep installs ``key`` on ``distro``'s ubuntu release: ('ros', key),
    ('apt', [packages]) or ('pip', [packages]); None when it does not resolve."""
    if key in released[distro]:
        return ("ros", key)
    rule = (rules.get(key) or {}).get("ubuntu")
    release = PLATFORMS[distro]
    if isinstance(rule, dict) and not set(rule) & {"apt", "pip", "source"}:
        rule = rule.get(release, rule.get("*"))          # per-release rules, '*' = any
    if isinstance(rule, list):
        return ("apt", rule)
    if isinstance(rule, dict):
        for installer in ("apt", "pip"):
            if installer in rule:
                pkgs = rule[installer]
                pkgs = pkgs.get("packages") if isinstance(pkgs, dict) else pkgs
                return (installer, pkgs) if isinstance(pkgs, list) else None
    return None


@pytest.mark.parametrize("distro", sorted(PLATFORMS))
def test_every_package_xml_key_resolves(rosdep_db, distro):
    rules, released = rosdep_db
    unresolved = [k for k in all_keys() if resolve(k, distro, rules, released) is None]
    assert not unresolved, (f"keys that rosdep cannot resolve on {distro} "
                            f"(ubuntu {PLATFORMS[distro]}): {unresolved}")


def test_the_resolver_rejects_what_rosdep_rejects(rosdep_db):
    rules, released = rosdep_db
    # the keys the old package.xml used, which made `rosdep install` fail
    for key in ("espeak-ng", "libportaudio2", "no-such-key-xyz"):
        assert resolve(key, "jazzy", rules, released) is None, key
    assert resolve("python3-torch", "humble", rules, released) == ("apt", ["python3-torch"])
    assert resolve("python3-onnxruntime-pip", "jazzy", rules, released) == \
        ("pip", ["onnxruntime"])
    assert resolve("rclpy", "humble", rules, released) == ("ros", "rclpy")
    assert resolve("ffmpeg", "jazzy", rules, released)[0] == "apt"
    # a rule with no entry for the release does not resolve
    fake = {"only-focal": {"ubuntu": {"focal": ["x"]}}, "not-jammy": {"ubuntu": {
        "*": ["y"], "jammy": None}}}
    assert resolve("only-focal", "humble", fake, released) is None
    assert resolve("not-jammy", "humble", fake, released) is None
    assert resolve("not-jammy", "jazzy", fake, released) == ("apt", ["y"])


def imported_modules(paths):
    """Top-level names of every module imported by the Python files in ``paths``."""
    names = set()
    for path in paths:
        tree = ast.parse(open(path, encoding="utf-8").read())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names.update(a.name.split(".")[0] for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return names


def test_every_imported_ros_package_is_declared(rosdep_db):
    _, released = rosdep_db
    files = glob.glob(os.path.join(ROOT, "emotalk_ros", "**", "*.py"), recursive=True) + \
        glob.glob(os.path.join(ROOT, "launch", "*.py"))
    ros_imports = {m for m in imported_modules(files)
                   if m in released["humble"] and m in released["jazzy"]}
    assert {"rclpy", "std_msgs", "geometry_msgs", "builtin_interfaces",
            "rcl_interfaces"} <= ros_imports                 # the scan sees them
    exec_keys = set(package_keys()["exec_depend"])
    assert not ros_imports - exec_keys, f"imported but not declared: {ros_imports - exec_keys}"


def test_runtime_set_has_the_live_path_and_nothing_for_training():
    exec_keys = set(package_keys()["exec_depend"])
    live = glob.glob(os.path.join(ROOT, "emotalk_ros", "ros", "*_node.py")) + [
        f for d in ("core", "emotion", "generator", "animation", "retarget", "mesh")
        for f in glob.glob(os.path.join(ROOT, "emotalk_ros", d, "*.py"))]
    third_party = imported_modules(live) & (set(RUNTIME_PYTHON) | {"torch", "matplotlib",
                                                                   "tqdm"})
    for module in third_party - {"torch"}:          # torch: only the optional torch backend
        assert module in RUNTIME_PYTHON, f"the live path imports {module}"
        assert RUNTIME_PYTHON[module] in exec_keys, f"{module} is imported but not declared"
    assert {"python3-onnxruntime-pip", "python3-sounddevice-pip", "portaudio19-dev"} <= exec_keys
    assert not exec_keys & NOT_RUNTIME, exec_keys & NOT_RUNTIME
    assert {"python3-matplotlib", "python3-tqdm", "ffmpeg"} <= set(package_keys()["test_depend"])
