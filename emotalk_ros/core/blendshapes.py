"""The canonical ARKit blendshape table and Live Link Face CSV input/output.

There is exactly one table: :data:`NAMES`, in Apple / Live Link *streaming* order
(index 0 ``eyeBlinkLeft`` ... 51 ``tongueOut``). Always index through
:data:`INDEX` (``INDEX['jawOpen']``), never with magic numbers.

The Live Link Face CSV column order differs from the streaming order
(JawRight/JawLeft and MouthRight/MouthLeft are swapped), so CSV columns are always
read and written by name.
"""

from __future__ import annotations

import csv
import io
import math
import os
import re
from typing import Dict, Iterable, List, Sequence, Tuple

import numpy as np

from emotalk_ros.core.limits import quote
from emotalk_ros.errors import EmotalkError

NAMES: Tuple[str, ...] = (
    "eyeBlinkLeft", "eyeLookDownLeft", "eyeLookInLeft", "eyeLookOutLeft", "eyeLookUpLeft",
    "eyeSquintLeft", "eyeWideLeft",
    "eyeBlinkRight", "eyeLookDownRight", "eyeLookInRight", "eyeLookOutRight", "eyeLookUpRight",
    "eyeSquintRight", "eyeWideRight",
    "jawForward", "jawLeft", "jawRight", "jawOpen", "mouthClose", "mouthFunnel", "mouthPucker",
    "mouthLeft", "mouthRight",
    "mouthSmileLeft", "mouthSmileRight", "mouthFrownLeft", "mouthFrownRight", "mouthDimpleLeft",
    "mouthDimpleRight",
    "mouthStretchLeft", "mouthStretchRight", "mouthRollLower", "mouthRollUpper", "mouthShrugLower",
    "mouthShrugUpper",
    "mouthPressLeft", "mouthPressRight", "mouthLowerDownLeft", "mouthLowerDownRight",
    "mouthUpperUpLeft", "mouthUpperUpRight",
    "browDownLeft", "browDownRight", "browInnerUp", "browOuterUpLeft", "browOuterUpRight",
    "cheekPuff", "cheekSquintLeft",
    "cheekSquintRight", "noseSneerLeft", "noseSneerRight", "tongueOut",
)
NUM_BLENDSHAPES = len(NAMES)
assert NUM_BLENDSHAPES == 52
INDEX: Dict[str, int] = {n: i for i, n in enumerate(NAMES)}

# Live Link Face CSV: header exactly as the app writes it (docs/INTERFACE.md, Files).
LIVE_LINK_BLENDSHAPE_COLUMNS: Tuple[str, ...] = (
    "EyeBlinkLeft", "EyeLookDownLeft", "EyeLookInLeft", "EyeLookOutLeft", "EyeLookUpLeft",
    "EyeSquintLeft", "EyeWideLeft", "EyeBlinkRight", "EyeLookDownRight", "EyeLookInRight",
    "EyeLookOutRight", "EyeLookUpRight", "EyeSquintRight", "EyeWideRight", "JawForward",
    "JawRight", "JawLeft", "JawOpen", "MouthClose", "MouthFunnel", "MouthPucker", "MouthRight",
    "MouthLeft", "MouthSmileLeft", "MouthSmileRight", "MouthFrownLeft", "MouthFrownRight",
    "MouthDimpleLeft", "MouthDimpleRight", "MouthStretchLeft", "MouthStretchRight",
    "MouthRollLower", "MouthRollUpper", "MouthShrugLower", "MouthShrugUpper", "MouthPressLeft",
    "MouthPressRight", "MouthLowerDownLeft", "MouthLowerDownRight", "MouthUpperUpLeft",
    "MouthUpperUpRight", "BrowDownLeft", "BrowDownRight", "BrowInnerUp", "BrowOuterUpLeft",
    "BrowOuterUpRight", "CheekPuff", "CheekSquintLeft", "CheekSquintRight", "NoseSneerLeft",
    "NoseSneerRight", "TongueOut",
)
LIVE_LINK_HEAD_COLUMNS: Tuple[str, ...] = (
    "HeadYaw", "HeadPitch", "HeadRoll", "LeftEyeYaw", "LeftEyePitch", "LeftEyeRoll",
    "RightEyeYaw", "RightEyePitch", "RightEyeRoll",
)
LIVE_LINK_HEADER: Tuple[str, ...] = (
    ("Timecode", "BlendShapeCount") + LIVE_LINK_BLENDSHAPE_COLUMNS + LIVE_LINK_HEAD_COLUMNS
)
LIVE_LINK_SHAPE_COUNT = 61


