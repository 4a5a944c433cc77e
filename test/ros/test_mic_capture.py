"""face_audio_capture with a real capture device: a private PulseAudio null sink's monitor via ALSA
'pulse'.

The fixture starts its own PulseAudio daemon in a private runtime directory (so it
never touches another session's sound server), makes ``virt.monitor`` the default
source, and kills the daemon afterwards. ``paplay --device=virt`` then plays speech
that ``face_audio_capture`` (source mic, device 'pulse') must publish on ``face/audio``.
"""

import os
import shutil
import signal
import subprocess
import time

import numpy as np
import pytest
from ros_harness import Probe, RosProc, new_domain, wav_duration  # noqa: E402


def loud_span(path, block=320, thr=0.01):
    """Seconds from the first to the end of the last block with RMS > thr, in the file itself."""
    from emotalk_ros.core.audio import load_audio

    x = load_audio(path)
    b = x[:x.size // block * block].reshape(-1, block)                # (B, block)
    loud = np.flatnonzero(np.sqrt(np.mean(b ** 2, axis=1)) > thr)
    return (loud[-1] - loud[0] + 1) * block / 16000


@pytest.fixture
def pulse(tmp_path):
    if shutil.which("pulseaudio") is None or shutil.which("paplay") is None:
        pytest.skip("pulseaudio / pulseaudio-utils are not installed")
    run = tmp_path / "run"
    run.mkdir()
    env = {"XDG_RUNTIME_DIR": str(run), "PULSE_RUNTIME_PATH": str(run / "pulse"),
           "HOME": str(tmp_path)}
    full = {**os.environ, **env}
    subprocess.run(["pulseaudio", "-D", "--exit-idle-time=-1", "-n",
                    "--load=module-null-sink sink_name=virt",
                    "--load=module-native-protocol-unix"],
                   env=full, check=True, timeout=20, capture_output=True)
    pid_file = run / "pulse" / "pid"
    try:
        t_end = time.monotonic() + 10
        while (
            subprocess.run(
                ["pactl", "info"], env=full, capture_output=True, check=False
            ).returncode
            != 0
        ):
            assert time.monotonic() < t_end, "pulseaudio did not come up"
            time.sleep(0.1)
        subprocess.run(["pactl", "set-default-source", "virt.monitor"], env=full, check=True,
                       timeout=10)
        yield env
    finally:
        if pid_file.exists():
            pid = int(pid_file.read_text().split()[0])
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass


def test_mic_capture_records_played_speech(pulse, speech_wav, tmp_path, monkeypatch):  # noqa: F811
    for k, v in pulse.items():
        monkeypatch.setenv(k, v)          # inherited by ros_env() for the node process
    dom = new_domain()
    probe = Probe(dom)
    cap = RosProc("emotalk_ros.ros.face_audio_capture_node",
                  ["-p", "source:=mic", "-p", "device:=pulse", "-p", "block_size:=320"],
                  dom, str(tmp_path))
    try:
        probe.wait_for(lambda: len(probe.audio) > 20, 20, "audio from the pulse device")
        probe.spin(0.3)
        quiet = np.concatenate([a for _, a in probe.audio])
        probe.audio.clear()
        play = subprocess.Popen(["paplay", "--device=virt", speech_wav],
                                env={**os.environ, **pulse})
        dur = wav_duration(speech_wav)
        probe.spin(dur + 1.5)
        assert play.wait(10) == 0
        assert cap.alive(), cap.output()
        x = np.concatenate([a for _, a in probe.audio])
        assert np.sqrt(np.mean(quiet ** 2)) < 1e-3                    # the monitor is silent first
        # span of the signal in *audio* time (sample positions): the device may deliver the
        # start of a stream in a burst, so receive times would compress it
        sizes = np.array([a.size for _, a in probe.audio])
        start = np.concatenate([[0], np.cumsum(sizes)[:-1]])          # (B,) first sample index
        blocks = np.array([np.sqrt(np.mean(a ** 2)) for _, a in probe.audio])   # (B,) RMS
        loud = np.flatnonzero(blocks > 0.01)
        assert loud.size > 0, "no signal captured"
        seg = x[start[loud[0]]:start[loud[-1]] + sizes[loud[-1]]]
        rms = float(np.sqrt(np.mean(seg ** 2)))
        span = seg.size / 16000
        assert rms > 0.03, rms
        assert abs(span - loud_span(speech_wav)) < 0.3, (span, loud_span(speech_wav))
        assert x.size / 16000 > dur                                   # the whole file came through
        assert np.all(np.isfinite(x)) and np.abs(x).max() <= 1.0
        rc, took = cap.interrupt()
        assert rc == 0 and took < 10.0, cap.output()      # by itself: interrupt kills at 10 s
    finally:
        cap.close()
        probe.close()
