"""``make demo``'s second part: the robot's own voice (``face_speech``) through a loudspeaker
that can be recorded.

A private PulseAudio null sink (:class:`emotalk_ros.core.null_sink.PrivateNullSink`) plays
the part of the loudspeaker. ``face_speech`` (with its ``face_animator``) runs as its own
process over DDS and speaks :data:`SAY_TEXT`, a line with inline emotion marks; this process
records the sink's monitor (what the loudspeaker played) and ``face/blendshapes`` by receive
time, and writes to ``out``:

* ``say_sync.png``   the captured loudspeaker audio against the jaw opening (frames by
                     receive time), the marked words, and the expression the marks set
* ``say.json``       the figures: say -> first sound, the envelope-to-jaw lag (positive: the
                     jaw follows the sound), frames' receive time against their stamps, blinks,
                     the speaking-state events

Without pulseaudio the part is skipped with one line (the first part of the demo stands).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from typing import Any, Dict, List, Optional

import numpy as np

SAY_TEXT = ("Hello! {happy:0.8} I am so glad you came to see me today. "
            "{surprised:0.7} Oh! Is that a present for me? {neutral}")
SILENCE_DB = -50.0


def log(msg: str) -> None:
    """Write a ``[demo]`` progress line to stderr."""
    sys.stderr.write(f"[demo] {msg}\n")
    sys.stderr.flush()


def run_say(out: str, root: str, params_file: str, model: str, text: str = SAY_TEXT,
            logs_path: Optional[str] = None) -> Optional[Dict[str, Any]]:
    """Speak ``text`` through a null sink with ``face_speech`` and write ``say_sync.png`` and
    ``say.json`` to ``out``; returns the figures (None when the part was skipped or failed).
    ``model``: ``face_animator``'s ``model.path`` ('' = the shipped model)."""
    from emotalk_ros.core.null_sink import PrivateNullSink

    if not PrivateNullSink.available():
        log("say part skipped: it needs pulseaudio and pulseaudio-utils (a null sink as the "
            "loudspeaker)")
        return None
    sink = PrivateNullSink().start()
    saved = {k: os.environ.get(k) for k in sink.env}
    os.environ.update(sink.env)                  # this process and face_speech use the sink
    logs = open(logs_path or os.path.join(out, "say_nodes.log"), "w")
    proc: Optional[subprocess.Popen] = None
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from sensor_msgs.msg import JointState
    from std_msgs.msg import String

    from emotalk_ros.ros import qos
    from emotalk_ros.ros.speech_bench import MonitorRecorder

    face: List[Any] = []
    states: List[Any] = []
    ctx = rclpy.Context()
    rclpy.init(context=ctx)
    node = rclpy.create_node("emotalk_demo_say", context=ctx)
    wall_minus_mono = time.time() - time.monotonic()
    node.create_subscription(JointState, "face/blendshapes", lambda m: face.append(
        (time.monotonic(), m.header.stamp.sec + 1e-9 * m.header.stamp.nanosec - wall_minus_mono,
         list(m.name), np.array(m.position, np.float64))), qos.FACE_STREAM)
    node.create_subscription(String, "speech/state", lambda m: states.append(
        (time.monotonic(), json.loads(m.data))), qos.SPEECH_STATE)
    say = node.create_publisher(String, "say", qos.COMMANDS)
    ex = SingleThreadedExecutor(context=ctx)
    ex.add_node(node)

    def spin_for(seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            ex.spin_once(timeout_sec=0.01)

    def state(name: str) -> Optional[Dict[str, Any]]:
        return next((s for _, s in states if s.get("id") == "u1" and s["state"] == name), None)

    rec = None
    t_pub = None
    try:
        cmd = [sys.executable, "-m", "emotalk_ros.ros.face_speech_node", "--ros-args",
               "--params-file", params_file, "-p", "face_speech:device:=pulse",
               "-p", f"face_animator:model.path:={model or chr(39) * 2}"]
        proc = subprocess.Popen(cmd, stdout=logs, stderr=subprocess.STDOUT, cwd=root)
        t_boot = time.monotonic()
        while not face or node.count_subscribers("say") == 0:
            spin_for(0.1)
            if time.monotonic() - t_boot > 60 or proc.poll() is not None:
                log("say part: face_speech did not start; see say_nodes.log")
                return None
        rec = MonitorRecorder("pulse")
        rec.start()
        spin_for(0.5)
        face.clear()
        log(f"face_speech says: {text!r}")
        t_pub = time.monotonic()
        say.publish(String(data=text))
        while state("finished") is None and state("error") is None:
            spin_for(0.05)
            if time.monotonic() - t_pub > 30:
                log("say part: no 'finished' on speech/state within 30 s")
                break
        spin_for(0.8)
    finally:
        if rec is not None:
            rec.stop()
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        node.destroy_node()
        rclpy.try_shutdown(context=ctx)
        logs.close()
        sink.stop()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    if rec is None or t_pub is None or not face or state("started") is None:
        log("say part: nothing was spoken")
        return None
    ta, xa = rec.signal()
    return _write(out, text, ta, xa, face, states, t_pub, wall_minus_mono)


def _write(out, text, ta, xa, face, states, t_pub, wall_minus_mono) -> Dict[str, Any]:
    """Figures and the plot from the recordings (monotonic clock)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from emotalk_ros.core.blendshapes import INDEX, name_index
    from emotalk_ros.core.sync import best_lag, blinks_per_minute, envelope_db
    from emotalk_ros.speech.marks import parse_marked_text
    from emotalk_ros.speech.tts import make_engine

    recv = np.array([r for r, _, _, _ in face])
    stamp = np.array([s for _, s, _, _ in face])
    frames = np.zeros((len(face), 52))
    for i, (_, _, names, pos) in enumerate(face):
        frames[i, [name_index(n) for n in names]] = pos
    started = next(s for _, s in states if s.get("id") == "u1" and s["state"] == "started")
    finished = next((s for _, s in states if s.get("id") == "u1" and s["state"] == "finished"),
                    None)
    t_start = started["stamp"] - wall_minus_mono
    t_end = finished["stamp"] - wall_minus_mono if finished else recv[-1]
    loud = np.abs(xa) > 10 ** (SILENCE_DB / 20.0)
    k = np.flatnonzero(loud & (ta > t_pub))
    first_sound = float(ta[k[0]] - t_pub) if k.size else float("nan")
    te, env = envelope_db(ta, xa)
    jaw = frames[:, INDEX["jawOpen"]]
    grid = np.arange(t_start, t_end, 1 / 60.0)
    lag = best_lag(grid, np.interp(grid, te, 10 ** (env / 20.0)), np.interp(grid, recv, jaw))
    speaking = (recv >= t_start) & (recv <= t_end)
    rate, blinks, minutes = blinks_per_minute(recv[speaking],
                                              frames[speaking, INDEX["eyeBlinkLeft"]])
    spoken = make_engine("espeak").speak(parse_marked_text(text))
    marks = [(t_start + t, cmd) for t, cmd in spoken.marks]
    rel = recv[speaking] - stamp[speaking]
    fig_data = {
        "text": text,
        "say_to_first_sound_ms": round(1000 * first_sound, 1),
        "envelope_to_jaw_lag_ms": round(1000 * lag, 1),
        "frame_receive_minus_stamp_ms": {
            "p50": round(1000 * float(np.median(rel)), 1) if rel.size else None,
            "p95": round(1000 * float(np.percentile(rel, 95)), 1) if rel.size else None},
        "blinks_while_speaking": {"blinks": blinks, "minutes": round(minutes, 3),
                                  "per_minute": round(rate, 1)},
        "marks_s_after_start": [(round(t - t_start, 3), c.text) for t, c in marks],
        "speech_state": [s for _, s in states],
        "finite_in_range": bool(np.isfinite(frames).all() and frames.min() >= 0
                                and frames.max() <= 1),
    }
    with open(os.path.join(out, "say.json"), "w") as f:
        json.dump(fig_data, f, indent=1)

    t0 = t_pub
    fig, axes = plt.subplots(3, 1, figsize=(11, 7), sharex=True,
                             gridspec_kw={"height_ratios": [1.2, 1.4, 1.2]})
    m = (ta > t0 - 0.2) & (ta < t_end + 0.8)
    axes[0].plot(ta[m] - t0, xa[m], color="0.45", lw=0.4)
    axes[0].set_ylabel("loudspeaker\n(captured)")
    me = (te > t0 - 0.2) & (te < t_end + 0.8)
    e_lin = 10 ** (env[me] / 20.0)
    axes[1].plot(te[me] - t0, e_lin / max(float(e_lin.max()), 1e-9), color="0.6", lw=1,
                 label="loudspeaker level (normalised)")
    axes[1].plot(recv - t0, jaw, color="C3", lw=1.3, label="jawOpen (by receive time)")
    axes[1].set_ylabel("sync")
    axes[1].legend(loc="upper right", fontsize=7)
    for n in ("mouthSmileLeft", "eyeWideLeft", "browInnerUp", "eyeBlinkLeft"):
        axes[2].plot(recv - t0, frames[:, INDEX[n]], label=n, lw=1)
    axes[2].set_ylabel("expression")
    axes[2].legend(loc="upper right", fontsize=7, ncol=4)
    for t, c in marks:
        for ax in axes:
            ax.axvline(t - t0, color="r", lw=0.6, ls="--")
        axes[0].text(t - t0, 0.92, "{" + c.text + "}", color="r", fontsize=7,
                     transform=axes[0].get_xaxis_transform())
    for ax in axes:
        ax.axvline(0.0, color="k", lw=0.6, ls=":")
    axes[2].set_xlabel("seconds since 'say' was published (dotted); marks at their words as "
                       "scheduled (dashed; an output stall moves the sound and face later)")
    fig.suptitle(f"emotalk_ros demo, the robot's own voice: first sound "
                 f"{fig_data['say_to_first_sound_ms']:.0f} ms after 'say', jaw vs sound "
                 f"{fig_data['envelope_to_jaw_lag_ms']:+.0f} ms")
    fig.tight_layout()
    fig.savefig(os.path.join(out, "say_sync.png"), dpi=110)
    plt.close(fig)
    return fig_data
