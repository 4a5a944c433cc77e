"""``make demo``'s script (``python -m emotalk_ros.ros.demo``) on a short sentence: the node
graph runs over DDS with the shipped model and every output is written and sane (CSV rows,
plot, latency.json), and the robot's own voice through a null sink (say_sync.png, say.json).
Figures are not judged against targets. The preview video is left out
(``--no-preview``): it is the slowest step, and ``emotalk render`` has its own tests
(test/mesh/test_render.py)."""

import csv
import json
import subprocess
import sys

import pytest

pytest.importorskip("rclpy")

from conftest import ROOT, ros_env  # noqa: E402
from ros_harness import new_domain  # noqa: E402

TEXT = "Papa made a banana pie. Maybe Bob ate it."


def test_demo_writes_every_output(tmp_path):
    out = tmp_path / "demo"
    env = ros_env(new_domain())
    env["OMP_NUM_THREADS"] = "1"
    r = subprocess.run([sys.executable, "-m", "emotalk_ros.ros.demo", "--out", str(out),
                        "--text", TEXT, "--no-preview"], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:] + (
        (out / "nodes.log").read_text()[-3000:] if (out / "nodes.log").exists() else "")
    assert "emotalk_ros demo finished (shipped)" in r.stdout
    for name in ("speech.wav", "blendshapes.csv", "motor_commands.csv", "blendshapes.png",
                 "latency.json"):
        assert (out / name).stat().st_size > 1000, name
    assert not (out / "preview.mp4").exists()
    lat = json.loads((out / "latency.json").read_text())
    assert lat["model"] == "shipped" and lat["finite_in_range"] is True
    assert lat["animator_diagnostics"]["backend"].startswith("onnxruntime")
    assert 30 < lat["rate_hz"] < 120 and lat["frames"] > 120, lat
    p = lat["latency_ms_heard_to_received"]
    assert 0 < p["p50"] <= p["p95"] <= p["p99"] < 5000, p
    assert lat["motor_commands"] > 60
    assert 0.0 < lat["speaking_fraction"] < 1.0, lat["speaking_fraction"]   # of all frames
    assert lat["emotion_commands"][0][1] == "happy:0.8 transition=0.6"
    with open(out / "blendshapes.csv") as f:
        rows = list(csv.reader(f))
    # the CSV starts when the first audio sample was heard and covers the whole utterance
    assert len(rows[0]) >= 53 and len(rows) > 60 * 2.5, (len(rows), rows[0][:3])   # 3.1 s
    jaw = rows[0].index("JawOpen")
    assert max(float(row[jaw]) for row in rows[1:]) > 0.2                 # the mouth moved
    # the robot's own voice: face_speech through a null sink, the sync plot and figures
    from emotalk_ros.core.null_sink import PrivateNullSink

    if not PrivateNullSink.available():
        assert "say part skipped" in r.stderr
        return
    assert "the robot's own voice: first sound" in r.stdout, r.stderr[-3000:]
    assert (out / "say_sync.png").stat().st_size > 1000
    say = json.loads((out / "say.json").read_text())
    assert say["finite_in_range"] is True
    assert [s["state"] for s in say["speech_state"] if s["id"] == "u1"][-1] == "finished"
    assert [m for _, m in say["marks_s_after_start"]] == ["happy:0.8", "surprised:0.7",
                                                           "neutral"]
    assert 0 < say["say_to_first_sound_ms"] < 2000                   # figures, not targets
    assert abs(say["envelope_to_jaw_lag_ms"]) < 500
