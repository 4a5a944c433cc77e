"""The robot's own speech in the animator runtime: frames on the loudspeaker's clock, released
at their stamps and handed out ahead, one face with smooth hand-overs, marks at their word,
cancel easing to rest, both articulation sources."""

import json

import numpy as np
import pytest

from emotalk_ros.animation.idle import IdleAnimator, IdleConfig
from emotalk_ros.animation.runtime import AnimatorRuntime
from emotalk_ros.animation.speech import (
    GeneratorArticulator,
    SpeechPiece,
    SpeechTrack,
    TeacherArticulator,
)
from emotalk_ros.core.blendshapes import INDEX
from emotalk_ros.emotion.command import parse_emotion_command
from emotalk_ros.emotion.state import EmotionState
from emotalk_ros.errors import EmotalkError
from emotalk_ros.generator.predictor import AmplitudeJawBaseline
from emotalk_ros.speech.marks import parse_marked_text
from emotalk_ros.speech.tts import make_engine

FPS = 60.0
JAW, SMILE = INDEX["jawOpen"], INDEX["mouthSmileLeft"]


class Clock:
    def __init__(self, t=100.0):
        self.t = t

    def __call__(self):
        return self.t


@pytest.fixture(scope="module")
def spoken():
    return make_engine("espeak").speak(
        parse_marked_text("Hello there. {happy:0.9} Papa made a banana pie. {neutral}"))


def runtime(clock, idle=True):
    idle_layer = IdleAnimator(IdleConfig(seed=2)) if idle else None
    return AnimatorRuntime(AmplitudeJawBaseline(fps=FPS), EmotionState(transition_s=0.2),
                           idle_layer, clock=clock, max_backlog_s=0.25)


def run(rt, clock, seconds, dt=0.005):
    """Advance the clock in steps; collect (receive time, frame) from take_frame and the
    time each frame was first handed out by take_ahead."""
    got, ahead_at = [], {}
    for _ in range(int(seconds / dt)):
        clock.t += dt
        rt.step(clock.t)
        for f in rt.take_ahead():
            ahead_at.setdefault(round(f.clock_time, 6), clock.t)
        while True:
            f = rt.take_frame(clock.t)
            if f is None:
                break
            got.append((clock.t, f))
    return got, ahead_at


def test_speech_frames_are_stamped_with_playback_time_released_on_time_and_sent_ahead(spoken):
    clock = Clock()
    rt = runtime(clock)
    rt.configure_speech(lead_s=0.1)
    run(rt, clock, 1.0)                                       # the live path in silence
    P = clock.t + 0.15
    rt.speak(SpeechPiece(P, TeacherArticulator(spoken.phones, spoken.audio, 16000, FPS),
                         spoken.marks))
    got, ahead_at = run(rt, clock, spoken.duration + 1.0)
    sp = [(r, f) for r, f in got if f.source == "speech"]
    assert len(sp) > spoken.duration * FPS
    ct = np.array([f.clock_time for _, f in sp])
    # the grid is anchored at the first sample: frame k depicts P + k / fps
    assert np.allclose((ct - P) * FPS, np.round((ct - P) * FPS), atol=1e-6)
    # released at their clock time (the step is 5 ms), never before
    late = np.array([r - f.clock_time for r, f in sp if f.clock_time > P])
    assert late.min() >= -rt.RELEASE_EARLY_S - 1e-9 and late.max() <= 0.0051
    # ... and handed out ahead by the lead
    lead = np.array([f.clock_time - ahead_at[round(f.clock_time, 6)] for _, f in sp
                     if f.clock_time > P])
    assert np.median(lead) == pytest.approx(0.1, abs=0.006)
    # the mouth moves with the sound, not before the piece nor after it
    jaw = np.array([f.values[JAW] for _, f in sp])
    inside = (ct > P) & (ct < P + spoken.duration)
    assert jaw[inside].max() > 0.3 and jaw[ct < P - 0.05].max() < 0.05
    assert np.isfinite(jaw).all()


