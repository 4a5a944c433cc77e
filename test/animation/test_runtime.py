"""AnimatorRuntime: bounded queue, silence feed, bad input, resampling, worker, emotion
plumbing."""

import json
import time

import numpy as np
import pytest
from stubs import ALPHA_SLOTS, AlphaEcho

from emotalk_ros.animation.idle import IdleAnimator, IdleConfig
from emotalk_ros.animation.runtime import AnimatorRuntime, frames_to_array
from emotalk_ros.core.blendshapes import INDEX
from emotalk_ros.core.emotions import EXPRESSIVE, EXPRESSIVE_INDEX
from emotalk_ros.emotion.command import parse_emotion_command
from emotalk_ros.emotion.state import EmotionState
from emotalk_ros.errors import EmotalkError
from emotalk_ros.generator.loading import load_predictor

SR = 16000

class FakeClock:
    def __init__(self, t=100.0):
        self.t = t

    def __call__(self):
        return self.t


def speechlike(seconds, sr=SR, seed=0):
    """Loud amplitude-modulated noise: the baseline opens the jaw for it."""
    rng = np.random.default_rng(seed)
    n = int(seconds * sr)
    env = 0.5 + 0.5 * np.sin(2 * np.pi * 4.0 * np.arange(n) / sr)
    return (0.3 * env * rng.standard_normal(n)).astype(np.float32)


def drain(rt, now=None):
    out = []
    while True:
        f = rt.take_frame(now)
        if f is None:
            return out
        out.append(f)


def run_realtime(rt, clock, audio, chunk=320, then_silence_s=0.0, step_s=0.02):
    """Feed ``audio`` in real-time chunks on a fake clock, then let time pass; returns all
    frames."""
    frames = []
    for i in range(0, audio.size, chunk):
        clock.t += chunk / SR
        rt.submit(audio[i:i + chunk])
        rt.step()
        frames += drain(rt)
    t_end = clock.t + then_silence_s
    while clock.t < t_end:
        clock.t += step_s
        rt.step()
        frames += drain(rt)
    return frames


def test_queue_bound_drops_oldest_and_counts():
    p = AlphaEcho()
    rt = AnimatorRuntime(p, queue_s=0.1, clock=FakeClock())       # bound = 1600 samples
    for k in range(5):
        rt.submit(np.full(500, 0.01 * (k + 1), np.float32))
    assert rt.queued_samples == 1600
    assert rt.dropped_samples == 900 and rt.dropped_chunks == 1   # chunk 1 whole, 400 of chunk 2
    rt.step()
    pushed = np.concatenate(p.seen)
    assert pushed.size == 1600
    expected = np.concatenate([np.full(100, 0.02), np.full(500, 0.03), np.full(500, 0.04),
                               np.full(500, 0.05)]).astype(np.float32)
    assert np.array_equal(pushed, expected)                      # the newest samples survive


