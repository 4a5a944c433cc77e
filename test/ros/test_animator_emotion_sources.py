"""Emotion sources of the face_animator node over real DDS: voice blend continuity, the
emotion_track topic, malformed tracks, and per-robot styles (nodes in separate processes)."""

import time

import numpy as np
import pytest

pytest.importorskip("rclpy")

from ros_harness import Probe, RosProc, face_array, new_domain  # noqa: E402
from std_msgs.msg import String  # noqa: E402

from emotalk_ros.core.blendshapes import INDEX
from emotalk_ros.ros import qos

NODE = "emotalk_ros.ros.face_animator_node"


def speechlike(seconds, sr=16000, seed=0):
    rng = np.random.default_rng(seed)
    n = int(seconds * sr)
    env = 0.5 + 0.5 * np.sin(2 * np.pi * 4.0 * np.arange(n) / sr)
    return (0.3 * env * rng.standard_normal(n)).astype(np.float32)


@pytest.fixture(scope="module")
def graph(tmp_path_factory):
    """Three animators in one domain: /bl (blend mode), /ex (expressive), /su (subtle)."""
    d = str(tmp_path_factory.mktemp("emotion_sources"))
    dom = new_domain()
    common = ["-p", "model.path:=baseline", "-p", "idle.enabled:=false"]
    procs = {
        "bl": RosProc(
            NODE,
            [
                *common,
                "-r",
                "__ns:=/bl",
                "-p",
                "emotion.source:=blend",
                "-p",
                "voice_blend:=0.0",
                "-p",
                "transition_s:=0.5",
            ],
            dom,
            d,
            "bl",
        ),
        "ex": RosProc(
            NODE, [*common, "-r", "__ns:=/ex", "-p", "style.path:=expressive"], dom, d, "ex"
        ),
        "su": RosProc(
            NODE, [*common, "-r", "__ns:=/su", "-p", "style.path:=subtle"], dom, d, "su"
        ),
    }
    probes = {k: Probe(dom, namespace=k) for k in procs}
    track_pub = probes["bl"].node.create_publisher(String, "emotion_track", qos.COMMANDS)
    try:
        for k, p in probes.items():
            p.wait_for(lambda p=p: len(p.face) > 5 and p.state, 30, f"frames from /{k}")
        yield procs, probes, track_pub
    finally:
        for p in probes.values():
            p.close()
        for p in procs.values():
            p.close()


@pytest.fixture
def bl_reset(graph):
    """/bl back to its start before each test: voice_blend 0 (eased back) and a neutral face,
    so no test depends on what another left behind."""
    pb = graph[1]["bl"]
    assert pb.set_parameter("/bl/face_animator", "voice_blend", 0.0).successful
    pb.pub_emotion.publish(String(data="neutral transition=0"))
    pb.wait_for(lambda: pb.state[-1][1]["voice_blend"] == 0.0
                and pb.state[-1][1]["weights"]["neutral"] == 1.0, 10, "/bl neutral, blend 0")
    return graph


def states_since(probe, t0):
    return [(t, s) for t, s in probe.state if t >= t0]


def test_blend_moves_emotion_state_continuously(bl_reset):
    graph = bl_reset
    _, probes, _ = graph
    pb = probes["bl"]
    pb.pub_emotion.publish(String(data="happy transition=0.2"))
    pb.wait_for(lambda: pb.state[-1][1]["weights"]["happy"] == 1.0, 5, "happy state")
    s = pb.state[-1][1]
    assert (
        s["voice_blend"] == 0.0 and "label" in s["voice"] and s["command_weights"]["happy"] == 1.0
    )
    t0 = time.monotonic()
    res = pb.set_parameter("/bl/face_animator", "voice_blend", 1.0)
    assert res.successful
    pb.spin(1.2)
    seq = states_since(pb, t0)
    happy = np.array([s["weights"]["happy"] for _, s in seq])
    voice = seq[-1][1]["voice"]["weights"]["happy"]
    assert seq[-1][1]["voice_blend"] == 1.0
    assert happy[-1] == pytest.approx(voice, abs=1e-3)               # voice only at the end
    assert 1.0 - voice > 0.5                                          # ...which is far from happy
    between = happy[(happy < 0.95) & (happy > voice + 0.05)]
    assert between.size >= 3                                          # passed through the middle
    assert np.abs(np.diff(happy)).max() < 0.3                         # no jump (eased over 0.5 s)
    # out-of-range blends are rejected by the node
    assert not pb.set_parameter("/bl/face_animator", "voice_blend", 1.5).successful
    assert pb.set_parameter("/bl/face_animator", "voice_blend", 0.0).successful
    pb.spin(0.8)


