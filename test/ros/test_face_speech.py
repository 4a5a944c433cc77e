"""face_speech (the robot's own voice) over real DDS, with a real PulseAudio null sink as the
loudspeaker: text in, sound out, frames out in sync; marks at their word; queue, cancel and
interrupt; motor lag compensation in retarget; bad input.

The sync tolerances here are generous (functional checks on a shared, loaded machine); the
figures against the targets are in docs/BENCHMARKS.md (``python -m
emotalk_ros.ros.speech_bench``).
"""

import json
import time

import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy")

from ros_harness import Probe, RosProc, face_array, new_domain, run_ns  # noqa: E402
from std_msgs.msg import (  # noqa: E402
    Float32MultiArray,
    Float64MultiArray,
    MultiArrayDimension,
    String,  # noqa: E402
)

from emotalk_ros.core.blendshapes import INDEX  # noqa: E402
from emotalk_ros.core.null_sink import PrivateNullSink  # noqa: E402
from emotalk_ros.ros import qos  # noqa: E402
from emotalk_ros.speech.marks import parse_marked_text  # noqa: E402
from emotalk_ros.speech.tts import make_engine, trim_leading_silence  # noqa: E402

JAW, SMILE = INDEX["jawOpen"], INDEX["mouthSmileLeft"]
SPEECH = "emotalk_ros.ros.face_speech_node"
RETARGET_STATUS = run_ns("retarget") + ": retarget"    # this run's retarget (fully qualified)
BASE = ["-p", "face_animator:model.path:=baseline", "-p", "face_animator:idle.enabled:=false"]


def per_node(args):
    """``-p node:name:=value`` -> a params file addressing ``/**/node`` (rcl matches the node
    prefix of ``-p`` against the fully qualified name, and the harness runs every node in a
    namespace); other arguments are kept."""
    import tempfile

    import yaml

    out, params = [], {}
    it = iter(args)
    for a in it:
        if a == "-p":
            b = next(it)
            node, sep, rest = b.partition(":")
            if sep and ":=" in rest and "=" not in node:
                name, _, value = rest.partition(":=")
                params.setdefault(f"/**/{node}", {"ros__parameters": {}})[
                    "ros__parameters"][name] = yaml.safe_load(value)
                continue
            out += [a, b]
        else:
            out.append(a)
    if params:
        fd, path = tempfile.mkstemp(suffix=".yaml", prefix="face_speech_params_")
        with open(fd, "w") as f:
            yaml.safe_dump(params, f)
        out += ["--params-file", path]
    return out


@pytest.fixture
def sink(tmp_path, monkeypatch):
    if not PrivateNullSink.available():
        pytest.skip("pulseaudio / pulseaudio-utils are not installed")
    s = PrivateNullSink(str(tmp_path / "pulse")).start()
    for k, v in s.env.items():
        monkeypatch.setenv(k, v)          # the node processes and this one use the null sink
    try:
        yield s
    finally:
        s.stop()


class SpeechProbe(Probe):
    """A probe that also sends say / cancel / interrupt / audio and records speech/state."""

    def __init__(self, domain):
        super().__init__(domain)
        self.states = []
        self.node.create_subscription(String, "speech/state", lambda m: self.states.append(
            (time.monotonic(), json.loads(m.data))), qos.SPEECH_STATE)
        self.pubs = {t: self.node.create_publisher(String, t, qos.COMMANDS)
                     for t in ("say", "speech/cancel", "speech/interrupt")}
        self.pub_speech_audio = self.node.create_publisher(Float32MultiArray, "speech/audio",
                                                           qos.AUDIO)

    def send(self, topic, text):
        self.pubs[topic].publish(String(data=text))

    def ready(self, timeout=60):
        self.wait_for(lambda: len(self.face) > 10, timeout, "frames from face_animator")
        self.wait_for(lambda: self.node.count_subscribers("say") > 0, 20, "face_speech")

    def state_of(self, uid, state):
        return next((s for _, s in self.states if s.get("id") == uid and s["state"] == state),
                    None)

    def wait_state(self, uid, state, timeout=20):
        try:
            self.wait_for(lambda: self.state_of(uid, state) is not None, timeout,
                          f"{uid} {state} on speech/state")
        except AssertionError as exc:
            seen = [s for _, s in self.states][-12:]
            raise AssertionError(f"{exc}; its states: {seen}") from None
        return self.state_of(uid, state)


