"""``make demo``: the real node graph on a synthesised speech sample (or the microphone).

Starts ``face_animator``, ``retarget`` and ``face_mesh`` as separate ROS 2 processes
(talking over DDS on a private domain, localhost only), waits until the animator's
output flows, then starts ``face_audio_capture`` playing a speech wav in real time (or
capturing from the microphone with ``--mic``). A recorder node in this process sends
emotion commands mid-utterance and records every topic. Results written to ``--out``:

* ``speech.wav``            the input
* ``blendshapes.csv``       what ``face/blendshapes`` carried, as Live Link Face CSV
* ``motor_commands.csv``    what ``face/motor_commands`` carried (rig motor order)
* ``blendshapes.png``       main blendshapes over time with the waveform and emotion commands
* ``latency.json``          end-to-end latency (audio heard -> frame received), rates, diagnostics
* ``preview.mp4``           the face mesh rendered with the audio (when rendering is available)

Then the robot's own voice (:mod:`emotalk_ros.ros.demo_say`; ``--no-say`` skips it):
``face_speech`` speaks a line with emotion marks through a PulseAudio null sink, this process
records what the loudspeaker played and ``face/blendshapes``, and writes

* ``say_sync.png``          the captured loudspeaker audio against the jaw opening, the marks
* ``say.json``              say -> first sound, jaw-vs-sound lag, blinks, the speaking state
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import time
from typing import Dict, List, Optional

import numpy as np

from emotalk_ros import resources

# the folder that holds the emotalk_ros package (child processes import it from there)
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEFAULT_TEXT = ("Hello! I am your robot, and I can finally speak with my face. "
                "Would you like to hear a story about a brave little boat? "
                "Maybe another time, then.")
COMMANDS = [(1.5, "happy:0.8 transition=0.6"), (4.5, "surprised:0.7 transition=0.4"),
            (7.0, "sad:0.6 transition=0.8"), (9.5, "neutral transition=0.5")]
TAIL_S = 2.0     # recorded after the utterance: look-ahead, latency and the mouth closing


def log(msg: str) -> None:
    """Write a ``[demo]`` progress line to stderr."""
    sys.stderr.write(f"[demo] {msg}\n")
    sys.stderr.flush()


def synth_speech(text: str, path: str) -> None:
    """Speech with espeak-ng (CLI from Debian, or the in-process library from the wheel)."""
    try:
        subprocess.run(["espeak-ng", "-v", "en-us+m3", "-s", "160", "-w", path, text], check=True,
                       capture_output=True, timeout=60)
        return
    except (OSError, subprocess.CalledProcessError):
        pass
    from emotalk_ros.core.audio import write_wav
    from emotalk_ros.speech.espeak import synthesize

    utt = synthesize(text, voice="en-us")
    write_wav(path, utt.audio, 16000)


def node_cmd(module: str, params: Dict[str, object], params_file: str) -> List[str]:
    """Command line running ``emotalk_ros.ros.<module>`` with ``params_file`` and ``-p``
    overrides."""
    cmd = [
        sys.executable,
        "-m",
        f"emotalk_ros.ros.{module}",
        "--ros-args",
        "--params-file",
        params_file,
    ]
    for k, v in params.items():
        cmd += ["-p", f"{k}:={v}"]
    return cmd


def main(argv: Optional[List[str]] = None) -> int:
    """Run the demo (see the module docstring); returns the exit status."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="out/demo")
    ap.add_argument(
        "--mic", action="store_true", help="capture from the default microphone instead"
    )
    ap.add_argument("--duration", type=float, default=12.0, help="seconds to record with --mic")
    ap.add_argument(
        "--model", default=None, help="model path (default: shipped, else the baseline)"
    )
    ap.add_argument("--text", default=DEFAULT_TEXT)
    ap.add_argument("--rig", default=resources.resolve("rig", "hobby_servo_head"))
    ap.add_argument("--no-preview", action="store_true",
                    help="skip rendering preview.mp4 (the slowest step)")
    ap.add_argument("--no-say", action="store_true",
                    help="skip the robot's own voice (face_speech through a null sink)")
    args = ap.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    os.environ.setdefault("ROS_DOMAIN_ID", str(random.randint(120, 200)))
    os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    os.environ["PYTHONUNBUFFERED"] = "1"
    os.environ["PYTHONPATH"] = ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")

    from emotalk_ros.core.audio import load_audio
    from emotalk_ros.generator.loading import default_model_path

    if args.model:
        model = args.model
    elif default_model_path() is not None:
        model = ""                      # the shipped default model
    else:
        model = "baseline"
    if model == "baseline":
        log("no shipped model found: using the amplitude-to-jaw BASELINE")
    wav = os.path.join(args.out, "speech.wav")
    if not args.mic:
        synth_speech(args.text, wav)
        duration = len(load_audio(wav)) / 16000.0
        log(f"speech sample: {wav} ({duration:.1f} s)")
    else:
        duration = args.duration
    params_file = os.path.join(resources.share_dir(), "config", "face.yaml")

    import rclpy
    from diagnostic_msgs.msg import DiagnosticArray
    from rclpy.executors import SingleThreadedExecutor
    from sensor_msgs.msg import JointState
    from std_msgs.msg import Float32MultiArray, Float64MultiArray, String

    from emotalk_ros.ros import qos

    procs: List[subprocess.Popen] = []
    logs = open(os.path.join(args.out, "nodes.log"), "w")

    def start(module, params):
        p = subprocess.Popen(
            node_cmd(module, params, params_file), stdout=logs, stderr=subprocess.STDOUT, cwd=ROOT
        )
        procs.append(p)
        return p

    rclpy.init()
    node = rclpy.create_node("emotalk_demo_recorder")
    rec: Dict[str, list] = {"face": [], "motor": [], "state": [], "diag": [], "audio0": []}
    motor_names: List[str] = []
    node.create_subscription(
        JointState,
        "face/blendshapes",
        lambda m: rec["face"].append(
            (
                time.time(),
                m.header.stamp.sec + 1e-9 * m.header.stamp.nanosec,
                list(m.name),
                np.array(m.position),
            )
        ),
        qos.FACE_STREAM,
    )
    node.create_subscription(
        Float64MultiArray,
        "face/motor_commands",
        lambda m: rec["motor"].append((time.time(), np.array(m.data))),
        qos.MOTOR_COMMANDS,
    )
    node.create_subscription(
        JointState,
        "face/motor_states",
        lambda m: motor_names.__setitem__(slice(None), list(m.name)),
        qos.FACE_STREAM,
    )
    node.create_subscription(
        String,
        "face/emotion_state",
        lambda m: rec["state"].append((time.time(), m.data)),
        qos.STATE_LATCHED,
    )
    node.create_subscription(
        DiagnosticArray, "/diagnostics", lambda m: rec["diag"].append(m), qos.DIAGNOSTICS
    )
    # arrival time of the first audio chunk: places the waveform on the plot's time axis
    node.create_subscription(Float32MultiArray, "face/audio", lambda m: rec["audio0"].append(
        (time.time(), len(m.data))) if not rec["audio0"] else None, qos.AUDIO)
    cmd_pub = node.create_publisher(String, "emotion_target", qos.COMMANDS)
    ex = SingleThreadedExecutor()
    ex.add_node(node)

    def spin_for(seconds: float):
        end = time.time() + seconds
        while time.time() < end:
            ex.spin_once(timeout_sec=0.01)

    rc = 0
    try:
        t_boot = time.time()
        start("face_animator_node", {"model.path": model or "''"})
        start("retarget_node", {"rig_file": args.rig})
        start("face_mesh_node", {})
        while not rec["face"]:
            spin_for(0.1)
            if time.time() - t_boot > 60 or any(p.poll() is not None for p in procs):
                raise RuntimeError("the animator did not start; see nodes.log")
        log(f"graph up in {time.time() - t_boot:.1f} s; starting face_audio_capture")
        spin_for(1.0)
        rec["face"].clear()
        rec["motor"].clear()
        # the file waits for both of its listeners: the animator and this recorder
        src = (
            {"source": "mic"}
            if args.mic
            else {"source": "file", "file.path": wav, "file.wait_subscribers": 2}
        )
        start("face_audio_capture_node", src)
        # the utterance's clock starts when its first audio arrives, not when the capture
        # process was spawned: its start-up takes seconds on a loaded machine
        t_cap = time.time()
        while not rec["audio0"]:
            spin_for(0.05)
            if time.time() - t_cap > 60 or any(p.poll() is not None for p in procs):
                raise RuntimeError("face_audio_capture did not start publishing; see nodes.log")
        t0 = rec["audio0"][0][0] - rec["audio0"][0][1] / 16000.0    # first sample heard
        log(f"audio flowing {time.time() - t_cap:.1f} s after face_audio_capture started")
        pending = list(COMMANDS)
        sent = []
        while time.time() - t0 < duration + TAIL_S:
            spin_for(0.02)
            if pending and time.time() - t0 >= pending[0][0]:
                t_cmd, text = pending.pop(0)
                cmd_pub.publish(String(data=text))
                sent.append((time.time() - t0, text))
                log(f"emotion_target <- {text!r}")
    except RuntimeError as exc:
        log(str(exc))
        rc = 1
    finally:
        for p in reversed(procs):
            if p.poll() is None:
                p.send_signal(signal.SIGINT)
        spin_for(1.5)
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
        node.destroy_node()
        rclpy.try_shutdown()
        logs.close()
    if rc:
        return rc
    rc = write_outputs(
        args.out, wav if not args.mic else None, rec, motor_names, sent, t0, model or "shipped",
        preview=not args.no_preview,
    )
    if rc == 0 and not args.no_say:
        from emotalk_ros.ros.demo_say import run_say

        fig = run_say(args.out, ROOT, params_file, model)
        if fig is not None:
            sys.stdout.write(
                f"  the robot's own voice: first sound {fig['say_to_first_sound_ms']:.0f} ms "
                f"after 'say', jaw vs loudspeaker {fig['envelope_to_jaw_lag_ms']:+.0f} ms\n"
                f"  outputs in {args.out}/: say_sync.png, say.json\n")
    return rc


