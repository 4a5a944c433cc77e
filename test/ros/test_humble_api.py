"""Every node runs on Humble's rclpy API: each starts with the Node API that came after Humble
hidden (test/humble_rclpy.py, from rclpy's Humble ``node.py``) and does its job over real DDS.
A node that does use a newer API fails to start with one line naming it, exit code 1 and no
traceback."""

import os
import subprocess
import sys
import time

import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy")

from conftest import ROOT, ros_env  # noqa: E402
from humble_rclpy import HUMBLE_NODE_API, newer_than_humble  # noqa: E402
from ros_harness import JAW, Probe, RosProc, face_array, new_domain, wav_duration  # noqa: E402

TEST_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def on_humble_api(module, ros_args, dom, log_dir, also=""):
    """``module`` run through humble_rclpy (the post-Humble Node API hidden from it)."""
    env = {"PYTHONPATH": TEST_DIR, "HUMBLE_RCLPY_TARGET": module}
    if also:
        env["HUMBLE_RCLPY_ALSO"] = also
    return RosProc("humble_rclpy", ros_args, dom, log_dir, name=module.rsplit(".", 1)[-1],
                   extra_env=env)


def test_the_humble_list_is_a_subset_and_the_newer_api_is_hidden():
    from rclpy.node import Node

    missing = sorted(HUMBLE_NODE_API - set(dir(Node)))
    assert not missing, f"this rclpy lost Humble's Node API: {missing}"
    newer = newer_than_humble(Node)
    # Iron+ (rclpy 4+); the wheels here are Jazzy's or Kilted's
    assert {"add_post_set_parameters_callback", "add_pre_set_parameters_callback",
            "wait_for_node"} <= set(newer)
    assert "add_on_set_parameters_callback" not in newer


def test_every_node_works_with_the_post_humble_api_hidden(speech_wav, tmp_path):
    from std_msgs.msg import Float32MultiArray, Float64MultiArray, UInt8MultiArray
    from visualization_msgs.msg import Marker

    from emotalk_ros.ros import qos

    dom = new_domain()
    probe = Probe(dom)
    got = {"motor": [], "mesh": [], "bridged": []}
    probe.node.create_subscription(Float64MultiArray, "face/motor_commands",
                                   lambda m: got["motor"].append(np.array(m.data)),
                                   qos.MOTOR_COMMANDS)
    probe.node.create_subscription(Marker, "face/mesh", lambda m: got["mesh"].append(m), qos.MESH)
    probe.node.create_subscription(Float32MultiArray, "bridged",
                                   lambda m: got["bridged"].append(np.array(m.data)), qos.AUDIO)
    stack = probe.node.create_publisher(UInt8MultiArray, "stack_audio", qos.AUDIO_BEST_EFFORT)
    log = str(tmp_path)
    procs = {}
    try:
        procs["anim"] = on_humble_api("emotalk_ros.ros.face_animator_node",
                                      ["-p", "model.path:=baseline", "-p", "idle.enabled:=false"],
                                      dom, log)
        procs["retarget"] = on_humble_api("emotalk_ros.ros.retarget_node", [], dom, log)
        procs["mesh"] = on_humble_api("emotalk_ros.ros.face_mesh_node", [], dom, log)
        procs["bridge"] = on_humble_api(
            "emotalk_ros.ros.face_audio_bridge_node",
            ["-p", "input_topic:=stack_audio", "-p", "input_type:=std_msgs/msg/UInt8MultiArray",
             "-r", "face/audio:=bridged"], dom, log)
        probe.wait_for(lambda: len(probe.face) > 10, 40, "frames from face_animator")
        probe.wait_for(lambda: len(got["motor"]) > 10, 20, "motor commands from retarget")
        probe.wait_for(lambda: len(got["mesh"]) > 0, 40, "a marker from face_mesh")
        # the retarget node's live parameters go through add_on_set_parameters_callback
        res = probe.set_parameter("/retarget", "exit_ease_s", 6.0)
        assert res.successful, res.reason
        assert probe.get_parameter("/retarget", "exit_ease_s").double_value == 6.0
        # the bridge converts another stack's bytes (s16le) to face/audio
        tone = (0.25 * np.sin(np.arange(1600) * 0.05) * 32767).astype("<i2")
        probe.wait_for(lambda: probe.node.count_subscribers("stack_audio") > 0, 20,
                       "the bridge's subscription")
        # best effort, as another stack's audio: sent every 0.25 s (slower than real time)
        # until one comes back
        probe.wait_for(lambda: len(got["bridged"]) > 0, 10, "bridged audio",
                       resend=lambda: stack.publish(UInt8MultiArray(data=tone.tobytes())))
        assert all(np.allclose(b, tone / 32768.0, atol=1e-6) for b in got["bridged"])
        # the capture node plays a file into the animator: the mouth opens
        probe.face.clear()
        procs["capture"] = on_humble_api(
            "emotalk_ros.ros.face_audio_capture_node",
            ["-p", "source:=file", "-p", f"file.path:={speech_wav}",
             "-p", "file.wait_subscribers:=2"], dom, log)
        probe.wait_for(lambda: len(probe.audio) > 0, 20, "audio from face_audio_capture")
        probe.spin(wav_duration(speech_wav) + 1.0)
        _, _, v = face_array(probe.face)
        assert v[:, JAW].max() > 0.2, "the mouth opened"
        for name, p in procs.items():
            assert p.alive(), (name, p.output()[-2000:])
        # the live exit_ease_s reached the safety stage: the shutdown ease takes ~6 s, not the
        # rig's 1.5 s
        rc, took = procs["retarget"].interrupt(timeout=30)
        assert rc == 0 and took >= 5.0, (rc, took, procs["retarget"].output()[-2000:])
        for name, p in procs.items():
            out = p.output()
            assert "add_post_set_parameters_callback" in out.splitlines()[0], out[:500]
            assert "Traceback" not in out, (name, out[-2000:])
    finally:
        for p in procs.values():
            p.close()
        probe.close()