def mono(stamp_s):
    """A ROS (wall) stamp in seconds -> this process's monotonic clock."""
    return stamp_s - (time.time() - time.monotonic())


def test_say_plays_sound_and_the_face_moves_with_it(sink, tmp_path):
    from emotalk_ros.core.sync import envelope_db
    from emotalk_ros.ros.speech_bench import MonitorRecorder, clip_start

    dom = new_domain()
    probe = SpeechProbe(dom)
    node = RosProc(SPEECH, per_node(["-p", "face_speech:device:=pulse",
                            "-p", "face_animator:idle.enabled:=false"]), dom, str(tmp_path))
    rec = None
    try:
        probe.ready()
        # a first word while the sound server settles: PulseAudio's streams take seconds to
        # reach their steady latency on a loaded machine (the monitor delivers nothing for
        # about 2 s, then a burst), and the figures are about a node that has been running
        probe.send("say", "Ready.")
        probe.wait_state("u1", "finished")
        rec = MonitorRecorder("pulse")
        rec.start()
        probe.spin(0.5)
        text = "Hello robot. Papa made a banana pie."
        t_pub = time.monotonic()
        probe.send("say", text)
        started = probe.wait_state("u2", "started")
        finished = probe.wait_state("u2", "finished")
        clip = trim_leading_silence(make_engine("espeak").speak(parse_marked_text(text))).audio
        dur = clip.size / 16000.0
        # the face after the speech: frames stamped up to 0.6 s past its end (a loaded machine
        # can hold them back, so wait for them rather than a fixed time)
        after = mono(started["stamp"]) + dur + 0.6
        deadline = time.monotonic() + 5.0
        probe.spin(0.5)
        while time.monotonic() < deadline and \
                not any(mono(s) > after for s in face_array(probe.face)[1][-5:]):
            probe.spin(0.1)
        rec.stop()
        assert node.alive(), node.output()[-2000:]
        # no sound is skipped: the clip plays whole (longer only if the output stalled)
        assert dur - 0.05 <= finished["stamp"] - started["stamp"] <= dur + 0.5
        # sound out: the loudspeaker played the clip, where it was scheduled
        ta, xa = rec.signal()
        p_sched = mono(started["stamp"])
        p_real = clip_start(ta, xa, clip, p_sched)
        assert abs(p_real - p_sched) < 0.05, (p_real - p_sched,
                                              probe.diag_values("face_speech: voice"))
        te, env = envelope_db(ta, xa)
        assert env[(te > p_real) & (te < p_real + dur)].max() > -20.0
        assert te[0] < t_pub - 0.2, (te[0] - t_pub)                # recorded from before
        assert env[te < t_pub].max() < -60.0                         # silent before
        assert p_real - t_pub < 1.0                                  # say -> first sound
        # frames out: in [0, 1], stamped on the loudspeaker's clock, received at their stamps
        t, stamps, v = face_array(probe.face)
        assert np.isfinite(v).all() and v.min() >= 0 and v.max() <= 1
        st = np.array([mono(s) for s in stamps])
        speech = (st > p_sched - 0.05) & (st < p_sched + dur)
        assert np.median(t[speech] - st[speech]) < 0.06              # released on time
        jaw = v[:, JAW]
        assert jaw[speech].max() > 0.3
        assert jaw[(st > p_sched + dur + 0.4)].max() < 0.05          # closed after
        # in sync: the jaw follows the sound heard at the loudspeaker (envelope lag)
        from emotalk_ros.core.sync import best_lag

        grid = np.arange(p_real, p_real + dur, 1 / 60.0)
        lag = best_lag(grid, np.interp(grid, te, 10 ** (env / 20)), np.interp(grid, t, jaw))
        assert -0.08 <= lag <= 0.08, lag
    finally:
        node.close()
        probe.close()


