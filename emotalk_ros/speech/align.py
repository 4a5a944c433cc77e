"""Phone alignment of real recordings without a per-language acoustic model.

:func:`align` speaks the transcript with espeak-ng in the recording's language (exact
phone timings, :func:`emotalk_ros.speech.espeak.synthesize`), time-warps that rendition
onto the recording with dynamic time warping (DTW) of speaker-normalised cepstra, and
carries the rendition's phone boundaries across the warping path. Two refinements:

* **Rate match.** The rendition is spoken again at the recording's speaking rate (its
  speech duration, pauses excluded), so the warping path stays near the diagonal.
* **Pauses.** A reader pauses where the rendition does not. Stretches of the recording
  that are quiet for at least :data:`MIN_PAUSE_S` (frame energy near the recording's own
  noise floor) become ``sil``, and the phones the path had put there are pushed to the
  pause's edges.

The alignment error is measured on synthetic speech whose phone timings are known
(:func:`boundary_errors`; ``docs/EVALUATION.md``, Real speech).

All audio is mono float32 at 16 kHz; phones are ``(start_s, end_s, ARPAbet)`` tuples
tiling the recording, with names from :data:`emotalk_ros.core.phones.PHONES`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

import numpy as np

from emotalk_ros.core.audio import FeatureConfig, log_mel
from emotalk_ros.errors import EmotalkError

Phone = Tuple[float, float, str]

RATE = 100.0                 # feature frames per second
N_CEPS = 13                  # cepstra c1..c13 (c0, the level, is used separately)
STEP_PENALTY = 0.4           # extra cost of a horizontal or vertical DTW step (z units)
MIN_PAUSE_S = 0.15           # quiet stretches at least this long become pauses
QUIET_DB = 12.0              # quiet = within this of the noise floor (dB) ...
QUIET_FRACTION = 0.25        # ... and below this fraction of the floor-to-speech range
MIN_PHONE_S = 0.01           # every aligned phone keeps at least one frame
NEUTRAL_RATE = 175           # espeak words per minute of the first rendition


@dataclass
class Alignment:
    """The result of :func:`align`: phones tiling the recording, and how well it matched.

    ``phones``: [(start_s, end_s, phone)]; ``cost``: mean DTW frame distance along the path
    (z-normalised cepstra; about 0.6-0.9 for a matching transcript, higher for a wrong one);
    ``rate``: espeak rate (words/min) of the rendition that was aligned.
    """

    phones: List[Phone]
    cost: float
    rate: int


def cepstra(audio: np.ndarray) -> np.ndarray:
    """Per-utterance normalised cepstral features (T, 2 * N_CEPS + 1) float32 at 100 Hz.

    log-mel (the model's front end) -> DCT-II c1..c13 with first differences, each
    dimension z-normalised over the utterance (cepstral mean and variance normalisation,
    which removes most of the speaker and channel), plus the normalised frame level.
    """
    lm = log_mel(np.asarray(audio, np.float32), FeatureConfig()).astype(np.float64)  # (T, 40)
    n_mels = lm.shape[1]
    k = np.arange(n_mels)
    basis = np.cos(np.pi / n_mels * (k[None, :] + 0.5) * np.arange(N_CEPS + 1)[:, None])
    c = lm @ basis.T                                                   # (T, 14)
    level = c[:, :1]
    ceps = c[:, 1:]
    d = np.zeros_like(ceps)
    if ceps.shape[0] > 2:
        d[1:-1] = 0.5 * (ceps[2:] - ceps[:-2])
    f = np.concatenate([ceps, d, level], axis=1)                       # (T, 27)
    f = (f - f.mean(axis=0)) / (f.std(axis=0) + 1e-6)
    return f.astype(np.float32)


def frame_energy_db(audio: np.ndarray) -> np.ndarray:
    """Frame power in dB (T,) at 100 Hz, from the log-mel front end (10 * log10 of summed
    mel power)."""
    lm = log_mel(np.asarray(audio, np.float32), FeatureConfig()).astype(np.float64)
    return 10.0 * np.log10(np.sum(10.0 ** lm, axis=1) + 1e-12)


def quiet_frames(audio: np.ndarray) -> np.ndarray:
    """(T,) bool: frames near the recording's noise floor (see :data:`QUIET_DB`)."""
    db = frame_energy_db(audio)
    if db.size == 0:
        return np.zeros(0, bool)
    floor, loud = np.percentile(db, 5), np.percentile(db, 95)
    thr = min(floor + QUIET_DB, floor + QUIET_FRACTION * max(loud - floor, 0.0))
    return db <= thr


def dtw_path(cost: np.ndarray, step_penalty: float = STEP_PENALTY) -> np.ndarray:
    """Minimum-cost monotonic path through ``cost`` (N, M) from (0, 0) to (N-1, M-1).

    Steps (1, 1), (1, 0), (0, 1); the latter two cost ``step_penalty`` extra. Returns the path
    as (L, 2) int64 (row, column) pairs. O(N M) time, vectorised over columns (the
    horizontal recursion is a running minimum of a cumulative sum).
    """
    c = np.asarray(cost, np.float64)
    n, m = c.shape
    if n == 0 or m == 0:
        raise EmotalkError("dtw_path: empty cost matrix")
    D = np.empty((n, m))
    ch = c + step_penalty                                              # horizontal step cost
    cs = np.cumsum(ch[0])
    D[0] = cs - ch[0, 0] + c[0, 0]
    for i in range(1, n):
        prev = D[i - 1]
        a = np.empty(m)
        a[0] = prev[0] + c[i, 0] + step_penalty                         # vertical only
        a[1:] = c[i, 1:] + np.minimum(prev[:-1], prev[1:] + step_penalty)
        cum = np.cumsum(ch[i])
        # D[i, j] = min_k<=j (a[k] + cum[j] - cum[k])
        D[i] = cum + np.minimum.accumulate(a - cum)
    # backtrack
    i, j = n - 1, m - 1
    path = [(i, j)]
    while i > 0 or j > 0:
        if i == 0:
            j -= 1
        elif j == 0:
            i -= 1
        else:
            cands = (D[i - 1, j - 1], D[i - 1, j] + step_penalty, D[i, j - 1] + step_penalty)
            k = int(np.argmin(cands))
            if k == 0:
                i, j = i - 1, j - 1
            elif k == 1:
                i -= 1
            else:
                j -= 1
        path.append((i, j))
    return np.asarray(path[::-1], np.int64)


def warp_phones(path: np.ndarray, ref_phones: Sequence[Phone], n_rec: int,
                rate: float = RATE) -> List[Phone]:
    """Carry reference phone boundaries across a DTW path (rows = recording frames, columns =
    reference frames) -> phones tiling ``n_rec`` recording frames.

    A reference boundary at frame b lands at the middle of the recording frames the path
    pairs with reference frame b (the first such frame when the path is vertical there
    because of a pause, so the pause stays with the phone before it until
    :func:`mark_pauses`).
    """
    rec, ref = path[:, 0], path[:, 1]
    m = int(ref.max()) + 1
    first = np.full(m, -1, np.int64)
    for r, c in zip(rec[::-1], ref[::-1], strict=True):
        first[c] = r                                                   # smallest rec per ref
    for c in range(m):
        if first[c] < 0:
            first[c] = first[c - 1] if c else 0
    out: List[Phone] = []
    starts = []
    for t0, _t1, _ph in ref_phones:
        b = min(int(round(t0 * rate)), m - 1)
        starts.append(float(first[b]))
    starts[0] = 0.0
    # monotonic, at least one frame each where possible
    for k in range(1, len(starts)):
        starts[k] = max(starts[k], starts[k - 1])
    end = float(n_rec)
    for k, (_t0, _t1, ph) in enumerate(ref_phones):
        s = starts[k]
        e = starts[k + 1] if k + 1 < len(starts) else end
        out.append((s / rate, e / rate, ph))
    return _min_durations([p for p in out], n_rec / rate)


def _min_durations(phones: List[Phone], end_s: float) -> List[Phone]:
    """Give every phone at least MIN_PHONE_S by pushing later boundaries (clamped at the end);
    phones that still have no time are dropped."""
    out: List[Phone] = []
    t = 0.0
    for k, (s, e, ph) in enumerate(phones):
        s = max(s, t)
        rest = len(phones) - k - 1
        e = max(e, s + MIN_PHONE_S)
        e = min(e, end_s - rest * MIN_PHONE_S) if rest else end_s
        if e - s < 1e-6:
            continue
        out.append((s, e, ph))
        t = e
    if out:
        s, _e, ph = out[-1]
        out[-1] = (s, end_s, ph)
    return _merge_sil(out)


def _merge_sil(phones: List[Phone]) -> List[Phone]:
    out: List[Phone] = []
    for s, e, ph in phones:
        if out and ph == "sil" and out[-1][2] == "sil":
            out[-1] = (out[-1][0], e, "sil")
        else:
            out.append((s, e, ph))
    return out


def mark_pauses(phones: Sequence[Phone], quiet: np.ndarray, rate: float = RATE,
                min_pause_s: float = MIN_PAUSE_S) -> List[Phone]:
    """Turn quiet stretches of at least ``min_pause_s`` into ``sil``: phones overlapping a pause
    are cut back to its edges (a phone inside it moves to the nearer edge with MIN_PHONE_S).

    quiet: (T,) bool per recording frame (:func:`quiet_frames`).
    """
    q = np.asarray(quiet, bool)
    runs: List[Tuple[float, float]] = []
    j = 0
    while j < q.size:
        if q[j]:
            k = j
            while k < q.size and q[k]:
                k += 1
            if (k - j) / rate >= min_pause_s - 1e-9:
                runs.append((j / rate, k / rate))
            j = k
        else:
            j += 1
    if not runs:
        return list(phones)
    out = list(phones)
    end_s = out[-1][1] if out else 0.0
    for p0, p1 in runs:
        new: List[Phone] = []
        inside: List[Tuple[str, float]] = []
        for s, e, ph in out:
            if e <= p0 or s >= p1:
                new.append((s, e, ph))
                continue
            if ph == "sil":
                new.append((s, e, ph))
                continue
            if s < p0:
                new.append((s, p0, ph))
            if e > p1:
                new.append((p1, e, ph))
            if s >= p0 and e <= p1:
                inside.append((ph, 0.5 * (s + e)))
        new.append((p0, p1, "sil"))
        new.sort(key=lambda x: (x[0], x[1]))
        # re-tile: drop sil overlaps (a sil phone overlapping the pause is clipped to it)
        tiled: List[Phone] = []
        t = 0.0
        for s, e, ph in new:
            s = max(s, t)
            if e - s <= 1e-9:
                continue
            tiled.append((s, e, ph))
            t = e
        # phones that were entirely inside the pause: squeeze them in at the nearer edge
        for ph, mid in inside:
            edge_before = mid - p0 < p1 - mid
            for k, (s, e, name) in enumerate(tiled):
                if name == "sil" and abs(s - p0) < 1e-9 and abs(e - p1) < 1e-9:
                    if edge_before:
                        tiled[k] = (s + MIN_PHONE_S, e, name)
                        tiled.insert(k, (s, s + MIN_PHONE_S, ph))
                        p0 += MIN_PHONE_S
                    else:
                        tiled[k] = (s, e - MIN_PHONE_S, name)
                        tiled.insert(k + 1, (e - MIN_PHONE_S, e, ph))
                        p1 -= MIN_PHONE_S
                    break
        out = _merge_sil(tiled)
    if out:
        s, _e, ph = out[-1]
        out[-1] = (s, max(end_s, _e), ph)
    return out


def utterance_phones(utt) -> List[Phone]:
    """An engine Utterance's (phone, start, end) segments as (start_s, end_s, phone)."""
    return [(float(s), float(e), p) for p, s, e in utt.phones]


def _speech_seconds(phones: Sequence[Phone]) -> float:
    return float(sum(e - s for s, e, ph in phones if ph != "sil"))


def _speech_seconds_audio(audio: np.ndarray) -> float:
    q = quiet_frames(audio)
    return float((~q).sum()) / RATE


def align(audio: np.ndarray, text: str, voice: str, rate_match: bool = True,
          pauses: bool = True, reference=None) -> Alignment:
    """Phones of a recording of ``text``: espeak-ng rendition in ``voice`` + DTW.

    audio: (N,) float32 at 16 kHz; voice: an espeak voice of the recording's language
    (``es-419``, ``fr``, ``en-us+f3``). ``reference``: an Utterance to align instead of
    synthesising one (used by tests and the error measurement). Raises EmotalkError when the
    text gives no speech.
    """
    from emotalk_ros.speech import espeak

    x = np.asarray(audio, np.float32)
    if x.size < 400:
        raise EmotalkError("align: recording shorter than one analysis window")
    if reference is None:
        ref = espeak.synthesize(text, voice, espeak.Prosody(rate=NEUTRAL_RATE))
        rate = NEUTRAL_RATE
        if rate_match:
            rec_s = _speech_seconds_audio(x)
            ref_s = _speech_seconds(utterance_phones(ref))
            if rec_s > 0.2 and ref_s > 0.2:
                rate = int(np.clip(round(NEUTRAL_RATE * ref_s / rec_s), 80, 450))
                if abs(rate - NEUTRAL_RATE) > 5:
                    ref = espeak.synthesize(text, voice, espeak.Prosody(rate=rate))
    else:
        ref, rate = reference, 0
    fr, fy = cepstra(x), cepstra(ref.audio)                           # (N, D), (M, D)
    cost = _distance(fr, fy)                                           # (N, M)
    path = dtw_path(cost)
    phones = warp_phones(path, utterance_phones(ref), fr.shape[0])
    if pauses:
        phones = mark_pauses(phones, quiet_frames(x))
    # tile exactly to the audio length
    end_s = x.size / 16000.0
    s, _e, ph = phones[-1]
    phones[-1] = (s, max(end_s, s + MIN_PHONE_S), ph)
    return Alignment(phones, float(cost[path[:, 0], path[:, 1]].mean()), int(rate))


def _distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Euclidean distances (N, M) between frames, divided by sqrt(dim)."""
    aa = (a.astype(np.float64) ** 2).sum(1)[:, None]
    bb = (b.astype(np.float64) ** 2).sum(1)[None, :]
    d2 = np.maximum(aa + bb - 2.0 * a.astype(np.float64) @ b.astype(np.float64).T, 0.0)
    return np.sqrt(d2 / a.shape[1])


# -------------------------------------------------------------------------------------------
# alignment error against known timings
# -------------------------------------------------------------------------------------------
def _label_alignment(a: Sequence[str], b: Sequence[str]) -> List[Tuple[int, int]]:
    """Index pairs of an edit-distance alignment of two label sequences (matches and
    substitutions; insertions/deletions are skipped)."""
    n, m = len(a), len(b)
    D = np.zeros((n + 1, m + 1))
    D[:, 0] = np.arange(n + 1)
    D[0, :] = np.arange(m + 1)
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            D[i, j] = min(D[i - 1, j] + 1, D[i, j - 1] + 1,
                          D[i - 1, j - 1] + (0 if a[i - 1] == b[j - 1] else 1))
    pairs = []
    i, j = n, m
    while i > 0 and j > 0:
        if D[i, j] == D[i - 1, j - 1] + (0 if a[i - 1] == b[j - 1] else 1):
            pairs.append((i - 1, j - 1))
            i, j = i - 1, j - 1
        elif D[i, j] == D[i - 1, j] + 1:
            i -= 1
        else:
            j -= 1
    return pairs[::-1]


def boundary_errors(hyp: Sequence[Phone], truth: Sequence[Phone],
                    same_label_only: bool = True) -> np.ndarray:
    """Onset errors (s, hyp - truth) of the speech phones two alignments share.

    The non-silence phone sequences are matched by edit distance (they may differ when the
    truth comes from another engine); with ``same_label_only`` only pairs with equal labels
    count. Returns (K,) float64.
    """
    h = [(s, ph) for s, _e, ph in hyp if ph != "sil"]
    t = [(s, ph) for s, _e, ph in truth if ph != "sil"]
    pairs = _label_alignment([p for _, p in h], [p for _, p in t])
    err = [h[i][0] - t[j][0] for i, j in pairs if not same_label_only or h[i][1] == t[j][1]]
    return np.asarray(err, np.float64)


def error_summary(errors: np.ndarray) -> dict:
    """{n, mean_abs_ms, median_abs_ms, p90_abs_ms, bias_ms, within_20ms, within_50ms}."""
    e = np.abs(np.asarray(errors, np.float64))
    if e.size == 0:
        return {"n": 0}
    return {"n": int(e.size), "mean_abs_ms": 1000 * float(e.mean()),
            "median_abs_ms": 1000 * float(np.median(e)),
            "p90_abs_ms": 1000 * float(np.percentile(e, 90)),
            "bias_ms": 1000 * float(np.mean(errors)),
            "within_20ms": float(np.mean(e <= 0.020)), "within_50ms": float(np.mean(e <= 0.050))}


def frames_to_phones(labels: Sequence[str], rate: float = RATE) -> List[Phone]:
    """Per-frame labels -> run-length phones [(start_s, end_s, label)]."""
    out: List[Phone] = []
    for j, lab in enumerate(labels):
        if out and out[-1][2] == lab:
            out[-1] = (out[-1][0], (j + 1) / rate, lab)
        else:
            out.append((j / rate, (j + 1) / rate, lab))
    return out


def duration_s(phones: Sequence[Phone]) -> Optional[float]:
    """End time of the last phone (s), or None for no phones."""
    return float(phones[-1][1]) if phones else None


__all__ = ["Alignment", "align", "cepstra", "dtw_path", "warp_phones", "mark_pauses",
           "quiet_frames", "boundary_errors", "error_summary", "frames_to_phones",
           "duration_s"]


# -------------------------------------------------------------------------------------------
# forced alignment with a phone classifier (HMM / Viterbi)
# -------------------------------------------------------------------------------------------
MIN_FRAMES_PHONE = 2          # every phone lasts at least 20 ms
MIN_FRAMES_SIL = 5            # an inserted pause lasts at least 50 ms
PRIOR_SCALE = 0.6             # log p(x|phone) ~ log p(phone|x) - PRIOR_SCALE * log p(phone)


def transcript_units(text: str, voice: str) -> List[str]:
    """The transcript's phone sequence from espeak-ng in ``voice``, with ``sil`` between
    words (an espeak word gap), consecutive pauses merged: e.g. ['sil', 'p', 'ow', ...]."""
    from emotalk_ros.speech import espeak

    utt = espeak.synthesize(text, voice, espeak.Prosody(rate=NEUTRAL_RATE, wordgap=1))
    units: List[str] = []
    for p, _s, _e in utt.phones:
        if p == "sil" and units and units[-1] == "sil":
            continue
        units.append(p)
    if not units or units[0] != "sil":
        units.insert(0, "sil")
    if units[-1] != "sil":
        units.append("sil")
    return units


def viterbi_units(logp: np.ndarray, units: Sequence[str], log_prior: np.ndarray,
                  prior_scale: float = PRIOR_SCALE) -> List[Phone]:
    """Best path of frames through ``units`` (every ``sil`` optional) -> phones tiling the
    frames at 100 Hz.

    logp: (T, P) log posteriors over PHONES; log_prior: (P,). Each phone is a chain of
    MIN_FRAMES_PHONE states (MIN_FRAMES_SIL for pauses) whose last state loops.
    """
    from emotalk_ros.core.phones import PHONE_INDEX

    T = logp.shape[0]
    emit_all = logp - prior_scale * log_prior[None, :]                  # (T, P)
    lab, unit_of, first_of, last_of = [], [], [], []
    for u, ph in enumerate(units):
        k = MIN_FRAMES_SIL if ph == "sil" else MIN_FRAMES_PHONE
        first_of.append(len(lab))
        for _ in range(k):
            lab.append(PHONE_INDEX[ph])
            unit_of.append(u)
        last_of.append(len(lab) - 1)
    S = len(lab)
    lab_a = np.asarray(lab, np.int64)
    self_ok = np.zeros(S, bool)
    self_ok[np.asarray(last_of)] = True
    optional = [ph == "sil" for ph in units]
    # skip arcs: first state of unit u may come from the last state of unit u-2 when u-1 is
    # an optional pause
    skip_src = np.full(S, -1, np.int64)
    for u in range(2, len(units)):
        if optional[u - 1]:
            skip_src[first_of[u]] = last_of[u - 2]
    neg = -1e30
    delta = np.full(S, neg)
    delta[first_of[0]] = emit_all[0, lab_a[first_of[0]]]
    if optional[0] and len(units) > 1:
        delta[first_of[1]] = emit_all[0, lab_a[first_of[1]]]
    back = np.zeros((T, S), np.int32)                                     # predecessor state
    idx = np.arange(S)
    for t in range(1, T):
        stay = np.where(self_ok, delta, neg)
        adv = np.concatenate([[neg], delta[:-1]])
        skp = np.where(skip_src >= 0, delta[np.maximum(skip_src, 0)], neg)
        best = np.maximum(np.maximum(stay, adv), skp)
        src = np.where(best == stay, idx, np.where(best == adv, idx - 1, skip_src))
        delta = best + emit_all[t, lab_a]
        back[t] = src
    ends = [last_of[-1]]
    if optional[-1] and len(units) > 1:
        ends.append(last_of[-2])
    s = max(ends, key=lambda e: delta[e])
    if delta[s] <= neg / 2:
        raise EmotalkError("align: the recording is too short for its transcript")
    states = np.empty(T, np.int64)
    for t in range(T - 1, -1, -1):
        states[t] = s
        s = back[t, s]
    units_per_frame = [units[unit_of[s]] + f"#{unit_of[s]}" for s in states]
    out = []
    for s0, e0, lab_u in frames_to_phones(units_per_frame):
        out.append((s0, e0, lab_u.split("#")[0]))
    return _merge_sil(out)


def align_hmm(audio: np.ndarray, text: str, voice: str, posteriors) -> Alignment:
    """Forced alignment of a recording of ``text`` with a phone classifier.

    posteriors: a :class:`emotalk_ros.speech.phonenet.PhonePosteriors`. The phone sequence
    comes from espeak-ng in ``voice`` (:func:`transcript_units`); ``cost`` is the mean
    negative log posterior of the aligned phones per frame (lower is a better match).
    """
    x = np.asarray(audio, np.float32)
    if x.size < 400:
        raise EmotalkError("align: recording shorter than one analysis window")
    units = transcript_units(text, voice)
    logp = posteriors.log_posteriors(x)                                 # (T, P)
    phones = viterbi_units(logp, units, posteriors.log_prior)
    from emotalk_ros.core.phones import PHONE_INDEX

    lab = np.array([PHONE_INDEX[p] for s, e, p in phones for _ in range(
        int(round(e * RATE)) - int(round(s * RATE)))], np.int64)[:logp.shape[0]]
    cost = float(-logp[np.arange(lab.size), lab].mean()) if lab.size else float("inf")
    end_s = x.size / 16000.0
    s, _e, ph = phones[-1]
    phones[-1] = (s, max(end_s, s + MIN_PHONE_S), ph)
    return Alignment(phones, cost, 0)