def test_emotion_track_topic_drives_the_state(bl_reset):
    graph = bl_reset
    _, probes, track_pub = graph
    pb = probes["bl"]
    pb.wait_for(lambda: pb.state[-1][1]["voice_blend"] == 0.0, 5, "voice_blend back at 0")
    t0 = time.monotonic()
    track_pub.publish(String(data='[{"t": 0.0, "sad": 0.6, "transition_s": 0.1}, '
                                  '{"t": 1.0, "surprised": 0.8, "transition_s": 0.2}]'))
    pb.spin(2.8)
    seq = states_since(pb, t0)
    # the windows start where the track took effect (the first state it changed), so a late
    # delivery under load shifts them instead of putting pre-track states inside; how soon
    # it is delivered is a latency, bounded loosely here (benchmarks measure it)
    t_sad = next(t for t, s in seq if s["weights"]["sad"] > 0.3)
    assert t_sad - t0 < 0.8, t_sad - t0
    sad_win = [s for t, s in seq if t_sad + 0.3 < t < t_sad + 0.7]
    sur_win = [s for t, s in seq if t_sad + 1.5 < t < t_sad + 1.9]
    assert sad_win and sur_win
    assert all(s["weights"]["sad"] == pytest.approx(0.6, abs=1e-3) for s in sad_win)
    assert all(s["weights"]["surprised"] == 0.0 for s in sad_win)
    assert all(s["weights"]["surprised"] == pytest.approx(0.8, abs=1e-3) for s in sur_win)
    assert all(s["weights"]["sad"] == 0.0 for s in sur_win)
    assert sur_win[-1]["command"].startswith("emotion_track")
    # when did surprise arrive? about 1 s after sad (keys are relative to the live edge)
    t_sur = next(t for t, s in seq if s["weights"]["surprised"] > 0.4)
    assert 0.8 < t_sur - t_sad < 1.3, t_sur - t_sad


def test_malformed_track_is_rejected_state_unchanged(bl_reset):
    graph = bl_reset
    procs, probes, track_pub = graph
    pb = probes["bl"]
    pb.spin(0.3)
    before = pb.state[-1][1]
    n_log = procs["bl"].output().count("emotion_track")
    t0 = time.monotonic()
    for bad in ('[{"t": 0, "hapy": 0.5}]', "not json", '[{"happy": 0.5}]'):
        track_pub.publish(String(data=bad))
    pb.spin(1.0)
    after = [s for t, s in pb.state if t >= t0] or [pb.state[-1][1]]
    for s in after:
        assert s["weights"] == before["weights"] and s["command"] == before["command"]
    pb.spin(0.3)
    out = procs["bl"].output()
    assert out.count("emotion_track") - n_log == 3 and out.count("ignored") >= 3
    assert procs["bl"].alive()


def test_style_parameter_changes_amplitude(graph):
    procs, probes, _ = graph
    x = speechlike(1.5, seed=5)
    t0 = time.monotonic()
    for i in range(0, x.size, 320):                        # the same audio to both, in real time
        for k in ("ex", "su"):
            probes[k].send_audio(x[i:i + 320])
        for k in ("ex", "su"):
            probes[k].exe.spin_once(timeout_sec=0.0)
        time.sleep(0.02)
    for k in ("ex", "su"):
        probes[k].spin(0.5)
    jaw = {}
    for k in ("ex", "su"):
        _, _, v = face_array([(r, m) for r, m in probes[k].face if r >= t0])
        assert v.min() >= 0.0 and v.max() <= 1.0
        jaw[k] = v[:, INDEX["jawOpen"]].max()
    assert jaw["ex"] > 1.5 * jaw["su"] > 0.1, jaw
    assert "style expressive" in procs["ex"].output() and "style subtle" in procs["su"].output()
