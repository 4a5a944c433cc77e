"""The ``retarget`` node with real rclpy: the node runs in its own process
(``python -m emotalk_ros.ros.retarget_node --ros-args -p ...``); this test process drives it
through a private rclpy context. Covers the message round trip (received with a
ros2_control forward_command_controller's QoS), the stale-input watchdog, the eased
SIGINT shutdown (exit code 0), a starved control loop (SIGSTOP) reported on /diagnostics,
parameter range rejection through the real parameter
service, bad messages and a bad rig file."""

import os
import random
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from conftest import ROOT, ros_env

rclpy = pytest.importorskip("rclpy")

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus  # noqa: E402
from rcl_interfaces.msg import Parameter as ParameterMsg  # noqa: E402
from rcl_interfaces.msg import ParameterType, ParameterValue  # noqa: E402
from rcl_interfaces.srv import DescribeParameters, GetParameters, SetParameters  # noqa: E402
from rclpy.context import Context  # noqa: E402
from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy, qos_profile_system_default  # noqa: E402
from sensor_msgs.msg import JointState  # noqa: E402
from std_msgs.msg import Float64MultiArray  # noqa: E402
from trajectory_msgs.msg import JointTrajectory  # noqa: E402

from emotalk_ros.retarget.rig import Rig
from emotalk_ros.ros import qos

HOBBY = Rig.load("hobby_servo_head")
NEUTRAL = HOBBY.neutral
JAW = HOBBY.motor_names.index("jaw")
# within the jaw's deadband (4 us) of fully open counts as open
JAW_OPEN = HOBBY.upper[JAW] - HOBBY.deadband[JAW] - 1e-6
# forward_command_controller subscribes with the rclcpp default: reliable, keep-last 10
CONTROLLER_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=10,
                            reliability=ReliabilityPolicy.RELIABLE)


class NodeProcess:
    """The retarget node in a child process with this run's isolated ROS environment."""

    def __init__(self, tmp_path, probe, *params):
        args = [sys.executable, "-m", "emotalk_ros.ros.retarget_node", "--ros-args",
                "-r", f"__ns:={probe.ns}"]
        for p in params:
            args += ["-p", p]
        self.log_path = tmp_path / "node.log"
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(args, cwd=ROOT, env=ros_env(probe.domain), stdout=self.log,
                                     stderr=subprocess.STDOUT)

    def text(self):
        self.log.flush()
        return self.log_path.read_text()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.log.close()


class Probe:
    """Publisher of face/blendshapes and recorder of everything the node publishes.

    Each test gets its own domain and a unique namespace, so concurrent test runs on the
    same machine (another session's, with a colliding domain) cannot cross-talk.
    """

    def __init__(self, domain):
        self.domain = domain
        self.ns = f"/retarget_test_{os.getpid()}_{random.randint(0, 10**9)}"
        self.ctx = Context()
        rclpy.init(context=self.ctx, domain_id=domain)
        self.node = rclpy.create_node("retarget_probe", namespace=self.ns, context=self.ctx)
        self.ex = SingleThreadedExecutor(context=self.ctx)
        self.ex.add_node(self.node)
        # a default-QoS publisher (like `ros2 topic pub` or a bridge) must reach the node
        self.pub = self.node.create_publisher(
            JointState, "face/blendshapes", qos_profile_system_default
        )
        self.cmds, self.cmds_sysdefault, self.states, self.diags, self.trajs = [], [], [], [], []
        n = self.node
        n.create_subscription(Float64MultiArray, "face/motor_commands",
                              lambda m: self.cmds.append((time.monotonic(), np.array(m.data))),
                              CONTROLLER_QOS)
        n.create_subscription(Float64MultiArray, "face/motor_commands",
                              lambda m: self.cmds_sysdefault.append(np.array(m.data)),
                              qos_profile_system_default)
        n.create_subscription(JointState, "face/motor_states", self.states.append,
                              qos.FACE_STREAM_BEST_EFFORT)
        n.create_subscription(DiagnosticArray, "/diagnostics", self._on_diag, qos.DIAGNOSTICS)
        n.create_subscription(JointTrajectory, "face/motor_trajectory", self.trajs.append,
                              CONTROLLER_QOS)

    def _on_diag(self, msg):
        if msg.status and msg.status[0].name.startswith(self.ns + "/retarget"):
            self.diags.append(msg)

    def srv(self, name):
        return f"{self.ns}/retarget/{name}"

    def send(self, names, values):
        m = JointState()
        m.name = list(names)
        m.position = [float(v) for v in values]
        self.pub.publish(m)

    def spin_until(self, pred, timeout, send=None, rate_hz=50.0):
        """Spin (publishing ``send`` = (names, values) at ``rate_hz``) until ``pred()``."""
        t_end = time.monotonic() + timeout
        next_send = 0.0
        while time.monotonic() < t_end:
            if send is not None and time.monotonic() >= next_send:
                self.send(*send)
                next_send = time.monotonic() + 1.0 / rate_hz
            self.ex.spin_once(timeout_sec=0.005)
            if pred():
                return True
        return False

    def call(self, srv_type, name, request, timeout=10.0, attempts=4):
        """Call a service; retried because DDS may match the request writer before the
        response reader, and a request sent in that window is never answered."""
        cli = self.node.create_client(srv_type, name)
        assert cli.wait_for_service(timeout_sec=timeout), f"no service {name}"
        for _ in range(attempts):
            fut = cli.call_async(request)
            self.ex.spin_until_future_complete(fut, timeout_sec=3.0)
            if fut.done():
                return fut.result()
            cli.remove_pending_request(fut)
        raise AssertionError(f"{name} did not answer {attempts} requests")

    def close(self):
        self.node.destroy_node()
        self.ex.shutdown()
        rclpy.try_shutdown(context=self.ctx)


