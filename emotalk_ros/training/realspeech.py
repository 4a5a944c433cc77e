"""Real recorded human speech with transcripts, from Debian packages.

Sources (all read from an installed or unpacked tree, ``root`` = ``/`` on a system with
the packages installed):

* **asterisk core sounds** (``asterisk-core-sounds-{es,fr,it,ru}`` with ``-g722``): studio
  telephone prompts, one speaker per language, wideband G.722 (16 kHz) decoded with
  ffmpeg; transcripts in ``/usr/share/doc/asterisk-core-sounds-<lang>/core-sounds-<lang>.txt.gz``
  (``name: text`` lines). The English packages are reserved for independent evaluation and
  are refused here (:data:`RESERVED`).
* **asterisk prompts by other speakers** (``asterisk-prompt-es-co``,
  ``asterisk-prompt-fr-armelle``, ``asterisk-prompt-it-menardi-gsm``): the same telephone
  prompts recorded by a Colombian, a French and an Italian speaker, GSM 06.10 at 8 kHz
  (``/usr/share/asterisk/sounds/<lang>/``; Menardi's under ``it_IT_f_Menardi/``, the plain
  ``asterisk-prompt-it-menardi`` being an empty transitional package), without a
  transcript list; a prompt's text is the core sounds' transcript of the same name
  (:data:`PROMPT_PACKAGES`; the core-sounds package of the language must be installed).
* **fillets-ng** game dialogue (``fillets-ng-data`` with ``-cs``/``-nl``): voiced lines in
  English, Czech and Dutch by several actors; ``sound/<level>/<lang>/<id>.ogg`` with the
  text in ``script/<level>/dialogs_<lang>.lua``. The line's font names its character
  (``font_small`` the small fish, ``font_big`` the big fish, ...), which is used as the
  speaker for hold-out splits.
* **KLettres** letters and syllables (``klettres-data``): one recording per letter name and
  per syllable ('BA', 'ME', 'CAR') in many languages, by a native speaker each
  (``/usr/share/klettres/<lang>/sounds.xml`` names every file; :data:`KLETTRES_LANGS`). Short
  isolated words with pauses around them: lips closing and opening on real voices of other
  speakers, and rest in silence.

:func:`decode` turns any of these files into mono float32 16 kHz samples (ffmpeg).
:func:`fillets_texts` also serves as a multilingual text pool for espeak-ng synthesis.
"""

from __future__ import annotations

import glob
import gzip
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from typing import Dict, Iterable, List, Optional, Sequence, Set

import numpy as np

from emotalk_ros.errors import EmotalkError

SAMPLE_RATE = 16000
ASTERISK_SPEAKERS = {"es": "es_MX_f_Allison", "fr": "fr_CA_f_June", "it": "it_IT_m_Carlo",
                     "ru": "ru_RU_f_IvrvoiceRU"}
# language -> (package, sound folder, speaker): other speakers of the core sounds' prompts
PROMPT_PACKAGES = {"es": ("asterisk-prompt-es-co", "es", "es_CO_f_July"),
                   "fr": ("asterisk-prompt-fr-armelle", "fr", "fr_FR_f_Armelle"),
                   "it": ("asterisk-prompt-it-menardi-gsm", "it_IT_f_Menardi", "it_IT_f_Menardi")}
# the prompt languages ``split_clips(prompts=True)`` trains on unless told otherwise: those of
# the shipped recipe (Italian is opt-in: it did not move the development set, EVALUATION.md)
DEFAULT_PROMPT_LANGS = ("es", "fr")
# espeak-ng voice used to phonemise and align each language
ESPEAK_VOICE = {"en": "en-us", "es": "es-419", "fr": "fr", "it": "it", "ru": "ru", "cs": "cs",
                "nl": "nl", "de": "de", "pl": "pl", "sv": "sv", "sl": "sl", "bg": "bg",
                "eo": "eo", "pt": "pt", "da": "da", "hu": "hu", "lt": "lt", "nb": "nb",
                "uk": "uk", "en-gb": "en", "pt-br": "pt-br"}
# KLettres folder -> language code (an ESPEAK_VOICE key): the languages whose letters and
# syllables espeak-ng can say
KLETTRES_LANGS = {"cs": "cs", "da": "da", "de": "de", "en": "en", "en_GB": "en-gb", "es": "es",
                  "fr": "fr", "hu": "hu", "it": "it", "lt": "lt", "nb": "nb", "nl": "nl",
                  "pt_BR": "pt-br", "ru": "ru", "uk": "uk"}
