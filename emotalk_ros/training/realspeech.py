"""Real recorded human speech with transcripts, from Debian packages.

Sources (all read from an installed or unpacked tree, ``root`` = ``/`` on a system with
the packages installed):

* **asterisk core sounds** (``asterisk-core-sounds-{es,fr,it,ru}`` with ``-g722``): studio
  telephone prompts, one speaker per language, wideband G.722 (16 kHz) decoded with
  ffmpeg; transcripts in ``/usr/share/doc/asterisk-core-sounds-<lang>/core-sounds-<lang>.txt.gz``
  (``name: text`` lines). The English packages are reserved for independent evaluation and
  are refused here (:data:`RESERVED`).
* **fillets-ng** game dialogue (``fillets-ng-data`` with ``-cs``/``-nl``): voiced lines in
  English, Czech and Dutch by several actors; ``sound/<level>/<lang>/<id>.ogg`` with the
  text in ``script/<level>/dialogs_<lang>.lua``. The line's font names its character
  (``font_small`` the small fish, ``font_big`` the big fish, ...), which is used as the
  speaker for hold-out splits.

:func:`decode` turns any of these files into mono float32 16 kHz samples (ffmpeg).
:func:`fillets_texts` also serves as a multilingual text pool for espeak-ng synthesis.
"""

from __future__ import annotations

import glob
import gzip
import os
import re
import subprocess
from dataclasses import dataclass
from typing import Dict, Iterable, List, Optional, Sequence, Set

import numpy as np

from emotalk_ros.errors import EmotalkError

SAMPLE_RATE = 16000
ASTERISK_SPEAKERS = {"es": "es_MX_f_Allison", "fr": "fr_CA_f_June", "it": "it_IT_m_Carlo",
                     "ru": "ru_RU_f_IvrvoiceRU"}
# espeak-ng voice used to phonemise and align each language
ESPEAK_VOICE = {"en": "en-us", "es": "es-419", "fr": "fr", "it": "it", "ru": "ru", "cs": "cs",
                "nl": "nl", "de": "de", "pl": "pl", "sv": "sv", "sl": "sl", "bg": "bg",
                "eo": "eo", "pt": "pt"}
FILLETS_LANGS = ("en", "cs", "nl")                         # languages with voiced dialogue
FILLETS_TEXT_LANGS = ("bg", "cs", "de", "en", "eo", "es", "fr", "it", "nl", "pl", "ru", "sl",
                      "sv")
RESERVED = ("asterisk-core-sounds-en",)   # never read: kept for independent evaluation


@dataclass(frozen=True)
class RealClip:
    """One recording: where it is, what is said, by whom."""

    source: str        # 'asterisk' or 'fillets'
    lang: str          # language code ('es', 'cs', ...)
    speaker: str       # 'es_MX_f_Allison', 'fillets-cs-font_small', ...
    clip_id: str       # file name without extension (with sub-folder for asterisk)
    text: str
    path: str
    fmt: Optional[str]  # ffmpeg input format ('g722') or None to probe


def clean_text(text: str) -> str:
    """Transcript -> speakable text: typographic quotes removed, whitespace collapsed; '' when
    the line is only a bracketed note ('[ tono de error ]')."""
    t = re.sub(r"\[[^\]]*\]", " ", text)
    t = t.replace("\u201c", "").replace("\u201d", "").replace("\u00ab", "").replace("\u00bb", "")
    t = t.replace('\\"', "").replace('"', "").replace("\ufeff", "")
    t = re.sub(r"\s+", " ", t).strip()
    return t if re.search(r"\w", t) else ""


def asterisk_transcripts(root: str, lang: str) -> Dict[str, str]:
    """{prompt name (may contain '/'): text} of ``asterisk-core-sounds-<lang>``."""
    if lang == "en":
        raise EmotalkError("the English asterisk prompts are reserved for independent evaluation")
    path = os.path.join(root, "usr/share/doc", f"asterisk-core-sounds-{lang}",
                        f"core-sounds-{lang}.txt.gz")
    if not os.path.exists(path):
        raise EmotalkError(f"{path}: not found (install asterisk-core-sounds-{lang})")
    out: Dict[str, str] = {}
    with gzip.open(path, "rt", encoding="utf-8-sig", errors="replace") as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith(";") or ":" not in line:
                continue
            name, text = line.split(":", 1)
            text = clean_text(text)
            if text:
                out[name.strip()] = text
    return out


