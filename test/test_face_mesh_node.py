"""The face_mesh node with real rclpy in separate processes: Marker round trip, bad input, ranges, shutdown."""

import json
import signal
import subprocess
import sys

import pytest

from conftest import ROOT, ros_env

pytest.importorskip("rclpy")

DRIVER = r'''
import json, math, sys, time
import rclpy
from rclpy.node import Node
from rclpy.parameter import Parameter
from sensor_msgs.msg import JointState
from visualization_msgs.msg import Marker
from emotalk_ros import qos
from emotalk_ros.blendshapes import NAMES

rclpy.init()
out = {}
# 1. range rejection: an out-of-range override is refused at declaration
from emotalk_ros.face_mesh_node import FaceMeshNode
try:
    FaceMeshNode(parameter_overrides=[Parameter("max_rate_hz", value=-5.0)]).destroy_node()
    out["range_rejected"] = False
except Exception as exc:  # the rclpy exception type differs between distros
    out["range_rejected"] = type(exc).__name__

node = Node("mesh_driver")
pub = node.create_publisher(JointState, "face/blendshapes", qos.FACE_STREAM)
got = []
node.create_subscription(Marker, "face/mesh", lambda m: got.append(m), qos.MESH)

def send(names, pos):
    m = JointState(); m.name = list(names); m.position = [float(p) for p in pos]
    pub.publish(m)

def wait_marker(names, pos, pred, timeout=40.0):
    t0 = time.time()
    while time.time() - t0 < timeout:
        send(names, pos)
        end = time.time() + 0.1
        while time.time() < end:
            rclpy.spin_once(node, timeout_sec=0.02)
        for m in got:
            if pred(m):
                return m
        got.clear()
    return None

def drop(m, ref):
    # largest downward displacement of any point against the reference marker
    return max(r.y - p.y for p, r in zip(m.points, ref.points))

neutral = [0.0] * 52
a = wait_marker(NAMES, neutral, lambda m: True)
out["first"] = a is not None
if a is not None:
    out["type"] = a.type
    out["frame_id"] = a.header.frame_id
    out["n_points"] = len(a.points)
    out["n_colors"] = len(a.colors)
    out["finite"] = all(math.isfinite(p.x) and math.isfinite(p.y) and math.isfinite(p.z) for p in a.points)
    # bad messages: length mismatch, NaN, unknown names, no names with the wrong count
    send(NAMES, [0.1] * 10)
    send(list(NAMES), [float("nan")] * 52)
    send(["notAShape", "jawOpen"], [1.0, 0.2])
    send([], [0.5] * 7)
    for _ in range(10):
        rclpy.spin_once(node, timeout_sec=0.02)
    got.clear()
    jaw = [0.0] * 52
    jaw[NAMES.index("jawOpen")] = 1.0
    b = wait_marker(["JawOpen"], [1.0], lambda m: len(m.points) == len(a.points) and drop(m, a) > 0.01)
    out["after_bad"] = b is not None
    if b is not None:
        out["drop_jaw"] = drop(b, a)
        out["n_points_jaw"] = len(b.points)
print("RESULT " + json.dumps(out))
node.destroy_node()
rclpy.try_shutdown()
'''


def test_face_mesh_node_round_trip_bad_input_and_shutdown(fresh_domain):
    env = ros_env(fresh_domain)
    node = subprocess.Popen([sys.executable, "-m", "emotalk_ros.face_mesh_node", "--ros-args",
                             "-p", "max_rate_hz:=20.0"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        r = subprocess.run([sys.executable, "-c", DRIVER], cwd=ROOT, env=env, capture_output=True,
                           text=True, timeout=150)
        lines = [ln for ln in r.stdout.splitlines() if ln.startswith("RESULT ")]
        assert lines, r.stdout[-2000:] + r.stderr[-3000:]
        out = json.loads(lines[-1][len("RESULT "):])
        assert out["range_rejected"], out
        assert out["first"], out
        assert out["type"] == 11  # visualization_msgs/Marker.TRIANGLE_LIST
        assert out["frame_id"] == "face"
        assert out["n_points"] > 3000 and out["n_points"] % 3 == 0
        assert out["n_colors"] == out["n_points"]
        assert out["finite"]
        # the node survived the bad messages and the jaw opened the chin downward
        assert out["after_bad"], out
        assert out["n_points_jaw"] == out["n_points"]
        assert out["drop_jaw"] > 0.015
        assert node.poll() is None, "face_mesh node died"
    finally:
        if node.poll() is None:
            node.send_signal(signal.SIGINT)
        try:
            rc = node.wait(timeout=20)
        except subprocess.TimeoutExpired:
            node.kill()
            rc = node.wait()
        log = node.stdout.read()
    assert rc == 0, log[-3000:]
    assert "Traceback" not in log, log[-3000:]
    assert "dropped face/blendshapes" in log or "JointState has" in log, log[-3000:]
