"""``emotalk bench`` produces its figures: a short run (2 s of audio per backend) writes valid
JSON with every backend's per-frame compute, offline speed and start-up. Figures are only
checked for being present and sane, never against speed targets (docs/BENCHMARKS.md)."""

import json
import os
import subprocess
import sys

import pytest

pytest.importorskip("torch")
pytest.importorskip("onnxruntime")

from conftest import ROOT  # noqa: E402


def emotalk(*args):
    return subprocess.run([sys.executable, "-m", "emotalk_ros", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=600,
                          env=dict(os.environ, OMP_NUM_THREADS="1"))


def test_a_short_bench_run_writes_sane_json(tmp_path):
    out = tmp_path / "bench.json"
    r = emotalk("bench", "--seconds", "2", "--json", str(out))
    assert r.returncode == 0, r.stderr[-3000:]
    printed = json.loads(r.stdout)
    saved = json.loads(out.read_text())
    assert printed == saved
    assert saved["threads"] == 1 and "cores" in saved["machine"]
    for name in ("baseline", "torch", "onnxruntime"):
        b = saved[name]
        pf = b["per_frame_60fps"]
        assert pf["pushes"] == 60 and 55 <= pf["frames"] <= 61, (name, pf)   # 1 s after warm-up
        assert 0 < pf["p50_ms"] <= pf["p99_ms"] < 1000 and pf["mean_ms"] > 0, (name, pf)
        off = b["offline"]
        assert off["seconds_audio"] == 6.0 and off["wall_s"] > 0 and off["x_realtime"] > 1
    assert saved["baseline"]["backend"] == "baseline-amplitude"
    assert saved["torch"]["backend"].startswith("torch")
    assert saved["onnxruntime"]["backend"].startswith("onnxruntime")
    for name in ("torch", "onnxruntime"):
        st = saved[name]["startup"]
        assert 0 < st["start_to_first_frame_s"] < 120 and 20 < st["peak_rss_mb"] < 4000, st


def test_too_short_a_bench_is_refused_with_one_line():
    r = emotalk("bench", "--seconds", "1", "--no-startup")
    assert r.returncode == 1
    assert "more than 1 s of audio" in r.stderr and "Traceback" not in r.stderr