@pytest.fixture
def probe(fresh_domain):
    p = Probe(fresh_domain)
    yield p
    p.close()


def jaw_open():
    return (["JawOpen"], [1.0])  # PascalCase: any accepted spelling works


def check_rate_limited(states):
    """Between any two received motor_states: |dp| <= max_velocity * dt (stamps; 2 ms slack)."""
    assert len(states) > 10
    t = np.array([m.header.stamp.sec + 1e-9 * m.header.stamp.nanosec for m in states])
    p = np.array([list(m.position) for m in states])
    dt = np.diff(t)
    dp = np.abs(np.diff(p, axis=0))
    assert np.all(dt > 0)
    assert np.all(dp <= HOBBY.max_velocity * (dt[:, None] + 2e-3)), (dp.max(axis=0), dt.max())
    assert np.all(p >= HOBBY.lower) and np.all(p <= HOBBY.upper)


def diag_values(msg):
    return {kv.key: kv.value for kv in msg.status[0].values}


def test_round_trip_and_watchdog(tmp_path, probe):
    node = NodeProcess(tmp_path, probe, "stale_timeout_s:=0.4", "stale_ease_s:=0.4",
                       "exit_ease_s:=0.3", "diagnostics_period_s:=0.2")
    try:
        # discovery + soft start (1 s on the hobby rig) + travel: jaw fully open
        ok = probe.spin_until(lambda: probe.cmds and probe.cmds[-1][1][JAW] >= JAW_OPEN,
                              timeout=20.0, send=jaw_open())
        assert ok, ("jaw never opened", probe.cmds[-1:] if probe.cmds else None, node.text())
        cmds = np.array([c for _, c in probe.cmds])
        assert cmds.shape[1] == len(HOBBY)
        assert np.all(cmds >= HOBBY.lower) and np.all(cmds <= HOBBY.upper)
        assert probe.cmds_sysdefault, "a system-default-QoS subscriber got nothing"
        assert probe.states and list(probe.states[-1].name) == HOBBY.motor_names
        check_rate_limited(probe.states)

        # input stops: held for stale_timeout_s, then eased to neutral
        t_stop = time.monotonic()
        n0 = len(probe.cmds)
        ok = probe.spin_until(  # (the same test as `reached` below: no relative tolerance)
            lambda: np.allclose(probe.cmds[-1][1], NEUTRAL, rtol=0.0, atol=1e-3), timeout=10.0)
        assert ok, ("no ease to neutral after the input stopped", probe.cmds[-1][1])
        after = [(t - t_stop, c[JAW]) for t, c in probe.cmds[n0:]]
        held = [j for dt, j in after if dt < 0.25]
        assert held and min(held) >= JAW_OPEN, "eased before the stale timeout"
        reached = next(dt for dt, j in after if abs(j - NEUTRAL[JAW]) < 1e-3)
        assert 0.4 < reached < 5.0, reached
        jaw = np.array([j for _, j in after])
        jaw = jaw[int(np.argmax(jaw)):]  # (the last bit of settling towards open came first)
        assert np.all(np.diff(jaw) <= 1e-9), "not a monotone ease to neutral"
        ok = probe.spin_until(
            lambda: probe.diags and diag_values(probe.diags[-1])["stale"] == "True", timeout=5.0
        )
        assert ok
        vals = diag_values(probe.diags[-1])
        assert int(vals["messages_received"]) > 10 and float(vals["input_age_s"]) > 0.4
        assert "clamped_total" in vals and "saturated_total" in vals

        node.proc.send_signal(signal.SIGINT)
        assert node.proc.wait(15) == 0, node.text()
    finally:
        node.stop()