def test_chunk_longer_than_queue_keeps_newest():
    p = AlphaEcho()
    rt = AnimatorRuntime(p, queue_s=0.5, clock=FakeClock())
    x = np.linspace(-1, 1, 10 * SR, dtype=np.float32)             # 10 s in one chunk
    assert rt.submit(x) == SR // 2
    assert rt.dropped_samples == x.size - SR // 2
    rt.step()
    assert np.array_equal(np.concatenate(p.seen), x[-SR // 2:])


@pytest.mark.parametrize("bad", [np.array([0.1, np.nan, 0.2]), np.array([np.inf] * 4),
                                 np.zeros(0), np.zeros((2, 100)), "garbage", [[1, 2], [3]]])
def test_bad_chunks_dropped_and_counted(bad):
    p = AlphaEcho()
    rt = AnimatorRuntime(p, clock=FakeClock())
    rt.submit(np.zeros(100, np.float32))
    with pytest.raises(EmotalkError):
        rt.submit(bad)
    assert rt.invalid_chunks == 1 and rt.queued_samples == 100
    rt.submit(np.zeros(60, np.float32))                           # still accepts good audio
    rt.step()
    assert p.samples_pushed == 160


def test_stale_audio_feeds_silence_and_mouth_closes():
    clock = FakeClock()
    rt = AnimatorRuntime(load_predictor("baseline", fps=60.0), stale_audio_s=0.2,
                         max_backlog_s=1.0, clock=clock)   # no playout skipping: see every frame
    speech = speechlike(1.0)
    frames = run_realtime(rt, clock, speech, then_silence_s=1.5)
    t, v = frames_to_array(frames)
    jaw = v[:, INDEX["jawOpen"]]
    assert np.all(np.diff(t) > 0)                                 # in order, no duplicates
    assert np.allclose(np.diff(t), 1 / 60, atol=1e-6)             # contiguous 60 fps audio time
    assert t[-1] > 2.3                                            # frames continued in silence
    speaking = jaw[(t > 0.2) & (t < 1.0)]
    assert speaking.max() > 0.3
    assert jaw[t > 1.5].max() < 0.01                              # mouth eased closed
    assert rt.silence_samples > 1.2 * SR
    # silence audio time follows the clock: no runaway feeding
    assert rt.audio_time == pytest.approx(2.5, abs=0.05)


def test_no_audio_at_all_still_outputs_frames():
    clock = FakeClock()
    rt = AnimatorRuntime(load_predictor("baseline", fps=60.0), clock=clock)
    frames = run_realtime(rt, clock, np.zeros(0, np.float32), then_silence_s=1.0, step_s=1 / 60)
    assert 40 <= len(frames) <= 60                # 1 s minus the 0.2 s stale wait, 60 fps
    v = frames_to_array(frames)[1]
    assert np.all(v == 0.0)


def test_silence_is_fed_in_whole_hops_so_speech_resumes_on_the_hop_grid():
    """After stale-audio silence, speech in 320-sample chunks completes its feature frames
    with each chunk (no partial hop left waiting for the next chunk)."""
    clock = FakeClock()
    p = load_predictor("baseline", fps=60.0)
    rt = AnimatorRuntime(p, stale_audio_s=0.2, max_backlog_s=5.0, clock=clock)
    for k in range(37):                          # 0.37 s of no audio at odd step times
        clock.t += 0.0137
        rt.step()
        assert p.samples_pushed % 160 == 0
    assert rt.silence_samples > 0
    hops = []
    for k in range(20):                          # speech resumes in 20 ms chunks
        clock.t += 0.02
        rt.submit(speechlike(0.02, seed=k))
        rt.step()
        hops.append(p.samples_pushed % 160)
    assert hops == [0] * 20


def test_resampling_path_48k():
    p = AlphaEcho()
    clock = FakeClock()
    rt = AnimatorRuntime(p, input_rate=48000, max_backlog_s=2.0, clock=clock)
    tt = np.arange(48000) / 48000
    x = (0.5 * np.sin(2 * np.pi * 300 * tt)).astype(np.float32)
    for i in range(0, x.size, 1000):                            # odd chunk size
        rt.submit(x[i:i + 1000])
    rt.step()
    y = np.concatenate(p.seen)
    assert abs(y.size - SR) <= 2
    ref = 0.5 * np.sin(2 * np.pi * 300 * np.arange(y.size) / SR)
    assert np.max(np.abs(y - ref)) < 0.01
    assert len(drain(rt)) >= 55


def test_frames_always_finite_in_unit_range():
    clock = FakeClock()
    p = AlphaEcho(wild=True)
    st = EmotionState(max_intensity=2.0, emotion_strength=2.0)
    st.command(parse_emotion_command("happy:2 angry:2", max_intensity=2.0), 0.0)
    rt = AnimatorRuntime(p, st, IdleAnimator(IdleConfig(seed=3, blink_scale=2.0)), clock=clock)
    frames = run_realtime(rt, clock, speechlike(0.5), then_silence_s=0.5)
    v = frames_to_array(frames)[1]
    assert len(frames) > 40
    assert np.all(np.isfinite(v)) and v.min() >= 0.0 and v.max() <= 1.0
    assert v[:, INDEX["tongueOut"]].min() == 1.0                 # clamped, not dropped


def test_worker_thread_lifecycle():
    rt = AnimatorRuntime(load_predictor("baseline", fps=60.0), stale_audio_s=0.1)
    assert not rt.running
    rt.start()
    rt.start()                                                    # idempotent
    assert rt.running
    x = speechlike(0.3)
    for i in range(0, x.size, 320):
        rt.submit(x[i:i + 320])
        time.sleep(0.02)
    time.sleep(0.3)
    got = drain(rt)
    st = rt.stats()
    assert st["chunks_in"] == 15 and st["frames_out"] == len(got) > 0
    assert 0 <= st["latency_available_mean_s"] < 1.0     # bounded; the figure is a benchmark
    assert 0 < st["rtf_total"] < 1.0
    t0 = time.monotonic()
    rt.stop()
    assert time.monotonic() - t0 < 1.0 and not rt.running
    pushed = rt.predictor.samples_pushed
    time.sleep(0.3)
    assert rt.predictor.samples_pushed == pushed                  # really stopped (no silence)
    rt.start()
    assert rt.running
    time.sleep(0.3)
    assert rt.predictor.samples_pushed > pushed                   # restarted: silence flows
    rt.stop()


def test_emotion_commands_reach_the_predictor():
    clock = FakeClock()
    p = AlphaEcho()
    rt = AnimatorRuntime(p, EmotionState(transition_s=0.5, ease="smooth"), clock=clock)
    frames = run_realtime(rt, clock, speechlike(0.5))
    t_cmd = rt.audio_time
    rt.command(parse_emotion_command("happy:0.8 surprised:0.4"))
    frames += run_realtime(rt, clock, speechlike(1.0, seed=1))
    t, v = frames_to_array(frames)
    happy = v[:, INDEX[ALPHA_SLOTS[EXPRESSIVE_INDEX["happy"]]]]
    surprised = v[:, INDEX[ALPHA_SLOTS[EXPRESSIVE_INDEX["surprised"]]]]
    assert np.all(happy[t <= t_cmd] == 0.0)
    assert np.allclose(happy[t >= t_cmd + 0.5], 0.8, atol=1e-5)
    assert np.allclose(surprised[t >= t_cmd + 0.5], 0.4, atol=1e-5)
    during = happy[(t > t_cmd) & (t < t_cmd + 0.5)]
    assert np.all(np.diff(during) >= 0) and 0.0 < during[len(during) // 2] < 0.8   # eased
    others = [k for k, n in enumerate(EXPRESSIVE) if n not in ("happy", "surprised")]
    assert all(v[:, INDEX[ALPHA_SLOTS[k]]].max() == 0.0 for k in others)
    js = rt.emotion_json(t_cmd + 1.0)
    assert '"happy":0.8' in js and '"surprised":0.4' in js


def test_publish_latency_and_backlog_bound():
    clock = FakeClock()
    rt = AnimatorRuntime(load_predictor("baseline", fps=60.0), max_backlog_s=0.05, clock=clock)
    clock.t += 0.5
    rt.submit(speechlike(0.5))                 # one big chunk: 30 frames at once
    rt.step()
    clock.t += 0.01
    f = rt.take_frame()
    assert rt.frames_skipped == 30 - 3                           # backlog cut to 3 frames
    assert f.time == pytest.approx(27 / 60, abs=1e-9)
    assert rt.stats()["latency_publish_mean_s"] == pytest.approx(0.01, abs=1e-9)
    # the depicted time maps to the arrival clock: the chunk's last sample arrived at clock 100.5
    assert f.clock_time == pytest.approx(100.0 + 27 / 60, abs=1e-6)


# ---------------------------------------------------------------------------------------------
# voice emotion blend, keyframe tracks, style
# ---------------------------------------------------------------------------------------------
class StubTracker:
    """A voice tracker stand-in: 'sad' at 0.7 everywhere once any features were pushed."""

    def __init__(self):
        from types import SimpleNamespace
        self.detector = SimpleNamespace(lookahead_s=0.08)
        self.label = "neutral"
        self.frames = 0

    def reset(self):
        self.frames = 0

    def push_features(self, feats):
        self.frames += feats.shape[0]
        self.label = "sad"
        return feats.shape[0]

    def alpha_at(self, times):
        a = np.zeros((np.asarray(times).size, 7), np.float32)
        a[:, EXPRESSIVE_INDEX["sad"]] = 0.7 if self.frames else 0.0
        return a


def slot(v, emo):
    return v[:, INDEX[ALPHA_SLOTS[EXPRESSIVE_INDEX[emo]]]]


def test_voice_blend_mixes_and_moves_continuously():
    from emotalk_ros.emotion.command import parse_emotion_command as parse
    clock = FakeClock()
    st = EmotionState(transition_s=0.5, ease="smooth")
    st.reset(np.eye(7, dtype=np.float32)[EXPRESSIVE_INDEX["happy"]] * 0.8)
    rt = AnimatorRuntime(AlphaEcho(), st, clock=clock, voice=StubTracker(), voice_blend=0.5)
    frames = run_realtime(rt, clock, speechlike(0.6))
    t, v = frames_to_array(frames)
    late = t > 0.1
    assert np.allclose(slot(v, "happy")[late], 0.4, atol=1e-5)      # (1 - b) * command
    assert np.allclose(slot(v, "sad")[late], 0.35, atol=1e-5)       # b * voice
    js = json.loads(rt.emotion_json())
    assert js["voice"]["label"] == "sad" and js["voice_blend"] == 0.5
    assert js["weights"]["happy"] == pytest.approx(0.4) and js["command_weights"]["happy"] == 0.8
    t1 = rt.audio_time
    rt.set_voice_blend(1.0)                                         # voice only, eased
    frames = run_realtime(rt, clock, speechlike(1.0, seed=2))
    t, v = frames_to_array(frames)
    happy = slot(v, "happy")
    assert np.allclose(happy[t >= t1 + 0.5], 0.0, atol=1e-5)
    assert np.allclose(slot(v, "sad")[t >= t1 + 0.5], 0.7, atol=1e-5)
    during = happy[(t >= t1) & (t < t1 + 0.5)]
    assert np.all(np.diff(during) <= 1e-7) and 0.05 < during[len(during) // 2] < 0.35
    assert np.abs(np.diff(happy)).max() < 0.4 * 1.875 / 0.5 / 60 * 1.5   # no jump
    rt.command(parse("angry"))                                      # b = 1: command ignored
    frames = run_realtime(rt, clock, speechlike(0.6, seed=3))
    _, v = frames_to_array(frames)
    assert slot(v, "angry").max() == 0.0


def test_command_only_runtime_does_not_run_the_tracker():
    clock = FakeClock()
    rt = AnimatorRuntime(AlphaEcho(), EmotionState(), clock=clock)
    run_realtime(rt, clock, speechlike(0.3))
    assert rt.voice is None and "voice" not in json.loads(rt.emotion_json())


def test_emotion_track_plays_from_now_and_commands_take_over():
    from emotalk_ros.emotion.command import parse_emotion_command as parse
    clock = FakeClock()
    rt = AnimatorRuntime(AlphaEcho(), EmotionState(transition_s=0.3), clock=clock)
    frames = run_realtime(rt, clock, speechlike(0.5))
    t0 = rt.audio_time
    n = rt.play_track(
        '[{"t": 0.0, "happy": 0.5}, {"t": 1.0, "surprised": 0.8, "transition_s": 0.4}]'
    )
    assert n == 2
    frames += run_realtime(rt, clock, speechlike(1.8, seed=1))
    js = json.loads(rt.emotion_json(t0 + 1.7))
    assert js["command"].startswith("emotion_track") and js["weights"]["surprised"] == 0.8
    t2 = rt.audio_time
    rt.command(parse("sad transition=0.5"))
    frames += run_realtime(rt, clock, speechlike(1.0, seed=2))
    t, v = frames_to_array(frames)
    h, s, sad = slot(v, "happy"), slot(v, "surprised"), slot(v, "sad")
    assert np.all(h[t < t0] == 0)                                          # before the track
    fade = h[(t >= t0) & (t < t0 + 0.3)]
    assert np.all(np.diff(fade) >= -1e-7) and 0.0 < fade[len(fade) // 2] < 0.5  # cross-fade in
    assert np.allclose(h[(t >= t0 + 0.3) & (t < t0 + 1.0)], 0.5, atol=1e-5)
    assert np.allclose(s[(t >= t0 + 1.4) & (t < t2)], 0.8, atol=1e-5)
    assert np.allclose(h[(t >= t0 + 1.4) & (t < t2)], 0.0, atol=1e-5)
    assert np.abs(np.diff(s)).max() < 0.1                                   # never a jump
    k = np.searchsorted(t, t2)
    assert abs(s[k] - 0.8) < 0.02 and abs(s[k - 1] - 0.8) < 1e-5  # takes over smoothly
    assert np.allclose(sad[t >= t2 + 0.5], 1.0, atol=1e-5) and np.allclose(
        s[t >= t2 + 0.5], 0, atol=1e-5
    )
    before = rt.emotion_json()
    for bad in ('[{"happy": 0.5}]', '[{"t": 0, "hapy": 0.5}]', "not json", "[]"):
        with pytest.raises(EmotalkError):
            rt.play_track(bad)
    assert rt.emotion_json() == before                                      # state unchanged


def test_style_in_runtime_and_voice_runtime_equals_animate():
    from emotalk_ros.animation.offline import animate_samples
    from emotalk_ros.animation.style import load_style
    from emotalk_ros.animation.voice_mix import load_voice_tracker
    x = speechlike(2.0, seed=4)
    jaw = {}
    for name in ("subtle", "expressive"):
        clock = FakeClock()
        rt = AnimatorRuntime(
            load_predictor("baseline", fps=60.0), clock=clock, style=load_style(name)
        )
        _, v = frames_to_array(run_realtime(rt, clock, x))
        assert v.min() >= 0.0 and v.max() <= 1.0
        jaw[name] = v[:, INDEX["jawOpen"]].max()
    assert jaw["expressive"] > 1.5 * jaw["subtle"] > 0.1
    with pytest.raises(EmotalkError, match="shipped"):
        load_style("no_such_style")
    assert load_voice_tracker().detector.cfg.n_mels == 40          # the shipped model loads
    # voice blend (a seeded detector that hears 'sad' in this noise): the node's live path,
    # fed in 512-sample chunks, equals offline animate (one push, 1 s pieces)
    from emotalk_ros.emotion.voice import (
        DiarizationSmoother,
        VoiceEmotionDetector,
        VoiceEmotionModel,
        VoiceEmotionTracker,
    )

    def tracker():
        det = VoiceEmotionDetector(VoiceEmotionModel.random(seed=0))
        return VoiceEmotionTracker(det, DiarizationSmoother(min_segment_s=0.3, confirm_s=0.1,
                                                            hysteresis=0.05))
    clock = FakeClock()
    st = EmotionState()
    happy = np.eye(7, dtype=np.float32)[EXPRESSIVE_INDEX["happy"]]
    st.reset(happy)
    style = load_style("expressive")
    rt = AnimatorRuntime(
        AlphaEcho(), st, clock=clock, voice=tracker(), voice_blend=0.6, style=style
    )
    t_live, v_live = frames_to_array(run_realtime(rt, clock, x, chunk=512))
    off = animate_samples(AlphaEcho(), x, happy, style=style, voice=tracker(), voice_blend=0.6)
    n = len(t_live)
    assert n > 100 and np.allclose(off.times[:n], t_live)
    assert slot(v_live, "sad").max() > 0.1                         # the voice really contributes
    assert np.allclose(off.values[:n], v_live, atol=1e-6)