def test_marks_queue_cancel_interrupt_and_the_speaking_state(tmp_path):
    dom = new_domain()
    probe = SpeechProbe(dom)
    node = RosProc(SPEECH, per_node(["-p", "face_speech:device:=none", *BASE]), dom,
                   str(tmp_path))
    try:
        probe.ready()
        # emotion marks change the expression at the marked word
        text = "Hello there. {happy:0.9} Papa made a banana pie. {neutral}"
        probe.send("say", text)
        probe.send("say", "And a second line.")
        q1 = probe.wait_state("u1", "queued")
        assert q1["text"] == "Hello there. Papa made a banana pie."
        s1 = probe.wait_state("u1", "started")
        f1 = probe.wait_state("u1", "finished")
        s2 = probe.wait_state("u2", "started")
        probe.wait_state("u2", "finished")
        assert s1["stamp"] < f1["stamp"] <= s2["stamp"] + 0.01      # queued: one after another
        progress = [s["progress"] for _, s in probe.states
                    if s.get("id") == "u1" and s["state"] == "speaking"]
        assert progress and progress == sorted(progress) and 0 < progress[-1] <= 1
        sp = trim_leading_silence(make_engine("espeak").speak(parse_marked_text(text)))
        t_mark, t_end = (mono(s1["stamp"]) + m for m, _ in sp.marks)
        t, stamps, v = face_array(probe.face)
        st = np.array([mono(s) for s in stamps])
        smile = v[:, SMILE]
        assert smile[(st > mono(s1["stamp"])) & (st < t_mark - 0.02)].max() < 0.02
        assert smile[(st > t_mark + 0.6) & (st < t_end)].min() > 0.4
        assert smile[st > t_end + 0.8].max() < 0.1                  # {neutral} at the end
        assert np.isfinite(v).all() and v.min() >= 0 and v.max() <= 1
        # cancel: the speaking utterance ends, the face eases to rest
        probe.send("say", "This is a long sentence that we will stop in the middle of it.")
        s3 = probe.wait_state("u3", "started")
        probe.spin(0.8)
        t_cancel = time.monotonic()
        probe.send("speech/cancel", "")
        c3 = probe.wait_state("u3", "cancelled", 5)
        assert 0 < c3["progress"] < 0.8
        probe.spin(1.0)
        t, stamps, v = face_array(probe.face)
        st = np.array([mono(s) for s in stamps])
        assert v[st > t_cancel + 0.5, JAW].max() < 0.05
        assert probe.state_of("u3", "finished") is None and s3 is not None
        # interrupt-and-say: the current one is cancelled, the new one speaks at once
        probe.send("say", "Another long sentence that will be interrupted by something new.")
        probe.send("say", "This one is queued behind it.")
        probe.wait_state("u4", "started")
        probe.send("speech/interrupt", "Sorry, something else.")
        probe.wait_state("u4", "cancelled", 5)
        probe.wait_state("u5", "cancelled", 5)
        probe.wait_state("u6", "started", 5)
        probe.wait_state("u6", "finished")
        # cancel of a queued utterance by id; cancel while idle only warns
        probe.send("say", "One more line to say.")
        probe.send("say", "And one that never comes.")
        probe.wait_state("u7", "started")
        probe.send("speech/cancel", "u8")
        probe.wait_state("u8", "cancelled", 5)
        probe.wait_state("u7", "finished")
        probe.spin(0.5)
        probe.send("speech/cancel", "")
        probe.spin(0.5)
        assert node.alive()
        assert "nothing is speaking or queued" in node.output()
        assert "Traceback" not in node.output()
    finally:
        node.close()
        probe.close()


def test_bad_input_gets_a_warning_and_the_node_keeps_running(tmp_path):
    dom = new_domain()
    probe = SpeechProbe(dom)
    node = RosProc(SPEECH, per_node(["-p", "face_speech:device:=none",
                            "-p", "face_speech:max_chars:=20000", *BASE]), dom, str(tmp_path))
    try:
        probe.ready()
        probe.send("say", "")
        probe.send("say", "   {happy}  ")
        probe.send("say", "x " * 50000)                                  # 100 k characters
        probe.wait_for(lambda: sum(s["state"] == "rejected" for _, s in probe.states) >= 3, 10,
                       "three rejections")
        rejected = [s["error"] for _, s in probe.states if s["state"] == "rejected"]
        assert any("empty" in e for e in rejected)
        assert any("100000 characters" in e and "20000" in e for e in rejected)
        # malformed or unknown marks: spoken without them
        probe.send("say", "Hello {bogus:3} there {happy:} you {")
        probe.wait_state("u1", "finished")
        assert "mark {bogus:3} ignored" in node.output()
        # NaN audio and multi-channel audio are dropped; audio at another rate is resampled
        msg = Float32MultiArray()
        msg.data = np.full(1600, np.nan, np.float32)
        probe.pub_speech_audio.publish(msg)
        msg = Float32MultiArray()
        msg.layout.dim = [MultiArrayDimension(label="frames", size=800, stride=1600),
                          MultiArrayDimension(label="channels", size=2, stride=2)]
        msg.data = np.zeros(1600, np.float32)
        probe.pub_speech_audio.publish(msg)
        probe.wait_for(lambda: sum(s["state"] == "rejected" for _, s in probe.states) >= 5, 10,
                       "NaN and stereo audio rejected")
        sr = 22050
        tt = np.arange(int(0.8 * sr)) / sr
        tone = (0.4 * np.sin(2 * np.pi * 220 * tt) * (np.sin(2 * np.pi * 3 * tt) > 0))
        msg = Float32MultiArray()
        msg.layout.dim = [MultiArrayDimension(label=f"rate={sr}", size=tt.size, stride=tt.size)]
        msg.data = tone.astype(np.float32)
        probe.pub_speech_audio.publish(msg)
        s = probe.wait_state("u2", "started")
        f = probe.wait_state("u2", "finished")
        assert f["stamp"] - s["stamp"] == pytest.approx(0.8, abs=0.05)   # resampled, same length
        probe.spin(0.3)
        t, stamps, v = face_array(probe.face)
        st = np.array([mono(x) for x in stamps])
        assert v[(st > mono(s["stamp"])) & (st < mono(f["stamp"])), JAW].max() > 0.1
        assert node.alive() and "Traceback" not in node.output()
        d = probe.diag_values("face_speech: voice")
        assert d is not None and int(d["rejected"]) >= 5
    finally:
        node.close()
        probe.close()


