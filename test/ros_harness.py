"""Shared helpers for the real-DDS tests: node processes, a probe node, message arrays.

``RosProc`` starts a node as ``python -m module --ros-args ...`` in its own process (output to
a file); ``Probe`` is a test-side node in its own rclpy context and domain that records the
face, emotion-state, diagnostics and audio topics and calls parameter services.

Isolation: ``new_domain()`` hands out a domain id locked for this test run
(``conftest.allocate_domain``), and every ``RosProc`` and ``Probe`` lives under this run's
unique namespace (``conftest.RUN_NAMESPACE``): ``__ns:=/x`` and ``Probe(namespace="x")``
become ``<run namespace>/x``, and absolute node paths given to the ``Probe`` service helpers
(``"/face_animator"``) are resolved the same way. Tests keep writing plain names.
"""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import rclpy
from conftest import ROOT, RUN_NAMESPACE, allocate_domain, lock_fds, ros_env
from diagnostic_msgs.msg import DiagnosticArray
from rcl_interfaces.msg import Parameter as ParameterMsg
from rcl_interfaces.msg import ParameterType, ParameterValue
from rcl_interfaces.srv import GetParameters, ListParameters, SetParameters
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import HistoryPolicy, QoSProfile
from sensor_msgs.msg import JointState
from std_msgs.msg import Float32MultiArray, MultiArrayDimension, String

from emotalk_ros.core.blendshapes import INDEX
from emotalk_ros.ros import qos

# The probe records every emotion state it is sent: the same reliability and durability as
# qos.STATE_LATCHED (so it matches and gets the latched state), but a deep history, so a
# probe that was busy for a moment reads each state in turn instead of the newest only (a
# skipped state would look like a jump in a continuity test).
STATE_RECORDER = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=200,
                            reliability=qos.STATE_LATCHED.reliability,
                            durability=qos.STATE_LATCHED.durability)

PY = sys.executable
JAW = INDEX["jawOpen"]


def new_domain(exclude=()):
    """A ROS domain id for one multi-process test, locked for this run (never the session's,
    never another concurrent run's)."""
    while True:
        d = allocate_domain()
        if d not in exclude:
            return d


def run_ns(ns=""):
    """``ns`` ('', 'x', '/x') inside this run's namespace -> '/<run namespace>[/x]'."""
    ns = ns.strip("/")
    if RUN_NAMESPACE and (("/" + ns) + "/").startswith(RUN_NAMESPACE + "/"):
        return "/" + ns                                   # already inside it
    return RUN_NAMESPACE + ("/" + ns if ns else "")


def namespaced_args(ros_args):
    """--ros-args list with ``-r __ns:=X`` rewritten (or added) to live under run_ns()."""
    args, found = list(ros_args), False
    for i, a in enumerate(args):
        if a.startswith("__ns:=") and i > 0 and args[i - 1] in ("-r", "--remap"):
            args[i] = "__ns:=" + run_ns(a[len("__ns:="):])
            found = True
    return args if found else [*args, "-r", f"__ns:={run_ns()}"]


class RosProc:
    """A node started as ``python -m module --ros-args ...`` in its own process (output to a
    file)."""

    def __init__(self, module, ros_args=(), domain=None, log_dir=None, name=None,
                 extra_env=None):
        self.name = name or module.rsplit(".", 1)[-1]
        self.log_path = os.path.join(
            log_dir or "/tmp", f"{self.name}-{os.getpid()}-{id(self)}.log"
        )
        self._log = open(self.log_path, "w")
        env = ros_env(domain)
        for k, v in (extra_env or {}).items():       # PYTHONPATH entries go first
            env[k] = v + os.pathsep + env[k] if k == "PYTHONPATH" else v
        # the child inherits the domain locks: a node left running holds its domain
        self.proc = subprocess.Popen([PY, "-m", module, "--ros-args", *namespaced_args(ros_args)],
                                     cwd=ROOT, env=env, stdout=self._log,
                                     stderr=subprocess.STDOUT, pass_fds=lock_fds())

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
        self.namespace = run_ns(namespace)
        self.node = Node("probe", namespace=self.namespace, context=self.ctx)
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
                                      STATE_RECORDER)
        self.node.create_subscription(DiagnosticArray, "/diagnostics",
                                      lambda m: self.diag.append(m), qos.DIAGNOSTICS)
        self.node.create_subscription(
            Float32MultiArray, "face/audio",
            lambda m: self.audio.append((time.monotonic(), np.array(m.data, np.float32))),
            qos.AUDIO)
        self.pub_audio = self.node.create_publisher(Float32MultiArray, "face/audio", qos.AUDIO)
        self.pub_emotion = self.node.create_publisher(String, "emotion_target", qos.COMMANDS)

    def spin(self, seconds):
        t_end = time.monotonic() + seconds
        while time.monotonic() < t_end:
            self.exe.spin_once(timeout_sec=0.01)

    def wait_for(self, cond, timeout, what, resend=None, every=0.25):
        """Spin until ``cond()``; ``resend`` (if given) is called at once and every ``every`` s
        while waiting: a best-effort message may be lost while DDS finishes matching."""
        t_end = time.monotonic() + timeout
        next_send = time.monotonic()
        while time.monotonic() < t_end:
            if cond():
                return
            if resend is not None and time.monotonic() >= next_send:
                resend()
                next_send += every
            self.exe.spin_once(timeout_sec=0.02)
        raise AssertionError(f"timed out after {timeout} s waiting for {what}")

    def call(self, srv_type, name, request, timeout=10.0):
        """Call service ``name`` (an absolute name is taken inside this run's namespace)."""
        if name.startswith("/"):
            name = run_ns(name)
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
            msg.layout.dim = [
                MultiArrayDimension(label=lab, size=s, stride=s) for lab, s in layout
            ]
        msg.data = np.asarray(samples, np.float32)
        self.pub_audio.publish(msg)

    def diag_values(self, status_name):
        """Values of the newest status ``status_name`` from a node in this run's namespace
        (/diagnostics is global: another run sharing the domain must not answer)."""
        for arr in reversed(self.diag):
            for st in arr.status:
                if st.name == status_name and (st.hardware_id + "/").startswith(
                        RUN_NAMESPACE + "/"):
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


def wav_duration(path):
    from emotalk_ros.core.audio import load_audio
    return load_audio(path).size / 16000


