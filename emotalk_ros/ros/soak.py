"""Soak test of the live graph: capture (looped speech file) -> face_animator -> retarget.

    python -m emotalk_ros.ros.soak --minutes 60 [--out runs/soak] [--model PATH]

The three nodes run as separate processes on a private ROS domain (localhost only, one
CPU thread each). Once a minute this process records each node's resident memory (VmRSS)
and CPU time, and the rates of ``face/blendshapes`` and ``face/motor_commands`` it
received in that minute (a light probe that only counts). At the end it fits a straight
line to each node's RSS over the samples after ``--warmup-min`` and reports the growth in
MB per hour, the worst gap between two received frames, and whether every node is still
alive. Each row also has the machine's 1-minute load average (stalls on a shared machine
follow it). Results go to ``OUT/soak.jsonl`` (one line per minute) and ``OUT/summary.json``.
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
SENTENCES = ("Hello. I am a robot face, and I move my lips with every word. Papa made a "
             "banana pie. The quick brown fox jumps over the lazy dog.")


def proc_status(pid: int) -> Dict[str, float]:
    """VmRSS (MB) and CPU seconds (utime + stime) of a process."""
    rss = float("nan")
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1]) / 1024.0
    with open(f"/proc/{pid}/stat") as f:
        parts = f.read().rsplit(")", 1)[1].split()
    cpu = (int(parts[11]) + int(parts[12])) / os.sysconf("SC_CLK_TCK")
    return {"rss_mb": rss, "cpu_s": cpu}


def speech_file(out: str) -> str:
    """An espeak-ng speech wav with a pause at the end (looped by the capture node)."""
    path = os.path.join(out, "soak_speech.wav")
    if not os.path.exists(path):
        subprocess.run(["espeak-ng", "-v", "en-us", "-s", "160", "-w", path, SENTENCES],
                       check=True, timeout=60)
    return path


def growth_mb_per_h(t_min: np.ndarray, rss: np.ndarray) -> float:
    """Least-squares slope of RSS (MB) over time (minutes), in MB per hour."""
    if t_min.size < 2:
        return float("nan")
    return float(np.polyfit(t_min, rss, 1)[0] * 60.0)


def main(argv: List[str] = None) -> int:
    """Run the soak; exit status 1 when a node died, else 0."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=60.0)
    ap.add_argument("--sample-s", type=float, default=60.0, help="seconds between samples")
    ap.add_argument("--warmup-min", type=float, default=2.0,
                    help="minutes left out of the growth fit (start-up allocations)")
    ap.add_argument("--model", default="", help="face_animator model.path ('' = shipped)")
    ap.add_argument("--out", default=os.path.join(ROOT, "runs", "soak"))
    ap.add_argument("--domain", type=int, default=0,
                    help="ROS domain for the run (0: a random one in 201-216)")
    a = ap.parse_args(argv)
    os.makedirs(a.out, exist_ok=True)

    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from sensor_msgs.msg import JointState
    from std_msgs.msg import Float64MultiArray

    from emotalk_ros.ros import qos

    domain = a.domain or random.randint(201, 216)   # outside the suites' (1-200), flood_bench's
    env = dict(os.environ, ROS_DOMAIN_ID=str(domain), ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST",
               OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1",
               PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    wav = speech_file(a.out)
    nodes = {
        "face_audio_capture": ["emotalk_ros.ros.face_audio_capture_node", "-p", "source:=file",
                          "-p", f"file.path:={wav}", "-p", "file.loop:=true",
                          "-p", "file.wait_subscribers:=1"],
        "face_animator": ["emotalk_ros.ros.face_animator_node"]
        + (["-p", f"model.path:={a.model}"] if a.model else []),
        "retarget": ["emotalk_ros.ros.retarget_node"],
    }
    procs: Dict[str, subprocess.Popen] = {}
    logs = {}
    for name, (module, *args) in nodes.items():
        logs[name] = open(os.path.join(a.out, f"{name}.log"), "w")
        procs[name] = subprocess.Popen([sys.executable, "-m", module, "--ros-args", *args],
                                       cwd=ROOT, env=env, stdout=logs[name],
                                       stderr=subprocess.STDOUT)
    ctx = rclpy.Context()
    rclpy.init(context=ctx, domain_id=domain)
    node = rclpy.create_node("soak_probe", context=ctx)
    counts = {"face": 0, "motor": 0}
    last_face = [None]
    worst_gap = [0.0]

    def on_face(_msg):
        now = time.monotonic()
        if last_face[0] is not None:
            worst_gap[0] = max(worst_gap[0], now - last_face[0])
        last_face[0] = now
        counts["face"] += 1

    node.create_subscription(JointState, "face/blendshapes", on_face, qos.FACE_STREAM)
    node.create_subscription(Float64MultiArray, "face/motor_commands",
                             lambda _m: counts.__setitem__("motor", counts["motor"] + 1),
                             qos.MOTOR_COMMANDS)
    ex = SingleThreadedExecutor(context=ctx)
    ex.add_node(node)
    rows = []
    ok = True
    interrupted = False
    try:
        t_wait = time.monotonic() + 60
        while counts["face"] < 60 and time.monotonic() < t_wait:
            ex.spin_once(timeout_sec=0.05)
        t0 = time.monotonic()
        worst_gap[0] = 0.0
        k = 0
        while time.monotonic() - t0 < a.minutes * 60.0:
            k += 1
            t_next = t0 + k * a.sample_s
            c0 = dict(counts)
            while time.monotonic() < t_next:
                ex.spin_once(timeout_sec=0.05)
                if not ctx.ok():                  # Ctrl-C: rclpy shut the context down
                    raise KeyboardInterrupt
            dead = [n for n, p in procs.items() if p.poll() is not None]
            row = {"minute": round((time.monotonic() - t0) / 60.0, 3),
                   "face_hz": round((counts["face"] - c0["face"]) / a.sample_s, 2),
                   "motor_hz": round((counts["motor"] - c0["motor"]) / a.sample_s, 2),
                   "worst_face_gap_ms": round(worst_gap[0] * 1e3, 1), "dead": dead,
                   "loadavg_1min": os.getloadavg()[0]}
            for name, p in procs.items():
                if p.poll() is None:
                    st = proc_status(p.pid)
                    row[f"{name}_rss_mb"] = round(st["rss_mb"], 2)
                    row[f"{name}_cpu_s"] = round(st["cpu_s"], 1)
            rows.append(row)
            with open(os.path.join(a.out, "soak.jsonl"), "a") as f:
                f.write(json.dumps(row) + "\n")
            sys.stdout.write(json.dumps(row) + "\n")
            sys.stdout.flush()
            if dead:
                ok = False
                break
    except KeyboardInterrupt:
        interrupted = True
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.send_signal(signal.SIGINT)
        for p in procs.values():
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
        for f in logs.values():
            f.close()
        ex.shutdown()
        node.destroy_node()
        rclpy.try_shutdown(context=ctx)
    summary = {"minutes": a.minutes, "samples": len(rows), "all_alive": ok,
               "interrupted": interrupted,
               "worst_face_gap_ms": round(worst_gap[0] * 1e3, 1)}
    t = np.array([r["minute"] for r in rows])
    keep = t >= a.warmup_min
    for name in nodes:
        rss = np.array([r.get(f"{name}_rss_mb", np.nan) for r in rows])
        summary[name] = {
            "rss_first_mb": float(rss[0]) if rss.size else None,
            "rss_last_mb": float(rss[-1]) if rss.size else None,
            "rss_max_mb": float(np.nanmax(rss)) if np.isfinite(rss).any() else None,
            "growth_mb_per_h": growth_mb_per_h(t[keep], rss[keep]),
        }
    face = np.array([r["face_hz"] for r in rows]) if rows else np.zeros(0)
    summary["face_hz_min"] = float(face.min()) if face.size else None
    summary["face_hz_mean"] = float(face.mean()) if face.size else None
    with open(os.path.join(a.out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1)
    sys.stdout.write(json.dumps(summary, indent=1) + "\n")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
