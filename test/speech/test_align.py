"""The phone aligners, measured on synthetic speech whose phone timings are known."""

import numpy as np
import pytest

from emotalk_ros.core.phones import NUM_PHONES, PHONE_INDEX
from emotalk_ros.speech import align as A
from emotalk_ros.speech import espeak as E
from emotalk_ros.training.synth.text import sentences


def test_dtw_path_recovers_a_known_warp():
    rng = np.random.default_rng(0)
    ref = rng.normal(size=(60, 5))
    warp = np.repeat(np.arange(60), rng.integers(1, 3, 60))          # each ref frame 1-2 times
    rec = ref[warp] + 0.05 * rng.normal(size=(warp.size, 5))
    cost = A._distance(rec.astype(np.float32), ref.astype(np.float32))
    path = A.dtw_path(cost)
    assert tuple(path[0]) == (0, 0) and tuple(path[-1]) == (warp.size - 1, 59)
    assert np.all(np.diff(path, axis=0) >= 0)
    got = np.array([path[path[:, 0] == i, 1].min() for i in range(warp.size)])
    assert np.mean(got == warp) > 0.95


def test_dtw_aligner_error_on_espeak_speech_with_another_voice_and_rate():
    """Recording = espeak-ng with another voice, pitch and rate (known phones); the aligner
    warps its own default-voice rendition onto it."""
    errs = []
    for k, text in enumerate(sentences(5, 3)):
        rec = E.synthesize(text, "en-us+f3", E.Prosody(rate=140 + 40 * k, pitch=65))
        al = A.align(rec.audio, text, "en-us")
        assert al.phones[0][0] == 0.0
        assert al.phones[-1][1] == pytest.approx(rec.audio.size / 16000.0)
        assert all(e > s for s, e, _ in al.phones)
        errs.append(A.boundary_errors(al.phones, A.utterance_phones(rec)))
    summary = A.error_summary(np.concatenate(errs))
    assert summary["n"] > 60
    assert summary["median_abs_ms"] < 15.0
    assert summary["p90_abs_ms"] < 40.0


def test_dtw_aligner_error_grows_when_the_warp_is_disabled():
    """The measurement can fail: aligning with a far-off rate and no DTW (the identity path)
    is much worse than the aligner."""
    text = sentences(6, 1)[0]
    rec = E.synthesize(text, "en-us+m3", E.Prosody(rate=110))
    truth = A.utterance_phones(rec)
    good = A.error_summary(A.boundary_errors(A.align(rec.audio, text, "en-us").phones, truth))
    ref = E.synthesize(text, "en-us", E.Prosody(rate=175))
    n = int(rec.audio.size / 160)
    identity = np.stack([np.arange(n), np.minimum(np.arange(n), int(ref.audio.size / 160) - 1)],
                        axis=1)
    bad_phones = A.warp_phones(identity, A.utterance_phones(ref), n)
    bad = A.error_summary(A.boundary_errors(bad_phones, truth))
    assert bad["median_abs_ms"] > 3 * good["median_abs_ms"]


def test_viterbi_recovers_boundaries_from_clean_posteriors():
    units = ["sil", "b", "aa", "sil", "m", "iy", "sil"]
    durs = [20, 6, 15, 12, 7, 14, 25]                 # frames; the middle pause is optional
    lab = np.concatenate([[PHONE_INDEX[u]] * d for u, d in zip(units, durs, strict=True)])
    logp = np.full((lab.size, NUM_PHONES), np.log(0.01 / (NUM_PHONES - 1)))
    logp[np.arange(lab.size), lab] = np.log(0.99)
    phones = A.viterbi_units(logp, ["sil", "b", "aa", "sil", "m", "iy", "sil"],
                             np.log(np.full(NUM_PHONES, 1.0 / NUM_PHONES)))
    got = [(round(s * 100), round(e * 100), p) for s, e, p in phones]
    starts = np.cumsum([0] + durs[:-1])
    assert got == [(int(s), int(s + d), u) for s, d, u in zip(starts, durs, units, strict=True)]
    # the optional pause is skipped when the recording has none
    lab2 = np.concatenate([[PHONE_INDEX[u]] * d for u, d in
                           zip(["sil", "b", "aa", "m", "iy", "sil"], [20, 6, 15, 7, 14, 25],
                               strict=True)])
    logp2 = np.full((lab2.size, NUM_PHONES), np.log(0.01 / (NUM_PHONES - 1)))
    logp2[np.arange(lab2.size), lab2] = np.log(0.99)
    names = [p for _, _, p in A.viterbi_units(logp2, units, np.zeros(NUM_PHONES))]
    assert names == ["sil", "b", "aa", "m", "iy", "sil"]


def test_transcript_units_have_pauses_between_words_and_language_phones():
    u = A.transcript_units("Por favor, bebe agua.", "es-419")
    assert u[0] == "sil" and u[-1] == "sil"
    assert u.count("b") >= 3                           # [β] of 'favor', 'bebe' is /b/
    assert "sil" in u[1:-1]


def test_mark_pauses_turns_a_quiet_stretch_into_silence():
    phones = [(0.0, 0.1, "sil"), (0.1, 0.5, "aa"), (0.5, 0.9, "m"), (0.9, 1.0, "sil")]
    quiet = np.zeros(100, bool)
    quiet[:10] = True
    quiet[30:60] = True                                 # 0.30-0.60 s
    out = A.mark_pauses(phones, quiet)
    assert ("sil" in [p for s, e, p in out if s >= 0.29 and e <= 0.61])
    assert out[0][0] == 0.0 and out[-1][1] == pytest.approx(1.0)
    assert all(abs(a[1] - b[0]) < 1e-9 for a, b in zip(out, out[1:], strict=False))
    assert [p for _, _, p in out if p != "sil"] == ["aa", "m"]