LEGACY_NODE = '''
import sys
from rclpy.node import Node
from emotalk_ros.ros.run import run_node


class LegacyNode(Node):
    def __init__(self):
        super().__init__("legacy_post_set")
        self.add_post_set_parameters_callback(lambda params: None)


def main(args=None):
    return run_node(LegacyNode, "legacy_post_set", args)


if __name__ == "__main__":
    sys.exit(main())
'''


def test_a_post_humble_api_fails_the_start_with_one_line(tmp_path):
    (tmp_path / "legacy_post_set_node.py").write_text(LEGACY_NODE)
    dom = new_domain()
    extra = {"PYTHONPATH": str(tmp_path)}
    # the control: on this rclpy (Iron or newer) the node starts
    ok = RosProc("legacy_post_set_node", [], dom, str(tmp_path), name="legacy_ok",
                 extra_env=extra)
    try:
        time.sleep(0.5)
        t_end = time.monotonic() + 20
        while ok.alive() and "legacy_post_set" not in ok.output() and time.monotonic() < t_end:
            time.sleep(0.2)
        assert ok.alive(), ok.output()
    finally:
        ok.close()
    # with the post-Humble API hidden it cannot start: one line, exit 1
    env = ros_env(dom)
    env["PYTHONPATH"] = os.pathsep.join([TEST_DIR, str(tmp_path), env["PYTHONPATH"]])
    env.update(HUMBLE_RCLPY_TARGET="legacy_post_set_node",
               HUMBLE_RCLPY_ALSO="legacy_post_set_node")
    r = subprocess.run([sys.executable, "-m", "humble_rclpy", "--ros-args"], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=60)
    # (not the shim's own line, nor rcl's warnings about the environment)
    lines = [ln for ln in (r.stdout + r.stderr).splitlines()
             if "[humble_rclpy]" not in ln and "[rcl]:" not in ln]
    assert r.returncode == 1, r.stdout + r.stderr
    assert len(lines) == 1, lines
    assert "cannot start: this rclpy lacks an API the node uses" in lines[0]
    assert "add_post_set_parameters_callback" in lines[0] and "Humble" in lines[0]
    assert "Traceback" not in r.stderr