def _key(name: str) -> str:
    """Normalise a blendshape name for matching: ARKit raw ``_L``/``_R`` -> Left/Right, lower
    case."""
    s = name.strip()
    s = re.sub(r"_L$", "Left", s)
    s = re.sub(r"_R$", "Right", s)
    return s.replace("_", "").lower()


_BY_KEY: Dict[str, int] = {_key(n): i for i, n in enumerate(NAMES)}


def parse_name(name: str) -> str:
    """Return the canonical camelCase name for ``name``.

    Accepts camelCase (``jawOpen``), PascalCase as Live Link writes it (``JawOpen``) and
    the ARKit raw forms (``eyeBlink_L``), case-insensitively. Raises :class:`EmotalkError`.
    """
    idx = _BY_KEY.get(_key(name))
    if idx is None:
        raise EmotalkError(
            f"unknown blendshape name {quote(name)}; expected one of the 52 ARKit names "
            f"(camelCase, PascalCase or _L/_R forms), e.g. {', '.join(NAMES[:4])}, ..."
        )
    return NAMES[idx]


def name_index(name: str) -> int:
    """Index of ``name`` (any accepted spelling) in the canonical streaming order."""
    return INDEX[parse_name(name)]


def to_vector(named: Dict[str, float], default: float = 0.0) -> np.ndarray:
    """Dict of (any-spelling) names -> values to a (52,) float32 vector in streaming order."""
    v = np.full(NUM_BLENDSHAPES, default, dtype=np.float32)
    for k, val in named.items():
        v[name_index(k)] = float(val)
    return v


def sanitize(frames: np.ndarray) -> np.ndarray:
    """Replace NaN/Inf with 0 and clamp to [0, 1]. Shape preserved, dtype float32."""
    out = np.nan_to_num(np.asarray(frames, dtype=np.float32), nan=0.0, posinf=1.0, neginf=0.0)
    return np.clip(out, 0.0, 1.0)


# --------------------------------------------------------------------------------------------
# Live Link Face CSV
# --------------------------------------------------------------------------------------------

def format_timecode(t: float, fps: float) -> str:
    """Seconds -> ``HH:MM:SS:FF.mmm`` where FF counts frames at ``fps`` (INTERFACE.md, Files)."""
    if t < 0 or not math.isfinite(t):
        raise EmotalkError(f"timecode must be a finite non-negative time, got {t}")
    whole = int(math.floor(t + 1e-9))
    frac = max(0.0, t - whole)
    frames_f = frac * fps
    ff = int(math.floor(frames_f + 1e-6))
    ms = int(round((frames_f - ff) * 1000.0))
    if ms >= 1000:
        ff, ms = ff + 1, 0
    h, rem = divmod(whole, 3600)
    m, s = divmod(rem, 60)
    return f"{h:02d}:{m:02d}:{s:02d}:{ff:02d}.{ms:03d}"


def parse_timecode(tc: str, fps: float) -> float:
    """``HH:MM:SS:FF.mmm`` -> seconds (the inverse of :func:`format_timecode`)."""
    m = re.fullmatch(r"\s*(\d+):(\d+):(\d+)[:;](\d+)(?:\.(\d+))?\s*", tc)
    if not m:
        raise EmotalkError(f"bad Live Link timecode {tc!r}; expected HH:MM:SS:FF.mmm")
    h, mi, s, ff = (int(m.group(i)) for i in range(1, 5))
    frac = float("0." + m.group(5)) if m.group(5) else 0.0
    return h * 3600 + mi * 60 + s + (ff + frac) / fps


def write_live_link_csv(path_or_file, frames: np.ndarray, fps: float,
                        head: np.ndarray | None = None, start_row: int = 0,
                        header: bool = True) -> None:
    """Write (T, 52) streaming-order frames as a Live Link Face CSV; row i is time i / fps.

    ``head`` is an optional (T, 9) array of head/eye angles; zeros otherwise. To write a
    long file in pieces, pass an open file, ``header=False`` after the first piece and
    ``start_row`` = the rows written so far (the timecodes continue).
    """
    frames = np.asarray(frames, dtype=np.float64)
    if frames.ndim != 2 or frames.shape[1] != NUM_BLENDSHAPES:
        raise EmotalkError(f"frames must be (T, 52), got {frames.shape}")
    if head is None:
        head = np.zeros((frames.shape[0], len(LIVE_LINK_HEAD_COLUMNS)))
    order = [name_index(c) for c in LIVE_LINK_BLENDSHAPE_COLUMNS]
    own = isinstance(path_or_file, (str, os.PathLike))
    f = open(path_or_file, "w", newline="") if own else path_or_file
    try:
        w = csv.writer(f, lineterminator="\n")
        if header:
            w.writerow(LIVE_LINK_HEADER)
        for i in range(frames.shape[0]):
            row = [format_timecode((start_row + i) / fps, fps), LIVE_LINK_SHAPE_COUNT]
            row += [f"{v:.6f}" for v in frames[i, order]]
            row += [f"{v:.6f}" for v in head[i]]
            w.writerow(row)
    finally:
        if own:
            f.close()


