"""Face rate, latency and stalls of the live graph while it is flooded (docs/BENCHMARKS.md).

    python -m emotalk_ros.ros.flood_bench [--model PATH] [--json OUT.json]

``face_animator`` (idle overlay off) and ``retarget`` run as separate processes on a private
domain. This process streams a speech-like signal in real time (20 ms chunks) and records
every ``face/blendshapes`` frame and ``face/motor_commands`` message; the floods come from a
second process (``--flooder KIND``) so that this recorder never stalls itself. Phases:

1. ``steady``: real-time audio only (the baseline of the same run);
2. ``audio 10x``: 9 more real-time streams of audio on ``audio`` (10x real time in all);
3. ``after audio 10x``;
4. ``1 MB strings``: 30 one-megabyte strings per second on ``emotion_target``;
5. ``after 1 MB strings``;
6. ``maximal track``: one valid 2000-key ``emotion_track`` (the most a message may carry)
   at the phase start;
7. ``retarget flood``: 1000 ``face/blendshapes`` messages per second with 200 distinct
   unknown names each, plus 5 three-megabyte messages per second;
8. ``after retarget flood``.

Per phase: face rate (Hz), worst gap between two frames (ms), latency heard -> received
(receive time minus the frame's stamp, which is when its audio arrived; p50/p95 ms), worst
gap between two motor commands (ms), the animator's RSS at the end of the phase, and the
machine's 1-minute load average (on a shared machine the stalls follow it).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import time
from typing import Dict, List

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PHASES = (("steady", 8.0, None), ("audio 10x", 5.0, "audio"), ("after audio 10x", 8.0, None),
          ("1 MB strings", 5.0, "strings"), ("after 1 MB strings", 8.0, None),
          ("maximal track", 8.0, "track"), ("retarget flood", 5.0, "blendshapes"),
          ("after retarget flood", 8.0, None))


def _rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def flooder(kind: str, seconds: float) -> None:
    """Publish one kind of flood for ``seconds`` (run in its own process)."""
    import rclpy
    from sensor_msgs.msg import JointState
    from std_msgs.msg import Float32MultiArray, String

    from emotalk_ros.ros import qos
    from emotalk_ros.ros.messages import audio_to_msg

    rclpy.init()
    node = rclpy.create_node(f"flooder_{random.randint(0, 1 << 30)}")
    pubs = {"audio": node.create_publisher(Float32MultiArray, "face/audio", qos.AUDIO),
            "strings": node.create_publisher(String, "emotion_target", qos.COMMANDS),
            "track": node.create_publisher(String, "emotion_track", qos.COMMANDS),
            "blendshapes": node.create_publisher(JointState, "face/blendshapes",
                                                 qos.FACE_STREAM_BEST_EFFORT)}
    pub = pubs[kind]
    t_match = time.monotonic() + 5.0
    while pub.get_subscription_count() == 0 and time.monotonic() < t_match:
        rclpy.spin_once(node, timeout_sec=0.05)
    rng = np.random.default_rng(0)
    t0 = time.monotonic()
    k = 0
    if kind == "track":
        from emotalk_ros.emotion.state import LIVE_MAX_TRACK_KEYS
        keys = [{"t": round(0.01 * i, 3), "happy": (i % 10) / 10}
                for i in range(LIVE_MAX_TRACK_KEYS)]
        pub.publish(String(data=json.dumps(keys, separators=(",", ":"))))
        time.sleep(1.0)
    while kind != "track" and time.monotonic() - t0 < seconds:
        if kind == "audio":                       # 9 chunks of 20 ms per 20 ms
            pub.publish(audio_to_msg((0.1 * rng.standard_normal(9 * 320)).astype(np.float32)))
            period = 0.02
        elif kind == "strings":
            pub.publish(String(data=chr(97 + k % 26) * (1 << 20)))
            period = 1 / 30
        else:
            m = JointState()
            m.header.frame_id = "hostile"
            if k % 200 == 0:
                m.name = ["x" * 100000] * 30
                m.position = [0.1] * 30
            else:
                m.name = [f"unknown_{k}_{i}" for i in range(200)]
                m.position = [0.5] * 200
            pub.publish(m)
            period = 0.001
        k += 1
        time.sleep(max(0.0, t0 + k * period - time.monotonic()))
    node.destroy_node()
    rclpy.try_shutdown()


def run(model: str, root: str = ROOT, domain: int = 0, scale: float = 1.0) -> Dict:
    """Run all phases with the nodes of the checkout at ``root`` (default: this one, e.g. an
    older version for a baseline in the same run); returns {phase: measurements}.
    ``domain`` 0 picks a free-looking one in 217-232; ``scale`` multiplies every phase's
    length (a short smoke run)."""
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from sensor_msgs.msg import JointState
    from std_msgs.msg import Float32MultiArray, Float64MultiArray

    from emotalk_ros.core.signals import speech_like_signal
    from emotalk_ros.ros import qos

    domain = domain or random.randint(217, 232)   # outside the test suites' (1-200) and soak's
    env = dict(os.environ, ROS_DOMAIN_ID=str(domain), ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST",
               OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1",
               PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    node_env = dict(env, PYTHONPATH=root + os.pathsep + os.environ.get("PYTHONPATH", ""))
    anim_args = ["-p", "idle.enabled:=false"] + (["-p", f"model.path:={model}"] if model else [])
    procs = {
        "face_animator": subprocess.Popen(
            [sys.executable, "-m", "emotalk_ros.ros.face_animator_node", "--ros-args",
             *anim_args], cwd=root, env=node_env, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL),
        "retarget": subprocess.Popen(
            [sys.executable, "-m", "emotalk_ros.ros.retarget_node"], cwd=root, env=node_env,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
    }
    ctx = rclpy.Context()
    rclpy.init(context=ctx, domain_id=domain)
    node = rclpy.create_node("flood_bench", context=ctx)
    face: List[tuple] = []
    motor: List[float] = []

    def on_face(m):
        if m.header.frame_id != "hostile":
            face.append((time.time(), m.header.stamp.sec + 1e-9 * m.header.stamp.nanosec))
    node.create_subscription(JointState, "face/blendshapes", on_face, qos.FACE_STREAM)
    node.create_subscription(Float64MultiArray, "face/motor_commands",
                             lambda _m: motor.append(time.time()), qos.MOTOR_COMMANDS)
    pub = node.create_publisher(Float32MultiArray, "face/audio", qos.AUDIO)
    ex = SingleThreadedExecutor(context=ctx)
    ex.add_node(node)
    x = speech_like_signal(300.0, seed=1)
    k = [0]
    t_next = [time.perf_counter()]

    def spin(seconds):
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            while time.perf_counter() >= t_next[0]:
                i = (k[0] * 320) % (x.size - 320)
                pub.publish(Float32MultiArray(data=x[i:i + 320].tolist()))
                k[0] += 1
                t_next[0] += 0.02
            ex.spin_once(timeout_sec=0.002)
            if not ctx.ok():                      # Ctrl-C: rclpy shut the context down
                raise KeyboardInterrupt

    results: Dict[str, Dict] = {}
    try:
        t_wait = time.monotonic() + 60
        while (len(face) < 30 or len(motor) < 30) and time.monotonic() < t_wait:
            ex.spin_once(timeout_sec=0.05)
        t_next[0] = time.perf_counter()
        spin(3.0)                                          # warm-up
        for name, seconds, kind in PHASES:
            seconds *= scale
            fl = None
            if kind is not None:
                fl = subprocess.Popen([sys.executable, "-m", "emotalk_ros.ros.flood_bench",
                                       "--flooder", kind, "--seconds", str(seconds)],
                                      cwd=ROOT, env=env)
                spin(1.5)                                  # the flooder starts and matches
            n0, m0, t0 = len(face), len(motor), time.time()
            spin(seconds)
            t1 = time.time()
            if fl is not None:
                fl.wait(60)
            f = np.array(face[n0:])
            mt = np.array([t0] + motor[m0:] + [t1])
            r = {"frames": int(len(f))}
            if len(f) > 1:
                recv, stamp = f[:, 0], f[:, 1]
                lat = (recv - stamp) * 1e3
                r.update(face_hz=round((len(f) - 1) / (recv[-1] - recv[0]), 1),
                         worst_gap_ms=round(float(np.diff(np.r_[t0, recv, t1]).max()) * 1e3, 1),
                         latency_p50_ms=round(float(np.percentile(lat, 50)), 1),
                         latency_p95_ms=round(float(np.percentile(lat, 95)), 1))
            r["motor_worst_gap_ms"] = round(float(np.diff(mt).max()) * 1e3, 1)
            r["animator_rss_mb"] = round(_rss_mb(procs["face_animator"].pid), 1)
            r["loadavg_1min"] = round(os.getloadavg()[0], 1)
            r["retarget_rss_mb"] = round(_rss_mb(procs["retarget"].pid), 1)
            results[name] = r
            sys.stdout.write(f"{name} {json.dumps(r)}\n")
            sys.stdout.flush()
        results["alive"] = {n: p.poll() is None for n, p in procs.items()}
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.send_signal(signal.SIGINT)
        for p in procs.values():
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()
        ex.shutdown()
        node.destroy_node()
        rclpy.try_shutdown(context=ctx)
    return results


def main(argv=None) -> int:
    """Run the benchmark (or, with ``--flooder``, one flood); prints a markdown table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="", help="face_animator model.path ('' = shipped)")
    ap.add_argument("--json", default="", help="also write the results here")
    ap.add_argument("--root", default=ROOT,
                    help="checkout whose nodes to run (e.g. an older version as a baseline)")
    ap.add_argument("--domain", type=int, default=0,
                    help="ROS domain for the run (0: a random one in 217-232)")
    ap.add_argument("--scale", type=float, default=1.0,
                    help="multiply every phase's length (e.g. 0.25 for a quick check)")
    ap.add_argument("--flooder", default="", help=argparse.SUPPRESS)
    ap.add_argument("--seconds", type=float, default=5.0, help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.flooder:
        flooder(a.flooder, a.seconds)
        return 0
    res = run(a.model, os.path.abspath(a.root), a.domain, a.scale)
    lines = ["| phase | face Hz | worst frame gap ms | latency p50 / p95 ms | worst motor gap ms "
             "| animator RSS MB | load avg |", "|---|---|---|---|---|---|---|"]
    for name, _, _ in PHASES:
        r = res.get(name, {})
        lines.append(f"| {name} | {r.get('face_hz', '-')} | {r.get('worst_gap_ms', '-')} | "
                     f"{r.get('latency_p50_ms', '-')} / {r.get('latency_p95_ms', '-')} | "
                     f"{r.get('motor_worst_gap_ms', '-')} | {r.get('animator_rss_mb', '-')} | "
                     f"{r.get('loadavg_1min', '-')} |")
    lines.append(f"alive: {res.get('alive')}")
    sys.stdout.write("\n".join(lines) + "\n")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=1)
    return 0 if all(res.get("alive", {}).values()) else 1


if __name__ == "__main__":
    sys.exit(main())
