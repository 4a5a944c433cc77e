"""The ROS 2 nodes over real DDS, each in its own process: graph, emotion, bad input, params,
shutdown.

The helpers (``RosProc``, ``Probe``) live in ros_harness.py; ``speech_wav`` in conftest.py.
"""

import math
import time

import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy")

from ros_harness import (  # noqa: E402
    JAW,
    Probe,
    RosProc,
    face_array,
    new_domain,
    wav_duration,
)
from std_msgs.msg import String  # noqa: E402

from emotalk_ros.core.blendshapes import NAMES


def animator_args(*extra):
    return ["-p", "model.path:=baseline", "-p", "transition_s:=0.5", *extra]


# ---------------------------------------------------------------------------------------------
# end-to-end graph: face_audio_capture (file) -> face_animator (baseline) -> probe
# ---------------------------------------------------------------------------------------------
def test_graph_file_to_blendshapes(speech_wav, tmp_path):
    dom = new_domain()
    probe = Probe(dom)
    anim = RosProc(
        "emotalk_ros.ros.face_animator_node",
        animator_args("-p", "idle.enabled:=false"),
        dom,
        str(tmp_path),
    )
    cap = None
    try:
        probe.wait_for(lambda: len(probe.face) > 10, 20, "blendshapes from face_animator")
        assert len(probe.state) >= 1 and probe.state[-1][1]["weights"]["neutral"] == 1.0
        probe.face.clear()
        cap = RosProc("emotalk_ros.ros.face_audio_capture_node",
                      ["-p", "source:=file", "-p", f"file.path:={speech_wav}",
                       "-p", "file.wait_subscribers:=2"], dom, str(tmp_path))   # animator + probe
        dur = wav_duration(speech_wav)
        probe.wait_for(lambda: len(probe.audio) > 0, 20, "audio from face_audio_capture")
        t_audio0 = probe.audio[0][0]
        probe.spin(dur + 1.5)
        t, stamps, v = face_array(probe.face)
        names = probe.face[-1][1].name
        assert list(names) == list(NAMES)
        assert v.shape[1] == 52 and np.all(np.isfinite(v)) and v.min() >= 0 and v.max() <= 1
        rate = (len(t) - 1) / (t[-1] - t[0])
        assert 55 <= rate <= 65, rate
        assert np.all(np.diff(stamps) >= 0)                       # stamps never run backwards
        jaw = v[:, JAW]
        during = jaw[(t > t_audio0 + 0.2) & (t < t_audio0 + dur - 0.1)]
        after = jaw[t > t[-1] - 0.5]
        assert during.max() > 0.25, during.max()                  # mouth opens during speech
        assert after.max() < 0.03, after.max()                    # ...and closes in silence
        got = sum(a.size for _, a in probe.audio)
        # the file waited for both subscribers: the probe heard all of it
        assert 0.98 * dur * 16000 < got <= dur * 16000 + 1, (got, dur)
        # header.stamp = when the depicted sound was heard: never in the future, and close to
        # the receive time (not a start-up or file time). How close is a performance figure,
        # measured by `emotalk bench --ros` (docs/BENCHMARKS.md); here the bound is generous.
        wall_minus_mono = time.time() - time.monotonic()
        lag = (t + wall_minus_mono) - stamps
        assert np.median(lag) < 1.0 and np.median(lag) > -0.05, np.median(lag)
        probe.spin(1.2)
        d = probe.diag_values("face_animator: runtime")
        assert d is not None and d["backend"] == "baseline-amplitude"
        assert float(d["latency_publish_mean_s"]) < 1.0              # bounded (figure: bench)
        assert float(d["rtf_total"]) < 1.0
        c = probe.diag_values("face_audio_capture: source")
        assert c is not None and c["finished"] == "True" and int(c["overflows"]) == 0
        assert int(c["samples_published"]) == round(dur * 16000)   # the whole file, once
    finally:
        for p in (cap, anim):
            if p is not None:
                p.close()
        probe.close()