def read_live_link_csv(path_or_text, fps: float | None = None) -> Tuple[np.ndarray, np.ndarray]:
    """Read a Live Link Face CSV -> (times (T,) float64 s, frames (T, 52) float32 streaming order).

    Columns are matched by name (any accepted spelling), so files whose column order
    differs still load. When ``fps`` is None it is inferred from the timecodes' frame
    field (the largest FF + 1, rounded to a common rate), falling back to 60.
    """
    if isinstance(path_or_text, (str, os.PathLike)) and os.path.exists(path_or_text):
        with open(path_or_text, newline="") as f:
            text = f.read()
    elif isinstance(path_or_text, str) and "\n" in path_or_text:
        text = path_or_text
    else:
        raise EmotalkError(f"Live Link CSV not found: {path_or_text}")
    rows = list(csv.reader(io.StringIO(text)))
    if len(rows) < 2:
        raise EmotalkError("Live Link CSV has no data rows")
    header = [h.strip() for h in rows[0]]
    if not header or header[0] != "Timecode":
        raise EmotalkError("not a Live Link Face CSV: first column must be 'Timecode'")
    cols: Dict[int, int] = {}
    for j, h in enumerate(header):
        if h in ("Timecode", "BlendShapeCount") or h in LIVE_LINK_HEAD_COLUMNS:
            continue
        try:
            cols[name_index(h)] = j
        except EmotalkError:
            continue
    missing = [NAMES[i] for i in range(NUM_BLENDSHAPES) if i not in cols]
    if missing:
        raise EmotalkError(f"Live Link CSV lacks blendshape columns: {', '.join(missing[:6])}...")
    data = rows[1:]
    if fps is None:
        ffs = []
        for r in data:
            m = re.fullmatch(r"\s*\d+:\d+:\d+[:;](\d+).*", r[0])
            if m:
                ffs.append(int(m.group(1)))
        top = (max(ffs) + 1) if ffs else 60
        common = (24, 25, 30, 48, 50, 60, 90, 100, 120)
        fps = float(min(common, key=lambda c: abs(c - top))) if ffs else 60.0
    times = np.empty(len(data))
    frames = np.zeros((len(data), NUM_BLENDSHAPES), dtype=np.float32)
    for i, r in enumerate(data):
        if len(r) < len(header):
            raise EmotalkError(
                f"Live Link CSV row {i + 2} has {len(r)} fields, expected {len(header)}"
            )
        times[i] = parse_timecode(r[0], fps)
        for k, j in cols.items():
            try:
                frames[i, k] = float(r[j])
            except ValueError as exc:
                raise EmotalkError(
                    f"Live Link CSV row {i + 2}, column {header[j]}: {exc}"
                ) from None
    return times, frames


def names_list() -> List[str]:
    """The 52 canonical names as a list (for messages)."""
    return list(NAMES)


def group_indices(names: Iterable[str]) -> np.ndarray:
    """Indices (int64) of several names, for slicing (T, 52) arrays."""
    return np.array([name_index(n) for n in names], dtype=np.int64)


def check_names(names: Sequence[str]) -> np.ndarray:
    """Map a message's names to canonical indices; raises on unknown names."""
    return np.array([name_index(n) for n in names], dtype=np.int64)


def check_frames(frames) -> np.ndarray:
    """Frames -> (T, 52) float64; raises :class:`EmotalkError` on any other shape
    (values are not checked)."""
    f = np.asarray(frames, np.float64)
    if f.ndim != 2 or f.shape[1] != NUM_BLENDSHAPES:
        raise EmotalkError(f"frames must be (T, {NUM_BLENDSHAPES}), got {f.shape}")
    return f


def aperture(frames) -> np.ndarray:
    """Lip aperture per frame (docs/INTERFACE.md, Metrics): frames (T, 52) -> (T,) float64."""
    f = check_frames(frames)
    jaw = f[:, INDEX["jawOpen"]] - f[:, INDEX["mouthClose"]]
    up = 0.5 * (f[:, INDEX["mouthUpperUpLeft"]] + f[:, INDEX["mouthUpperUpRight"]])
    low = 0.5 * (f[:, INDEX["mouthLowerDownLeft"]] + f[:, INDEX["mouthLowerDownRight"]])
    return np.maximum(jaw, 0.0) + 0.5 * up + 0.5 * low
