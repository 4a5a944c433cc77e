"""Text-to-speech engines for the robot's own voice (``say``): audio, phone timings, marks.

:func:`make_engine` builds one of :data:`ENGINES`; :meth:`SpeechEngine.speak` turns one piece of
marked text (:class:`emotalk_ros.speech.marks.MarkedText`) into a :class:`Spoken`: 16 kHz mono
audio, the phones tiling it (when the engine reports them) and the time of every emotion mark.

* ``espeak`` (default): espeak-ng in-process (:mod:`emotalk_ros.speech.espeak`); exact phone
  timings and word timings, so a mark takes effect at the onset of the word after it. Voices:
  any espeak-ng voice name (``en-us``, ``en-gb-x-rp+f3``...).
* ``flite``: the ``flite`` command (voices ``slt``, ``rms``, ``awb``); phone timings from
  ``-psdur``.
* ``festival``: the ``festival`` command (voices ``kal_diphone``, ``ked_diphone``,
  ``cmu_us_slt_arctic_hts``, whichever are installed); phone timings from its segments.
* ``piper``: a Piper voice the user installed (``pip install piper-tts``; ``voice`` = the path
  of the voice's ``.onnx`` file, its ``.onnx.json`` beside it). Piper reports no phone timings,
  so its speech is always articulated by the generator from the audio.

Flite, Festival and Piper give no word timings: a piece with marks is synthesised in
segments cut at the marks (each mark then falls exactly on a segment start), which may add a
short prosodic break at a mark in mid-sentence.

Every failure is one :class:`EmotalkError` line: an unknown engine (naming the valid ones), a
missing engine (naming how to install it), an unknown voice (naming the installed ones).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from typing import List, Optional, Sequence, Tuple

import numpy as np

from emotalk_ros.core.audio import load_audio
from emotalk_ros.emotion.command import EmotionCommand
from emotalk_ros.errors import EmotalkError
from emotalk_ros.speech.marks import MarkedText
from emotalk_ros.speech.utterance import PhoneSeg, Utterance, concat_utterances

ENGINES: Tuple[str, ...] = ("espeak", "flite", "festival", "piper")
SAMPLE_RATE = 16000
INSTALL_HINTS = {
    "espeak": "pip install espeakng-loader, or apt install libespeak-ng1",
    "flite": "apt install flite",
    "festival": "apt install festival festvox-kallpc16k (or festvox-us-slt-hts)",
    "piper": "pip install piper-tts, then download a voice (.onnx and .onnx.json, e.g. from "
             "huggingface.co/rhasspy/piper-voices) and set the voice parameter to its .onnx path",
}
DEFAULT_VOICES = {"espeak": "en-us", "flite": "slt", "festival": "kal_diphone", "piper": ""}


@dataclass
class Spoken:
    """One synthesised piece.

    ``audio`` (N,) float32 mono in [-1, 1] at ``sample_rate`` (16 kHz); ``phones``: ARPAbet
    (phone, start_s, end_s) tiling the audio, or None when the engine gives no timings;
    ``marks``: (time_s, command) in time order, each at the onset of the word after the mark.
    """

    audio: np.ndarray
    phones: Optional[List[PhoneSeg]]
    marks: List[Tuple[float, EmotionCommand]] = field(default_factory=list)
    sample_rate: int = SAMPLE_RATE

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return self.audio.size / float(self.sample_rate)


LEAD_SILENCE_DB = -60.0       # below this a clip's opening is silence
LEAD_KEEP_S = 0.01            # kept before the first sound


def trim_leading_silence(spoken: Spoken, silence_db: float = LEAD_SILENCE_DB,
                         keep_s: float = LEAD_KEEP_S) -> Spoken:
    """``spoken`` without the silence it opens with (up to ``keep_s`` before its first sample
    above ``silence_db`` dBFS), phones and marks moved with it; unchanged when it opens with
    sound or is silent throughout.

    An utterance that opens with a plosive opens with its closure, 20-50 ms of digital
    silence from espeak-ng: heard from idle it is only delay (the face at rest already has
    its lips closed), so the robot's first sound comes that much sooner.
    """
    x = np.asarray(spoken.audio)
    loud = np.flatnonzero(np.abs(x) > 10.0 ** (silence_db / 20.0))
    if loud.size == 0:
        return spoken
    cut = int(loud[0]) - int(round(keep_s * spoken.sample_rate))
    if cut <= 0:
        return spoken
    dt = cut / float(spoken.sample_rate)
    phones = None
    if spoken.phones is not None:
        phones = [(p, max(0.0, a - dt), b - dt) for p, a, b in spoken.phones if b - dt > 0.0]
        if phones:
            phones[0] = (phones[0][0], 0.0, phones[0][2])
    marks = [(max(0.0, t - dt), cmd) for t, cmd in spoken.marks]
    return Spoken(x[cut:].copy(), phones, marks, spoken.sample_rate)


class SpeechEngine:
    """Base class: ``speak(piece) -> Spoken``; ``has_timings`` says whether phones come too."""

    name = "engine"
    has_timings = True

    def __init__(self, voice: str, rate_wpm: float = 175.0):
        self.voice = voice
        self.rate_wpm = float(rate_wpm)

    def speak(self, piece: MarkedText) -> Spoken:
        """Synthesise one piece of marked text; raises :class:`EmotalkError` on failure."""
        if not piece.text.strip():
            raise EmotalkError("nothing to say: the text is empty")
        return self._speak(piece)

    def _speak(self, piece: MarkedText) -> Spoken:
        raise NotImplementedError

    # segment-wise synthesis for engines without word timings
    def _segments(self, piece: MarkedText) -> Spoken:
        cuts = sorted({m.position for m in piece.marks} | {0, len(piece.text)})
        parts: List[Utterance] = []
        starts = {}
        t = 0.0
        for a, b in zip(cuts[:-1], cuts[1:]):
            starts[a] = t
            seg = piece.text[a:b].strip()
            if not seg:
                continue
            u = self._utterance(seg)
            parts.append(u)
            t += u.duration
        starts[len(piece.text)] = t
        if not parts:
            raise EmotalkError("nothing to say: the text is empty")
        whole = concat_utterances(parts) if len(parts) > 1 else parts[0]
        marks = [(starts.get(m.position, t), m.command) for m in piece.marks]
        phones = whole.phones if self.has_timings else None
        return Spoken(whole.audio.astype(np.float32), phones, marks)

    def _utterance(self, text: str) -> Utterance:
        raise NotImplementedError


class EspeakEngine(SpeechEngine):
    """espeak-ng in-process, exact phone and word timings."""

    name = "espeak"

    def __init__(self, voice: str = "en-us", rate_wpm: float = 175.0):
        super().__init__(voice or DEFAULT_VOICES["espeak"], rate_wpm)
        from emotalk_ros.speech import espeak

        self._espeak = espeak
        try:
            espeak.native_rate()
        except (EmotalkError, OSError) as exc:
            raise EmotalkError(f"speech engine 'espeak' is not available ({exc}); install it: "
                               f"{INSTALL_HINTS['espeak']}") from None
        self._prosody = espeak.Prosody(rate=int(round(self.rate_wpm)))
        try:   # also warms up (the first synthesis loads the resampler: about a second)
            espeak.synthesize_with_words("a", self.voice, self._prosody)
        except EmotalkError:
            raise EmotalkError(f"speech engine 'espeak' has no voice {self.voice!r}; voices are "
                               "espeak-ng voice names such as en-us, en-gb-x-rp, en-us+f3 "
                               "(espeak-ng --voices lists them)") from None

    def _speak(self, piece: MarkedText) -> Spoken:
        utt, words = self._espeak.synthesize_with_words(piece.text, self.voice, self._prosody)
        marks = []
        for m in piece.marks:
            t = next((s for c, s in words if c >= m.position), utt.duration)
            marks.append((float(t), m.command))
        return Spoken(utt.audio.astype(np.float32), utt.phones, marks)


class FliteEngine(SpeechEngine):
    """The flite command (phone timings, no word timings)."""

    name = "flite"

    def __init__(self, voice: str = "slt", rate_wpm: float = 175.0):
        super().__init__(voice or DEFAULT_VOICES["flite"], rate_wpm)
        from emotalk_ros.speech import engines

        self._engines = engines
        if shutil.which("flite") is None:
            raise EmotalkError(f"speech engine 'flite' is not installed: {INSTALL_HINTS['flite']}")
        if self.voice not in engines.FLITE_VOICES:
            raise EmotalkError(f"speech engine 'flite' has no voice {self.voice!r}; voices: "
                               + ", ".join(engines.FLITE_VOICES))

    def _speak(self, piece: MarkedText) -> Spoken:
        return self._segments(piece)

    def _utterance(self, text: str) -> Utterance:
        return self._engines.flite_synthesize(text, self.voice, 175.0 / self.rate_wpm)


class FestivalEngine(SpeechEngine):
    """The festival command (phone timings from its segments, no word timings)."""

    name = "festival"

    def __init__(self, voice: str = "kal_diphone", rate_wpm: float = 175.0):
        super().__init__(voice or DEFAULT_VOICES["festival"], rate_wpm)
        from emotalk_ros.speech import engines

        self._engines = engines
        if shutil.which("festival") is None:
            raise EmotalkError("speech engine 'festival' is not installed: "
                               + INSTALL_HINTS["festival"])
        have = engines.available_voices("festival")
        if self.voice not in have:
            raise EmotalkError(f"speech engine 'festival' has no voice {self.voice!r}; installed "
                               f"voices: {', '.join(have) or 'none'} "
                               f"({INSTALL_HINTS['festival']})")

    def _speak(self, piece: MarkedText) -> Spoken:
        return self._segments(piece)

    def _utterance(self, text: str) -> Utterance:
        return self._engines.festival_synthesize(text, self.voice, 175.0 / self.rate_wpm)


def _piper_command() -> Optional[List[str]]:
    """The command that runs Piper: the ``piper`` executable, or None when not installed."""
    exe = shutil.which("piper")
    return [exe] if exe else None


class PiperEngine(SpeechEngine):
    """A Piper voice the user installed; audio only (the generator articulates it)."""

    name = "piper"
    has_timings = False

    def __init__(self, voice: str = "", rate_wpm: float = 175.0):
        super().__init__(voice, rate_wpm)
        self._cmd = _piper_command()
        if self._cmd is None:
            raise EmotalkError(f"speech engine 'piper' is not installed: {INSTALL_HINTS['piper']}")
        if not voice or not os.path.isfile(voice) or not voice.endswith(".onnx"):
            raise EmotalkError(f"speech engine 'piper' needs voice = the path of an installed "
                               f"Piper voice (.onnx), got {voice!r}")
        if not os.path.isfile(voice + ".json"):
            raise EmotalkError(f"Piper voice {voice}: its config {voice}.json is missing")

    def _speak(self, piece: MarkedText) -> Spoken:
        return self._segments(piece)

    def _utterance(self, text: str) -> Utterance:
        with tempfile.TemporaryDirectory(prefix="emotalk_piper_") as tmp:
            wav = os.path.join(tmp, "out.wav")
            cmd = self._cmd + ["--model", self.voice, "--output_file", wav,
                               "--length_scale", f"{175.0 / self.rate_wpm:.3f}"]
            try:
                r = subprocess.run(cmd, input=text, capture_output=True, text=True, timeout=120,
                                   check=False)
            except (OSError, subprocess.TimeoutExpired) as exc:
                raise EmotalkError(f"piper failed: {exc}") from None
            if r.returncode != 0 or not os.path.exists(wav):
                raise EmotalkError(f"piper failed (exit {r.returncode}): "
                                   f"{r.stderr.strip()[-300:]}")
            audio = load_audio(wav, SAMPLE_RATE)
        return Utterance(audio, [("sil", 0.0, audio.size / float(SAMPLE_RATE))], SAMPLE_RATE)


_CLASSES = {"espeak": EspeakEngine, "flite": FliteEngine, "festival": FestivalEngine,
            "piper": PiperEngine}


def make_engine(name: str, voice: str = "", rate_wpm: float = 175.0) -> SpeechEngine:
    """Build engine ``name`` (one of :data:`ENGINES`) with ``voice`` ('' = its default voice) at
    ``rate_wpm`` words per minute. Raises one :class:`EmotalkError` line when the engine is
    unknown, not installed, or has no such voice."""
    if name not in _CLASSES:
        raise EmotalkError(f"unknown speech engine {name!r}; engines: {', '.join(ENGINES)}")
    if not (80.0 <= float(rate_wpm) <= 450.0):
        raise EmotalkError(f"speech rate must be in [80, 450] words per minute, got {rate_wpm}")
    return _CLASSES[name](voice, rate_wpm)


def voiced_frames(audio: np.ndarray, sample_rate: int, times: Sequence[float],
                  threshold_dbfs: float = -45.0, window_s: float = 0.02) -> np.ndarray:
    """Whether the audio around each time is speech: (N,) bool, RMS over ``window_s`` centred on
    each time above ``threshold_dbfs`` (the animator's speaking test)."""
    x = np.asarray(audio, np.float64)
    half = max(1, int(window_s * sample_rate / 2))
    out = np.zeros(len(times), bool)
    thr = 10.0 ** (threshold_dbfs / 20.0)
    for i, t in enumerate(times):
        c = int(round(t * sample_rate))
        seg = x[max(0, c - half):max(0, c + half)]
        out[i] = seg.size > 0 and float(np.sqrt(np.mean(seg ** 2))) > thr
    return out
