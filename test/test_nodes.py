"""The ROS 2 nodes over real DDS, each in its own process: graph, emotion, bad input, params, shutdown.

The helpers at the top (``RosProc``, ``Probe``, ``speech_wav``) are reused by
test_launch.py and test_mic_capture.py.
"""

import json
import math
import os
import random
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy")

from diagnostic_msgs.msg import DiagnosticArray  # noqa: E402
from rcl_interfaces.msg import Parameter as ParameterMsg  # noqa: E402
from rcl_interfaces.msg import ParameterType, ParameterValue  # noqa: E402
from rcl_interfaces.srv import GetParameters, ListParameters, SetParameters  # noqa: E402
from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from rclpy.node import Node  # noqa: E402
from sensor_msgs.msg import JointState  # noqa: E402
from std_msgs.msg import Float32MultiArray, MultiArrayDimension, String  # noqa: E402

from conftest import ROOT, ros_env  # noqa: E402
from emotalk_ros import qos  # noqa: E402
from emotalk_ros.blendshapes import INDEX, NAMES  # noqa: E402

PY = sys.executable
JAW = INDEX["jawOpen"]


def new_domain(exclude=()):
    """A random ROS domain id (1..99) for one multi-process test."""
    while True:
        d = random.randint(1, 99)
        if d not in exclude and str(d) != os.environ.get("ROS_DOMAIN_ID"):
            return d


class RosProc:
    """A node started as ``python -m module --ros-args ...`` in its own process (output to a file)."""

    def __init__(self, module, ros_args=(), domain=None, log_dir=None, name=None):
        self.name = name or module.rsplit(".", 1)[-1]
        self.log_path = os.path.join(log_dir or "/tmp", f"{self.name}-{os.getpid()}-{id(self)}.log")
        self._log = open(self.log_path, "w")
        self.proc = subprocess.Popen([PY, "-m", module, "--ros-args", *ros_args], cwd=ROOT,
                                     env=ros_env(domain), stdout=self._log,
                                     stderr=subprocess.STDOUT)

    def output(self):
        with open(self.log_path) as f:
            return f.read()

    def alive(self):
        return self.proc.poll() is None

    def interrupt(self, timeout=10.0):
        """SIGINT, then wait; returns (exit code, seconds it took)."""
        t0 = time.monotonic()
        if self.alive():
            self.proc.send_signal(signal.SIGINT)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        return rc, time.monotonic() - t0

    def close(self):
        if self.alive():
            self.interrupt(5.0)
        self._log.close()


class Probe:
    """Test-side node in its own rclpy context and domain: records topics, calls services."""

    def __init__(self, domain, namespace=""):
        self.ctx = rclpy.Context()
        rclpy.init(context=self.ctx, domain_id=domain)
        self.node = Node("probe", namespace=namespace, context=self.ctx)
        self.exe = SingleThreadedExecutor(context=self.ctx)
        self.exe.add_node(self.node)
        self.face = []      # (receive monotonic time, JointState)
        self.state = []     # (receive time, dict)
        self.diag = []      # DiagnosticArray
        self.audio = []     # (receive time, np.ndarray)
        self.node.create_subscription(JointState, "face/blendshapes",
                                      lambda m: self.face.append((time.monotonic(), m)),
                                      qos.FACE_STREAM)
        self.node.create_subscription(String, "face/emotion_state",
                                      lambda m: self.state.append((time.monotonic(),
                                                                   json.loads(m.data))),
                                      qos.STATE_LATCHED)
        self.node.create_subscription(DiagnosticArray, "/diagnostics",
                                      lambda m: self.diag.append(m), qos.DIAGNOSTICS)
        self.node.create_subscription(
            Float32MultiArray, "audio",
            lambda m: self.audio.append((time.monotonic(), np.array(m.data, np.float32))),
            qos.AUDIO)
        self.pub_audio = self.node.create_publisher(Float32MultiArray, "audio", qos.AUDIO)
        self.pub_emotion = self.node.create_publisher(String, "emotion_target", qos.COMMANDS)

    def spin(self, seconds):
        t_end = time.monotonic() + seconds
        while time.monotonic() < t_end:
            self.exe.spin_once(timeout_sec=0.01)

    def wait_for(self, cond, timeout, what):
        t_end = time.monotonic() + timeout
        while time.monotonic() < t_end:
            if cond():
                return
            self.exe.spin_once(timeout_sec=0.02)
        raise AssertionError(f"timed out after {timeout} s waiting for {what}")

    def call(self, srv_type, name, request, timeout=10.0):
        cli = self.node.create_client(srv_type, name)
        try:
            self.wait_for(cli.service_is_ready, timeout, f"service {name}")
            fut = cli.call_async(request)
            self.wait_for(fut.done, timeout, f"reply from {name}")
            return fut.result()
        finally:
            self.node.destroy_client(cli)

    def list_parameters(self, node_path):
        return list(self.call(ListParameters, f"{node_path}/list_parameters",
                              ListParameters.Request()).result.names)

    def set_parameter(self, node_path, name, value):
        v = ParameterValue()
        if isinstance(value, bool):
            v.type, v.bool_value = ParameterType.PARAMETER_BOOL, value
        elif isinstance(value, int):
            v.type, v.integer_value = ParameterType.PARAMETER_INTEGER, value
        elif isinstance(value, float):
            v.type, v.double_value = ParameterType.PARAMETER_DOUBLE, value
        else:
            v.type, v.string_value = ParameterType.PARAMETER_STRING, str(value)
        req = SetParameters.Request(parameters=[ParameterMsg(name=name, value=v)])
        return self.call(SetParameters, f"{node_path}/set_parameters", req).results[0]

    def get_parameter(self, node_path, name):
        res = self.call(GetParameters, f"{node_path}/get_parameters",
                        GetParameters.Request(names=[name]))
        return res.values[0]

    def send_audio(self, samples, layout=None):
        msg = Float32MultiArray()
        if layout is not None:
            msg.layout.dim = [MultiArrayDimension(label=lab, size=s, stride=s) for lab, s in layout]
        msg.data = np.asarray(samples, np.float32)
        self.pub_audio.publish(msg)

    def diag_values(self, status_name):
        for arr in reversed(self.diag):
            for st in arr.status:
                if st.name == status_name:
                    return {kv.key: kv.value for kv in st.values}
        return None

    def close(self):
        self.exe.shutdown()
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.ctx)