def test_a_parameter_outside_its_choices_stops_the_start_with_one_line(tmp_path):
    p = RosProc(SPEECH, per_node(["-p", "face_speech:engine:=loquendo", *BASE]), new_domain(),
                str(tmp_path))
    try:
        rc = p.proc.wait(90)
    finally:
        p.close()
    out = p.output()
    assert rc == 1, out[-2000:]
    fatal = [ln for ln in out.splitlines() if "cannot start" in ln]
    assert len(fatal) == 1 and "invalid; valid values: espeak, flite" in fatal[0], out[-2000:]
    assert "Traceback" not in out


@pytest.mark.parametrize("args,expect", [
    (["-p", "face_speech:voice:=xx-nowhere"], "no voice 'xx-nowhere'"),
    (["-p", "face_speech:engine:=piper"], "piper"),
    (["-p", "face_speech:device:=no-such-speaker"], "output devices:"),
])
def test_missing_voice_engine_or_device_is_one_error_and_the_node_keeps_speaking(args, expect,
                                                                                 tmp_path):
    dom = new_domain()
    probe = SpeechProbe(dom)
    node = RosProc(SPEECH, per_node([*args, *BASE]), dom, str(tmp_path))
    try:
        probe.ready()
        probe.send("say", "Still here.")
        probe.wait_state("u1", "finished")                 # espeak-ng, or the clock alone
        probe.wait_for(lambda: probe.diag_values("face_speech: voice") is not None, 10,
                       "face_speech diagnostics")
        st = [st for arr in reversed(probe.diag) for st in arr.status
              if st.name == "face_speech: voice"][0]
        assert st.level == b"\x02" and expect in st.message, (st.level, st.message)
        assert node.alive()
        out = node.output()
        errors = [ln for ln in out.splitlines() if expect in ln and "ERROR" in ln]
        assert len(errors) == 1, out[-2000:]
        assert "Traceback" not in out
    finally:
        node.close()
        probe.close()