# KLettres' English speakers are the only English real speech found that is not reserved:
# they are kept for evaluation (english_dev_clips) and never trained on
KLETTRES_DEV = ("en", "en_GB")
TRAIN_SOURCES = ("fillets", "asterisk-prompt", "klettres")   # RealClip.source of training clips
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
    return _transcribed(root, lang, speaker, "asterisk", speaker, "g722")


def _transcribed(root: str, lang: str, folder: str, source: str, speaker: str,
                 fmt: str) -> List[RealClip]:
    """The ``<name>.<fmt>`` files under the asterisk sound folder ``folder`` whose name has a
    core-sounds transcript in ``lang``, sorted by name."""
    base = os.path.join(root, "usr/share/asterisk/sounds", folder)
    out = []
    for name, text in sorted(asterisk_transcripts(root, lang).items()):
        p = os.path.join(base, f"{name}.{fmt}")
        if os.path.exists(p):
            out.append(RealClip(source, lang, speaker, name, text, p, fmt))
    return out


def prompt_clips(root: str, lang: str) -> List[RealClip]:
    """The GSM prompts of ``lang``'s other speaker (:data:`PROMPT_PACKAGES`) whose name has a
    core-sounds transcript, sorted by name. The package may say a prompt in other words than
    the core sounds do; the aligner's cost rejects those (``build_real_corpus``)."""
    if lang not in PROMPT_PACKAGES:
        raise EmotalkError(f"no asterisk prompts by another speaker for {lang!r}; "
                           f"use {sorted(PROMPT_PACKAGES)}")
    package, folder, speaker = PROMPT_PACKAGES[lang]
    if not os.path.isdir(os.path.join(root, "usr/share/doc", package)):
        raise EmotalkError(f"{package} is not installed under {root}")
    return _transcribed(root, lang, folder, "asterisk-prompt", speaker, "gsm")


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


def klettres_clips(root: str, folder: str) -> List[RealClip]:
    """The letters and syllables of KLettres' ``folder`` ('es', 'en_GB', ...;
    :data:`KLETTRES_LANGS`) in ``sounds.xml`` order. A letter's text is the capital letter
    (espeak-ng says its name in the language), a syllable's its lower-case spelling; the
    aligner's cost rejects the recordings that say something else."""
    import xml.etree.ElementTree as ET

    if folder not in KLETTRES_LANGS:
        raise EmotalkError(f"no KLettres language {folder!r}; use {sorted(KLETTRES_LANGS)}")
    base = os.path.join(root, "usr/share/klettres")
    path = os.path.join(base, folder, "sounds.xml")
    if not os.path.exists(path):
        raise EmotalkError(f"{path}: not found (install klettres-data)")
    with open(path, encoding="utf-8", errors="replace") as f:
        src = f.read()
    try:
        tree = ET.fromstring(src[src.index("<klettres"):])
    except (ValueError, ET.ParseError) as exc:
        raise EmotalkError(f"{path}: not a KLettres sound list ({exc})") from None
    lang = KLETTRES_LANGS[folder]
    out, seen = [], set()
    for kind in ("alphabet", "syllables"):
        for group in tree.iter(kind):
            for snd in group.iter("sound"):
                name, rel = (snd.get("name") or "").strip(), snd.get("file") or ""
                text = clean_text(name if kind == "alphabet" else name.lower())
                p = os.path.join(base, rel)
                if not text or not rel or p in seen or not os.path.exists(p):
                    continue
                seen.add(p)
                out.append(RealClip("klettres", lang, f"klettres-{folder}",
                                    os.path.splitext(rel)[0], text, p, None))
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


# -------------------------------------------------------------------------------------------
# corpora of aligned real speech (the synthetic corpus's shard format)
# -------------------------------------------------------------------------------------------
def align_clips(clips: Sequence[RealClip], posteriors, cache_path: Optional[str] = None,
                progress: bool = True) -> Dict[str, Dict]:
    """Forced-align every clip (:func:`emotalk_ros.speech.align.align_hmm`) -> {clip path:
    {"phones": [[start_s, end_s, phone], ...], "cost": float, "seconds": float}}.

    Results are cached in ``cache_path`` (JSON) and reused for clips already there.
    """
    import json

    from emotalk_ros.speech.align import align_hmm

    cache: Dict[str, Dict] = {}
    if cache_path and os.path.exists(cache_path):
        with open(cache_path, encoding="utf-8") as f:
            cache = json.load(f)
    todo = [c for c in clips if c.path not in cache]
    bar = None
    if progress and todo:
        from tqdm import tqdm

        bar = tqdm(total=len(todo), desc="align", file=sys.stderr)
    for k, c in enumerate(todo):
        x = decode(c.path, c.fmt)
        try:
            al = align_hmm(x, c.text, ESPEAK_VOICE[c.lang], posteriors)
            cache[c.path] = {"phones": [[round(s, 4), round(e, 4), p] for s, e, p in al.phones],
                             "cost": round(al.cost, 4), "seconds": round(x.size / 16000, 3)}
        except EmotalkError as exc:
            cache[c.path] = {"phones": [], "cost": float("inf"), "error": str(exc),
                             "seconds": round(x.size / 16000, 3)}
        if bar is not None:
            bar.update(1)
        if cache_path and (k % 100 == 99 or k == len(todo) - 1):
            tmp = cache_path + ".tmp"
            with open(tmp, "w", encoding="utf-8") as f:
                json.dump(cache, f)
            os.replace(tmp, cache_path)
    if bar is not None:
        bar.close()
    return {c.path: cache[c.path] for c in clips}


