"""Text to speak with inline emotion marks: ``Hello! {happy:0.8} I am glad you came. {neutral}``.

A mark is an emotion command in braces, in the grammar of docs/INTERFACE.md (Emotion
commands): ``{happy}``, ``{sad:0.5 transition=1.2}``, ``{va:0.6,0.4}``, ``{neutral}`` or a
JSON object ``{"happy": 0.6, "transition_s": 0.8}``. It takes effect at the *next word*:
:func:`parse_marked_text` removes the marks and records, for each, the character position in
the clean text where that word begins (the end of the text for a trailing mark), so an engine's
word timings can place it in time.

A mark that does not parse (an unknown emotion, a bad value) or a stray brace is dropped: the
text around it is still spoken, and the problem is reported in :attr:`MarkedText.problems`.
Nothing in braces is ever spoken.

:func:`split_pieces` cuts a long text into pieces of at most ``max_chars`` characters at
sentence ends (else at the last space, else anywhere), each with its own marks, so a long text
can be synthesised piece by piece while the first piece already plays.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import List, Tuple

from emotalk_ros.emotion.command import EmotionCommand, parse_emotion_command
from emotalk_ros.errors import EmotalkError

_MARK = re.compile(r"\{[^{}]*\}")
_SENTENCE_END = re.compile(r"[.!?;:]+[\"')\]]*\s+")
MAX_REPORTED_PROBLEMS = 5


@dataclass(frozen=True)
class Mark:
    """An emotion command at character ``position`` of the clean text (where its word starts;
    ``len(text)`` for a mark after the last word)."""

    position: int
    command: EmotionCommand


@dataclass
class MarkedText:
    """Clean text to speak (marks removed, runs of white space collapsed) and its marks, in
    order of position; ``problems``: one line per dropped mark or stray brace."""

    text: str
    marks: List[Mark] = field(default_factory=list)
    problems: List[str] = field(default_factory=list)


def _parse_mark(raw: str, max_intensity: float) -> EmotionCommand:
    """``{...}`` -> EmotionCommand: the grammar inside the braces, or the whole as JSON."""
    inner = raw[1:-1].strip()
    if inner.startswith('"'):
        return parse_emotion_command(raw, max_intensity=max_intensity)
    return parse_emotion_command(inner, max_intensity=max_intensity)


def _append(out: List[str], text: str) -> None:
    """Append ``text`` to the pieces in ``out`` with white space collapsed to one space."""
    s = re.sub(r"\s+", " ", text)
    if not s:
        return
    if s.startswith(" ") and (not out or out[-1].endswith(" ")):
        s = s[1:]
    if s:
        out.append(s)


def parse_marked_text(text: str, max_intensity: float = 1.0) -> MarkedText:
    """Split ``text`` into clean text and marks (see the module docstring).

    Never raises for a bad mark (it is dropped and reported); raises :class:`EmotalkError` only
    when ``text`` is not a string.
    """
    if not isinstance(text, str):
        raise EmotalkError(f"text to speak must be a string, got {type(text).__name__}")
    out: List[str] = []
    pending: List[Tuple[int, EmotionCommand]] = []
    problems: List[str] = []
    pos = 0

    def clean_len() -> int:
        return sum(len(s) for s in out)

    def plain(segment: str) -> None:
        if "{" in segment or "}" in segment:
            n = segment.count("{") + segment.count("}")
            problems.append(f"{n} stray brace(s) removed (a mark is {{emotion spec}}, e.g. "
                            "{happy:0.8})")
            segment = segment.replace("{", " ").replace("}", " ")
        _append(out, segment)

    for m in _MARK.finditer(text):
        plain(text[pos:m.start()])
        raw = m.group(0)
        try:
            cmd = _parse_mark(raw, max_intensity)
        except EmotalkError as exc:
            shown = raw if len(raw) <= 60 else raw[:57] + "...}"
            why = str(exc).split(". valid emotions")[0]
            problems.append(f"mark {shown} ignored (spoken without it): {why}")
        else:
            pending.append((clean_len(), cmd))
        _append(out, " ")
        pos = m.end()
    plain(text[pos:])
    clean = "".join(out).strip()
    lead = len("".join(out)) - len("".join(out).lstrip())
    marks = []
    for p, cmd in pending:
        p = min(max(p - lead, 0), len(clean))
        while p < len(clean) and clean[p] == " ":
            p += 1
        marks.append(Mark(p, cmd))
    if len(problems) > MAX_REPORTED_PROBLEMS:
        problems = problems[:MAX_REPORTED_PROBLEMS] + [
            f"... and {len(problems) - MAX_REPORTED_PROBLEMS} more"]
    return MarkedText(clean, marks, problems)


def _cut(text: str, max_chars: int) -> int:
    """Where to end the first piece of ``text`` (> 0, <= max_chars; the whole when short)."""
    if len(text) <= max_chars:
        return len(text)
    best = 0
    for m in _SENTENCE_END.finditer(text, 0, max_chars + 1):
        best = m.end()
    if best > max_chars // 4:
        return best
    space = text.rfind(" ", 0, max_chars + 1)
    return space + 1 if space > 0 else max_chars


def split_pieces(marked: MarkedText, max_chars: int) -> List[MarkedText]:
    """Cut ``marked`` into pieces of at most ``max_chars`` characters (sentence ends first),
    each with the marks that fall into it (a mark at a cut goes with the next piece; a
    trailing mark with the last). Empty pieces are dropped; returns at least one piece."""
    if max_chars < 1:
        raise EmotalkError(f"max_chars must be >= 1, got {max_chars}")
    pieces: List[MarkedText] = []
    text, base, marks = marked.text, 0, list(marked.marks)
    while True:
        n = _cut(text[base:], max_chars)
        end = base + n
        last = end >= len(text)
        mine = [mk for mk in marks if mk.position < end or last]
        marks = [mk for mk in marks if not (mk.position < end or last)]
        chunk = text[base:end]
        stripped = chunk.lstrip()
        shift = base + len(chunk) - len(stripped)
        stripped = stripped.rstrip()
        if stripped or mine:
            pieces.append(MarkedText(stripped, [Mark(min(max(mk.position - shift, 0),
                                                             len(stripped)), mk.command)
                                                for mk in mine]))
        if last:
            break
        base = end
    return pieces or [MarkedText("", [])]
