"""Speech engines for the robot's voice: audio, phone timings, marks at their word, errors."""

import shutil

import numpy as np
import pytest

from emotalk_ros.errors import EmotalkError
from emotalk_ros.speech.marks import parse_marked_text
from emotalk_ros.speech.tts import ENGINES, make_engine


def phone_at(spoken, t):
    return next(p for p, s, e in spoken.phones if s <= t < e)


def test_espeak_marks_take_effect_at_the_onset_of_the_next_word():
    eng = make_engine("espeak", "en-us")
    sp = eng.speak(parse_marked_text("Good morning. {happy:0.8} Fine weather today. {neutral}"))
    assert sp.sample_rate == 16000 and sp.audio.dtype == np.float32
    assert np.isfinite(sp.audio).all() and np.abs(sp.audio).max() <= 1.0
    assert sp.phones[0][1] == 0.0 and sp.phones[-1][2] == pytest.approx(sp.duration)
    (t_happy, happy), (t_end, neutral) = sp.marks
    assert happy.text == "happy:0.8" and neutral.text == "neutral"
    # "Fine" begins with /f/: the mark falls on its onset (espeak's word event comes within a
    # few ms of the word's first phone), after the pause of the full stop
    f_start = next(s for p, s, e in sp.phones if p == "f")
    assert abs(t_happy - f_start) < 0.025
    assert phone_at(sp, t_happy - 0.05) == "sil"
    assert t_end == pytest.approx(sp.duration)


@pytest.mark.parametrize("engine", ["flite", "festival"])
def test_engines_without_word_timings_place_marks_at_segment_starts(engine):
    if shutil.which(engine) is None:
        pytest.skip(f"{engine} is not installed")
    eng = make_engine(engine)
    sp = eng.speak(parse_marked_text("Good morning. {sad} Fine weather today."))
    (t, cmd), = sp.marks
    assert 0.3 < t < sp.duration - 0.3 and cmd.text == "sad"
    assert sp.phones is not None and sp.phones[-1][2] == pytest.approx(sp.duration, abs=0.02)


def test_unknown_engine_voice_and_missing_engine_are_one_clear_line(monkeypatch):
    with pytest.raises(EmotalkError, match="engines: " + ", ".join(ENGINES)):
        make_engine("loquendo")
    with pytest.raises(EmotalkError, match="no voice 'xx-nowhere'"):
        make_engine("espeak", "xx-nowhere")
    if shutil.which("flite"):
        with pytest.raises(EmotalkError, match="voices: slt, rms, awb"):
            make_engine("flite", "kal")
    monkeypatch.setattr(shutil, "which", lambda name: None)
    for engine, hint in (("piper", "pip install piper-tts"), ("flite", "apt install flite"),
                         ("festival", "apt install festival")):
        with pytest.raises(EmotalkError, match=hint) as info:
            make_engine(engine)
        assert "\n" not in str(info.value)
    with pytest.raises(EmotalkError, match="80, 450"):
        make_engine("espeak", "en-us", rate_wpm=2000)


def test_empty_text_is_refused():
    with pytest.raises(EmotalkError, match="empty"):
        make_engine("espeak").speak(parse_marked_text("{happy}"))


def test_an_utterance_opening_with_a_closure_starts_with_its_sound():
    # "Papa" opens with the /p/ closure: tens of ms of digital silence before the burst
    from emotalk_ros.speech.tts import LEAD_KEEP_S, trim_leading_silence

    sp = make_engine("espeak", "en-us").speak(parse_marked_text("Papa made a {happy} pie."))
    first = int(np.flatnonzero(np.abs(sp.audio) > 1e-3)[0])
    assert first > 0.02 * 16000                         # the silence is there to trim
    tr = trim_leading_silence(sp)
    cut = sp.audio.size - tr.audio.size
    assert cut == first - round(LEAD_KEEP_S * 16000)
    np.testing.assert_array_equal(tr.audio, sp.audio[cut:])
    dt = cut / 16000.0
    # phones and marks move with the audio and still tile it from 0 to its end
    assert tr.phones[0][1] == 0.0 and tr.phones[-1][2] == pytest.approx(tr.duration)
    assert all(a <= b for (_, _, b), (_, a, _) in zip(tr.phones, tr.phones[1:]))
    assert [p for p, _, _ in tr.phones][:2] == ["p", "aa"]
    p_end = next(e for p, s, e in sp.phones if p == "p")
    assert tr.phones[0][2] == pytest.approx(p_end - dt)
    assert tr.marks[0][0] == pytest.approx(sp.marks[0][0] - dt)
    assert tr.marks[0][1].text == "happy"


def test_trimming_keeps_a_clip_that_opens_with_sound_or_is_silent():
    from emotalk_ros.speech.tts import Spoken, trim_leading_silence

    loud = Spoken(np.full(1600, 0.1, np.float32), [("aa", 0.0, 0.1)])
    assert trim_leading_silence(loud) is loud
    quiet = Spoken(np.zeros(1600, np.float32), [("sil", 0.0, 0.1)])
    assert trim_leading_silence(quiet) is quiet
    x = np.zeros(3200, np.float32)
    x[1600:] = 0.2
    sp = Spoken(x, None, [])
    tr = trim_leading_silence(sp)
    assert tr.phones is None and tr.audio.size == 1600 + 160