# ---------------------------------------------------------------------------------------------
# one face_animator process for the emotion, bad-input and parameter tests
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def animator_process(tmp_path_factory):
    dom = new_domain()
    probe = Probe(dom)
    proc = RosProc("emotalk_ros.ros.face_animator_node", animator_args(), dom,
                   str(tmp_path_factory.mktemp("anim")))
    try:
        probe.wait_for(lambda: len(probe.face) > 5, 20, "blendshapes from face_animator")
        yield probe, proc
    finally:
        proc.close()
        probe.close()


# the live parameters a test may change, at the values animator_args() starts with
LIVE_DEFAULTS = {"emotion_strength": 1.0, "ease": "smooth", "transition_s": 0.5}


@pytest.fixture
def animator(animator_process):
    """The shared animator, reset before each test: live parameters at their start values and
    the face neutral, so no test sees another's leftovers, in any order."""
    probe, proc = animator_process
    for name, value in LIVE_DEFAULTS.items():
        assert probe.set_parameter("/face_animator", name, value).successful, name
    probe.pub_emotion.publish(String(data="neutral transition=0"))
    probe.wait_for(lambda: probe.state and probe.state[-1][1]["weights"]["neutral"] == 1.0
                   and probe.state[-1][1]["transition_remaining_s"] == 0.0, 10, "neutral face")
    return probe, proc


def test_emotion_command_round_trip(animator):
    probe, _ = animator
    probe.state.clear()
    t0 = time.monotonic()
    probe.pub_emotion.publish(String(data="happy:1.0 transition=1.0"))
    probe.wait_for(lambda: probe.state and probe.state[-1][1]["weights"]["happy"] >= 0.999, 10,
                   "happy to reach 1")
    probe.spin(0.3)
    ts = np.array([t for t, _ in probe.state])
    happy = np.array([s["weights"]["happy"] for _, s in probe.state])
    assert probe.state[-1][1]["target"]["happy"] == 1.0
    assert np.all(np.diff(happy) >= -1e-9)  # monotonic: smooth, no jumps back
    mid = happy[(happy > 0.02) & (happy < 0.98)]
    assert len(mid) >= 6, happy                                   # many intermediate values
    assert np.max(np.diff(happy)) < 0.35                          # no big step
    rise = ts[np.argmax(happy >= 0.999)] - ts[np.argmax(happy > 0.0)]
    assert 0.6 < rise < 1.4, rise                                 # about transition=1.0 s
    assert ts[np.argmax(happy > 0.0)] - t0 < 1.0


def test_malformed_commands_change_nothing(animator):
    probe, proc = animator
    probe.pub_emotion.publish(String(data="sad:0.5 transition=0"))
    probe.wait_for(lambda: probe.state and probe.state[-1][1]["weights"]["sad"] == 0.5
                   and probe.state[-1][1]["transition_remaining_s"] == 0.0, 10, "sad:0.5 settled")
    probe.spin(0.3)
    n_before = len(probe.state)
    bad = ["happy:banana", "xyzzy", "{\"happy\": ", "happy:0.5 happy:0.2", "sad:-1", "",
           "ångry:1", "va:5,5", "happy:nan", "\x00\x01\x02" * 100]
    for b in bad:
        probe.pub_emotion.publish(String(data=b))
    probe.spin(1.0)
    assert proc.alive()
    assert len(probe.state) == n_before                           # not even half-applied
    out = proc.output()
    assert out.count("emotion_target") >= len(bad) - 1
    assert "xyzzy" in out and "neutral" in out and "contempt" in out   # names the valid names
    n_face = len(probe.face)
    probe.spin(0.5)
    assert len(probe.face) - n_face > 20                          # still publishing


