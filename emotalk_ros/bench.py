"""``emotalk bench``: per-frame generator compute, offline speed, memory and start-up time.

Every figure is measured against a baseline in the same run (the amplitude-to-jaw
baseline through the same streaming code), because these machines are noisy. The
DDS end-to-end latency and node CPU figures come from :mod:`emotalk_ros.ros_bench`
(``emotalk bench --ros``).

Per-frame compute at 60 fps: audio is pushed in 1/60 s chunks (267 samples at
16 kHz), the cadence at which a 60 Hz animator needs new frames; the time of each
push is one frame's compute. Offline speed: ``animate`` on a long file, as a multiple
of real time.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from typing import Dict, List, Optional

import numpy as np

from .errors import EmotalkError


def test_signal(seconds: float, seed: int = 0) -> np.ndarray:
    """Deterministic speech-like signal: voiced bursts (harmonics + noise) with pauses."""
    rng = np.random.default_rng(seed)
    n = int(seconds * 16000)
    t = np.arange(n) / 16000
    f0 = 120 + 30 * np.sin(2 * np.pi * 0.7 * t)
    ph = 2 * np.pi * np.cumsum(f0) / 16000
    voiced = sum(np.sin(k * ph) / k for k in range(1, 8))
    env = (np.sin(2 * np.pi * 3.1 * t) > -0.3) * (np.sin(2 * np.pi * 0.37 * t) > -0.6)
    return (0.15 * voiced * env + 0.01 * rng.standard_normal(n)).astype(np.float32)


def _pct(a: List[float], q: float) -> float:
    return float(np.percentile(np.asarray(a), q))


def per_frame_compute(predictor, seconds: float = 20.0, fps: float = 60.0) -> Dict[str, float]:
    """Stream ``seconds`` of audio in 1/fps chunks; per-push wall times in ms (p50/p99/mean)."""
    x = test_signal(seconds)
    chunk = int(round(16000 / fps))
    predictor.reset()
    alpha = np.zeros(7, np.float32)
    alpha[0] = 0.5
    for i in range(0, 16000, chunk):                                 # warm-up: 1 s
        predictor.push(x[i:i + chunk], alpha)
    times, frames = [], 0
    for i in range(16000, x.size, chunk):
        t0 = time.perf_counter()
        out = predictor.push(x[i:i + chunk], alpha)
        times.append((time.perf_counter() - t0) * 1000.0)
        frames += len(out)
    return {"p50_ms": _pct(times, 50), "p99_ms": _pct(times, 99), "mean_ms": float(np.mean(times)),
            "pushes": len(times), "frames": frames}


def offline_speed(predictor, seconds: float = 60.0) -> Dict[str, float]:
    x = test_signal(seconds, seed=1)
    predictor.animate(x[:16000])
    t0 = time.perf_counter()
    predictor.animate(x)
    dt = time.perf_counter() - t0
    return {"seconds_audio": seconds, "wall_s": dt, "x_realtime": seconds / dt}


def startup(backend: str, model: Optional[str]) -> Dict[str, float]:
    """Start-up time to the first frame and peak RSS, in a fresh process (one thread).

    Peak RSS is the child's VmHWM: ru_maxrss would inherit the parent's high-water mark
    across fork + exec on Linux.
    """
    code = (
        "import time; t0 = time.perf_counter()\n"
        "import numpy as np\n"
        "from emotalk_ros.model_io import load_predictor\n"
        f"p = load_predictor({model!r}, backend={backend!r}, threads=1)\n"
        "x = np.zeros(16000, np.float32); n = 0; i = 0\n"
        "while n == 0:\n"
        "    n = len(p.push(x[i:i + 320])); i += 320\n"
        "dt = time.perf_counter() - t0\n"
        "from emotalk_ros.bench import test_signal\n"
        "p.animate(test_signal(5.0))\n"
        "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM:')][0].split()[1]\n"
        "print(dt, int(hwm) / 1024.0)\n"
    )
    env = dict(os.environ, OMP_NUM_THREADS="1")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    if r.returncode != 0:
        raise EmotalkError(f"start-up benchmark failed: {r.stderr[-500:]}")
    first, rss = (float(v) for v in r.stdout.split()[-2:])
    return {"start_to_first_frame_s": first, "peak_rss_mb": rss}


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}"


def run_bench(model: Optional[str] = None, seconds: float = 20.0, include_startup: bool = True) -> Dict:
    import torch

    from .model_io import load_predictor

    torch.set_num_threads(1)
    res: Dict = {"machine": machine(), "date": time.strftime("%Y-%m-%d %H:%M"), "threads": 1}
    preds = {"baseline": load_predictor("baseline")}
    for be in ("torch", "onnxruntime"):
        try:
            preds[be] = load_predictor(model, backend=be, threads=1)
        except EmotalkError as exc:
            res[f"{be}_error"] = str(exc)
    try:
        import onnxruntime as ort

        if "CUDAExecutionProvider" in ort.get_available_providers():
            preds["onnxruntime-cuda"] = load_predictor(model, backend="onnxruntime",
                                                        providers=["CUDAExecutionProvider"])
    except ImportError:
        pass
    if torch.cuda.is_available():
        from . import checkpoint
        from .backends import TorchPredictor
        from .model_io import default_model_path

        pt = os.path.splitext(model or default_model_path() or "")[0] + ".pt"
        if os.path.exists(pt):
            preds["torch-cuda"] = TorchPredictor(checkpoint.load(pt), device="cuda")
    for name, p in preds.items():
        res[name] = {"per_frame_60fps": per_frame_compute(p, seconds), "offline": offline_speed(p, 3 * seconds),
                     "backend": p.info.backend}
    if include_startup:
        for be in ("torch", "onnxruntime"):
            if be in preds:
                res[be]["startup"] = startup(be, model)
    return res


def add_arguments(p) -> None:
    p.add_argument("--model", default=None, help="model file (default: shipped)")
    p.add_argument("--seconds", type=float, default=20.0, help="audio streamed per backend")
    p.add_argument("--json", default=None, help="also write the results here")
    p.add_argument("--no-startup", action="store_true")
    p.add_argument("--ros", action="store_true", help="also run the DDS end-to-end benchmark (nodes)")
    p.add_argument("--mesh", action="store_true", help="also benchmark the face_mesh node (per frame, 60 Hz stream)")


def run(args) -> int:
    res = run_bench(args.model, args.seconds, include_startup=not args.no_startup)
    if args.ros:
        from .ros_bench import run_ros_bench

        res["ros"] = run_ros_bench(args.model)
    if getattr(args, "mesh", False):
        from .ros_bench import run_mesh_bench

        res["mesh"] = run_mesh_bench()
    text = json.dumps(res, indent=1)
    sys.stdout.write(text + "\n")
    if args.json:
        with open(args.json, "w") as f:
            f.write(text + "\n")
    return 0