def asterisk_clips(root: str, lang: str) -> List[RealClip]:
    """The G.722 core-sound prompts of ``lang`` that have a transcript, sorted by name."""
    speaker = ASTERISK_SPEAKERS.get(lang)
    if speaker is None:
        raise EmotalkError(f"no asterisk core sounds for {lang!r}; "
                           f"use {sorted(ASTERISK_SPEAKERS)}")
    base = os.path.join(root, "usr/share/asterisk/sounds", speaker)
    out = []
    for name, text in sorted(asterisk_transcripts(root, lang).items()):
        p = os.path.join(base, name + ".g722")
        if os.path.exists(p):
            out.append(RealClip("asterisk", lang, speaker, name, text, p, "g722"))
    return out


_DIALOG = re.compile(r'dialogId\(\s*"([^"]*)"\s*,\s*"([^"]*)"\s*,\s*"((?:[^"\\]|\\.)*)"\s*\)'
                     r'(?:\s*dialogStr\(\s*"((?:[^"\\]|\\.)*)"\s*\))?')


def _fillets_dir(root: str) -> str:
    return os.path.join(root, "usr/share/games/fillets-ng")


def fillets_lines(root: str, lang: str) -> List[Dict[str, str]]:
    """Every dialogue line of ``lang``: [{level, id, font, text}] (English text for 'en', the
    translation otherwise), in file order."""
    out = []
    for f in sorted(glob.glob(os.path.join(_fillets_dir(root), "script", "*",
                                           f"dialogs_{lang}.lua"))):
        level = os.path.basename(os.path.dirname(f))
        with open(f, encoding="utf-8", errors="replace") as fh:
            src = fh.read()
        for m in _DIALOG.finditer(src):
            cid, font, en, tr = m.group(1), m.group(2), m.group(3), m.group(4)
            text = clean_text(en if lang == "en" else (tr or ""))
            if text:
                out.append({"level": level, "id": cid, "font": font or "font_none",
                            "text": text})
    return out


def fillets_clips(root: str, lang: str) -> List[RealClip]:
    """Voiced fillets-ng lines of ``lang`` ('en', 'cs', 'nl') with their text and speaker."""
    if lang not in FILLETS_LANGS:
        raise EmotalkError(f"fillets-ng has voiced dialogue in {FILLETS_LANGS}, not {lang!r}")
    out, seen = [], set()
    for d in fillets_lines(root, lang):
        p = os.path.join(_fillets_dir(root), "sound", d["level"], lang, d["id"] + ".ogg")
        if os.path.exists(p) and p not in seen:
            seen.add(p)
            out.append(RealClip("fillets", lang, f"fillets-{lang}-{d['font']}",
                                f"{d['level']}/{d['id']}", d["text"], p, None))
    return out


def fillets_texts(root: str, lang: str, exclude: Iterable[str] = ()) -> List[str]:
    """Distinct dialogue texts of ``lang`` (for synthesis), minus ``exclude`` (e.g. the texts of
    a development set), in a fixed order."""
    ex: Set[str] = set(exclude)
    out, seen = [], set()
    for d in fillets_lines(root, lang):
        t = d["text"]
        if t not in seen and t not in ex:
            seen.add(t)
            out.append(t)
    return out


def decode(path: str, fmt: Optional[str] = None) -> np.ndarray:
    """Any audio file ffmpeg reads -> (N,) float32 mono at 16 kHz. G.722 needs ``fmt='g722'``."""
    cmd = ["ffmpeg", "-v", "error", "-nostdin"] + (["-f", fmt] if fmt else []) + \
        ["-i", path, "-f", "f32le", "-ac", "1", "-ar", str(SAMPLE_RATE), "-"]
    try:
        r = subprocess.run(cmd, capture_output=True, check=False, timeout=120)
    except FileNotFoundError:
        raise EmotalkError("ffmpeg is not installed (apt install ffmpeg)") from None
    if r.returncode != 0:
        raise EmotalkError(f"ffmpeg cannot decode {path}: {r.stderr.decode()[-200:]}")
    return np.frombuffer(r.stdout, np.float32).copy()


def speakers(clips: Sequence[RealClip]) -> Dict[str, int]:
    """{speaker: number of clips}."""
    out: Dict[str, int] = {}
    for c in clips:
        out[c.speaker] = out.get(c.speaker, 0) + 1
    return out