def test_bad_audio_over_dds(animator):
    probe, proc = animator
    # (spin between bursts: the AUDIO QoS keeps the last 50 chunks, older unsent ones are replaced)
    probe.send_audio([0.1, float("nan"), 0.2])
    probe.send_audio([float("inf")] * 320)
    probe.send_audio([])
    probe.send_audio(np.zeros(640), layout=[("samples", 320), ("channels", 2)])
    probe.spin(0.3)
    for _ in range(40):
        probe.send_audio([0.5])                                   # 1-sample chunks
    probe.spin(0.3)
    probe.send_audio(np.random.default_rng(0).uniform(-1, 1, 16000 * 600))   # 10 minutes at once
    probe.spin(3.0)
    assert proc.alive()
    _, _, v = face_array(probe.face[-120:])
    assert np.all(np.isfinite(v)) and v.min() >= 0.0 and v.max() <= 1.0
    probe.wait_for(lambda: (probe.diag_values("face_animator: runtime") or {}).get(
        "dropped_samples", "0") != "0", 5, "diagnostics after the long chunk")
    d = probe.diag_values("face_animator: runtime")
    assert int(d["invalid_chunks"]) >= 4
    assert int(d["dropped_samples"]) >= 16000 * 590             # only queue_s of it was kept
    assert "NaN/Inf" in proc.output()
    n_face = len(probe.face)
    probe.spin(0.5)
    assert len(probe.face) - n_face > 20


def test_parameter_ranges_rejected_by_set_parameters(animator):
    probe, proc = animator
    path = "/face_animator"
    names = probe.list_parameters(path)
    for p in ("model.path", "emotion_strength", "idle.blink_scale", "queue_s", "stale_audio_s"):
        assert p in names
    assert not probe.set_parameter(path, "emotion_strength", 5.0).successful      # out of range
    assert not probe.set_parameter(path, "idle.gaze_scale", -0.5).successful
    assert not probe.set_parameter(path, "ease", "wobbly").successful             # not a choice
    assert not probe.set_parameter(path, "model.path", "/tmp/x.onnx").successful  # read-only
    assert not probe.set_parameter(path, "output_rate_hz", 30.0).successful        # read-only
    assert not probe.set_parameter(path, "transition_s", "fast").successful        # wrong type
    assert probe.get_parameter(path, "emotion_strength").double_value == 1.0
    assert probe.set_parameter(path, "emotion_strength", 1.5).successful
    assert probe.get_parameter(path, "emotion_strength").double_value == 1.5
    assert probe.set_parameter(path, "ease", "linear").successful
    # the live value really reaches the emotion state: strength 1.5 on sad:0.5 -> 0.75
    probe.pub_emotion.publish(String(data="sad:0.5 transition=0"))
    probe.wait_for(lambda: probe.state and math.isclose(probe.state[-1][1]["weights"]["sad"],
                                                        0.75, abs_tol=1e-3), 5, "sad at 0.75")
    assert proc.alive()


# ---------------------------------------------------------------------------------------------
# startup failures and clean shutdown
# ---------------------------------------------------------------------------------------------
def test_startup_failures_are_clear(tmp_path):
    dom = new_domain()
    bad_model = RosProc("emotalk_ros.ros.face_animator_node",
                        ["-p", "model.path:=/nonexistent/model.onnx"], dom, str(tmp_path))
    bad_dev = RosProc("emotalk_ros.ros.face_audio_capture_node",
                      ["-p", "source:=mic", "-p", "device:=no-such-mic-xyz"], dom, str(tmp_path))
    for p, text in ((bad_model, "model file not found"), (bad_dev, "available input devices")):
        try:
            rc = p.proc.wait(30)
        finally:
            p.close()
        assert rc == 1, p.output()
        assert text in p.output()


def test_sigint_shuts_down_cleanly(speech_wav, tmp_path):
    dom = new_domain()
    probe = Probe(dom)
    anim = RosProc("emotalk_ros.ros.face_animator_node", animator_args(), dom, str(tmp_path))
    cap = RosProc(
        "emotalk_ros.ros.face_audio_capture_node",
        ["-p", "source:=file", "-p", f"file.path:={speech_wav}", "-p", "file.loop:=true"],
        dom,
        str(tmp_path),
    )
    try:
        probe.wait_for(lambda: len(probe.face) > 5 and len(probe.audio) > 5, 20, "graph running")
        for p in (cap, anim):
            rc, took = p.interrupt(10.0)
            assert rc == 0, p.output()           # exited by itself (interrupt kills after 10 s)
            assert took < 10.0, took
            assert "Traceback" not in p.output()
    finally:
        cap.close()
        anim.close()
        probe.close()
