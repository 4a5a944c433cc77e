"""``python -m emotalk_ros.ros.soak`` and ``python -m emotalk_ros.ros.flood_bench`` run end to
end on a short run (their full runs are benchmarks: docs/BENCHMARKS.md). Checked: every node
they start stays alive, and their figures are present and sane."""

import json
import subprocess
import sys

import pytest

pytest.importorskip("rclpy")

from conftest import ROOT, ros_env  # noqa: E402
from ros_harness import new_domain  # noqa: E402


def test_soak_records_every_node_each_sample(tmp_path):
    dom = new_domain()
    r = subprocess.run([sys.executable, "-m", "emotalk_ros.ros.soak", "--minutes", "0.3",
                        "--sample-s", "6", "--warmup-min", "0", "--out", str(tmp_path),
                        "--domain", str(dom)], cwd=ROOT, env=ros_env(dom), capture_output=True,
                       text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
    rows = [json.loads(ln) for ln in (tmp_path / "soak.jsonl").read_text().splitlines()]
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert len(rows) == 3 and summary["all_alive"] and summary["samples"] == 3, summary
    for row in rows:
        assert row["dead"] == [] and row["face_hz"] > 10 and row["motor_hz"] > 10, row
        for name in ("face_audio_capture", "face_animator", "retarget"):
            assert 20 < row[f"{name}_rss_mb"] < 4000 and row[f"{name}_cpu_s"] > 0, (name, row)
    for name in ("face_audio_capture", "face_animator", "retarget"):
        growth = summary[name]["growth_mb_per_h"]
        assert growth == growth, (name, summary[name])            # a finite fitted slope


def test_flood_bench_runs_every_phase_and_the_nodes_survive(tmp_path):
    dom = new_domain()
    out = tmp_path / "flood.json"
    r = subprocess.run([sys.executable, "-m", "emotalk_ros.ros.flood_bench", "--scale", "0.3",
                        "--domain", str(dom), "--json", str(out)], cwd=ROOT,
                       env=ros_env(dom), capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
    res = json.loads(out.read_text())
    assert res["alive"] == {"face_animator": True, "retarget": True}, res
    from emotalk_ros.ros.flood_bench import PHASES

    for name, _, _ in PHASES:
        ph = res[name]
        assert ph["frames"] > 10 and 10 < ph["face_hz"] < 200, (name, ph)
        assert 0 < ph["motor_worst_gap_ms"] < 10_000 and ph["animator_rss_mb"] > 20, (name, ph)
