"""espeak-ng in-process through ctypes: speech audio with exact phoneme timings.

The library runs in ``AUDIO_OUTPUT_SYNCHRONOUS`` mode with phoneme events; one callback
receives both the 22050 Hz samples and the ``espeakEVENT_PHONEME`` events, whose
``sample`` field is the exact sample position of each phoneme onset (the last END event
equals the wav length). The library prefers the ``espeakng_loader`` wheel (espeak-ng
1.52 with its data) and falls back to the system ``libespeak-ng.so.1``. It is
initialised lazily once per process, so it works in multiprocessing workers; calls
are serialised with a lock because the library is not re-entrant.

Phone names: espeak's English mnemonics (stress marks ``'`` ``,`` stripped) are mapped
to ARPAbet by :data:`ESPEAK_TO_ARPABET`. Some map to two phones (``aI@`` -> ay + ah,
r-coloured diphthongs), which then split the segment 60/40. Unknown mnemonics fall back
through :func:`map_phoneme` (strip diacritics, then the first letter) and are logged
once. Every pause (``_``, ``_:``, ``_!``...) is ``sil``.

Reproducibility: espeak-ng keeps state between utterances (the phase of its pitch
flutter, the Klatt noise generator), so the same text can come out a few samples longer
or shorter, with slightly different waveforms, depending on what the process synthesised
before; phone identities never change. Within a fresh process the sequence of outputs is
deterministic, which is how :mod:`.corpus` makes shards reproducible.

Voiceless stops: espeak fires the /p t k/ event at the *release*; the closure before it
(about 40 ms of exact digital silence) would otherwise belong to the previous phone.
:func:`synthesize` moves the onset back to the start of that silent closure (clamped
to 20-60 ms; 40 ms when no silent run is found), shortening the previous phone.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import threading
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from emotalk_ros.core.audio import resample
from emotalk_ros.core.phones import PHONE_INDEX, VOICELESS_STOPS
from emotalk_ros.errors import EmotalkError
from emotalk_ros.speech.utterance import Utterance, tile_phones

log = logging.getLogger(__name__)

NATIVE_RATE = 22050           # Hz, espeak-ng's output rate (checked at initialisation)
OUT_RATE = 16000              # Hz, what every engine delivers
STOP_LEAD_DEFAULT_S = 0.040   # closure moved before a voiceless-stop release
STOP_LEAD_MIN_S = 0.020
STOP_LEAD_MAX_S = 0.060

# Accents and voice variants used for training (see espeak-ng-data/lang/gmw, voices/!v).
ACCENTS: Tuple[str, ...] = ("en-us", "en", "en-gb-scotland", "en-gb-x-rp", "en-029",
                            "en-us-nyc", "en-gb-x-gbclan", "en-gb-x-gbcwmd")
VARIANTS: Tuple[str, ...] = (
    "", "m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4", "f5",
    "klatt", "klatt2", "klatt3", "klatt4", "Alicia", "Andy", "Annie", "Denis", "Gene", "Lee",
    "Michael", "Mike", "anika", "belinda", "benjamin", "caleb", "david", "edward", "iven",
    "john", "linda", "max", "michel", "norbert", "paul", "quincy", "rob", "robert", "steph",
    "travis", "victor", "zac",
)

# espeak-ng English phoneme mnemonics (stress stripped) -> ARPAbet phone(s).
# Rhotic/centring diphthongs split into two phones; flaps are voiced (d); the glottal stop
# and syllabic consonants take their closest ARPAbet neighbour; ``;`` is the y-glide espeak
# inserts between a front vowel and a following vowel ("the egg").
ESPEAK_TO_ARPABET: Dict[str, Tuple[str, ...]] = {
    # consonants
    "p": ("p",),
    "b": ("b",),
    "t": ("t",),
    "d": ("d",),
    "k": ("k",),
    "g": ("g",),
    "f": ("f",),
    "v": ("v",),
    "T": ("th",),
    "D": ("dh",),
    "s": ("s",),
    "z": ("z",),
    "S": ("sh",),
    "Z": ("zh",),
    "h": ("hh",),
    "tS": ("ch",),
    "dZ": ("jh",),
    "m": ("m",),
    "n": ("n",),
    "N": ("ng",),
    "l": ("l",),
    "r": ("r",),
    "w": ("w",),
    "j": ("y",),
    "t#": ("d",),
    "d#": ("d",),
    "t[": ("t",),
    "d[": ("d",),
    "t2": ("t",),
    "d2": ("d",),
    "k2": ("k",),
    "?": ("t",),
    "n-": ("n",),
    "m-": ("m",),
    "l-": ("l",),
    "r-": ("r",),
    "l/": ("l",),
    "l/2": ("l",),
    "l#": ("l",),
    "r/": ("r",),
    "w#": ("w",),
    "hw": ("w",),
    "x": ("k",),
    "C": ("hh",),
    "j/": ("y",),
    ";": ("y",),
    "z/2": ("z",),
    "s2": ("s",),
    "z2": ("z",),
    "nj": ("n", "y"),
    "@L": ("ah", "l"),
    "@l": ("ah", "l"),
    # vowels
    "@": ("ah",),
    "@2": ("ah",),
    "@5": ("ah",),
    "@-": ("ah",),
    "a#": ("ah",),
    "V": ("ah",),
    "3": ("er",),
    "3:": ("er",),
    "@r": ("er",),
    "VR": ("er",),
    "3:r": ("er",),
    "a": ("ae",),
    "aa": ("ae",),
    "a2": ("ae",),
    "&": ("ae",),
    "A:": ("aa",),
    "A@": ("aa", "r"),
    "A#": ("aa",),
    "A": ("aa",),
    "0": ("aa",),
    "0#": ("aa",),
    "A:r": ("aa", "r"),
    "0r": ("aa", "r"),
    "aI": ("ay",),
    "aI2": ("ay",),
    "aI@": ("ay", "ah"),
    "aI3": ("ay", "er"),
    "aI@3": ("ay", "er"),
    "aU": ("aw",),
    "aU@": ("aw", "ah"),
    "e": ("eh",),
    "E": ("eh",),
    "E2": ("eh",),
    "e@": ("eh", "r"),
    "eI": ("ey",),
    "e#": ("eh",),
    "i": ("iy",),
    "i:": ("iy",),
    "i@": ("ih", "r"),
    "i@3": ("iy", "er"),
    "iu": ("uw",),
    "I": ("ih",),
    "I#": ("ih",),
    "I2": ("ih",),
    "I2#": ("ih",),
    "IR": ("ih", "r"),
    "O": ("ao",),
    "O:": ("ao",),
    "O@": ("ao", "r"),
    "o@": ("ao", "r"),
    "O2": ("ao",),
    "o": ("ow",),
    "o:": ("ow",),
    "OI": ("oy",),
    "oU": ("ow",),
    "oU#": ("ow",),
    "o#": ("ow",),
    "u": ("uw",),
    "u:": ("uw",),
    "U": ("uh",),
    "U@": ("uh", "r"),
    "u@": ("uh", "r"),
    "V#": ("ah",),
    "Vr": ("ah", "r"),
}

# Other languages (espeak-ng 1.52 mnemonics that English does not use, or uses with another
# meaning), checked on the Spanish, French, Italian, Russian, Czech and Dutch prompts and
# dialogue this project aligns (IPA from ``espeak-ng --ipa``). The aim is the right viseme:
# how open the mouth is, whether the lips close or round. Bilabial approximant [β] is /b/
# (animators close the lips for it); palatalised consonants (Russian ``t;``) keep their
# place; nasal vowels take the oral vowel; front rounded vowels take a rounded vowel of the
# same height; affricates split 50/50 like the two-phone English mnemonics (60/40).
# ``()`` means no phone: language-switch markers ``(en)`` and the Dutch glottal mark ``!``
# add their time to the previous phone.
MULTILINGUAL: Dict[str, Tuple[str, ...]] = {
    # Spanish
    "B": ("b",), "**": ("r",), "*": ("r",), "R2": ("r",), "J^": ("n", "y"), "oI": ("oy",),
    # French
    "A~": ("aa",), "O~": ("ao",), "E~": ("ae",), "W": ("er",), "W~": ("er",), "y": ("uw",),
    "Y": ("uh",), "y-": ("uw",), "a-": ("ae",), "e-": ("eh",), "n^": ("n", "y"),
    # Italian
    "R": ("r",), "ts": ("t", "s"), "dz": ("d", "z"), "ss": ("s",), "l^": ("l", "y"),
    "w2": ("w",),
    # Russian (``;`` = palatalised: same place as the plain consonant)
    "ja": ("y", "ae"), "ju": ("y", "uw"), "u\"": ("uw",), "n_": ("n",), "E#": ("eh",),
    "8": ("uh",), "I3": ("ih",), "I^": ("ih",), "tS;": ("ch",), "S;": ("sh",),
    # Czech
    "a:": ("aa",), "e:": ("eh",), "R^": ("r",), "c": ("t",), "J": ("d",), "eU": ("ow",),
    "o:": ("ow",), "u:": ("uw",), "i:": ("iy",),
    # Dutch
    "Q": ("g",), "v#": ("v",), "EI": ("ey",), "VU": ("aw",), "Wy": ("er",), "Y:": ("uh",),
    "yU": ("uw",), "!": (),
}
# Per language, where a mnemonic means something else than in MULTILINGUAL / English.
LANGUAGE_PHONEMES: Dict[str, Dict[str, Tuple[str, ...]]] = {
    "ru": {"y": ("ih",)},               # Russian y is the close central unrounded vowel
    "nl": {"e:": ("ey",)},              # Dutch long e is diphthongised
}

# Fallback for an unknown mnemonic's first character.
_FIRST_CHAR = {"@": "ah", "3": "er", "a": "ae", "A": "aa", "0": "aa", "e": "eh", "E": "eh",
               "i": "iy", "I": "ih", "o": "ow", "O": "ao", "u": "uw", "U": "uh", "V": "ah",
               "y": "uw", "T": "th", "D": "dh", "S": "sh", "Z": "zh", "N": "ng", "j": "y",
               "h": "hh", "c": "k", "x": "k", "?": "t", "R": "r", "L": "l", "W": "w"}

_warned: set = set()


def strip_stress(name: str) -> str:
    """Remove espeak stress/length marks that are not part of the phoneme name."""
    return name.strip().lstrip("',%=").strip()


def language_of(voice: str) -> str:
    """espeak voice name -> language family code: 'es-419+f3' -> 'es', 'en-us' -> 'en'."""
    return voice.split("+")[0].split("-")[0].lower() or "en"


def map_phoneme(name: str, lang: str = "en") -> Tuple[str, ...]:
    """espeak mnemonic (stress marks allowed) -> ARPAbet phone tuple (0, 1 or 2 phones).

    ``lang``: the language family (:func:`language_of`). English mnemonics come from
    :data:`ESPEAK_TO_ARPABET`; other languages first look in :data:`LANGUAGE_PHONEMES`, then
    :data:`MULTILINGUAL`, then the English table. Pauses map to ('sil',); language-switch
    markers (``(en)``) to () (no phone). Unknown names fall back to the mnemonic without
    trailing diacritics (``#``, digits, ``-``, ``/``, ``;``), then to its first character; a
    fallback is logged once per name.
    """
    key = strip_stress(name)
    if not key or key.startswith("_") or key in ("||", "|"):
        return ("sil",)
    if key.startswith("(") and key.endswith(")"):
        return ()
    if lang != "en":
        table = LANGUAGE_PHONEMES.get(lang, {})
        if key in table:
            return table[key]
        if key in MULTILINGUAL:
            return MULTILINGUAL[key]
        if key.endswith(";") and len(key) > 1:          # palatalised: the plain consonant
            return map_phoneme(key[:-1], lang)
    if key in ESPEAK_TO_ARPABET:
        return ESPEAK_TO_ARPABET[key]
    base = key.rstrip("#0123456789-/;:")
    if lang != "en" and base in MULTILINGUAL:
        return MULTILINGUAL[base]
    if base in ESPEAK_TO_ARPABET:
        out = ESPEAK_TO_ARPABET[base]
    elif key[0] in PHONE_INDEX and key[0] != "h":
        out = (key[0],)
    else:
        out = (_FIRST_CHAR.get(key[0], "ah"),)
    if key not in _warned:
        _warned.add(key)
        log.info("espeak phoneme %r not in the table; using %s", key, "+".join(out))
    return out


def is_known_phoneme(name: str, lang: str = "en") -> bool:
    """True when ``name`` (stress allowed) is a pause, a language-switch marker or in the
    tables :func:`map_phoneme` reads for ``lang`` (palatalised ``X;`` counts when ``X``
    does)."""
    key = strip_stress(name)
    if (not key or key.startswith("_") or key in ("||", "|")) or key in ESPEAK_TO_ARPABET:
        return True
    if lang == "en":
        return False
    if key.startswith("(") and key.endswith(")"):
        return True
    known = {**ESPEAK_TO_ARPABET, **MULTILINGUAL, **LANGUAGE_PHONEMES.get(lang, {})}
    return key in known or (key.endswith(";") and key[:-1] in known)


@dataclass(frozen=True)
class Prosody:
    """espeak prosody controls (espeak units)."""

    rate: int = 175      # words per minute, 80..450
    pitch: int = 50      # base pitch 0..100
    range: int = 50      # pitch range 0..100 (0 = monotone)
    volume: int = 100    # amplitude 0..200
    wordgap: int = 0     # extra pause between words, units of 10 ms

    def clamped(self) -> Prosody:
        """The same settings clipped to espeak's valid ranges."""
        def c(v, lo, hi):
            return int(round(min(max(v, lo), hi)))

        return Prosody(c(self.rate, 80, 450), c(self.pitch, 0, 100), c(self.range, 0, 100),
                       c(self.volume, 0, 200), c(self.wordgap, 0, 50))


# --- ctypes binding ------------------------------------------------------------------------

class _EventId(ctypes.Union):
    _fields_ = [("number", ctypes.c_int), ("name", ctypes.c_char_p), ("string", ctypes.c_char * 8)]


class _Event(ctypes.Structure):
    _fields_ = [("type", ctypes.c_int), ("unique_identifier", ctypes.c_uint),
                ("text_position", ctypes.c_int), ("length", ctypes.c_int),
                ("audio_position", ctypes.c_int), ("sample", ctypes.c_int),
                ("user_data", ctypes.c_void_p), ("id", _EventId)]


_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int,
                             ctypes.POINTER(_Event))

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INIT_PHONEME_EVENTS = 0x0001
_EVENT_LIST_TERMINATED, _EVENT_END, _EVENT_PHONEME = 0, 5, 7
_EVENT_MSG_TERMINATED = 6
_EVENT_WORD = 1
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_P_RATE, _P_VOLUME, _P_PITCH, _P_RANGE, _P_WORDGAP = 1, 2, 3, 4, 7