def face_array(msgs):
    """[(t, JointState)] -> (receive times (N,), stamps (N,) s, values (N, 52))."""
    t = np.array([r for r, _ in msgs])
    st = np.array([m.header.stamp.sec + 1e-9 * m.header.stamp.nanosec for _, m in msgs])
    v = np.array([m.position for _, m in msgs], dtype=np.float64)
    return t, st, v


@pytest.fixture(scope="module")
def speech_wav(tmp_path_factory):
    """About 2 s of espeak-ng speech (22.05 kHz wav, as the CLI writes it)."""
    d = tmp_path_factory.mktemp("speech")
    path = str(d / "speech.wav")
    subprocess.run(["espeak-ng", "-v", "en-us", "-s", "160", "-w", path,
                    "Hello robot. Papa made a banana pie."], check=True, timeout=30)
    return path


def wav_duration(path):
    from emotalk_ros.audio import load_audio
    return load_audio(path).size / 16000


def animator_args(*extra):
    return ["-p", "model.path:=baseline", "-p", "transition_s:=0.5", *extra]


# ---------------------------------------------------------------------------------------------
# end-to-end graph: audio_capture (file) -> face_animator (baseline) -> probe
# ---------------------------------------------------------------------------------------------
def test_graph_file_to_blendshapes(speech_wav, tmp_path):
    dom = new_domain()
    probe = Probe(dom)
    anim = RosProc("emotalk_ros.face_animator_node", animator_args("-p", "idle.enabled:=false"),
                   dom, str(tmp_path))
    cap = None
    try:
        probe.wait_for(lambda: len(probe.face) > 10, 20, "blendshapes from face_animator")
        assert len(probe.state) >= 1 and probe.state[-1][1]["weights"]["neutral"] == 1.0
        probe.face.clear()
        cap = RosProc("emotalk_ros.audio_capture_node",
                      ["-p", "source:=file", "-p", f"file.path:={speech_wav}",
                       "-p", "file.wait_subscribers:=2"], dom, str(tmp_path))   # animator + probe
        dur = wav_duration(speech_wav)
        probe.wait_for(lambda: len(probe.audio) > 0, 20, "audio from audio_capture")
        t_audio0 = probe.audio[0][0]
        probe.spin(dur + 1.5)
        t, stamps, v = face_array(probe.face)
        names = probe.face[-1][1].name
        assert list(names) == list(NAMES)
        assert v.shape[1] == 52 and np.all(np.isfinite(v)) and v.min() >= 0 and v.max() <= 1
        rate = (len(t) - 1) / (t[-1] - t[0])
        assert 55 <= rate <= 65, rate
        assert np.all(np.diff(stamps) >= 0)                       # stamps never run backwards
        jaw = v[:, JAW]
        during = jaw[(t > t_audio0 + 0.2) & (t < t_audio0 + dur - 0.1)]
        after = jaw[t > t[-1] - 0.5]
        assert during.max() > 0.25, during.max()                  # mouth opens during speech
        assert after.max() < 0.03, after.max()                    # ...and closes in silence
        got = sum(a.size for _, a in probe.audio)
        # the file waited for both subscribers: the probe heard all of it
        assert 0.98 * dur * 16000 < got <= dur * 16000 + 1, (got, dur)
        # header.stamp = when the depicted sound was heard: close to the receive time
        wall_minus_mono = time.time() - time.monotonic()
        lag = (t + wall_minus_mono) - stamps
        assert np.median(lag) < 0.25 and np.median(lag) > -0.05, np.median(lag)
        probe.spin(1.2)
        d = probe.diag_values("face_animator: runtime")
        assert d is not None and d["backend"] == "baseline-amplitude"
        assert float(d["latency_publish_mean_s"]) < 0.25
        assert float(d["rtf_total"]) < 1.0
        c = probe.diag_values("audio_capture: source")
        assert c is not None and c["finished"] == "True" and int(c["overflows"]) == 0
        assert int(c["samples_published"]) == round(dur * 16000)   # the whole file, once
    finally:
        for p in (cap, anim):
            if p is not None:
                p.close()
        probe.close()