# -------------------------------------------------------------------------------------------
# the project's split: every development speaker is unseen in training
# -------------------------------------------------------------------------------------------
DEV_FILLETS_FONT = "font_big"     # the big fish: the held-out fillets-ng speaker (cs, nl)


def split_clips(root: str, dev_per_language: int = 0, prompts: bool = False,
                klettres: bool = False, prompt_langs: Sequence[str] = DEFAULT_PROMPT_LANGS
                ) -> Dict[str, List[RealClip]]:
    """{'train': [...], 'dev': [...]} over every source found under ``root``.

    Training: the fillets-ng Czech and Dutch lines of every character except the big fish;
    with ``prompts``, also the prompts of the other speakers of ``prompt_langs`` (Spanish and
    French by default; :func:`prompt_clips`) except those whose text is a development clip's;
    with ``klettres``, also the KLettres letters and syllables (:func:`klettres_clips`) except
    those whose text is a development clip's in any letter case (the core sounds have letter
    prompts), and except the English speakers (:data:`KLETTRES_DEV`, :func:`english_dev_clips`).
    Development (never trained on, every speaker unseen): the big fish's Czech and Dutch
    lines and the asterisk core sounds of Spanish, French, Italian and Russian (one studio
    speaker each; Russian has no real speech in training, Italian only with ``'it'`` in
    ``prompt_langs``), at most ``dev_per_language`` clips of each language (:func:`spread`;
    0 = all). The voiced lines of the English fillets-ng data are not English speech (a
    parrot speaking German, an elk speaking Russian in Latin transliteration, clicks, hex
    digits, scat) and are left out;
    the English asterisk prompts are reserved. Sources that are not installed are skipped.
    """
    train: List[RealClip] = []
    dev: List[RealClip] = []
    for lang in ("cs", "nl"):
        try:
            clips = fillets_clips(root, lang)
        except EmotalkError:
            continue
        for c in clips:
            (dev if c.speaker.endswith(DEV_FILLETS_FONT) else train).append(c)
    for lang in ("es", "fr", "it", "ru"):
        try:
            dev += asterisk_clips(root, lang)
        except EmotalkError:
            continue
    dev = spread(dev, dev_per_language)
    if prompts:
        held = {c.text for c in dev}
        for lang in sorted(prompt_langs):
            try:
                train += [c for c in prompt_clips(root, lang) if c.text not in held]
            except EmotalkError:
                continue
    if klettres:
        held_lower = {c.text.lower() for c in dev}
        for folder in sorted(set(KLETTRES_LANGS) - set(KLETTRES_DEV)):
            try:
                train += [c for c in klettres_clips(root, folder)
                          if c.text.lower() not in held_lower]
            except EmotalkError:
                continue
    return {"train": train, "dev": dev}


def english_dev_clips(root: str) -> List[RealClip]:
    """English real speech for evaluation: KLettres' letters and words of its two English
    speakers (:data:`KLETTRES_DEV`: American 'en', British 'en_GB'), never trained on."""
    return [c for folder in KLETTRES_DEV for c in klettres_clips(root, folder)]


def dev_texts(root: str) -> Set[str]:
    """Transcripts of the development set (kept out of synthetic training text)."""
    return {c.text for c in split_clips(root)["dev"]}


def spread(clips: Sequence[RealClip], per_language: int) -> List[RealClip]:
    """At most ``per_language`` clips of each language, spread evenly over that language's
    clips in their order (all when 0)."""
    if not per_language:
        return list(clips)
    by: Dict[str, List[RealClip]] = {}
    for c in clips:
        by.setdefault(c.lang, []).append(c)
    keep = set()
    for cs in by.values():
        if len(cs) <= per_language:
            keep.update(id(c) for c in cs)
        else:
            idx = np.unique(np.linspace(0, len(cs) - 1, per_language).round().astype(int))
            keep.update(id(cs[i]) for i in idx)
    return [c for c in clips if id(c) in keep]
