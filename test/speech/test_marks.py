"""Inline emotion marks in text to speak: parsing, bad marks, long text in pieces."""

import pytest

from emotalk_ros.core.emotions import EXPRESSIVE_INDEX
from emotalk_ros.errors import EmotalkError
from emotalk_ros.speech.marks import parse_marked_text, split_pieces


def test_marks_are_removed_and_point_at_the_next_word():
    m = parse_marked_text("Hello! {happy:0.8} I am glad you came. {neutral}")
    assert m.text == "Hello! I am glad you came."
    assert [m.text[k.position:k.position + 4] for k in m.marks] == ["I am", ""]
    assert m.marks[1].position == len(m.text)                  # a trailing mark: at the end
    assert m.marks[0].command.alpha[EXPRESSIVE_INDEX["happy"]] == pytest.approx(0.8)
    assert not m.problems


def test_every_command_form_works_as_a_mark():
    m = parse_marked_text('{sad:0.5 transition=1.2} one {va:0.6,0.4} two '
                          '{"surprised": 0.3, "transition_s": 0.2} three')
    assert m.text == "one two three"
    assert [k.position for k in m.marks] == [0, 4, 8]
    assert m.marks[0].command.transition_s == pytest.approx(1.2)
    assert m.marks[2].command.alpha[EXPRESSIVE_INDEX["surprised"]] == pytest.approx(0.3)


@pytest.mark.parametrize("text", ["{bogus:3} Hello there", "Hello {happy:7} there",
                                  "Hello {} there", "Hello { there", "Hello } there",
                                  "Hello {happy there"])
def test_a_bad_mark_is_dropped_and_the_words_are_kept(text):
    m = parse_marked_text(text)
    assert "Hello" in m.text and "there" in m.text
    assert "{" not in m.text and "}" not in m.text
    assert not m.marks
    assert len(m.problems) == 1 and len(m.problems[0]) < 200


def test_only_marks_leave_nothing_to_say():
    assert parse_marked_text("  {happy}  ").text == ""
    with pytest.raises(EmotalkError):
        parse_marked_text(None)


def test_long_text_is_cut_at_sentence_ends_and_marks_follow_their_words():
    text = " ".join(f"Sentence number {i} is here." for i in range(40)) + " {happy} End."
    m = parse_marked_text(text)
    pieces = split_pieces(m, 100)
    assert len(pieces) > 5 and all(len(p.text) <= 100 for p in pieces)
    assert all(p.text.endswith(".") for p in pieces)
    assert " ".join(p.text for p in pieces) == m.text
    last = pieces[-1]
    assert [last.text[k.position:k.position + 3] for k in last.marks] == ["End"]
    assert sum(len(p.marks) for p in pieces) == 1


def test_a_word_longer_than_a_piece_is_cut_anyway():
    pieces = split_pieces(parse_marked_text("a" * 1000), 300)
    assert [len(p.text) for p in pieces] == [300, 300, 300, 100]