def test_one_face_live_frames_give_way_and_hand_overs_are_smooth(spoken):
    clock = Clock()
    rt = runtime(clock, idle=False)
    rng = np.random.default_rng(0)
    got = []

    def live(seconds):
        for _ in range(int(seconds / 0.02)):
            rt.submit(0.3 * rng.standard_normal(320).astype(np.float32), arrival=clock.t)
            g, _ = run(rt, clock, 0.02)
            got.extend(g)

    live(1.0)                                                  # loud "microphone" speech
    P = clock.t + 0.15
    rt.speak(SpeechPiece(P, TeacherArticulator(spoken.phones, spoken.audio, 16000, FPS), []))
    live(spoken.duration + 1.5)                                # the microphone keeps going
    assert rt.stats()["frames_superseded"] > 50
    ct = np.array([f.clock_time for _, f in got])
    assert np.all(np.diff(ct) > 0)                             # one stream, in clock order
    src = [f.source for _, f in got]
    first_sp, last_sp = src.index("speech"), len(src) - 1 - src[::-1].index("speech")
    assert all(s == "speech" for s in src[first_sp:last_sp + 1])   # no live frame in between
    assert src[-1] == "live"                                   # the microphone takes it back
    jaw = np.array([f.values[JAW] for _, f in got])
    for k in (first_sp, last_sp + 1):                          # both hand-overs: no jump
        assert np.abs(np.diff(jaw[k - 2:k + 3])).max() < 0.2


def test_an_emotion_mark_changes_the_face_at_its_word(spoken):
    clock = Clock()
    rt = runtime(clock, idle=False)
    run(rt, clock, 0.5)
    P = clock.t + 0.15
    rt.speak(SpeechPiece(P, TeacherArticulator(spoken.phones, spoken.audio, 16000, FPS),
                         spoken.marks))
    got, _ = run(rt, clock, spoken.duration + 1.0)
    ct = np.array([f.clock_time for _, f in got])
    smile = np.array([f.values[SMILE] for _, f in got])
    t_mark = P + spoken.marks[0][0]
    assert smile[ct < t_mark].max() < 0.01                     # neutral before "Papa"
    assert smile[(ct > t_mark + 0.25) & (ct < P + spoken.marks[1][0])].min() > 0.3
    # the transition starts at the marked word: nothing before it, at once after it
    assert smile[ct <= t_mark].max() < 1e-6
    assert smile[ct > t_mark][0] > 0.0
    assert smile[-1] < 0.05                                    # {neutral} at the end


def test_cancel_eases_the_mouth_to_rest_and_recomputes_frames_sent_ahead(spoken):
    clock = Clock()
    rt = runtime(clock)
    run(rt, clock, 0.5)
    P = clock.t + 0.15
    rt.speak(SpeechPiece(P, TeacherArticulator(spoken.phones, spoken.audio, 16000, FPS),
                         spoken.marks, tag="u1"))
    got, _ = run(rt, clock, 1.9)                               # well into "Papa made..."
    t_c = clock.t
    rt.cancel_speech(t_c)
    assert rt.stats()["speech_frames_recomputed"] > 3
    g2, _ = run(rt, clock, 1.0)
    got += g2
    ct = np.array([f.clock_time for _, f in got])
    assert np.all(np.diff(ct) > 0)
    jaw = np.array([f.values[JAW] for _, f in got])
    after = ct > t_c
    assert jaw[after & (ct > t_c + rt.cancel_ease_s + 0.02)].max() < 0.05   # at rest
    assert np.abs(np.diff(jaw[after])).max() < 0.1             # eased, not cut
    # the smile of the mark before the cancel stays; the {neutral} after it never came (the
    # live path here is the loudness baseline, which shows no expression: look at speech)
    smile = np.array([f.values[SMILE] for _, f in got if f.source == "speech"])
    assert smile[-1] > 0.5
    assert json.loads(rt.emotion_json())["target"]["happy"] == pytest.approx(0.9)
    assert rt.cancel_speech(clock.t) == []                     # nothing left to cancel