class _Engine:
    """Process-wide espeak-ng instance (created by :func:`_engine`)."""

    def __init__(self) -> None:
        lib_path, data_path = _locate()
        try:
            self.lib = ctypes.CDLL(lib_path)
        except OSError as exc:
            raise EmotalkError(
                f"espeak-ng: cannot load {lib_path} ({exc}); "
                "pip install espeakng-loader or apt install libespeak-ng1"
            ) from None
        self.lib.espeak_Initialize.restype = ctypes.c_int
        self.lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p,
                                               ctypes.c_int]
        self.lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        self.lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        self.lib.espeak_Synth.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint,
                                          ctypes.c_int, ctypes.c_uint, ctypes.c_uint,
                                          ctypes.c_void_p, ctypes.c_void_p]
        sr = self.lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0,
                                        data_path.encode() if data_path else None,
                                        _INIT_PHONEME_EVENTS)
        if sr <= 0:
            raise EmotalkError(f"espeak-ng: initialisation failed (data path {data_path!r})")
        self.sample_rate = int(sr)
        self.lib_path, self.data_path = lib_path, data_path
        self._chunks: List[np.ndarray] = []
        self._events: List[Tuple[int, int, str]] = []   # (type, sample, name)
        self._cb = _CALLBACK(self._on_synth)  # keep a reference: the library holds the pointer
        self.lib.espeak_SetSynthCallback(self._cb)
        self.lock = threading.Lock()
        self._voice: Optional[str] = None
        self._set_seed = getattr(self.lib, "espeak_ng_SetRandSeed", None)  # espeak-ng >= 1.51
        self._libc = ctypes.CDLL(None)

    def _on_synth(self, wav, n, events) -> int:
        if n > 0 and wav:
            self._chunks.append(np.ctypeslib.as_array(wav, shape=(n,)).copy())  # (n,) int16
        i = 0
        while events[i].type != _EVENT_LIST_TERMINATED:
            ev = events[i]
            if ev.type == _EVENT_PHONEME:
                self._events.append((ev.type, int(ev.sample),
                                     ev.id.string.decode("ascii", "replace")))
            elif ev.type in (_EVENT_END, _EVENT_MSG_TERMINATED):
                self._events.append((ev.type, int(ev.sample), ""))
            elif ev.type == _EVENT_WORD:       # name = 1-based character position of the word
                self._events.append((ev.type, int(ev.sample), str(int(ev.text_position))))
            i += 1
        return 0

    def run(self, text: str, voice: str, prosody: Prosody, seed: int = 0
            ) -> Tuple[np.ndarray, List[Tuple[int, str]], int, List[Tuple[int, int]]]:
        """-> (int16 samples (N,) at sample_rate, [(onset sample, mnemonic), ...], END sample,
        [(0-based character position of a word in ``text``, its onset sample), ...])."""
        with self.lock:
            if voice != self._voice:
                if self.lib.espeak_SetVoiceByName(voice.encode()) != 0:
                    raise EmotalkError(f"espeak-ng: unknown voice {voice!r}")
                self._voice = voice
            p = prosody.clamped()
            for key, val in ((_P_RATE, p.rate), (_P_VOLUME, p.volume), (_P_PITCH, p.pitch),
                             (_P_RANGE, p.range), (_P_WORDGAP, p.wordgap)):
                self.lib.espeak_SetParameter(key, val, 0)
            self._chunks, self._events = [], []
            # espeak seeds its noise (breath, Klatt) from the clock at initialisation; fix it
            if self._set_seed is not None:
                self._set_seed(ctypes.c_long(seed))
            self._libc.srand(ctypes.c_uint(seed))
            buf = text.encode("utf-8") + b"\0"
            err = self.lib.espeak_Synth(
                buf, len(buf), 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None
            )
            self.lib.espeak_Synchronize()
            if err != 0:
                raise EmotalkError(f"espeak-ng: synthesis failed (error {err}) for {text[:40]!r}")
            audio = (np.concatenate(self._chunks) if self._chunks
                     else np.zeros(0, np.int16))                              # (N,) int16
            phones = [(s, name) for t, s, name in self._events if t == _EVENT_PHONEME]
            ends = [s for t, s, _ in self._events if t in (_EVENT_END, _EVENT_MSG_TERMINATED)]
            words = [(int(name) - 1, s) for t, s, name in self._events if t == _EVENT_WORD]
            return audio, phones, (max(ends) if ends else audio.size), words