def test_retarget_commands_a_lagging_motor_early_by_its_latency(tmp_path):
    from emotalk_ros.core.sync import best_lag
    from emotalk_ros.ros.speech_bench import bench_rig

    dom = new_domain()
    probe = SpeechProbe(dom)
    cmds = {"lag40": [], "lag0": []}
    for name, topic in (("lag40", "face/motor_commands"), ("lag0", "motor_commands_nolag")):
        probe.node.create_subscription(Float64MultiArray, topic, lambda m, n=name: cmds[n].append(
            (time.monotonic(), m.data[0])), qos.MOTOR_COMMANDS)
    rig40 = bench_rig(str(tmp_path / "rig40.yaml"), 40.0)
    rig0 = bench_rig(str(tmp_path / "rig0.yaml"), 0.0)
    # a generous lead: on a busy machine the executor that publishes the frames ahead lags
    procs = [RosProc(SPEECH, per_node(["-p", "face_speech:device:=none",
                                       "-p", "face_speech:lead_ms:=250.0",
                                       "-p", "face_speech:preroll_ms:=250.0", *BASE]), dom,
                     str(tmp_path)),
             RosProc("emotalk_ros.ros.retarget_node", ["-p", f"rig_file:={rig40}"], dom,
                     str(tmp_path)),
             RosProc("emotalk_ros.ros.retarget_node",
                     ["-p", f"rig_file:={rig0}", "-r", "__node:=retarget_nolag",
                      "-r", "face/motor_commands:=motor_commands_nolag",
                      "-r", "face/motor_states:=motor_states_nolag"], dom, str(tmp_path))]
    try:
        probe.ready()
        probe.wait_for(lambda: len(cmds["lag0"]) > 100 and len(cmds["lag40"]) > 100, 30,
                       "motor commands")
        probe.spin(1.5)                                     # past the soft start
        probe.send("say", "Papa made a banana pie, and Bob bought a big map.")
        s = probe.wait_state("u1", "started")
        f = probe.wait_state("u1", "finished")
        probe.spin(3.0)                                     # the frames go late again
        a, b = mono(s["stamp"]) - 0.2, mono(f["stamp"]) + 0.2
        grid = np.arange(a, b, 0.005)
        tr = {k: np.interp(grid, np.array([t for t, _ in v]), np.array([x for _, x in v]))
              for k, v in cmds.items()}
        lead = best_lag(grid, tr["lag40"], tr["lag0"], 0.15)        # lag0 follows lag40 by...
        assert 0.025 <= lead <= 0.055, lead
        # /diagnostics said which case applied: ahead while the robot spoke, late after it
        timings = [{kv.key: kv.value for kv in st.values} for arr in probe.diag
                   for st in arr.status if st.name == RETARGET_STATUS]
        ahead = [d for d in timings if d["timing"] == "ahead"]
        assert ahead and max(float(d["frame_lead_ms"]) for d in ahead) > 30.0, timings
        assert float(ahead[0]["latency_ms.jaw"]) == 40.0
        assert timings[-1]["timing"] == "late"
        for p in procs:
            assert p.alive() and "Traceback" not in p.output()
    finally:
        for p in procs:
            p.close()
        probe.close()


def test_mic_frames_are_late_and_retarget_says_so(speech_wav, tmp_path):
    dom = new_domain()
    probe = Probe(dom)
    procs = [RosProc("emotalk_ros.ros.face_animator_node",
                     ["-p", "model.path:=baseline"], dom, str(tmp_path)),
             RosProc("emotalk_ros.ros.retarget_node", ["-p", "rig_file:=hobby_servo_head"], dom,
                     str(tmp_path))]
    try:
        probe.wait_for(lambda: len(probe.face) > 10, 60, "frames")
        procs.append(RosProc("emotalk_ros.ros.face_audio_capture_node",
                             ["-p", "source:=file", "-p", f"file.path:={speech_wav}",
                              "-p", "file.wait_subscribers:=2"], dom, str(tmp_path)))
        probe.wait_for(lambda: len(probe.audio) > 0, 30, "audio")
        probe.spin(2.5)
        d = next(({kv.key: kv.value for kv in st.values} for arr in reversed(probe.diag)
                  for st in arr.status if st.name == RETARGET_STATUS), None)
        assert d is not None and d["timing"] == "late", d
        assert float(d["frame_lead_ms"]) < 0
    finally:
        for p in procs:
            p.close()
        probe.close()


def test_config_parameters_are_declared_by_both_nodes_of_the_process(tmp_path):
    import yaml
    from conftest import ROOT

    from emotalk_ros.ros.parameters import FACE_SPEECH

    config = f"{ROOT}/config/face.yaml"
    data = yaml.safe_load(open(config))
    dom = new_domain()
    probe = Probe(dom)
    node = RosProc(SPEECH, per_node(["--params-file", config, "-p", "face_speech:device:=none",
                            "-p", "face_animator:model.path:=baseline"]), dom, str(tmp_path))
    try:
        probe.wait_for(lambda: len(probe.face) > 5, 60, "frames")
        for name in ("face_speech", "face_animator"):
            declared = set(probe.list_parameters(f"/{name}"))
            given = set(data[f"/**/{name}"]["ros__parameters"])
            assert given <= declared, (name, given - declared)
        assert {s.name for s in FACE_SPEECH} <= set(probe.list_parameters("/face_speech"))
        assert probe.get_parameter("/face_speech", "engine").string_value == "espeak"
    finally:
        node.close()
        probe.close()
