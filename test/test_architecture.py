"""Every core module imports with rclpy and ROS message packages blocked (pure core, thin
nodes)."""

import os
import pkgutil
import subprocess
import sys

import emotalk_ros

ROS_MODULES = ("rclpy", "std_msgs", "sensor_msgs", "visualization_msgs", "diagnostic_msgs",
               "trajectory_msgs", "builtin_interfaces", "rcl_interfaces")


def core_modules():
    names = []
    for m in pkgutil.walk_packages(emotalk_ros.__path__, "emotalk_ros."):
        leaf = m.name.rsplit(".", 1)[-1]
        if (
            leaf.endswith("_node")
            or leaf in ("qos", "__main__")
            or leaf.startswith("ros_")
            or ".nodes" in m.name
        ):
            continue
        names.append(m.name)
    return names


def test_there_are_core_modules():
    mods = core_modules()
    assert "emotalk_ros.core.blendshapes" in mods and "emotalk_ros.generator.predictor" in mods


def test_core_imports_without_ros():
    mods = core_modules()
    code = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        f"        if name.split('.')[0] in {ROS_MODULES!r}:\n"
        "            raise ImportError('blocked ROS import: ' + name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "import importlib\n"
        f"for m in {mods!r}:\n"
        "    importlib.import_module(m)\n"
        f"bad = [m for m in sys.modules if m.split('.')[0] in {ROS_MODULES!r}]\n"
        "assert not bad, bad\n"
        "print('ok', len(" + repr(mods) + "))\n"
    )
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    r = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.startswith("ok")


def test_blocker_really_blocks():
    code = ("import sys\nclass B:\n def find_spec(self,n,p=None,t=None):\n"
            "  if n.split('.')[0]=='rclpy': raise ImportError('blocked')\n"
            "sys.meta_path.insert(0,B())\nimport rclpy\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode != 0 and "blocked" in r.stderr