_ENGINE: Optional[_Engine] = None
_ENGINE_PID: Optional[int] = None
_ENGINE_LOCK = threading.Lock()


def _locate() -> Tuple[str, Optional[str]]:
    """(library path, data path or None): the espeakng_loader wheel, else the system library."""
    try:
        import espeakng_loader

        lib, data = espeakng_loader.get_library_path(), espeakng_loader.get_data_path()
        if os.path.exists(lib):
            return str(lib), str(data)
    except ImportError:
        pass
    lib = ctypes.util.find_library("espeak-ng") or "libespeak-ng.so.1"
    return lib, None


def _engine() -> _Engine:
    """The process's espeak-ng instance (initialised on first use, again after a fork)."""
    global _ENGINE, _ENGINE_PID
    with _ENGINE_LOCK:
        if _ENGINE is None or _ENGINE_PID != os.getpid():
            _ENGINE = _Engine()
            _ENGINE_PID = os.getpid()
        return _ENGINE


def native_rate() -> int:
    """espeak-ng's output sample rate in Hz (initialises the library)."""
    return _engine().sample_rate


@dataclass
class RawSynthesis:
    """espeak-ng's output as is, at its native rate."""

    audio: np.ndarray                    # (N,) int16
    events: List[Tuple[int, str]]        # [(onset sample, mnemonic with stress marks)]
    sample_rate: int                     # Hz (22050)
    end_sample: int                      # the last END event's sample (equals N)
    words: List[Tuple[int, int]] = field(default_factory=list)   # [(0-based char, sample)]


