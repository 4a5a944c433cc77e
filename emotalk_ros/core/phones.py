"""The canonical phone set (ARPAbet, lower case, no stress) and phone classes used by metrics.

Every synthesis engine's phone names are mapped onto :data:`PHONES` before anything
else sees them; ``sil`` is silence/pause. Phone timings are (start_s, end_s) with the
lip-closure onset of voiceless stops already moved earlier (see synth).
"""

from __future__ import annotations

from typing import Dict, Tuple

PHONES: Tuple[str, ...] = (
    "sil",
    "aa", "ae", "ah", "ao", "aw", "ay", "eh", "er", "ey", "ih", "iy", "ow", "oy", "uh", "uw",
    "b", "ch", "d", "dh", "f", "g", "hh", "jh", "k", "l", "m", "n", "ng", "p", "r", "s", "sh",
    "t", "th", "v", "w", "y", "z", "zh",
)
PHONE_INDEX: Dict[str, int] = {p: i for i, p in enumerate(PHONES)}
NUM_PHONES = len(PHONES)

VOWELS = frozenset(("aa", "ae", "ah", "ao", "aw", "ay", "eh", "er", "ey", "ih", "iy", "ow", "oy",
                    "uh", "uw"))
OPEN_VOWELS = frozenset(("aa", "ae", "ah", "ao", "aw", "ay"))       # INTERFACE.md, Metrics
MID_VOWELS = frozenset(("eh", "er", "ey", "ow", "oy"))
CLOSE_VOWELS = frozenset(("ih", "iy", "uh", "uw"))
BILABIALS = frozenset(("p", "b", "m"))
LABIODENTALS = frozenset(("f", "v"))
VOICELESS_STOPS = frozenset(("p", "t", "k"))


def openness(phone: str) -> float:
    """Phone openness (docs/INTERFACE.md, Metrics): open vowels 1, mid 0.7, close 0.45,
    other consonants 0.25, bilabials and silence 0."""
    if phone in OPEN_VOWELS:
        return 1.0
    if phone in MID_VOWELS:
        return 0.7
    if phone in CLOSE_VOWELS:
        return 0.45
    if phone in BILABIALS or phone == "sil":
        return 0.0
    return 0.25