# ---------------------------------------------------------------------------------------------
# one face_animator process for the emotion, bad-input and parameter tests
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def animator(tmp_path_factory):
    dom = new_domain()
    probe = Probe(dom)
    proc = RosProc("emotalk_ros.face_animator_node", animator_args(), dom,
                   str(tmp_path_factory.mktemp("anim")))
    try:
        probe.wait_for(lambda: len(probe.face) > 5, 20, "blendshapes from face_animator")
        yield probe, proc
    finally:
        proc.close()
        probe.close()


def test_emotion_command_round_trip(animator):
    probe, _ = animator
    probe.state.clear()
    t0 = time.monotonic()
    probe.pub_emotion.publish(String(data="happy:1.0 transition=1.0"))
    probe.wait_for(lambda: probe.state and probe.state[-1][1]["weights"]["happy"] >= 0.999, 10,
                   "happy to reach 1")
    probe.spin(0.3)
    ts = np.array([t for t, _ in probe.state])
    happy = np.array([s["weights"]["happy"] for _, s in probe.state])
    assert probe.state[-1][1]["target"]["happy"] == 1.0
    assert np.all(np.diff(happy) >= -1e-9)                        # monotonic: smooth, no jumps back
    mid = happy[(happy > 0.02) & (happy < 0.98)]
    assert len(mid) >= 6, happy                                   # many intermediate values
    assert np.max(np.diff(happy)) < 0.35                          # no big step
    rise = ts[np.argmax(happy >= 0.999)] - ts[np.argmax(happy > 0.0)]
    assert 0.6 < rise < 1.4, rise                                 # about transition=1.0 s
    assert ts[np.argmax(happy > 0.0)] - t0 < 1.0


def test_malformed_commands_change_nothing(animator):
    probe, proc = animator
    probe.pub_emotion.publish(String(data="sad:0.5 transition=0"))
    probe.wait_for(lambda: probe.state and probe.state[-1][1]["weights"]["sad"] == 0.5
                   and probe.state[-1][1]["transition_remaining_s"] == 0.0, 10, "sad:0.5 settled")
    probe.spin(0.3)
    n_before = len(probe.state)
    bad = ["happy:banana", "xyzzy", "{\"happy\": ", "happy:0.5 happy:0.2", "sad:-1", "",
           "ångry:1", "va:5,5", "happy:nan", "\x00\x01\x02" * 100]
    for b in bad:
        probe.pub_emotion.publish(String(data=b))
    probe.spin(1.0)
    assert proc.alive()
    assert len(probe.state) == n_before                           # not even half-applied
    out = proc.output()
    assert out.count("emotion_target") >= len(bad) - 1
    assert "xyzzy" in out and "neutral" in out and "contempt" in out   # names the valid names
    n_face = len(probe.face)
    probe.spin(0.5)
    assert len(probe.face) - n_face > 20                          # still publishing