def raw_synthesize(text: str, voice: str = "en-us", prosody: Prosody = Prosody()) -> RawSynthesis:
    """espeak-ng as is (no phone mapping, no resampling)."""
    eng = _engine()
    audio, phones, end, words = eng.run(text, voice, prosody)
    return RawSynthesis(audio, phones, eng.sample_rate, int(end), words)


def _stop_lead(audio: np.ndarray, release: int, prev_start: int, sr: int) -> int:
    """Samples to move a voiceless-stop onset back: the exact-silence run before ``release``.

    audio: int16 (N,) native-rate samples. Clamped to [STOP_LEAD_MIN_S, STOP_LEAD_MAX_S]
    (STOP_LEAD_DEFAULT_S when there is no silent run of at least 10 ms) and to at most
    60 % of the previous phone.
    """
    lo, hi = int(STOP_LEAD_MIN_S * sr), int(STOP_LEAD_MAX_S * sr)
    seg = audio[max(0, release - hi):release]
    nz = np.flatnonzero(np.abs(seg.astype(np.int32)) > 2)
    run = seg.size - (nz[-1] + 1) if nz.size else seg.size
    lead = int(STOP_LEAD_DEFAULT_S * sr) if run < int(0.010 * sr) else min(max(run, lo), hi)
    return int(min(lead, 0.6 * max(release - prev_start, 0)))