def _audio_offset(x: np.ndarray, t: np.ndarray, jaw: np.ndarray) -> float:
    """Where the wav starts on the recorder's time axis: the lag that best aligns its
    loudness envelope with jawOpen (for the plot only)."""
    env = np.sqrt(np.convolve(x ** 2, np.ones(533) / 533, mode="same"))[::267]   # 60 Hz envelope
    if len(env) < 10 or len(jaw) < len(env) or np.std(jaw) == 0:
        return float(t[0])
    best, lag = -np.inf, 0
    for k in range(0, len(jaw) - len(env) + 1):
        c = float(np.dot(env - env.mean(), jaw[k:k + len(env)] - jaw[k:k + len(env)].mean()))
        if c > best:
            best, lag = c, k
    return float(t[lag])


def write_outputs(
    out: str, wav: Optional[str], rec, motor_names, sent, t0: float, model: str,
    preview: bool = True,
) -> int:
    """Write blendshapes.csv, motor_commands.csv, latency.json, blendshapes.png and
    preview.mp4 (when ``preview`` and rendering works) from the recordings; 1 when no frame
    arrived."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from emotalk_ros.core.audio import load_audio
    from emotalk_ros.core.blendshapes import INDEX, name_index, write_live_link_csv

    if not rec["face"]:
        log("no frames were received")
        return 1
    recv = np.array([r[0] for r in rec["face"]])
    stamps = np.array([r[1] for r in rec["face"]])
    frames = np.zeros((len(rec["face"]), 52), np.float32)
    for i, (_, _, names, pos) in enumerate(rec["face"]):
        frames[i, [name_index(n) for n in names]] = pos
    # the CSV starts when the first audio sample was heard, so row i is the face at audio
    # time i / 60 and the preview's muxed audio is in sync
    sel = np.ones(len(frames), bool)
    if rec["audio0"]:
        a0 = rec["audio0"][0][0] - rec["audio0"][0][1] / 16000.0
        sel = stamps >= a0 - 1.0 / 120.0
    write_live_link_csv(os.path.join(out, "blendshapes.csv"), frames[sel], 60.0)
    if rec["motor"]:
        with open(os.path.join(out, "motor_commands.csv"), "w") as f:
            f.write(
                "t,"
                + ",".join(motor_names or [f"m{i}" for i in range(len(rec["motor"][0][1]))])
                + "\n"
            )
            for t, v in rec["motor"]:
                f.write(f"{t - t0:.4f}," + ",".join(f"{x:.4f}" for x in v) + "\n")
    lat = (recv - stamps) * 1000.0
    speaking = frames[:, INDEX["jawOpen"]] > 0.05
    summary = {
        "model": model,
        "frames": int(len(frames)),
        "rate_hz": float((len(recv) - 1) / (recv[-1] - recv[0])) if len(recv) > 1 else 0.0,
        "latency_ms_heard_to_received": {
            "p50": float(np.percentile(lat, 50)),
            "p95": float(np.percentile(lat, 95)),
            "p99": float(np.percentile(lat, 99)),
        },
        "motor_commands": len(rec["motor"]),
        "emotion_commands": sent,
        "speaking_fraction": float(speaking.mean()),
        "finite_in_range": bool(
            np.isfinite(frames).all() and frames.min() >= 0 and frames.max() <= 1
        ),
    }
    diags = {}
    for m in rec["diag"]:
        for st in m.status:
            if "animator" in st.name:
                diags = {kv.key: kv.value for kv in st.values}
    summary["animator_diagnostics"] = diags
    with open(os.path.join(out, "latency.json"), "w") as f:
        json.dump(summary, f, indent=1)

    t = stamps - t0  # frames on the depicted (heard) time axis
    fig, axes = plt.subplots(
        3, 1, figsize=(11, 7), sharex=True, gridspec_kw={"height_ratios": [1, 2, 1.4]}
    )
    if wav:
        x = load_audio(wav)
        if rec["audio0"]:   # the first chunk's last sample was heard when the chunk arrived
            start = rec["audio0"][0][0] - rec["audio0"][0][1] / 16000.0 - t0
        else:
            start = _audio_offset(x, t, frames[:, INDEX["jawOpen"]])
        axes[0].plot(np.arange(len(x)) / 16000 + start, x, color="0.4", lw=0.5)
        axes[0].set_ylabel("speech")
    for n in ("jawOpen", "mouthClose", "mouthFunnel", "mouthPucker", "mouthRollLower"):
        axes[1].plot(t, frames[:, INDEX[n]], label=n, lw=1)
    axes[1].set_ylabel("mouth")
    axes[1].legend(loc="upper right", fontsize=7, ncol=5)
    for n in ("mouthSmileLeft", "browInnerUp", "eyeWideLeft", "mouthFrownLeft", "eyeBlinkLeft"):
        axes[2].plot(t, frames[:, INDEX[n]], label=n, lw=1)
    for ts, text in sent:
        for ax in axes:
            ax.axvline(ts, color="r", lw=0.6, ls="--")
        axes[2].text(
            ts,
            0.95,
            text.split()[0],
            color="r",
            fontsize=7,
            transform=axes[2].get_xaxis_transform(),
        )
    axes[2].set_ylabel("expression")
    axes[2].legend(loc="upper right", fontsize=7, ncol=5)
    axes[2].set_xlabel(
        "seconds since the first audio sample was heard (frames at the time their audio "
        "was heard)"
    )
    fig.suptitle(f"emotalk_ros demo: face/blendshapes over DDS ({model}); "
                 f"latency p50 {summary['latency_ms_heard_to_received']['p50']:.0f} ms")
    fig.tight_layout()
    fig.savefig(os.path.join(out, "blendshapes.png"), dpi=110)
    plt.close(fig)
    preview = _render_preview(out, wav) if preview else None
    sys.stdout.write(
        f"\nemotalk_ros demo finished ({model}):\n"
        f"  frames received        {summary['frames']} at {summary['rate_hz']:.1f} Hz, "
        "all finite in [0,1]: "
        f"{summary['finite_in_range']}\n"
        f"  latency heard->received p50 {summary['latency_ms_heard_to_received']['p50']:.1f} ms, "
        f"p95 {summary['latency_ms_heard_to_received']['p95']:.1f} ms\n"
        f"  motor commands         {summary['motor_commands']}\n"
        f"  outputs in {out}/: blendshapes.csv, blendshapes.png, latency.json"
        f"{', motor_commands.csv' if rec['motor'] else ''}{', preview.mp4' if preview else ''}\n"
    )
    return 0


def _render_preview(out: str, wav: Optional[str]) -> Optional[str]:
    """Render preview.mp4 from blendshapes.csv (with the speech) -> its path, None on failure."""
    preview = os.path.join(out, "preview.mp4")
    cmd = [
        sys.executable,
        "-m",
        "emotalk_ros",
        "render",
        os.path.join(out, "blendshapes.csv"),
        "-o",
        preview,
        "--fps",
        "30",
        "--panel",
    ]
    if wav:
        cmd += ["--audio", wav]
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if r.returncode != 0:
        log(f"preview rendering failed: {r.stderr[-300:]}")
        preview = None
    return preview


if __name__ == "__main__":
    sys.exit(main())
