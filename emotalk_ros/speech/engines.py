"""Held-out speech engines for evaluation: Flite and Festival through their command lines.

These voices are never used for training (espeak-ng is, see :mod:`.espeak`); they give
evaluation audio from synthesisers the model has not heard, with the engine's own phone
timings:

- Flite: ``flite -voice slt|rms|awb -psdur -t TEXT -o out.wav`` prints ``phone:end_s``.
  The kal/kal16 voices drift by about 0.12 s and are not offered.
- Festival: a scheme script with ``utt.save.wave`` and ``utt.save.segs`` (end times and
  phone names); voices ``kal_diphone``, ``ked_diphone`` (festvox-kallpc16k/-kdlpc16k) and
  ``cmu_us_slt_arctic_hts`` (festvox-us-slt-hts), whichever are installed.

Both use the Festvox "radio" ARPAbet set, mapped to :data:`emotalk_ros.core.phones.PHONES` by
:data:`RADIO_TO_ARPABET` (``pau``->sil, ``ax``->ah, ``dx``->d...).

Voiceless stops: unlike espeak, both engines start a /p t k/ segment at the closure
(checked on slt/rms/awb, kal, ked and slt-hts: the signal falls to near silence 10-20 ms
after the segment start and the previous vowel is voiced right up to it), so no onset
correction is applied.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from typing import Dict, List, Optional, Tuple

from emotalk_ros.core.audio import load_audio
from emotalk_ros.core.phones import PHONE_INDEX
from emotalk_ros.errors import EmotalkError
from emotalk_ros.speech.utterance import Utterance, tile_phones

OUT_RATE = 16000
FLITE_VOICES: Tuple[str, ...] = ("slt", "rms", "awb")
FESTIVAL_VOICES: Tuple[str, ...] = ("kal_diphone", "ked_diphone", "cmu_us_slt_arctic_hts")
FESTIVAL_VOICE_DIR = "/usr/share/festival/voices"

# Festvox radio phone set -> ARPAbet (PHONES). Names already in PHONES map to themselves.
RADIO_TO_ARPABET: Dict[str, Tuple[str, ...]] = {
    "pau": ("sil",), "h#": ("sil",), "brth": ("sil",), "ssil": ("sil",), "sil": ("sil",),
    "#": ("sil",), "ax": ("ah",), "axr": ("er",), "ix": ("ih",), "ux": ("uw",), "dx": ("d",),
    "nx": ("n",), "hv": ("hh",), "q": ("t",), "el": ("ah", "l"), "em": ("ah", "m"),
    "en": ("ah", "n"), "eng": ("ah", "ng"),
}


def map_radio(name: str) -> Tuple[str, ...]:
    """Flite/Festival phone name -> ARPAbet phone tuple; unknown names raise EmotalkError."""
    key = name.strip().lower().rstrip("012")
    if key in RADIO_TO_ARPABET:
        return RADIO_TO_ARPABET[key]
    if key in PHONE_INDEX:
        return (key,)
    raise EmotalkError(f"engine phone {name!r} has no ARPAbet mapping")


def ends_to_onsets(ends: List[Tuple[str, float]]) -> List[Tuple[str, float]]:
    """[(name, end_s)] in order -> [(ARPAbet phone, onset_s)]; two-phone maps split 50/50."""
    out: List[Tuple[str, float]] = []
    start = 0.0
    for name, end in ends:
        mapped = map_radio(name)
        end = max(float(end), start)
        out.append((mapped[0], start))
        if len(mapped) == 2:
            out.append((mapped[1], start + 0.5 * (end - start)))
        start = end
    return out


def parse_flite_psdur(text: str) -> List[Tuple[str, float]]:
    """``flite -psdur`` stdout (``pau:0.193 p:0.240 ...``) -> [(phone, end_s)]."""
    out = []
    for tok in text.split():
        if ":" not in tok:
            continue
        name, _, val = tok.rpartition(":")
        try:
            out.append((name, float(val)))
        except ValueError:
            raise EmotalkError(f"flite: cannot parse phone timing {tok!r}") from None
    if not out:
        raise EmotalkError("flite: no phone timings in the output (is -psdur supported?)")
    return out


def parse_festival_segs(text: str) -> List[Tuple[str, float]]:
    """Festival ``utt.save.segs`` file (header ``#``, then ``end_s 100 phone``) -> [(phone,
    end_s)]."""
    out = []
    body = text.split("#", 1)[1] if "#" in text else text
    for line in body.splitlines():
        f = line.split()
        if len(f) >= 3:
            try:
                out.append((f[2], float(f[0])))
            except ValueError:
                raise EmotalkError(f"festival: cannot parse segment line {line!r}") from None
    if not out:
        raise EmotalkError("festival: empty segment file")
    return out


def _run(cmd: List[str], timeout: float = 120.0) -> subprocess.CompletedProcess:
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except FileNotFoundError:
        raise EmotalkError(f"{cmd[0]} is not installed (apt install {cmd[0]})") from None
    except subprocess.TimeoutExpired:
        raise EmotalkError(f"{cmd[0]} timed out after {timeout:.0f} s") from None
    if r.returncode != 0:
        raise EmotalkError(f"{cmd[0]} failed (exit {r.returncode}): {r.stderr.strip()[-300:]}")
    return r


def _utterance(wav_path: str, ends: List[Tuple[str, float]]) -> Utterance:
    audio = load_audio(wav_path, OUT_RATE)                       # (N,) float32 16 kHz
    phones = tile_phones(ends_to_onsets(ends), audio.size / float(OUT_RATE))
    return Utterance(audio, phones, OUT_RATE, [n for n, _ in ends])


def flite_synthesize(text: str, voice: str = "slt", duration_stretch: float = 1.0,
                     f0_mean: Optional[float] = None) -> Utterance:
    """Flite -> :class:`Utterance` (16 kHz). duration_stretch > 1 is slower; f0_mean in Hz."""
    if voice not in FLITE_VOICES:
        raise EmotalkError(f"flite voice {voice!r} not offered; use one of {FLITE_VOICES}")
    if not text.strip():
        raise EmotalkError("flite: empty text")
    with tempfile.TemporaryDirectory(prefix="emotalk_flite_") as tmp:
        wav = os.path.join(tmp, "out.wav")
        cmd = ["flite", "-voice", voice, "-psdur",
               "--setf", f"duration_stretch={duration_stretch:.3f}"]
        if f0_mean is not None:
            cmd += ["--setf", f"int_f0_target_mean={f0_mean:.1f}"]
        r = _run(cmd + ["-t", text, "-o", wav])
        return _utterance(wav, parse_flite_psdur(r.stdout))


def _scheme_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def festival_synthesize(text: str, voice: str = "kal_diphone",
                        duration_stretch: float = 1.0) -> Utterance:
    """Festival -> :class:`Utterance` (16 kHz). duration_stretch > 1 is slower."""
    if voice not in FESTIVAL_VOICES:
        raise EmotalkError(f"festival voice {voice!r} not offered; use one of {FESTIVAL_VOICES}")
    if not text.strip():
        raise EmotalkError("festival: empty text")
    with tempfile.TemporaryDirectory(prefix="emotalk_festival_") as tmp:
        wav, segs, scm = (os.path.join(tmp, n) for n in ("out.wav", "out.segs", "run.scm"))
        with open(scm, "w", encoding="utf-8") as f:
            f.write(f"(voice_{voice})\n"
                    f"(Parameter.set 'Duration_Stretch {duration_stretch:.3f})\n"
                    f"(set! u (utt.synth (Utterance Text {_scheme_string(text)})))\n"
                    f"(utt.save.wave u {_scheme_string(wav)} 'riff)\n"
                    f"(utt.save.segs u {_scheme_string(segs)})\n")
        _run(["festival", "-b", scm])
        if not os.path.exists(segs) or not os.path.exists(wav):
            raise EmotalkError(f"festival produced no output for voice {voice!r}")
        with open(segs, encoding="utf-8") as f:
            return _utterance(wav, parse_festival_segs(f.read()))


def available_voices(engine: str) -> List[str]:
    """Installed voices of ``engine`` ('flite' or 'festival'), in a fixed order."""
    if engine == "flite":
        return list(FLITE_VOICES) if shutil.which("flite") else []
    if engine == "festival":
        if not shutil.which("festival"):
            return []
        return [v for v in FESTIVAL_VOICES if glob.glob(os.path.join(FESTIVAL_VOICE_DIR, "*", v))]
    raise EmotalkError(f"unknown engine {engine!r}; use flite or festival")


def synthesize(engine: str, text: str, voice: str, duration_stretch: float = 1.0,
               f0_mean: Optional[float] = None) -> Utterance:
    """Dispatch to :func:`flite_synthesize` / :func:`festival_synthesize` (festival ignores
    f0_mean)."""
    if engine == "flite":
        return flite_synthesize(text, voice, duration_stretch, f0_mean)
    if engine == "festival":
        return festival_synthesize(text, voice, duration_stretch)
    raise EmotalkError(f"unknown engine {engine!r}; use flite or festival")