def events_to_phones(audio: np.ndarray, events: Sequence[Tuple[int, str]], sr: int,
                     shift_stops: bool = True, lang: str = "en") -> List[Tuple[str, float]]:
    """espeak events -> [(ARPAbet phone, onset_s)] at native rate ``sr``.

    Two-phone mappings split the segment 60/40; voiceless stops are moved onto their
    closure (see module docstring) when ``shift_stops``; ``lang`` selects the phoneme
    table (:func:`map_phoneme`); events that map to no phone are dropped.
    """
    onsets: List[Tuple[str, int]] = []   # (phone, sample)
    n = audio.size
    for i, (s, name) in enumerate(events):
        nxt = events[i + 1][0] if i + 1 < len(events) else n
        mapped = map_phoneme(name, lang)
        if not mapped:
            continue
        s = min(max(int(s), 0), n)
        if (shift_stops and len(mapped) == 1 and mapped[0] in VOICELESS_STOPS
                and strip_stress(name).rstrip(";") in ("p", "t", "k", "t2", "k2", "t[")):
            prev_start = onsets[-1][1] if onsets else 0   # utterance-initial: leading silence
            s -= _stop_lead(audio, s, prev_start, sr)
        onsets.append((mapped[0], s))
        if len(mapped) == 2:
            split = s + int(0.6 * max(min(nxt, n) - s, 0))
            onsets.append((mapped[1], split))
    return [(p, s / float(sr)) for p, s in onsets]


