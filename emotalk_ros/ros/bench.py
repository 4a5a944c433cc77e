"""``emotalk bench --ros``: the animator node over real DDS, against the baseline in the same run.

For each backend (the amplitude baseline first) a ``face_animator`` process is started
on a private domain (localhost only, one CPU thread). This process publishes a
speech-like signal in 20 ms chunks at real-time pace on ``audio`` and records every
``face/blendshapes`` message. Measured:

* **start to first frame**: process spawn -> first JointState received;
* **latency, chunk published -> JointState received**: each frame's depicted audio time
  is recovered from its stamp (the node stamps a frame with the moment its audio was
  heard); the chunk holding that audio was published at a known wall time;
* **heard -> received**: receive time minus stamp;
* **CPU** (utime+stime over wall time in the steady window) and **RSS** of the node.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from typing import Dict, List, Optional

import numpy as np

# the folder that holds the emotalk_ros package (child processes import it from there)
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CHUNK = 320


def _proc_cpu_s(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        parts = f.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(parts[11]) + int(parts[12])) / ticks


def _proc_rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def run_one(model: str, backend: str, seconds: float = 12.0, chunk: int = 320) -> Dict:
    """Run a face_animator process with ``model``/``backend`` and stream ``seconds`` of audio
    in ``chunk``-sample (16 kHz) messages in real time -> start-up (s), latencies (ms),
    rate (Hz), CPU (fraction of one core), RSS (MB)."""
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from sensor_msgs.msg import JointState
    from std_msgs.msg import Float32MultiArray

    from emotalk_ros.core.signals import speech_like_signal as test_signal
    from emotalk_ros.ros import qos

    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1",
               PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    cmd = [
        sys.executable,
        "-m",
        "emotalk_ros.ros.face_animator_node",
        "--ros-args",
        "-p",
        f"model.path:={model}",
        "-p",
        f"model.backend:={backend}",
        "-p",
        "idle.enabled:=false",
    ]
    node = rclpy.create_node(f"emotalk_bench_{random.randint(0, 1 << 30)}")
    recv: List[tuple] = []
    node.create_subscription(
        JointState,
        "face/blendshapes",
        lambda m: recv.append((time.time(), m.header.stamp.sec + 1e-9 * m.header.stamp.nanosec)),
        qos.FACE_STREAM,
    )
    pub = node.create_publisher(Float32MultiArray, "face/audio", qos.AUDIO)
    ex = SingleThreadedExecutor()
    ex.add_node(node)
    t_spawn = time.time()
    proc = subprocess.Popen(
        cmd, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    try:
        while not recv:
            ex.spin_once(timeout_sec=0.01)
            if proc.poll() is not None:
                raise RuntimeError(f"face_animator exited: {proc.stderr.read()[-800:]}")
            if time.time() - t_spawn > 60:
                raise RuntimeError("no frame within 60 s")
        first_frame_s = recv[0][0] - t_spawn
        while pub.get_subscription_count() == 0:
            ex.spin_once(timeout_sec=0.01)
        ex.spin_once(timeout_sec=0.5)
        x = test_signal(seconds, seed=3)
        n_chunks = x.size // chunk
        pub_t = np.zeros(n_chunks)
        recv.clear()
        cpu0, w0 = _proc_cpu_s(proc.pid), time.time()
        t_start = time.perf_counter()
        wall_start = time.time()
        for k in range(n_chunks):
            due = t_start + (k + 1) * chunk / 16000.0   # chunk k is complete at this moment
            while time.perf_counter() < due:
                ex.spin_once(timeout_sec=max(0.0, min(0.002, due - time.perf_counter())))
            pub_t[k] = time.time()
            pub.publish(Float32MultiArray(data=x[k * chunk:(k + 1) * chunk].tolist()))
        end = time.time() + 0.5
        while time.time() < end:
            ex.spin_once(timeout_sec=0.01)
        cpu = (_proc_cpu_s(proc.pid) - cpu0) / (time.time() - w0)
        rss = _proc_rss_mb(proc.pid)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        node.destroy_node()
    r = np.array([a for a, _ in recv])
    s = np.array([b for _, b in recv])
    # heard time of audio time a is wall_start + a (chunks are released in real time)
    depicted = s - wall_start                                  # audio seconds
    k = np.floor(depicted * 16000.0 / chunk).astype(int)
    ok = (k >= 0) & (k < n_chunks)
    lat_pub = (r[ok] - pub_t[k[ok]]) * 1000.0
    lat_heard = (r[ok] - s[ok]) * 1000.0
    rate = (len(r) - 1) / (r[-1] - r[0]) if len(r) > 1 else 0.0

    def stats(a):
        return {"p50": float(np.percentile(a, 50)), "p95": float(np.percentile(a, 95)),
                "p99": float(np.percentile(a, 99))} if len(a) else {}

    return {
        "start_to_first_frame_s": first_frame_s,
        "latency_chunk_published_to_received_ms": stats(lat_pub),
        "latency_heard_to_received_ms": stats(lat_heard),
        "rate_hz": rate,
        "cpu_fraction_of_one_core": cpu,
        "rss_mb": rss,
        "frames": int(len(r)),
    }


def run_ros_bench(model: Optional[str] = None, seconds: float = 12.0, chunk: int = CHUNK) -> Dict:
    """The DDS benchmark on a private localhost domain: the baseline, then onnxruntime and
    torch with ``model`` (default: shipped) -> results per backend. A backend whose package
    is not installed (torch on a Jetson that runs onnxruntime only) is skipped:
    ``{"skipped": reason}``."""
    import importlib.util

    import rclpy

    from emotalk_ros.generator.loading import default_model_path

    os.environ.setdefault("ROS_DOMAIN_ID", str(random.randint(120, 200)))
    os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    path = model or default_model_path() or ""
    rclpy.init()
    try:
        out = {"chunk_samples": chunk, "baseline": run_one("baseline", "auto", seconds, chunk)}
        if path:
            for be in ("onnxruntime", "torch"):
                if importlib.util.find_spec(be) is None:
                    out[be] = {"skipped": f"{be} is not installed"}
                    continue
                out[be] = run_one(path, be, seconds, chunk)
    finally:
        rclpy.try_shutdown()
    return out


def _stats_ms(a) -> Dict[str, float]:
    a = np.asarray(a, np.float64) * 1e3
    return {"p50": float(np.median(a)), "p99": float(np.percentile(a, 99)), "n": int(a.size)}


def run_mesh_bench(frames: int = 300, stream_s: float = 5.0) -> Dict:
    """``face_mesh``: per-frame cost of the pre-serialised path against the message-object
    path (the baseline) in the same run, then a node process following a 60 Hz
    blendshape stream over DDS (frames in, meshes published, meshes received, CPU)."""
    import rclpy
    from rclpy.parameter import Parameter
    from sensor_msgs.msg import JointState
    from visualization_msgs.msg import Marker

    from emotalk_ros.core.blendshapes import INDEX, NAMES
    from emotalk_ros.ros import qos
    from emotalk_ros.ros.face_mesh_node import FaceMeshNode

    os.environ.setdefault("ROS_DOMAIN_ID", str(random.randint(120, 200)))
    os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    rclpy.init()
    out: Dict = {}
    try:
        def weights(i):
            w = np.zeros(52, np.float32)
            w[INDEX["jawOpen"]] = 0.5 + 0.4 * np.sin(i / 6.0)
            w[INDEX["mouthSmileLeft"]] = 0.3 + 0.3 * np.sin(i / 9.0)
            return w

        for name, pre, n in (
            ("message_objects", False, max(10, frames // 10)),
            ("preserialized", True, frames),
        ):
            node = FaceMeshNode(
                parameter_overrides=[Parameter("publish.preserialized", value=pre)]
            )
            t = []
            for i in range(n):
                t0 = time.perf_counter()
                node.publish_weights(weights(i))  # deform, shade, encode, publish (no subscriber)
                t.append(time.perf_counter() - t0)
            out[name] = _stats_ms(t)
            out["points"] = int(node.corner_vertex.size)
            node.destroy_node()
        out["speedup_p50"] = out["message_objects"]["p50"] / out["preserialized"]["p50"]

        proc = subprocess.Popen([sys.executable, "-m", "emotalk_ros.ros.face_mesh_node"], cwd=ROOT,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        drv = rclpy.create_node("mesh_bench_driver")
        pub = drv.create_publisher(JointState, "face/blendshapes", qos.FACE_STREAM)
        got: List[float] = []
        drv.create_subscription(
            Marker, "face/mesh", lambda b: got.append(time.monotonic()), qos.MESH, raw=True
        )
        t_end = time.monotonic() + 20.0
        while not got and time.monotonic() < t_end:         # wait for the node to be up
            m = JointState(name=list(NAMES), position=[0.0] * 52)
            pub.publish(m)
            rclpy.spin_once(drv, timeout_sec=0.1)
        got.clear()
        n_sent, t_next = 0, time.monotonic()
        cpu0, w0 = _proc_cpu_s(proc.pid), time.monotonic()
        while n_sent < int(stream_s * 60):
            pub.publish(JointState(name=list(NAMES), position=[float(v) for v in weights(n_sent)]))
            n_sent += 1
            t_next += 1.0 / 60.0
            while time.monotonic() < t_next:
                rclpy.spin_once(drv, timeout_sec=max(0.0, t_next - time.monotonic()))
        cpu = (_proc_cpu_s(proc.pid) - cpu0) / (time.monotonic() - w0)
        end = time.monotonic() + 0.5
        while time.monotonic() < end:
            rclpy.spin_once(drv, timeout_sec=0.05)
        proc.send_signal(signal.SIGINT)
        log = proc.communicate(timeout=30)[0]
        drv.destroy_node()
        import re
        m = re.search(r"(\d+) frames in, (\d+) meshes published", log)
        out["stream"] = {"sent_60hz": n_sent, "received": len(got),
                         "node_frames_in": int(m.group(1)) if m else None,
                         "node_published": int(m.group(2)) if m else None,
                         "node_cpu_fraction_of_one_core": cpu}
    finally:
        rclpy.try_shutdown()
    return out


if __name__ == "__main__":
    import json

    if len(sys.argv) > 1 and sys.argv[1] == "--mesh":
        sys.stdout.write(json.dumps(run_mesh_bench(), indent=1) + "\n")
    else:
        sys.stdout.write(
            json.dumps(
                run_ros_bench(
                    sys.argv[1] if len(sys.argv) > 1 else None,
                    chunk=int(sys.argv[2]) if len(sys.argv) > 2 else CHUNK,
                ),
                indent=1,
            )
            + "\n"
        )
