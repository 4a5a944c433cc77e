"""``emotalk bench``: per-frame generator compute, offline speed, memory and start-up time.

Every figure is measured against a baseline in the same run (the amplitude-to-jaw
baseline through the same streaming code), because these machines are noisy. The
DDS end-to-end latency and node CPU figures come from :mod:`emotalk_ros.ros.bench`
(``emotalk bench --ros``).

Per-frame compute at 60 fps: audio is pushed in 1/60 s chunks (267 samples at
16 kHz), the cadence at which a 60 Hz animator needs new frames; the time of each
push is one frame's compute. Offline speed: ``animate`` on a long file, as a multiple
of real time.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import time
from typing import Dict, List, Optional

import numpy as np

from emotalk_ros.core.signals import speech_like_signal
from emotalk_ros.errors import EmotalkError


def _pct(a: List[float], q: float) -> float:
    return float(np.percentile(np.asarray(a), q))


def per_frame_compute(predictor, seconds: float = 20.0, fps: float = 60.0) -> Dict[str, float]:
    """Stream ``seconds`` of audio in 1/fps chunks; per-push wall times in ms (p50/p99/mean).

    The first second is warm-up (not timed), so ``seconds`` must exceed 1.
    """
    if not seconds > 1.0:
        raise EmotalkError(f"the benchmark needs more than 1 s of audio (the first second is "
                           f"warm-up), got {seconds} s")
    x = speech_like_signal(seconds)
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
    """Time ``predictor.animate`` on ``seconds`` of speech-like audio after a 1 s warm-up
    -> seconds_audio, wall_s and x_realtime (multiple of real time)."""
    x = speech_like_signal(seconds, seed=1)
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
        "from emotalk_ros.generator.loading import load_predictor\n"
        f"p = load_predictor({model!r}, backend={backend!r}, threads=1)\n"
        "x = np.zeros(16000, np.float32); n = 0; i = 0\n"
        "while n == 0:\n"
        "    n = len(p.push(x[i:i + 320])); i += 320\n"
        "dt = time.perf_counter() - t0\n"
        "from emotalk_ros.generator.bench import speech_like_signal\n"
        "p.animate(speech_like_signal(5.0))\n"
        "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM:')][0].split()[1]\n"
        "print(dt, int(hwm) / 1024.0)\n"
    )
    env = dict(os.environ, OMP_NUM_THREADS="1")
    r = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300
    )
    if r.returncode != 0:
        raise EmotalkError(f"start-up benchmark failed: {r.stderr[-500:]}")
    first, rss = (float(v) for v in r.stdout.split()[-2:])
    return {"start_to_first_frame_s": first, "peak_rss_mb": rss}


def machine() -> str:
    """One line about this machine: CPU model, core count, Python version."""
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


def run_bench(
    model: Optional[str] = None, seconds: float = 20.0, include_startup: bool = True
) -> Dict:
    """Baseline, torch and onnxruntime (+ CUDA when available): per-frame compute at
    60 fps (ms), offline speed and start-up time -> a JSON-able dict."""
    import torch

    from emotalk_ros.generator.loading import load_predictor

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
        from emotalk_ros.generator import checkpoint
        from emotalk_ros.generator.backends import TorchPredictor
        from emotalk_ros.generator.loading import default_model_path

        pt = os.path.splitext(model or default_model_path() or "")[0] + ".pt"
        if os.path.exists(pt):
            preds["torch-cuda"] = TorchPredictor(checkpoint.load(pt), device="cuda")
    for name, p in preds.items():
        res[name] = {
            "per_frame_60fps": per_frame_compute(p, seconds),
            "offline": offline_speed(p, 3 * seconds),
            "backend": p.info.backend,
        }
    if include_startup:
        for be in ("torch", "onnxruntime"):
            if be in preds:
                res[be]["startup"] = startup(be, model)
    return res