def test_sigint_eases_to_neutral_then_exits_zero(tmp_path, probe):
    node = NodeProcess(tmp_path, probe, "stale_timeout_s:=10.0", "exit_ease_s:=0.8",
                       "publish_trajectory:=true")
    try:
        ok = probe.spin_until(lambda: probe.cmds and probe.cmds[-1][1][JAW] >= JAW_OPEN,
                              timeout=20.0, send=jaw_open())
        assert ok, node.text()
        assert probe.trajs and list(probe.trajs[-1].joint_names) == HOBBY.motor_names
        t_sig = time.monotonic()
        n0 = len(probe.cmds)
        node.proc.send_signal(signal.SIGINT)
        # keep sending input: the exit ease must ignore it
        probe.spin_until(lambda: node.proc.poll() is not None, timeout=15.0, send=jaw_open())
        probe.spin_until(lambda: False, timeout=0.3)  # collect the last messages
        assert node.proc.wait(5) == 0, node.text()
        after = probe.cmds[n0:]
        assert after, "nothing published after SIGINT"
        np.testing.assert_allclose(after[-1][1], NEUTRAL, atol=1e-3)
        jaw = np.array([c[JAW] for _, c in after])
        jaw = jaw[int(np.argmax(jaw)):]
        assert np.all(np.diff(jaw) <= 1e-9), "the exit ease followed the input"
        # an ease, not a jump: it takes about exit_ease_s, in small steps
        first_neutral = next(t for t, c in after if abs(c[JAW] - NEUTRAL[JAW]) < 1e-3) - t_sig
        assert first_neutral > 0.5, first_neutral
        check_rate_limited(probe.states)
        assert "easing to neutral" in node.text()
    finally:
        node.stop()


def _param(name, value):
    v = ParameterValue()
    if isinstance(value, float):
        v.type, v.double_value = ParameterType.PARAMETER_DOUBLE, value
    else:
        v.type, v.string_value = ParameterType.PARAMETER_STRING, value
    return ParameterMsg(name=name, value=v)


