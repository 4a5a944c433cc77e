"""The speech controller's timing from idle: the preroll counts from the request's arrival
(synthesis runs inside it) and an utterance starts with its sound, not its opening silence."""

import time

import pytest

from emotalk_ros.animation.runtime import AnimatorRuntime
from emotalk_ros.core.playback import ClockPlayer
from emotalk_ros.emotion.state import EmotionState
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
