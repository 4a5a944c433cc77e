"""Living next to another audio stack: the animator's audio QoS is selectable so a best-effort
publisher connects, a publisher of another type on its audio topic gets a warning instead of
silence, a robot's existing audio stream reaches the animator through face_audio_bridge (the
README's example, with std_msgs/UInt8MultiArray standing in for audio_common_msgs/AudioData,
which has the same ``uint8[] data`` field but no wheels), and the deprecated ``audio_capture``
name still works."""

import subprocess
import sys

import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy")

from conftest import ROOT, ros_env  # noqa: E402
from ros_harness import (  # noqa: E402
    JAW,
    Probe,
    RosProc,
    face_array,
    namespaced_args,
    new_domain,
    run_ns,
)
from std_msgs.msg import Float32MultiArray, UInt8MultiArray  # noqa: E402

from emotalk_ros.core.audio import load_audio  # noqa: E402
from emotalk_ros.ros import qos  # noqa: E402

CHUNK = 320   # 20 ms at 16 kHz


def own_lines(output):
    """The lines a node wrote itself (not rcl's warnings about the environment, such as
    Jazzy's about ROS_LOCALHOST_ONLY)."""
    return [ln for ln in output.strip().splitlines() if "[rcl]:" not in ln]


def animator(dom, tmp_path, *extra):
    return RosProc("emotalk_ros.ros.face_animator_node",
                   ["-p", "model.path:=baseline", "-p", "idle.enabled:=false", *extra],
                   dom, str(tmp_path))


def play(probe, publish, samples):
    """Publish (N,) float32 16 kHz samples in 20 ms chunks at real-time pace."""
    for i in range(0, samples.size, CHUNK):
        publish(samples[i:i + CHUNK])
        probe.spin(CHUNK / 16000)


def jaw_max(probe):
    if not probe.face:
        return 0.0
    return float(face_array(probe.face)[2][:, JAW].max())


def test_best_effort_audio_needs_audio_qos_best_effort_and_is_named_otherwise(speech_wav,
                                                                             tmp_path):
    x = load_audio(speech_wav)
    dom = new_domain()
    probe = Probe(dom)
    pub = probe.node.create_publisher(Float32MultiArray, "face/audio", qos.AUDIO_BEST_EFFORT)

    def send(chunk):
        pub.publish(Float32MultiArray(data=chunk.astype(np.float32)))

    reliable = animator(dom, tmp_path)
    try:
        probe.wait_for(lambda: len(probe.face) > 10, 30, "frames")
        probe.face.clear()
        play(probe, send, x)
        probe.spin(1.5)
        assert jaw_max(probe) < 0.05, "a reliable subscription matched a best-effort publisher"
        probe.wait_for(lambda: "set the animator's audio.qos to best_effort" in reliable.output(),
                       15, "the QoS warning")
        d = probe.diag_values("face_animator: runtime")
        assert d is not None and "best-effort" in d["audio_publishers_unusable"]
    finally:
        reliable.close()
    probe.face.clear()
    best_effort = animator(dom, tmp_path, "-p", "audio.qos:=best_effort")
    try:
        probe.wait_for(lambda: len(probe.face) > 10, 30, "frames")
        probe.wait_for(lambda: pub.get_subscription_count() > 0, 10, "the match")
        probe.face.clear()
        play(probe, send, x)
        probe.spin(1.0)
        assert jaw_max(probe) > 0.2, "speech from a best-effort publisher opened the mouth"
        assert "audio.qos" not in best_effort.output().split("face_animator: backend")[-1]
    finally:
        best_effort.close()
        probe.close()


def test_a_publisher_of_another_type_gets_a_warning_not_silence(tmp_path):
    from rclpy.node import Node

    dom = new_domain()
    probe = Probe(dom)
    # another stack's node (its own participant: DDS allows one type per topic in one)
    ctx = rclpy.Context()
    rclpy.init(context=ctx, domain_id=dom)
    other = Node("audio_capture", namespace=run_ns(), context=ctx)
    wrong = other.create_publisher(UInt8MultiArray, "face/audio", qos.AUDIO)
    anim = animator(dom, tmp_path)
    try:
        probe.wait_for(lambda: len(probe.face) > 10, 30, "frames")
        for _ in range(3):
            wrong.publish(UInt8MultiArray(data=bytes(640)))
            probe.spin(0.2)
        ns = run_ns()
        text = f"{ns}/audio_capture publishes std_msgs/msg/UInt8MultiArray on {ns}/face/audio"
        probe.wait_for(lambda: text in anim.output(), 15, "the type warning")
        probe.wait_for(lambda: (probe.diag_values("face_animator: runtime") or {}).get(
            "audio_publishers_unusable", "").startswith(f"{run_ns()}/audio_capture publishes"), 5,
            "the diagnostics warning")
        probe.spin(2.5)
        assert anim.output().count(text) == 1, "the warning is throttled"
        assert anim.alive() and "Traceback" not in anim.output()
    finally:
        anim.close()
        other.destroy_node()
        rclpy.try_shutdown(context=ctx)
        probe.close()


