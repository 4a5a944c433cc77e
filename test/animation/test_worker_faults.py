"""AnimatorRuntime under faults and floods: the worker survives any exception (fault
injection), eases the face to rest, reports and gives up after too many failures in a row;
audio faster than real time and frame floods are bounded; big tracks parse off the caller's
thread."""

import threading
import time

import numpy as np
from hostile_payloads import LIVE_MAX_TRACK_KEYS, big_track
from stubs import AlphaEcho

from emotalk_ros.animation.runtime import AnimatorRuntime
from emotalk_ros.core.blendshapes import INDEX
from emotalk_ros.emotion.command import parse_emotion_command
from emotalk_ros.emotion.state import EmotionState

SR = 16000
JAW = INDEX["jawOpen"]


class FakeClock:
    def __init__(self, t=100.0):
        self.t = t

    def __call__(self):
        return self.t


class Faulty(AlphaEcho):
    """Opens the jaw to 0.8 while healthy; raises from the backend while ``fail`` is set."""

    def __init__(self):
        self.fail = False
        super().__init__()

    def _network(self, feats, alpha):
        if self.fail:
            raise RuntimeError("injected backend fault")
        out = super()._network(feats, alpha)
        out[:, JAW] = 0.8
        return out


def drain(rt, into):
    while True:
        f = rt.take_frame()
        if f is None:
            return
        into.append(f)


def feed_realtime(rt, seconds, frames):
    x = np.full(320, 0.1, np.float32)
    t_end = time.monotonic() + seconds
    while time.monotonic() < t_end:
        rt.submit(x)
        time.sleep(0.02)
        drain(rt, frames)


def feed_until(rt, frames, pred, timeout=10.0):
    """Feed real-time audio until ``pred()`` holds (generous deadline: a loaded machine)."""
    t_end = time.monotonic() + timeout
    while not pred() and time.monotonic() < t_end:
        feed_realtime(rt, 0.1, frames)
    return pred()


def test_worker_survives_faults_eases_to_rest_recovers_and_finally_gives_up():
    p = Faulty()
    rt = AnimatorRuntime(p, stale_audio_s=0.1, max_backlog_s=2.0)
    rt.start()
    frames = []
    try:
        assert feed_until(rt, frames, lambda: frames and abs(frames[-1].values[JAW] - 0.8) < 1e-5)
        n_ok = len(frames)
        p.fail = True                                       # fault injection
        feed_realtime(rt, 1.0, frames)
        assert feed_until(rt, frames, lambda: frames[-1].values[JAW] == 0.0)
        assert rt.running and rt.worker_errors > 3 and not rt.failed
        during = frames[n_ok:]
        assert len(during) > 30                             # the face keeps moving: new frames
        jaw = np.array([f.values[JAW] for f in during])
        assert np.all(np.diff(jaw) <= 1e-6) and jaw[-1] == 0.0      # eased to rest, no jump
        assert np.abs(np.diff(jaw)).max() < 0.2
        reports = rt.take_reports()
        assert reports[0][0] == "error" and "Traceback" in reports[0][1] \
            and "injected backend fault" in reports[0][1]
        assert sum("Traceback" in r for _, r in reports) == 1        # the traceback once
        assert len(reports) < 10                                     # the rest throttled
        assert "injected backend fault" in rt.stats()["worker_last_error"]
        p.fail = False                                      # the fault goes away
        assert feed_until(rt, frames, lambda: abs(frames[-1].values[JAW] - 0.8) < 1e-5)
        assert rt.consecutive_failures == 0 and not rt.failed          # tracking again
        assert any("recovered" in r for _, r in rt.take_reports())
        times = np.array([f.time for f in frames])
        assert np.all(np.diff(times) > 0)                  # every frame new, never repeated
        p.fail = True                                       # a fault that stays
        t0 = time.monotonic()
        while not rt.failed and time.monotonic() - t0 < 10.0:
            feed_realtime(rt, 0.1, frames)
        gave_up = time.monotonic() - t0
        assert rt.failed and not rt.running
        assert rt.consecutive_failures == AnimatorRuntime.MAX_CONSECUTIVE_FAILURES
        assert 1.0 < gave_up < 8.0, gave_up                 # about 50 x 40 ms
        assert any("gave up" in r for _, r in rt.take_reports())
    finally:
        rt.stop()


def test_a_model_that_fails_from_the_start_still_gives_rest_frames():
    p = Faulty()
    p.fail = True
    rt = AnimatorRuntime(p, stale_audio_s=0.05)
    rt.start()
    frames = []
    try:
        t_end = time.monotonic() + 0.8
        while time.monotonic() < t_end:
            time.sleep(0.02)
            drain(rt, frames)
        assert len(frames) > 20 and all(np.all(f.values == 0) for f in frames)
        assert np.all(np.diff([f.time for f in frames]) > 0)
        assert rt.worker_errors > 3
    finally:
        rt.stop()