def test_generator_articulation_follows_the_audio(spoken):
    pred = AmplitudeJawBaseline(fps=FPS)
    art = GeneratorArticulator(pred, spoken.audio, 16000, FPS)
    t = np.arange(-0.2, spoken.duration + 0.2, 1 / FPS)
    fr = np.concatenate([art.render(t[i:i + 7], lambda u: np.zeros((u.size, 7)))
                         for i in range(0, t.size, 7)])
    voiced = art.voiced(t)
    assert fr[voiced, JAW].mean() > 3 * fr[~voiced, JAW].mean() + 0.01
    assert fr[t < -0.05, JAW].max() < 0.02                     # silence before the clip
    # rendering recent times again (a cancel does) gives the same frames
    again = art.render(t[-40:-30], lambda u: np.zeros((u.size, 7)))
    assert np.allclose(again, fr[-40:-30], atol=1e-6)


def test_track_refuses_pieces_in_its_past_and_bad_timing(spoken):
    art = TeacherArticulator(spoken.phones, spoken.audio, 16000, FPS)
    tr = SpeechTrack(FPS, 10.0, SpeechPiece(10.2, art))
    tr.render(tr.next_times(11.0), lambda t: np.zeros((t.size, 7)), lambda c, t: None)
    with pytest.raises(EmotalkError):
        tr.add(SpeechPiece(10.5, art))
    tr.add(SpeechPiece(11.5, art))
    assert tr.end == pytest.approx(11.5 + spoken.duration + tr.tail_s)
    rt = runtime(Clock())
    with pytest.raises(EmotalkError):
        rt.configure_speech(lead_s=-1)


def test_speech_frames_stay_finite_in_range_under_extreme_emotion(spoken):
    clock = Clock()
    rt = AnimatorRuntime(AmplitudeJawBaseline(fps=FPS),
                         EmotionState(emotion_strength=2.0, max_intensity=2.0),
                         IdleAnimator(IdleConfig(seed=1, blink_scale=2.0)), clock=clock)
    rt.command(parse_emotion_command("happy:2 surprised:2 angry:2", max_intensity=2.0))
    rt.speak(SpeechPiece(clock.t + 0.1, TeacherArticulator(spoken.phones, spoken.audio, 16000,
                                                           FPS)))
    got, _ = run(rt, clock, spoken.duration + 0.6)
    v = np.stack([f.values for _, f in got])
    assert np.isfinite(v).all() and v.min() >= 0.0 and v.max() <= 1.0


def test_after_a_cancel_the_next_piece_is_placed_after_every_frame_handed_out(spoken):
    clock = Clock()
    rt = runtime(clock, idle=False)
    rt.configure_speech(lead_s=0.3)
    run(rt, clock, 0.3)
    art = TeacherArticulator(spoken.phones, spoken.audio, 16000, FPS)
    rt.speak(SpeechPiece(clock.t + 0.1, art, [], tag="u1"))
    run(rt, clock, 0.5)
    rt.cancel_speech(clock.t)
    _, ahead = run(rt, clock, 0.05)                 # the ease to rest went out ahead
    handed_out = max(ahead)
    assert handed_out > clock.t + 0.1               # past where a say's preroll would put it
    assert rt.speech_edge >= handed_out - 1e-9
    with pytest.raises(EmotalkError):               # a piece placed before them is refused
        rt.speak(SpeechPiece(clock.t + 0.05, art, [], tag="u2"))
    # and the edge still covers every frame handed out (the refusal ended the old track)
    assert rt.speech_edge >= handed_out - 1e-9
    rt.speak(SpeechPiece(max(clock.t + 0.1, rt.speech_edge + 2 / FPS), art, [], tag="u2"))