def synthesize(text: str, voice: str = "en-us", prosody: Prosody = Prosody(),
               shift_stops: bool = True) -> Utterance:
    """Speak ``text`` with espeak-ng -> :class:`Utterance` at 16 kHz with tiled ARPAbet phones.

    voice: e.g. ``en-us``, ``en-gb-scotland+f3``, ``en+klatt``. Timings come from the
    exact sample positions of the phoneme events at the native rate (22050 Hz); the
    audio is resampled to 16 kHz with :func:`emotalk_ros.core.audio.resample`, and the last
    phone ends at the resampled length.
    """
    if not text or not text.strip():
        raise EmotalkError("espeak synthesize: empty text")
    raw = raw_synthesize(text, voice, prosody)
    audio, events, sr = raw.audio, raw.events, raw.sample_rate
    if abs(raw.end_sample - audio.size) > sr // 1000:
        log.debug("espeak END event at %d but %d samples for %r", raw.end_sample, audio.size,
                    text[:40])
    if audio.size == 0:
        raise EmotalkError(f"espeak synthesize: no audio for {text[:40]!r}")
    onsets = events_to_phones(audio, events, sr, shift_stops, language_of(voice))
    x = resample(audio.astype(np.float32) / 32768.0, sr, OUT_RATE)     # (N16,) float32
    phones = tile_phones(onsets, x.size / float(OUT_RATE))
    return Utterance(x, phones, OUT_RATE, [strip_stress(n) for _, n in events])


