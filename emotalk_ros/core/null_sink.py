"""A private PulseAudio daemon with a null sink: a loudspeaker that can be recorded.

For ``make demo``, the speech benchmark and tests on machines without a sound card:
:class:`PrivateNullSink` starts ``pulseaudio`` in its own runtime directory (it never
touches another session's sound server) with a null sink ``virt`` as the default sink and its
monitor ``virt.monitor`` as the default source. Processes started with :attr:`env` then play
into the sink through PortAudio's ``pulse`` device (or ``paplay``) and record what it plays
from the monitor. Needs the Debian packages ``pulseaudio``, ``pulseaudio-utils`` and
``libasound2-plugins``.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from typing import Dict, Optional

from emotalk_ros.errors import EmotalkError

SINK = "virt"


class PrivateNullSink:
    """``with PrivateNullSink() as sink: ... sink.env ...``: a private PulseAudio daemon."""

    def __init__(self, root: Optional[str] = None):
        self._tmp = None if root else tempfile.TemporaryDirectory(prefix="emotalk_pulse_",
                                                                 ignore_cleanup_errors=True)
        self.root = root or self._tmp.name
        run = os.path.join(self.root, "run")
        os.makedirs(run, exist_ok=True)
        self.env: Dict[str, str] = {"XDG_RUNTIME_DIR": run,
                                    "PULSE_RUNTIME_PATH": os.path.join(run, "pulse"),
                                    "HOME": self.root}
        self._pid: Optional[int] = None

    @staticmethod
    def available() -> bool:
        """True when pulseaudio, pactl and paplay are installed."""
        return all(shutil.which(c) for c in ("pulseaudio", "pactl", "paplay"))

    def start(self, timeout_s: float = 10.0) -> "PrivateNullSink":
        """Start the daemon and make ``virt`` / ``virt.monitor`` the defaults."""
        if not self.available():
            raise EmotalkError("a null sink needs pulseaudio and pulseaudio-utils "
                               "(apt install pulseaudio pulseaudio-utils libasound2-plugins)")
        full = {**os.environ, **self.env}
        r = subprocess.run(["pulseaudio", "-D", "--exit-idle-time=-1", "-n",
                            f"--load=module-null-sink sink_name={SINK}",
                            "--load=module-native-protocol-unix"],
                           env=full, capture_output=True, text=True, timeout=30, check=False)
        if r.returncode != 0:
            raise EmotalkError(f"pulseaudio did not start: {r.stderr.strip()[-300:]}")
        t_end = time.monotonic() + timeout_s
        while subprocess.run(["pactl", "info"], env=full, capture_output=True,
                             check=False).returncode != 0:
            if time.monotonic() > t_end:
                raise EmotalkError("pulseaudio did not come up")
            time.sleep(0.1)
        for cmd in (["pactl", "set-default-sink", SINK],
                    ["pactl", "set-default-source", f"{SINK}.monitor"]):
            subprocess.run(cmd, env=full, check=True, timeout=10, capture_output=True)
        pid_file = os.path.join(self.env["PULSE_RUNTIME_PATH"], "pid")
        if os.path.exists(pid_file):
            with open(pid_file) as f:
                self._pid = int(f.read().split()[0])
        return self

    def stop(self) -> None:
        """Stop the daemon (idempotent)."""
        if self._pid is not None:
            try:
                os.kill(self._pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            self._pid = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> "PrivateNullSink":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