def test_bad_audio_over_dds(animator):
    probe, proc = animator
    # (spin between bursts: the AUDIO QoS keeps the last 50 chunks, older unsent ones are replaced)
    probe.send_audio([0.1, float("nan"), 0.2])
    probe.send_audio([float("inf")] * 320)
    probe.send_audio([])
    probe.send_audio(np.zeros(640), layout=[("samples", 320), ("channels", 2)])
    probe.spin(0.3)
    for _ in range(40):
        probe.send_audio([0.5])                                   # 1-sample chunks
    probe.spin(0.3)
    probe.send_audio(np.random.default_rng(0).uniform(-1, 1, 16000 * 600))   # 10 minutes at once
    probe.spin(3.0)
    assert proc.alive()
    _, _, v = face_array(probe.face[-120:])
    assert np.all(np.isfinite(v)) and v.min() >= 0.0 and v.max() <= 1.0
    probe.wait_for(lambda: (probe.diag_values("face_animator: runtime") or {}).get(
        "dropped_samples", "0") != "0", 5, "diagnostics after the long chunk")
    d = probe.diag_values("face_animator: runtime")
    assert int(d["invalid_chunks"]) >= 4
    assert int(d["dropped_samples"]) >= 16000 * 590             # only queue_s of it was kept
    assert "NaN/Inf" in proc.output()
    n_face = len(probe.face)
    probe.spin(0.5)
    assert len(probe.face) - n_face > 20


def test_parameter_ranges_rejected_by_set_parameters(animator):
    probe, proc = animator
    path = "/face_animator"
    names = probe.list_parameters(path)
    for p in ("model.path", "emotion_strength", "idle.blink_scale", "queue_s", "stale_audio_s"):
        assert p in names
    assert not probe.set_parameter(path, "emotion_strength", 5.0).successful      # out of range
    assert not probe.set_parameter(path, "idle.gaze_scale", -0.5).successful
    assert not probe.set_parameter(path, "ease", "wobbly").successful             # not a choice
    assert not probe.set_parameter(path, "model.path", "/tmp/x.onnx").successful  # read-only
    assert not probe.set_parameter(path, "output_rate_hz", 30.0).successful        # read-only
    assert not probe.set_parameter(path, "transition_s", "fast").successful        # wrong type
    assert probe.get_parameter(path, "emotion_strength").double_value == 1.0
    assert probe.set_parameter(path, "emotion_strength", 1.5).successful
    assert probe.get_parameter(path, "emotion_strength").double_value == 1.5
    assert probe.set_parameter(path, "ease", "linear").successful
    # the live value really reaches the emotion state: strength 1.5 on sad:0.5 -> 0.75
    probe.pub_emotion.publish(String(data="sad:0.5 transition=0"))
    probe.wait_for(lambda: probe.state and math.isclose(probe.state[-1][1]["weights"]["sad"],
                                                        0.75, abs_tol=1e-3), 5, "sad at 0.75")
    assert proc.alive()


# ---------------------------------------------------------------------------------------------
# startup failures and clean shutdown
# ---------------------------------------------------------------------------------------------
def test_startup_failures_are_clear(tmp_path):
    dom = new_domain()
    bad_model = RosProc("emotalk_ros.face_animator_node",
                        ["-p", "model.path:=/nonexistent/model.onnx"], dom, str(tmp_path))
    bad_dev = RosProc("emotalk_ros.audio_capture_node",
                      ["-p", "source:=mic", "-p", "device:=no-such-mic-xyz"], dom, str(tmp_path))
    for p, text in ((bad_model, "model file not found"), (bad_dev, "available input devices")):
        try:
            rc = p.proc.wait(30)
        finally:
            p.close()
        assert rc == 1, p.output()
        assert text in p.output()


def test_sigint_shuts_down_cleanly(speech_wav, tmp_path):
    dom = new_domain()
    probe = Probe(dom)
    anim = RosProc("emotalk_ros.face_animator_node", animator_args(), dom, str(tmp_path))
    cap = RosProc("emotalk_ros.audio_capture_node",
                  ["-p", "source:=file", "-p", f"file.path:={speech_wav}", "-p", "file.loop:=true"],
                  dom, str(tmp_path))
    try:
        probe.wait_for(lambda: len(probe.face) > 5 and len(probe.audio) > 5, 20, "graph running")
        for p in (cap, anim):
            rc, took = p.interrupt(10.0)
            assert rc == 0, p.output()
            assert took < 3.0, took
            assert "Traceback" not in p.output()
    finally:
        cap.close()
        anim.close()
        probe.close()
