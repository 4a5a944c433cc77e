"""The speech controller's timing from idle: the preroll counts from the request's arrival
(synthesis runs inside it) and an utterance starts with its sound, not its opening silence."""

import time

import pytest

from emotalk_ros.animation.runtime import AnimatorRuntime
from emotalk_ros.core.playback import ClockPlayer
from emotalk_ros.emotion.state import EmotionState
from emotalk_ros.errors import EmotalkError
from emotalk_ros.generator.predictor import AmplitudeJawBaseline
from emotalk_ros.speech.controller import SpeechController
from emotalk_ros.speech.marks import parse_marked_text
from emotalk_ros.speech.tts import make_engine, trim_leading_silence

SYNTH_S = 0.15
PREROLL_S = 0.4


class SlowEngine:
    """espeak-ng that takes SYNTH_S longer to synthesise."""

    name, voice, has_timings = "espeak", "", True

    def __init__(self):
        self.inner = make_engine("espeak")

    def speak(self, piece):
        time.sleep(SYNTH_S)
        return self.inner.speak(piece)


def wait_for(ctl, uid, state, timeout=5.0):
    end = time.monotonic() + timeout
    seen = []
    while time.monotonic() < end:
        seen += ctl.poll()
        hit = [e for e in seen if e["id"] == uid and e["state"] == state]
        if hit:
            return hit[0]
        time.sleep(0.005)
    raise AssertionError(f"no {state} for {uid}: {seen}")


@pytest.fixture
def controller():
    rt = AnimatorRuntime(AmplitudeJawBaseline(fps=60.0), EmotionState(transition_s=0.2), None)
    ctl = SpeechController(rt, SlowEngine(), ClockPlayer(latency_s=0.03), "teacher", None,
                           preroll_s=PREROLL_S)
    ctl.start()
    try:
        yield ctl
    finally:
        ctl.stop()


def test_the_first_sound_comes_a_preroll_after_the_request_synthesis_inside_it(controller):
    text = "Papa made a banana pie."
    t_req = time.monotonic()
    uid, problems = controller.say(text)
    started = wait_for(controller, uid, "started")
    finished = wait_for(controller, uid, "finished")
    assert not problems
    # not preroll + synthesis (>= 0.55 s)
    assert PREROLL_S - 0.005 <= started["at"] - t_req < PREROLL_S + 0.05, started["at"] - t_req
    assert controller.first_sound_s[-1] == pytest.approx(PREROLL_S, abs=0.01)
    # the clip played is the utterance without its opening silence (the /p/ closure)
    spoken = make_engine("espeak").speak(parse_marked_text(text))
    trimmed = trim_leading_silence(spoken)
    assert spoken.duration - trimmed.duration > 0.02
    assert finished["at"] - started["at"] == pytest.approx(trimmed.duration, abs=1e-3)


AHEAD_S = 0.5      # the face has rendered this far ahead (a cancelled track easing)
RACE_S = 0.1       # and runs this much further while a piece is being scheduled


class RacingRuntime(AnimatorRuntime):
    """A runtime whose render edge moves RACE_S past what ``speech_edge`` said by the time the
    piece arrives (a loaded machine after an interrupt); ``speak`` refuses pieces before it."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.refused = 0

    @property
    def speech_edge(self):
        return self.clock() + AHEAD_S

    def speak(self, piece):
        if piece.start < self.clock() + AHEAD_S + RACE_S:
            self.refused += 1
            raise EmotalkError("speech track: piece starts before the frames already rendered")
        super().speak(piece)


def test_a_piece_the_face_ran_past_is_placed_later_not_dropped():
    rt = RacingRuntime(AmplitudeJawBaseline(fps=60.0), EmotionState(transition_s=0.2), None)
    ctl = SpeechController(rt, make_engine("espeak"), ClockPlayer(latency_s=0.03), "teacher",
                           None, preroll_s=0.1)
    ctl.start()
    try:
        t_req = time.monotonic()
        uid, problems = ctl.say("Hello there.")
        started = wait_for(ctl, uid, "started")
        wait_for(ctl, uid, "finished")
    finally:
        ctl.stop()
    assert not problems and ctl.errors == 0
    assert rt.refused >= 1                              # the first place was refused
    # placed past the moving edge, and not much later than that
    assert AHEAD_S + RACE_S <= started["at"] - t_req < AHEAD_S + RACE_S + 0.3


class InterruptedRuntime(AnimatorRuntime):
    """A runtime on which an interrupt arrives just before a queued piece reaches the face
    (the worker has placed its sound and is about to hand it to the face)."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.hook, self.when = None, None

    def speak(self, piece):
        if self.hook is not None and piece.tag == self.when:
            hook, self.hook = self.hook, None
            hook()
        super().speak(piece)


def test_an_interrupt_while_a_piece_is_placed_leaves_no_silent_speech_behind():
    rt = InterruptedRuntime(AmplitudeJawBaseline(fps=60.0), EmotionState(transition_s=0.2),
                            None)
    ctl = SpeechController(rt, make_engine("espeak"), ClockPlayer(latency_s=0.03), "teacher",
                           None, preroll_s=0.1)
    news = []
    rt.when = ("u2", 0)
    rt.hook = lambda: news.append(ctl.say("Sorry, something else.", interrupt=True)[0])
    ctl.start()
    try:
        ctl.say("This is a long first sentence that keeps the loudspeaker busy for a while.")
        ctl.say("And this one waits behind it.")
        wait_for(ctl, "u2", "cancelled")
        assert news == ["u3"]
        wait_for(ctl, "u3", "started")
        wait_for(ctl, "u3", "finished")
        assert ctl.errors == 0
        # the cancelled piece does not move the face: only u3's piece is in its speech
        assert all(p.tag[0] == "u3" for p in rt._track.pieces)
    finally:
        ctl.stop()
