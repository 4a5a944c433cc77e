"""``python -m emotalk_ros.ros.speech_bench``: the robot's own voice measured at the loudspeaker.

One run, real processes over DDS, a private PulseAudio null sink as the loudspeaker
(:class:`emotalk_ros.core.null_sink.PrivateNullSink`), its monitor recorded here with
PortAudio's capture timestamps:

* ``face_speech`` (with its ``face_animator``) plays ``say`` text into the sink;
  ``face_audio_capture`` records the sink's monitor as the microphone path, so the mic path
  runs in the same graph and the same run: wav files played with ``paplay`` are animated
  through it for comparison;
* two ``retarget`` nodes on the same frames: the bench rig (``hobby_servo_head`` with
  ``latency_ms: 40`` on the jaw) and the same rig without latency.

Measured (printed, and written as JSON with ``--json``):

* **sync (onsets)**: syllable onsets in the recording (the level rising to 10 dB below its
  speech peak after a 10 dB dip: the vowel) against jaw-opening onsets of
  ``face/blendshapes`` by receive time (``jawOpen`` rising through 0.15 after 0.08), paired
  within 100 ms; the envelope-to-jaw cross-correlation lag; for the ``say`` path and the mic
  path. For ``say`` also the same onsets offline: the frames on their stamps against the
  synthesised clip placed where it was scheduled (what the articulation itself contributes);
* **sync (exact)**, ``say`` only: where each utterance really started at the loudspeaker
  (the recording cross-correlated with the synthesised clip) against where it was scheduled
  (``speech/state`` ``started`` stamp), and each frame's receive time against its stamp; their
  difference is how far a frame missed the sound it depicts;
* **jaw command lead**: the same onsets of the jaw motor's command (fraction of its range)
  against the sound, with 40 ms latency and without;
* ``say`` published -> first sound (the first sample above -50 dBFS); cancel published ->
  silence (the last sample above -50 dBFS);
* blinks per minute during the speech (and, with ``--long-s``, during one long utterance).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from typing import Any, Dict, List, Optional

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SAY_TEXTS = [
    "Hello! {happy:0.8} I am glad you came. {neutral}",
    "Would you like to hear a story about a brave little boat?",
    "My name is Robby, and I can move my mouth while I talk.",
    "{surprised:0.7} Oh! What a lovely surprise. {neutral}",
    "Papa made a banana pie, and we ate it by the window.",
    "Maybe another time, then. {sad:0.6} I will miss you. {neutral}",
    "Please put the blue cup on the table next to the lamp.",
    "Today the weather is bright and the park is full of people.",
]
MIC_TEXTS = [
    "This sentence comes in through the microphone path.",
    "Another voice, heard and animated after the fact.",
    "Bob bought a big map of the moon.",
    "We will meet again tomorrow at nine.",
]
LONG_TEXT = ("This is a long sentence that will be stopped somewhere in the middle, because the "
             "dialogue system changed its mind about what the robot should say next.")
LONG_SENTENCES = [
    "Once upon a time there was a little boat that lived in a quiet harbour by the sea.",
    "Every morning the fishermen walked down to the water, and the boat watched them go.",
    "It dreamed of the open ocean, of islands and storms, and of whales singing at night.",
    "One day a strong wind came, and the rope that held the boat to the pier broke.",
    "At first the boat was afraid, because the waves were high and the sky was grey.",
    "But soon it found that it could ride the waves, up and down, like a gull in the wind.",
    "By noon the harbour was gone, and there was only water in every direction.",
    "A family of dolphins came to play, jumping over the bow and laughing in the spray.",
    "Where are you going, little boat, they asked, and the boat said it did not know.",
    "Then come with us, they said, and they led it to a small island with a white beach.",
    "There the boat rested in the warm sand while the sun went down behind the hills.",
    "In the evening a lighthouse keeper found it, and he smiled and patted its wooden side.",
    "He painted it blue and yellow, and he gave it a new name and a brand new sail.",
    "And from that day on, the little boat sailed with him to every island in the bay.",
]
JAW_HI, JAW_LO = 0.15, 0.08         # jaw-opening onsets: rise through 0.15 after <= 0.08
SOUND_BELOW_PEAK_DB = 10.0          # syllable onsets: the level rising to 10 dB below its peak
PAIR_WINDOW_S = 0.1
SILENCE_DB = -50.0


def log(msg: str) -> None:
    """A ``[speech-bench]`` progress line on stderr."""
    sys.stderr.write(f"[speech-bench] {msg}\n")
    sys.stderr.flush()


def bench_rig(path: str, jaw_latency_ms: float) -> str:
    """Write the shipped hobby_servo_head rig with ``latency_ms`` on its jaw to ``path``."""
    from emotalk_ros.retarget.rig import Rig

    rig = Rig.load("hobby_servo_head")
    d = rig.to_dict()
    for m in d["motors"]:
        if m["name"] == "jaw":
            m["latency_ms"] = float(jaw_latency_ms)
    import yaml

    with open(path, "w") as f:
        yaml.safe_dump(d, f, sort_keys=False)
    return path


class MonitorRecorder:
    """Records the default PortAudio input (a null sink's monitor) with capture timestamps on
    ``time.monotonic``: ``blocks`` of (time of the first sample, samples)."""

    def __init__(self, device: str = "pulse", sample_rate: int = 16000, block: int = 160):
        import sounddevice as sd

        try:
            sd.query_devices(device, "input")
        except ValueError:
            # PortAudio lists devices once, when it starts: this process may have started it
            # before the sound server it should record from (a null sink started later)
            sd._terminate()
            sd._initialize()
        self.sample_rate = sample_rate
        self.blocks: List[Any] = []
        self._stream = sd.InputStream(device=device, samplerate=sample_rate, channels=1,
                                      blocksize=block, dtype="float32", latency="low",
                                      callback=self._cb)

    def _cb(self, indata, frames, ti, status) -> None:
        now = time.monotonic()
        self.blocks.append((now + (ti.inputBufferAdcTime - ti.currentTime), indata[:, 0].copy()))

    def start(self, timeout_s: float = 10.0) -> None:
        """Start recording once the capture times are steady. (A PulseAudio monitor delivers
        nothing for about 2 s after the stream opens, then a burst whose ADC times advance
        faster than its samples: those blocks are dropped.)"""
        self._stream.start()
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            time.sleep(0.05)
            blocks = list(self.blocks)
            if len(blocks) < 80:
                continue
            r = self._residuals(blocks[-60:])
            if abs(float(np.median(r[30:]) - np.median(r[:30]))) < 0.002:
                break
        self.blocks.clear()

    def _residuals(self, blocks) -> np.ndarray:
        """Capture time of each block minus its place on the sample grid (s)."""
        starts = np.array([t for t, _ in blocks])
        sizes = np.array([b.size for _, b in blocks])
        idx = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        return starts - idx / self.sample_rate

    def stop(self) -> None:
        """Stop recording."""
        self._stream.stop()
        self._stream.close()

    def signal(self):
        """(times (N,) s, samples (N,)): the recording on the monotonic clock: a regular sample
        grid placed at the median of the blocks' capture times (this removes the callback
        jitter of single blocks; the ADC clock of a null sink is the system clock)."""
        if not self.blocks:
            return np.zeros(0), np.zeros(0)
        blocks = list(self.blocks)
        x = np.concatenate([b for _, b in blocks])
        t0 = float(np.median(self._residuals(blocks)))
        return t0 + np.arange(x.size) / self.sample_rate, x


def _stats(v: np.ndarray) -> Dict[str, Any]:
    v = np.asarray(v, np.float64)
    if v.size == 0:
        return {"n": 0}
    return {"n": int(v.size), "p50_ms": round(1000 * float(np.median(v)), 1),
            "abs_p95_ms": round(1000 * float(np.percentile(np.abs(v), 95)), 1),
            "abs_p99_ms": round(1000 * float(np.percentile(np.abs(v), 99)), 1),
            "p5_ms": round(1000 * float(np.percentile(v, 5)), 1),
            "p95_ms": round(1000 * float(np.percentile(v, 95)), 1),
            "p99_ms": round(1000 * float(np.percentile(v, 99)), 1)}


def sound_onsets(te: np.ndarray, env: np.ndarray) -> np.ndarray:
    """Syllable onsets (s) in a level envelope (dBFS): rising to ``SOUND_BELOW_PEAK_DB`` below
    its speech peak after a 10 dB dip."""
    from emotalk_ros.core.sync import rising_onsets

    loud = env > SILENCE_DB
    peak = float(np.percentile(env[loud], 95)) if loud.any() else -20.0
    hi = peak - SOUND_BELOW_PEAK_DB
    return rising_onsets(te, env, hi, hi - 10.0, min_gap_s=0.06)


def clip_start(t_rec: np.ndarray, x_rec: np.ndarray, clip: np.ndarray, near: float,
               sr: int = 16000, search_s: float = 0.25) -> float:
    """Where ``clip`` (16 kHz) starts in the recording (times ``t_rec``), searched within
    ``search_s`` of ``near``: the lag of the peak of the cross-correlation."""
    from scipy.signal import correlate

    i0 = int(np.searchsorted(t_rec, near - search_s))
    n = clip.size + int(2 * search_s * sr)
    seg = x_rec[i0:i0 + n]
    if seg.size < clip.size:
        return float("nan")
    c = correlate(seg, clip, mode="valid", method="fft")
    k = int(np.argmax(c))
    return float(t_rec[i0 + k])


def analyse(rec, face, motors, segments, starts, clips, fps: float = 60.0) -> Dict[str, Any]:
    """The figures of the module docstring from the recordings (see :func:`run`): ``rec`` =
    (times, samples) of the monitor; ``face`` = [(receive, stamp, values)] (monotonic s);
    ``motors`` = {name: (times, jaw command as a fraction of its range)}; ``segments`` =
    [(kind, t0, t1)]; ``starts`` = {uid: scheduled start (monotonic s)}; ``clips`` = {uid:
    synthesised 16 kHz audio}."""
    from emotalk_ros.core.blendshapes import INDEX
    from emotalk_ros.core.sync import (
        best_lag,
        blinks_per_minute,
        envelope_db,
        pair_offsets,
        rising_onsets,
    )

    ta, xa = rec
    te, env = envelope_db(ta, xa)
    snd_on = sound_onsets(te, env)
    recv = np.array([r for r, _, _ in face])
    stamp = np.array([s for _, s, _ in face])
    vals = np.array([v for _, _, v in face])
    jaw = vals[:, INDEX["jawOpen"]]
    out: Dict[str, Any] = {}
    for kind in ("say", "mic"):
        segs = [(a, b) for k, a, b in segments if k == kind]
        if not segs:
            continue

        def within(t, segs=segs):
            return np.array([any(a <= x <= b for a, b in segs) for x in t], bool)

        s_on = snd_on[within(snd_on)]
        by_recv = rising_onsets(recv, jaw, JAW_HI, JAW_LO)
        res: Dict[str, Any] = {
            "sound_onsets": int(s_on.size),
            "jaw_vs_sound_by_receive": _stats(pair_offsets(s_on, by_recv, PAIR_WINDOW_S))}
        lags = []
        for a, b in segs:
            m = (recv >= a) & (recv <= b)
            if m.sum() < 30:
                continue
            grid = np.arange(a, b, 1.0 / fps)
            e_lin = np.interp(grid, te, 10 ** (env / 20.0))
            lags.append(best_lag(grid, e_lin, np.interp(grid, recv[m], jaw[m])))
        res["envelope_to_jaw_lag_by_receive"] = _stats(np.array(lags))
        if kind == "say":
            # offline: the frames on their stamps against the clips where they were scheduled
            intrinsic, play_err, frame_err = [], [], []
            by_stamp = rising_onsets(stamp, jaw, JAW_HI, JAW_LO)
            for uid, p_sched in starts.items():
                clip = clips.get(uid)
                if clip is None:
                    continue
                tc = p_sched + np.arange(clip.size) / 16000.0
                tce, cenv = envelope_db(tc, clip)
                c_on = sound_onsets(tce, cenv)
                intrinsic.extend(pair_offsets(c_on, by_stamp, PAIR_WINDOW_S))
                p_real = clip_start(ta, xa, clip, p_sched)
                if not np.isfinite(p_real):
                    continue
                play_err.append(p_real - p_sched)
                m = (stamp >= p_sched) & (stamp <= p_sched + clip.size / 16000.0)
                frame_err.extend((recv[m] - stamp[m]) - (p_real - p_sched))
            res["jaw_vs_sound_offline_same_onsets"] = _stats(np.array(intrinsic))
            res["exact_sound_start_vs_scheduled"] = _stats(np.array(play_err))
            res["exact_frame_receive_vs_its_sound"] = _stats(np.array(frame_err))
            rel = np.array([r - s for r, s in zip(recv, stamp) if any(
                p <= s <= p + 10.0 for p in starts.values())])
            res["frame_receive_vs_stamp"] = _stats(rel)
            for name, (t_m, v_m) in motors.items():
                if t_m.size == 0:
                    continue
                m_on = rising_onsets(t_m, v_m, JAW_HI, JAW_LO)
                res[f"jaw_command_{name}_vs_sound"] = _stats(pair_offsets(s_on, m_on,
                                                                          PAIR_WINDOW_S))
                # the command trace against the face it was made from (aperture, by stamp)
                leads = []
                ap = np.clip(jaw - vals[:, INDEX["mouthClose"]], 0.0, 1.0)
                for a, b in segs:
                    grid = np.arange(a, b, 0.01)
                    mm = (t_m >= a - 0.5) & (t_m <= b + 0.5)
                    ms = (stamp >= a - 0.5) & (stamp <= b + 0.5)
                    if mm.sum() < 50 or ms.sum() < 30:
                        continue
                    leads.append(best_lag(grid, np.interp(grid, stamp[ms], ap[ms]),
                                          np.interp(grid, t_m[mm], v_m[mm]), 0.2))
                res[f"jaw_command_{name}_vs_face_stamp_lag"] = _stats(np.array(leads))
            spk = within(recv)
            rate, n, minutes = blinks_per_minute(recv, vals[:, INDEX["eyeBlinkLeft"]], spk)
            res["blinks"] = {"per_minute": round(rate, 1), "blinks": n,
                             "minutes": round(minutes, 2)}
        out[kind] = res
    return out


def run(args) -> Dict[str, Any]:
    """Start the graph, speak, play, cancel, record; returns the figures."""
    os.environ.setdefault("ROS_DOMAIN_ID", str(random.randint(201, 230)))
    os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    os.environ["PYTHONUNBUFFERED"] = "1"
    os.environ["PYTHONPATH"] = ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")
    from emotalk_ros.core.null_sink import PrivateNullSink

    sink = PrivateNullSink().start()
    os.environ.update(sink.env)                   # before PortAudio is initialised
    tmp = tempfile.mkdtemp(prefix="emotalk_speech_bench_")
    procs: List[subprocess.Popen] = []
    logs = open(os.path.join(args.out, "nodes.log"), "w")

    def start(module, ros_args):
        p = subprocess.Popen([sys.executable, "-m", module, "--ros-args", *ros_args],
                             cwd=ROOT, stdout=logs, stderr=subprocess.STDOUT)
        procs.append(p)
        return p

    import rclpy
    from diagnostic_msgs.msg import DiagnosticArray
    from rclpy.executors import SingleThreadedExecutor
    from sensor_msgs.msg import JointState
    from std_msgs.msg import Float64MultiArray, String

    from emotalk_ros.ros import qos

    rclpy.init()
    node = rclpy.create_node("speech_bench_recorder")
    wall_minus_mono = time.time() - time.monotonic()
    face: List[Any] = []
    motor: Dict[str, List[Any]] = {"lag40": [], "lag0": []}
    states: List[Any] = []
    diag: List[Any] = []
    node.create_subscription(JointState, "face/blendshapes", lambda m: face.append(
        (time.monotonic(), m.header.stamp.sec + 1e-9 * m.header.stamp.nanosec - wall_minus_mono,
         np.array(m.position, np.float32))), qos.FACE_STREAM)
    for name, topic in (("lag40", "face/motor_commands"), ("lag0", "motor_commands_nolag")):
        node.create_subscription(Float64MultiArray, topic, lambda m, n=name: motor[n].append(
            (time.monotonic(), float(m.data[0]))), qos.MOTOR_COMMANDS)
    node.create_subscription(String, "speech/state", lambda m: states.append(
        (time.monotonic(), json.loads(m.data))), qos.SPEECH_STATE)
    node.create_subscription(DiagnosticArray, "/diagnostics", lambda m: diag.append(m),
                             qos.DIAGNOSTICS)
    say = node.create_publisher(String, "say", qos.COMMANDS)
    cancel = node.create_publisher(String, "speech/cancel", qos.COMMANDS)
    ex = SingleThreadedExecutor()
    ex.add_node(node)

    def spin_for(seconds):
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            ex.spin_once(timeout_sec=0.005)

    def wait_state(uid_state, timeout):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            ex.spin_once(timeout_sec=0.005)
            if any(uid_state(s) for _, s in states):
                return True
        return False

    segments: List[Any] = []
    said: Dict[str, str] = {}
    firsts: List[float] = []
    cancels: List[float] = []
    rec = None
    try:
        rig40 = bench_rig(os.path.join(tmp, "rig40.yaml"), 40.0)
        rig0 = bench_rig(os.path.join(tmp, "rig0.yaml"), 0.0)
        start("emotalk_ros.ros.face_speech_node",
              ["-p", f"face_speech:device:={args.device}", "-p",
               f"face_speech:articulation:={args.articulation}",
               "-p", f"face_speech:playback.latency_ms:={args.latency_ms}",
               "-p", f"face_speech:preroll_ms:={args.preroll_ms}",
               "-p", "face_animator:idle.seed:=3"] + (["-p", f"face_animator:model.path:="
                                                        f"{args.model}"] if args.model else []))
        start("emotalk_ros.ros.face_audio_capture_node",
              ["-p", "source:=mic", "-p", f"device:={args.device}"])
        start("emotalk_ros.ros.retarget_node", ["-p", f"rig_file:={rig40}"])
        start("emotalk_ros.ros.retarget_node",
              ["-p", f"rig_file:={rig0}", "-r", "__node:=retarget_nolag",
               "-r", "face/motor_commands:=motor_commands_nolag",
               "-r", "face/motor_states:=motor_states_nolag"])
        t_boot = time.monotonic()
        while not face or node.count_subscribers("say") == 0:
            spin_for(0.1)
            if time.monotonic() - t_boot > 90 or any(p.poll() is not None for p in procs):
                raise RuntimeError("the graph did not start; see nodes.log")
        rec = MonitorRecorder(args.device)
        rec.start()
        spin_for(2.0)
        log(f"graph up in {time.monotonic() - t_boot:.1f} s; load {os.getloadavg()[0]:.1f}")
        # the say path
        for i in range(args.trials):
            text = SAY_TEXTS[i % len(SAY_TEXTS)]
            n0 = len(states)
            t_pub = time.monotonic()
            say.publish(String(data=text))
            ok = wait_state(lambda s: s["state"] == "finished" and s.get("id") == f"u{i + 1}",
                            20.0)
            # then idle: the face's tail (tail_s) and the frames computed ahead (lead_ms) are
            # done, so the next say starts from idle (a say within about tail_s + lead_ms of
            # the previous sound waits for the face's tail)
            spin_for(args.gap_s)
            segments.append(("say", t_pub, time.monotonic() - 0.2))
            firsts.append(t_pub)
            said[f"u{i + 1}"] = text
            log(f"say {i + 1}/{args.trials}: {'ok' if ok else 'no finished state'} "
                f"({len(states) - n0} states)")
        # the microphone path: wav files played into the same sink
        for i, text in enumerate(MIC_TEXTS[:max(1, args.trials // 2)]):
            wav = os.path.join(tmp, f"mic{i}.wav")
            subprocess.run(["espeak-ng", "-v", "en-us+m3", "-s", "165", "-w", wav, text],
                           check=True, capture_output=True, timeout=30)
            t0 = time.monotonic()
            p = subprocess.Popen(["paplay", f"--device={'virt'}", wav])
            while p.poll() is None:
                spin_for(0.05)
            spin_for(0.6)
            segments.append(("mic", t0, time.monotonic() - 0.2))
            log(f"mic {i + 1}: played")
        # cancel
        for i in range(args.cancels):
            say.publish(String(data=LONG_TEXT))
            uid = f"u{args.trials + i + 1}"
            wait_state(lambda s, u=uid: s["state"] == "started" and s.get("id") == u, 10.0)
            spin_for(0.6 + 0.3 * i)
            t_c = time.monotonic()
            cancel.publish(String(data=""))
            cancels.append(t_c)
            spin_for(1.2)
            log(f"cancel {i + 1}/{args.cancels}")
        spin_for(0.5)
        # long speech: blinks per minute while the robot talks on and on
        if args.long_s > 0:
            text, n = [], 0
            while n < args.long_s * 15.0:          # about 15 characters per second
                sentence = LONG_SENTENCES[len(text) % len(LONG_SENTENCES)]
                text.append(sentence)
                n += len(sentence)
            uid = f"u{args.trials + args.cancels + 1}"
            t0 = time.monotonic()
            say.publish(String(data=" ".join(text)))
            ok = wait_state(lambda s, u=uid: s["state"] == "finished" and s.get("id") == u,
                            args.long_s * 3 + 30)
            segments.append(("long", t0, time.monotonic()))
            log(f"long speech: {'ok' if ok else 'no finished state'} "
                f"({time.monotonic() - t0:.0f} s)")
        spin_for(0.5)
    finally:
        if rec is not None:
            rec.stop()
        for p in procs:
            if p.poll() is None:
                p.send_signal(2)
        spin_for(1.0)
        for p in procs:
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
        node.destroy_node()
        rclpy.try_shutdown()
        logs.close()
        sink.stop()
    from emotalk_ros.speech.marks import parse_marked_text
    from emotalk_ros.speech.tts import make_engine, trim_leading_silence

    ta, xa = rec.signal()
    starts, clips = {}, {}
    engine = make_engine("espeak")
    for _, st in states:
        if st.get("state") == "started" and "stamp" in st and st["id"] in said:
            starts[st["id"]] = st["stamp"] - wall_minus_mono
            # as the node plays it: an utterance's opening silence is not played
            clips[st["id"]] = trim_leading_silence(
                engine.speak(parse_marked_text(said[st["id"]]))).audio
    motors = {k: (np.array([t for t, _ in v]), (np.array([x for _, x in v]) - 1100.0) / 800.0)
              for k, v in motor.items()}
    res = analyse((ta, xa), face, motors, segments, starts, clips)
    # first sound and silence by sample: the first / last sample above SILENCE_DB
    loud = np.abs(xa) > 10 ** (SILENCE_DB / 20.0)
    first = []
    for t_pub in firsts:
        k = np.flatnonzero(loud & (ta > t_pub) & (ta < t_pub + 2.0))
        if k.size:
            first.append(float(ta[k[0]] - t_pub))
    res["say_to_first_sound"] = _stats(np.array(first))
    silence = []
    for t_c in cancels:
        k = np.flatnonzero(loud & (ta > t_c) & (ta < t_c + 1.0))
        silence.append(float(ta[k[-1]] - t_c) if k.size else 0.0)
    res["cancel_to_silence"] = _stats(np.array(silence))
    # blinks while the robot speaks: from each say utterance's first sound to its last
    spans = {}
    for _, st in states:
        if "stamp" in st and st.get("id") in said and st["state"] in ("started", "finished"):
            spans.setdefault(st["id"], {})[st["state"]] = st["stamp"] - wall_minus_mono
    spans = [(v["started"], v["finished"]) for v in spans.values() if len(v) == 2]
    if spans and face:
        from emotalk_ros.core.blendshapes import INDEX
        from emotalk_ros.core.sync import blinks_per_minute

        recv = np.array([r for r, _, _ in face])
        vals = np.array([v for _, _, v in face])
        m = np.zeros(recv.size, bool)
        for a, b in spans:
            m |= (recv >= a) & (recv <= b)
        rate, n, minutes = blinks_per_minute(recv, vals[:, INDEX["eyeBlinkLeft"]], m)
        res["say"]["blinks"] = {"per_minute": round(rate, 1), "blinks": n,
                                "minutes": round(minutes, 2)}
    long_segs = [(a, b) for k, a, b in segments if k == "long"]
    if long_segs:
        from emotalk_ros.core.blendshapes import INDEX
        from emotalk_ros.core.sync import blinks_per_minute

        recv = np.array([r for r, _, _ in face])
        vals = np.array([v for _, _, v in face])
        a, b = long_segs[0]
        m = (recv >= a) & (recv <= b)
        # while speaking: from the utterance's first sound to its last (speech/state stamps)
        st = [(s["state"], s["stamp"] - wall_minus_mono) for _, s in states
              if s.get("id") == f"u{args.trials + args.cancels + 1}" and "stamp" in s]
        t_start = min((t for k, t in st if k == "started"), default=a)
        t_end = max((t for k, t in st if k == "finished"), default=b)
        m &= (recv >= t_start) & (recv <= t_end)
        rate, n, minutes = blinks_per_minute(recv[m], vals[m][:, INDEX["eyeBlinkLeft"]])
        res["long_speech_blinks"] = {"per_minute": round(rate, 1), "blinks": n,
                                     "minutes": round(minutes, 2)}
    res["load_average"] = os.getloadavg()
    res["settings"] = {"gap_s": args.gap_s, "playback_latency_ms": args.latency_ms,
                       "preroll_ms": args.preroll_ms,
                       "articulation": args.articulation}
    res["trials"] = {"say": args.trials, "mic": len([s for s in segments if s[0] == "mic"]),
                     "cancel": args.cancels}
    for m in diag[::-1]:
        for st in m.status:
            if st.name == "face_speech: voice" and "speech_diagnostics" not in res:
                res["speech_diagnostics"] = {kv.key: kv.value for kv in st.values}
    np.savez_compressed(os.path.join(args.out, "speech_bench_raw.npz"), t_audio=ta, audio=xa,
                        face_recv=np.array([r for r, _, _ in face]),
                        face_stamp=np.array([s for _, s, _ in face]),
                        face=np.array([v for _, _, v in face]))
    return res


def main(argv: Optional[List[str]] = None) -> int:
    """Run the benchmark (see the module docstring); prints the figures as JSON."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="runs/speech_bench")
    ap.add_argument("--json", default=None, help="also write the figures here")
    ap.add_argument("--trials", type=int, default=8, help="say utterances")
    ap.add_argument("--cancels", type=int, default=4)
    ap.add_argument("--device", default="pulse")
    ap.add_argument("--articulation", default="teacher")
    ap.add_argument("--model", default="")
    ap.add_argument("--gap-s", type=float, default=1.0,
                    help="silence after each say utterance before the next (s)")
    ap.add_argument("--latency-ms", type=float, default=30.0,
                    help="face_speech's playback.latency_ms (the default is 30)")
    ap.add_argument("--preroll-ms", type=float, default=100.0,
                    help="face_speech's preroll_ms (the default is 100)")
    ap.add_argument("--long-s", type=float, default=0.0,
                    help="then speak about this many seconds of text (blinks on long speech)")
    args = ap.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    res = run(args)
    text = json.dumps(res, indent=1)
    sys.stdout.write(text + "\n")
    if args.json:
        with open(args.json, "w") as f:
            f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