def voice_name(accent: str, variant: str = "") -> str:
    """'en-us', 'f3' -> 'en-us+f3' (no '+' for the default variant)."""
    return f"{accent}+{variant}" if variant else accent


def all_voices() -> List[str]:
    """Every accent x variant voice name used for training, in a fixed order."""
    return [voice_name(a, v) for a in ACCENTS for v in VARIANTS]


def synthesize_with_words(text: str, voice: str = "en-us", prosody: Prosody = Prosody(),
                          shift_stops: bool = True) -> Tuple[Utterance, List[Tuple[int, float]]]:
    """:func:`synthesize`, plus the onset of every word: [(0-based character position of the
    word in ``text``, onset s in the 16 kHz audio)], in order (espeak's WORD events, exact to
    the sample like its phoneme events)."""
    if not text or not text.strip():
        raise EmotalkError("espeak synthesize: empty text")
    raw = raw_synthesize(text, voice, prosody)
    audio, events, sr = raw.audio, raw.events, raw.sample_rate
    if audio.size == 0:
        raise EmotalkError(f"espeak synthesize: no audio for {text[:40]!r}")
    onsets = events_to_phones(audio, events, sr, shift_stops)
    x = resample(audio.astype(np.float32) / 32768.0, sr, OUT_RATE)     # (N16,) float32
    phones = tile_phones(onsets, x.size / float(OUT_RATE))
    words = [(c, min(max(s, 0), audio.size) / float(sr)) for c, s in raw.words]
    return Utterance(x, phones, OUT_RATE, [strip_stress(n) for _, n in events]), words