def test_audio_faster_than_real_time_is_dropped_and_counted():
    clock = FakeClock()
    rt = AnimatorRuntime(AlphaEcho(), clock=clock, queue_s=2.0)
    accepted = 0
    for _ in range(500):                                    # 10 s of wall time, 10x audio
        clock.t += 0.02
        accepted += rt.submit(np.zeros(3200, np.float32))
        rt.step()
    # the real-time budget: 10 s at 1.05 x 16 kHz plus a 1 s burst
    assert accepted <= (10 * 1.05 + 1.0) * SR + 1
    assert accepted >= 10 * SR
    assert rt.dropped_fast_samples == 500 * 3200 - accepted
    assert rt.stats()["dropped_fast_samples"] == rt.dropped_fast_samples
    assert rt.predictor.samples_pushed == accepted


def test_frame_output_rate_is_bounded_whatever_the_worker_makes():
    clock = FakeClock()
    rt = AnimatorRuntime(AlphaEcho(), clock=clock, max_backlog_s=0.25,
                         max_output_rate_hz=60.0)
    out = []
    for _ in range(100):                                    # 10 s of audio in 1 s of time
        clock.t += 0.01
        rt._budget.burst = rt._budget._tokens = 1e9         # let the audio through: test frames
        rt.submit(np.zeros(1600, np.float32))
        rt.step()
        for _ in range(10):                                 # take_frame polled at 1 kHz
            f = rt.take_frame()
            if f is not None:
                out.append(f)
    assert len(out) <= 1.05 * 60 + 16 + 1                    # 1 s at the rate plus the burst
    assert rt.frames_skipped > 400 and rt.frames_over_rate > 300    # the excess dropped
    assert len(rt._out) <= AnimatorRuntime.RATE_LIMITED_BACKLOG + 1  # no latency builds up
    assert np.all(np.diff([f.time for f in out]) > 0)


def test_big_track_parses_off_the_caller_thread_and_a_later_command_wins():
    st = EmotionState()
    rt = AnimatorRuntime(AlphaEcho(), st, clock=FakeClock())
    text = big_track(LIVE_MAX_TRACK_KEYS)
    try:
        t0 = time.perf_counter()
        rt.submit_track(text)
        assert time.perf_counter() - t0 < 0.1               # returns at once
        waits, reports = [], []
        deadline = time.monotonic() + 30
        while not reports and time.monotonic() < deadline:
            t1 = time.perf_counter()
            rt.emotion_json()                               # the state lock is free meanwhile
            waits.append(time.perf_counter() - t1)
            reports = rt.take_reports()
            time.sleep(0.001)
        assert max(waits) < 0.1
        assert reports == [("info", f"emotion_track: playing {LIVE_MAX_TRACK_KEYS} keys")]
        # a command sent while a track is still waiting to be parsed wins over it
        rt.submit_track(text)
        rt.command(parse_emotion_command("sad"))
        deadline = time.monotonic() + 30
        reports = []
        while not reports and time.monotonic() < deadline:
            reports = rt.take_reports()
            time.sleep(0.01)
        assert reports and "superseded" in reports[0][1]
        assert "emotion_track" not in rt.emotion_json()
        rt.submit_track(big_track(LIVE_MAX_TRACK_KEYS + 1))    # a valid file, too big live
        deadline = time.monotonic() + 10
        reports = []
        while not reports and time.monotonic() < deadline:
            reports = rt.take_reports()
            time.sleep(0.01)
        assert "at most 2000" in reports[0][1] and rt.bad_tracks == 1
        rt.submit_track('[{"t": 1e400, "happy": 1}]')
        deadline = time.monotonic() + 10
        reports = []
        while not reports and time.monotonic() < deadline:
            reports = rt.take_reports()
            time.sleep(0.01)
        assert reports[0][0] == "warn" and "ignored" in reports[0][1] and rt.bad_tracks == 2
    finally:
        rt.stop()


def test_track_queue_is_bounded():
    rt = AnimatorRuntime(AlphaEcho(), EmotionState(), clock=FakeClock())
    gate = threading.Event()
    real = rt._parse_track

    def slow(text):
        gate.wait(5)
        return real(text)
    rt._parse_track = slow
    try:
        for i in range(20):
            rt.submit_track(f'[{{"t": {i}, "happy": 0.5}}]')
        assert len(rt._track_inbox) <= AnimatorRuntime.MAX_PENDING_TRACKS
        assert rt.tracks_superseded >= 20 - AnimatorRuntime.MAX_PENDING_TRACKS - 1
    finally:
        gate.set()
        rt.stop()