def test_parameter_ranges_and_bad_messages(tmp_path, probe):
    node = NodeProcess(tmp_path, probe)
    try:
        desc = probe.call(DescribeParameters, probe.srv("describe_parameters"),
                          DescribeParameters.Request(names=["control_rate_hz", "stale_timeout_s",
                                                            "rig_file"]))
        rate, stale, rig = desc.descriptors
        assert rate.read_only and rig.read_only and not stale.read_only
        assert (rate.floating_point_range[0].from_value, rate.floating_point_range[0].to_value) \
            == (1.0, 1000.0)
        assert stale.description and stale.floating_point_range[0].to_value == 60.0
        got = probe.call(GetParameters, probe.srv("get_parameters"),
                         GetParameters.Request(names=["rig_file"]))
        assert got.values[0].string_value.endswith("hobby_servo_head.yaml")

        def set_one(name, value):
            res = probe.call(SetParameters, probe.srv("set_parameters"),
                             SetParameters.Request(parameters=[_param(name, value)]))
            return res.results[0].successful

        assert set_one("stale_timeout_s", 1000.0) is False  # out of range
        assert set_one("stale_timeout_s", -1.0) is False
        assert set_one("control_rate_hz", 50.0) is False  # read-only
        assert set_one("rig_file", "morpheus_head") is False  # read-only
        assert set_one("stale_timeout_s", 0.25) is True
        got = probe.call(GetParameters, probe.srv("get_parameters"),
                         GetParameters.Request(names=["stale_timeout_s"]))
        assert got.values[0].double_value == 0.25

        # bad messages are dropped (counted), the node keeps running and keeps tracking
        assert probe.spin_until(lambda: len(probe.cmds) > 0, timeout=10.0)
        # (one at a time: the input QoS keeps only the newest message)
        for bad in ((["jawOpen", "mouthClose"], [1.0]),  # length mismatch
                    (["notAShape"], [1.0]),  # no blendshape at all
                    (["jawOpen"], [float("nan")])):  # ignored value, message kept
            probe.send(*bad)
            probe.spin_until(lambda: False, timeout=0.2)
        ok = probe.spin_until(lambda: probe.cmds[-1][1][JAW] >= JAW_OPEN, timeout=15.0,
                              send=(["jawOpen", "headYaw"], [1.0, 0.3]))
        assert ok and node.proc.poll() is None, node.text()
        def counted():
            v = diag_values(probe.diags[-1]) if probe.diags else {}
            return v.get("messages_dropped") == "2" and "headYaw" in v.get("unknown_names", "")

        ok = probe.spin_until(counted, timeout=10.0, send=jaw_open())
        assert ok, ([diag_values(d) for d in probe.diags[-3:]], node.text())
        assert "message dropped" in node.text()
        node.proc.send_signal(signal.SIGTERM)  # SIGTERM takes the same graceful path
        assert node.proc.wait(15) == 0, node.text()
    finally:
        node.stop()


def test_bad_rig_file_fails_at_startup(tmp_path, probe):
    bad = tmp_path / "bad.yaml"
    bad.write_text("motors:\n  - {name: jaw, units: us, min: 2000, max: 1000, neutral: 1500,\n"
                   "     input: {jawOpen: 1}, max_velocity: 1, max_acceleration: 1}\n")
    node = NodeProcess(tmp_path, probe, f"rig_file:={bad}")
    try:
        assert node.proc.wait(30) == 1
        text = node.text()
        assert "cannot start" in text and "jaw" in text and "min" in text, text
    finally:
        node.stop()


def test_a_starved_control_loop_is_reported_then_clears(tmp_path, probe):
    """The process is frozen (SIGSTOP) for 0.4 s, as a starved CPU would hold it: the next
    report says WARN with the tick gap; a later report, the loop running again, does not."""
    node = NodeProcess(tmp_path, probe, "diagnostics_period_s:=0.2")
    try:
        ok = probe.spin_until(lambda: len(probe.diags) >= 3, timeout=20.0, send=jaw_open())
        assert ok, node.text()
        calm = diag_values(probe.diags[-1])
        assert float(calm["tick_gap_ms"]) < 100, calm
        assert "starved" not in probe.diags[-1].status[0].message
        n0 = len(probe.diags)
        node.proc.send_signal(signal.SIGSTOP)
        time.sleep(0.4)
        node.proc.send_signal(signal.SIGCONT)
        ok = probe.spin_until(lambda: len(probe.diags) >= n0 + 4, timeout=10.0, send=jaw_open())
        assert ok, node.text()
        after = probe.diags[n0:]
        starved = [m for m in after if float(diag_values(m)["tick_gap_ms"]) >= 350]
        assert starved, [diag_values(m)["tick_gap_ms"] for m in after]
        st = starved[0].status[0]
        assert st.level == DiagnosticStatus.WARN and "control loop starved" in st.message, st
        assert float(diag_values(starved[0])["tick_gap_max_ms"]) >= 350
        assert int(diag_values(starved[0])["late_ticks"]) >= 1
        last = after[-1].status[0]                          # the window starts again
        assert float(diag_values(after[-1])["tick_gap_ms"]) < 100, diag_values(after[-1])
        assert "starved" not in last.message and float(
            diag_values(after[-1])["tick_gap_max_ms"]) >= 350
    finally:
        node.stop()
