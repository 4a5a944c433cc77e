"""The loudspeaker player on a real PulseAudio null sink: a cancel cuts the sound at the
loudspeaker (the stream's buffer is flushed) and the next clip still starts on time."""

import time

import numpy as np
import pytest

from emotalk_ros.core.null_sink import PrivateNullSink

SR = 48000
SILENCE = 10 ** (-50 / 20.0)


@pytest.fixture
def sink(tmp_path, monkeypatch):
    if not PrivateNullSink.available():
        pytest.skip("pulseaudio / pulseaudio-utils are not installed")
    s = PrivateNullSink(str(tmp_path / "pulse")).start()
    for k, v in s.env.items():
        monkeypatch.setenv(k, v)
    try:
        yield s
    finally:
        s.stop()


def tone(seconds, hz):
    return (0.3 * np.sin(2 * np.pi * hz * np.arange(int(SR * seconds)) / SR)).astype(np.float32)


def play_cancel_play(flush):
    """A 2 s tone cancelled 0.6 s in, then a 0.2 s burst; -> recording, times, player."""
    from emotalk_ros.core.playback import AudioPlayer
    from emotalk_ros.ros.speech_bench import MonitorRecorder

    rec = MonitorRecorder("pulse")
    rec.start()
    player = AudioPlayer("pulse", SR, flush_on_cancel=flush)
    player.start()
    try:
        time.sleep(0.5)
        t0 = player.schedule(tone(2.0, 220), time.monotonic() + 0.1, tag="a")
        time.sleep(0.7)
        t_c = time.monotonic()
        assert player.cancel() == 1
        time.sleep(0.3)
        t1 = player.schedule(tone(0.2, 440), time.monotonic() + 0.15, tag="b")
        time.sleep(0.6)
        events = player.events()
    finally:
        player.stop()
        rec.stop()
    ta, xa = rec.signal()
    return ta, np.abs(xa) > SILENCE, (t0, t_c, t1), events, player


def test_cancel_cuts_the_sound_at_once_and_the_next_clip_starts_on_time(sink):
    ta, loud, (t0, t_c, t1), events, player = play_cancel_play(flush=True)
    assert player.flushes == 1 and player.flush_errors == 0
    assert loud[(ta > t0 + 0.05) & (ta < t_c - 0.05)].mean() > 0.9       # the tone played
    after = ta[loud & (ta > t_c) & (ta < t1 - 0.05)]
    # silent well within the output latency (~45 ms here), which a fade would have to wait out
    assert after.size == 0 or after.max() - t_c < 0.03, after.max() - t_c
    kinds = [(e.kind, e.tag) for e in events]
    assert ("cancelled", "a") in kinds and ("finished", "b") in kinds
    cancelled = next(e for e in events if e.kind == "cancelled")
    assert t_c <= cancelled.time < t_c + 0.05
    # the stream's timeline restarted with it: the next clip is heard where it was scheduled
    first = ta[loud & (ta > t1 - 0.1)][0]
    assert abs(first - t1) < 0.01, first - t1


def test_without_flush_the_cancelled_sound_fades_out_after_the_output_latency(sink):
    ta, loud, (t0, t_c, t1), events, player = play_cancel_play(flush=False)
    assert player.flushes == 0
    after = ta[loud & (ta > t_c) & (ta < t1 - 0.05)]
    lat = player.output_latency_s
    assert lat > 0.03                       # else this cannot tell the two ways apart
    assert after.size and lat - 0.02 < after.max() - t_c < lat + 0.05, (after.max() - t_c, lat)