def test_an_existing_audio_stack_feeds_the_animator_through_the_bridge(speech_wav, tmp_path):
    """README: 'Feeding the face from an existing audio stack' (the AudioData example)."""
    x = load_audio(speech_wav)
    pcm = np.clip(np.round(x * 32767), -32768, 32767).astype("<i2")
    dom = new_domain()
    probe = Probe(dom)
    # the other stack: 16 kHz S16LE bytes on `audio`, best-effort (sensor data)
    stack = probe.node.create_publisher(UInt8MultiArray, "audio", qos.AUDIO_BEST_EFFORT)
    anim = animator(dom, tmp_path)
    bridge = RosProc("emotalk_ros.ros.face_audio_bridge_node",
                     ["-p", "input_type:=std_msgs/msg/UInt8MultiArray", "-p", "field:=data",
                      "-p", "encoding:=s16le"], dom, str(tmp_path))
    try:
        probe.wait_for(lambda: len(probe.face) > 10, 30, "frames")
        probe.wait_for(lambda: stack.get_subscription_count() > 0, 20, "the bridge")
        probe.face.clear()
        play(probe, lambda c: stack.publish(UInt8MultiArray(data=c.tobytes())), pcm)
        probe.spin(1.0)
        assert jaw_max(probe) > 0.2, "the stack's speech opened the mouth"
        # every forwarded chunk is exactly one of the stack's chunks, in order (best-effort
        # delivery may lose a few under load, never alter or reorder them)
        sent = [pcm[i:i + CHUNK] for i in range(0, pcm.size, CHUNK)]
        k = 0
        for n, (_, a) in enumerate(probe.audio):
            back = np.round(a * 32768.0).astype("<i2")
            while k < len(sent) and not np.array_equal(sent[k], back):
                k += 1                                   # (chunks lost on the way)
            assert k < len(sent), f"forwarded chunk {n} is none of the stack's, in order"
            k += 1
        assert len(probe.audio) >= 0.8 * len(sent), (len(probe.audio), len(sent))
        probe.spin(1.2)
        d = probe.diag_values("face_audio_bridge: input")
        assert d is not None and d["messages_dropped"] == "0"
        # a message that is not whole samples is dropped with a warning, the bridge lives on
        # (best effort: sent every 0.5 s until the warning shows, as one message may be lost)
        probe.wait_for(lambda: "message dropped: 3 bytes are not whole s16le frames"
                       in bridge.output(), 10, "the drop warning",
                       resend=lambda: stack.publish(UInt8MultiArray(data=bytes(3))), every=0.5)
        assert bridge.alive() and anim.alive()
    finally:
        bridge.close()
        anim.close()
        probe.close()


def test_the_bridge_refuses_a_bad_configuration_with_one_line(tmp_path):
    dom = new_domain()
    cases = ((["-p", "input_type:=audio_common_msgs/msg/AudioData"],
              "parameter input_type='audio_common_msgs/msg/AudioData': the message package "
              "'audio_common_msgs' is not installed"),
             (["-p", "input_type:=std_msgs/msg/UInt8MultiArray", "-p", "field:=samples"],
              "parameter field='samples': UInt8MultiArray has no field 'samples'"),
             (["-p", "input_type:=std_msgs/msg/UInt8MultiArray", "-p", "channel:=2"],
              "parameter channel=2 must be below channels=1"),
             (["-p", "input_type:=std_msgs/msg/UInt8MultiArray", "-p", "input_qos:=fast"],
              "parameter input_qos='fast' is invalid"))
    for args, text in cases:
        p = RosProc("emotalk_ros.ros.face_audio_bridge_node", args, dom, str(tmp_path))
        try:
            rc = p.proc.wait(30)
        finally:
            p.close()
        out = p.output()
        assert rc == 1 and text in out, out
        assert len(own_lines(out)) == 1 and "Traceback" not in out, out


def test_the_deprecated_audio_capture_name_still_works(speech_wav, tmp_path):
    dom = new_domain()
    probe = Probe(dom)
    code = ("import sys; from emotalk_ros.ros.face_audio_capture_node import main_deprecated; "
            "sys.exit(main_deprecated())")
    log = open(tmp_path / "alias.log", "w")
    ros_args = namespaced_args(["-p", "source:=file", "-p", f"file.path:={speech_wav}",
                                "-p", "file.wait_subscribers:=1"])
    proc = subprocess.Popen([sys.executable, "-c", code, "--ros-args", *ros_args],
                            cwd=ROOT, env=ros_env(dom), stdout=log, stderr=subprocess.STDOUT)
    try:
        probe.wait_for(lambda: len(probe.audio) > 5, 30, "audio on face/audio from the alias")
        assert "audio_capture" in probe.node.get_node_names()
        assert "face_audio_capture" not in probe.node.get_node_names()
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()
        probe.close()
    out = (tmp_path / "alias.log").read_text()
    assert "the executable and node name 'audio_capture' are deprecated" in out


def test_an_unsupported_audio_qos_is_one_line_naming_the_parameter(tmp_path):
    anim = animator(new_domain(), tmp_path, "-p", "audio.qos:=sensor")
    try:
        rc = anim.proc.wait(30)
    finally:
        anim.close()
    out = anim.output()
    assert rc == 1 and len(own_lines(out)) == 1, out
    assert "parameter audio.qos='sensor' is invalid; valid values: reliable, best_effort" in out
    assert "Traceback" not in out
