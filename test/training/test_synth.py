"""Training-data synthesiser: espeak timings, ARPAbet mapping, augmentations, corpus shards."""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from emotalk_ros.core.audio import log_mel, resample
from emotalk_ros.core.emotions import EXPRESSIVE_INDEX, NUM_EXPRESSIVE
from emotalk_ros.core.phones import PHONES
from emotalk_ros.errors import EmotalkError
from emotalk_ros.speech import engines as G
from emotalk_ros.speech import espeak as E
from emotalk_ros.speech.utterance import tile_phones
from emotalk_ros.training.synth import augment as A
from emotalk_ros.training.synth import corpus as C
from emotalk_ros.training.synth import text as T

RICH = ("The boy enjoyed the noisy toy, but usually the treasure in the garage was beige. "
        "Why did Judy cheat? Thank the mother! She could put her foot in the good book, "
        "sing a long song, and pick up the peppers at 7:30.")


def _assert_tiles(phones, end_s):
    assert phones[0][1] == 0.0
    for (_, _, e), (_, s, _) in zip(phones[:-1], phones[1:]):
        assert s == e
    assert all(e > s for _, s, e in phones)
    assert phones[-1][2] == pytest.approx(end_s, abs=1e-9)


# --- espeak --------------------------------------------------------------------------------

def test_espeak_phones_tile_and_match_audio_length():
    text = "Peter picked a pack of pickled peppers. Why?"
    for voice in ("en-us", "en-gb-scotland+f3", "en+klatt"):
        raw = E.raw_synthesize(text, voice)
        assert raw.sample_rate == 22050
        # espeak END == wav length (voices with an echo ring on for a few ms after it)
        if "+" not in voice:
            assert raw.end_sample == raw.audio.size
        assert 0 <= raw.audio.size - raw.end_sample < 0.1 * raw.sample_rate
        assert max(s for s, _ in raw.events) <= raw.audio.size
        x = resample(raw.audio.astype(np.float32) / 32768.0, raw.sample_rate, 16000)
        assert abs(x.size / 16000 - raw.audio.size / raw.sample_rate) <= 1.0 / 16000
        phones = tile_phones(E.events_to_phones(raw.audio, raw.events, raw.sample_rate),
                             x.size / 16000)
        _assert_tiles(phones, x.size / 16000)
        n_events = sum(1 for _, n in raw.events if E.map_phoneme(n) != ("sil",))
        assert sum(1 for p, _, _ in phones if p != "sil") >= n_events
        # the public entry point: same phone sequence, tiles its own audio exactly
        u = E.synthesize(text, voice)
        _assert_tiles(u.phones, u.duration)
        assert [p for p, _, _ in u.phones] == [p for p, _, _ in phones]
        assert abs(u.duration - x.size / 16000) < 0.02  # espeak's state may shift a few ms
        speech = [p for p, _, _ in u.phones if p != "sil"]
        assert speech[:2] == ["p", "iy"] and len(speech) >= 20


def test_espeak_voiceless_stop_onset_moved_onto_closure():
    text = "Peter picked a pack of pickled peppers. A big cat took the kite to the top."
    r = E.raw_synthesize(text, "en-us")
    raw, events, sr = r.audio, r.events, r.sample_rate
    plain = E.events_to_phones(raw, events, sr, shift_stops=False)
    shifted = E.events_to_phones(raw, events, sr, shift_stops=True)
    assert len(plain) == len(shifted)
    x = raw.astype(np.float64) / 32768.0
    loud = np.sqrt(np.mean(x ** 2))
    n_checked = 0
    for (p, t0), (q, t1) in zip(plain, shifted):
        assert p == q
        if p in ("p", "t", "k") and t0 > 0.1:
            lead = t0 - t1
            assert E.STOP_LEAD_MIN_S - 1e-6 <= lead <= E.STOP_LEAD_MAX_S + 1e-6, (p, lead)
            # the moved-over part is the stop closure: near silence
            seg = x[int(t1 * sr):int(t0 * sr)]
            assert np.sqrt(np.mean(seg ** 2)) < 0.05 * loud, p
            n_checked += 1
    assert n_checked >= 12
    # the /p/ of "Peter" starts about 40 ms earlier in the final utterance
    u = E.synthesize(text, "en-us")
    p_starts = [s for ph, s, _ in u.phones if ph == "p"]
    p_events = [t for ph, t in plain if ph == "p"]
    assert len(p_starts) == len(p_events)
    leads = np.array(p_events) - np.array(p_starts)
    assert np.all(leads > 0.015) and 0.025 < np.median(leads) < 0.06


def test_arpabet_mapping_covers_espeak_output():
    seen = set()
    for voice in ("en-us", "en", "en-gb-scotland", "en-gb-x-rp", "en-029", "en-us-nyc"):
        unknown = [n for _, n in E.raw_synthesize(RICH, voice).events if not E.is_known_phoneme(n)]
        assert not unknown, (voice, unknown)
        u = E.synthesize(RICH, voice)
        seen.update(p for p, _, _ in u.phones)
    assert seen <= set(PHONES)
    for must in ("oy", "zh", "uh", "th", "dh", "ch", "jh", "ng", "p", "b", "m", "sil", "y"):
        assert must in seen, must
    assert E.map_phoneme("_:") == ("sil",)
    assert E.map_phoneme("'aU") == ("aw",)
    assert E.map_phoneme(",i@3") == ("iy", "er")
    assert E.map_phoneme("tS") == ("ch",)


def test_text_generator_deterministic_and_covers_all_phones():
    a, b = T.sentences(5, 40), T.sentences(5, 40)
    assert a == b and T.sentences(6, 40) != a
    assert len(set(a)) > 30
    seen = set()
    for s in T.sentences(0, 120):
        seen.update(p for p, _, _ in E.synthesize(s, "en-us").phones)
    assert seen == set(PHONES)


def test_tile_phones_fills_gaps_and_merges_silence():
    ph = tile_phones([("sil", 0.1), ("sil", 0.2), ("p", 0.3), ("aa", 0.3), ("m", 0.5)], 1.0)
    assert [p for p, _, _ in ph] == ["sil", "aa", "m"]
    _assert_tiles(ph, 1.0)
    with pytest.raises(EmotalkError):
        tile_phones([("xx", 0.0)], 1.0)


# --- held-out engines ---------------------------------------------------------------------

def test_flite_psdur_parsing():
    ends = G.parse_flite_psdur("pau:0.193 p:0.240 iy:0.332 dx:0.361 axr:0.426 pau:0.6\n")
    assert ends[1] == ("p", 0.240)
    onsets = G.ends_to_onsets(ends)
    assert [p for p, _ in onsets] == ["sil", "p", "iy", "d", "er", "sil"]
    assert onsets[2][1] == pytest.approx(0.240)
    segs = G.parse_festival_segs("#\n0.2200 100 pau\n0.3215 100 p\n0.4158 100 ax\n")
    assert segs == [("pau", 0.22), ("p", 0.3215), ("ax", 0.4158)]
    with pytest.raises(EmotalkError):
        G.map_radio("qq")


@pytest.mark.skipif(shutil.which("flite") is None, reason="flite not installed")
def test_flite_engine_gives_sensible_timings():
    text = "Peter picked a pack of pickled peppers."
    u = G.flite_synthesize(text, "slt")
    _assert_tiles(u.phones, u.duration)
    assert u.raw_phones[0] == "pau" and u.raw_phones[-1] == "pau"
    speech = [(p, s, e) for p, s, e in u.phones if p != "sil"]
    assert [p for p, _, _ in speech][:3] == ["p", "iy", "t"]
    assert sum(1 for p, _, _ in speech if p == "p") == 6
    durs = np.array([e - s for _, s, e in speech])
    assert 0.02 < np.median(durs) < 0.15 and durs.max() < 0.4
    # engine end time agrees with the wav length
    r = G._run(["flite", "-voice", "slt", "-psdur", "-t", text, "-o", "/dev/null"])
    last_end = G.parse_flite_psdur(r.stdout)[-1][1]
    assert abs(last_end - u.duration) < 0.01
    slow = G.flite_synthesize(text, "slt", duration_stretch=1.5)
    assert slow.duration > 1.3 * u.duration


@pytest.mark.skipif(not G.available_voices("festival"), reason="festival voices not installed")
def test_festival_engine_gives_sensible_timings():
    u = G.festival_synthesize("Peter picked a pack.", G.available_voices("festival")[0])
    _assert_tiles(u.phones, u.duration)
    assert [p for p, _, _ in u.phones if p != "sil"][:2] == ["p", "iy"]


# --- augmentations -------------------------------------------------------------------------

def test_augmentations_keep_length():
    rng = np.random.default_rng(0)
    x = E.synthesize("A quick test of the augmentations.", "en-us").audio
    n = x.size
    outs = {
        "world": A.world_voice(x, 16000, 1.3, 1.1),
        "noise": A.add_noise(x, rng, 10.0, "pink"),
        "reverb": A.reverb(x, 16000, rng, 0.6, 0.5),
        "band": A.band_limit(x, 16000, 300.0, 3400.0),
        "through8k": A.resample_through(x, 16000, 8000),
        "through44k": A.resample_through(x, 16000, 44100),
        "gain": A.gain(x, -6.0),
    }
    for name, y in outs.items():
        assert y.shape == (n,) and y.dtype == np.float32, name
        assert np.isfinite(y).all(), name
        assert not np.allclose(y, x), name
    # no time shift: the resampled round trip stays aligned with the original
    c = np.correlate(outs["through44k"][:4000], x[:4000], "full")
    assert abs(int(np.argmax(c)) - 3999) <= 1
    # noise at 10 dB SNR
    d = outs["noise"] - x
    snr = 10 * np.log10(np.mean(x.astype(np.float64) ** 2) / np.mean(d.astype(np.float64) ** 2))
    assert snr == pytest.approx(10.0, abs=0.2)
    # every step forced on
    y, done = A.augment(x, 16000, np.random.default_rng(1), world_fraction=1.0)
    assert y.shape == (n,) and done[0]["type"] == "world"


# --- emotions ------------------------------------------------------------------------------

def test_sample_alpha_proportions_and_ranges():
    rng = np.random.default_rng(0)
    kinds = []
    for _ in range(3000):
        a, k = C.sample_alpha(rng)
        assert a.shape == (NUM_EXPRESSIVE,) and a.min() >= 0
        nz = np.count_nonzero(a)
        assert nz == {"neutral": 0, "single": 1, "mix": 2}[k]
        if k == "single":
            assert 0.2 <= a.max() <= 1.0
        if k == "mix":
            assert 0.4 <= a.sum() <= 1.0
        kinds.append(k)
    frac = {k: kinds.count(k) / len(kinds) for k in ("neutral", "single", "mix")}
    assert abs(frac["neutral"] - 0.3) < 0.04 and abs(frac["single"] - 0.5) < 0.04


def test_emotion_prosody_directions_and_blend():
    z = np.zeros(NUM_EXPRESSIVE, np.float32)
    neutral = C.emotion_prosody(z)
    assert neutral == C.NEUTRAL_PROSODY

    def one(name, v=1.0):
        a = z.copy()
        a[EXPRESSIVE_INDEX[name]] = v
        return C.emotion_prosody(a)

    assert one("sad").rate < neutral.rate and one("sad").pitch < neutral.pitch
    assert one("happy").pitch > neutral.pitch and one("happy").range > neutral.range
    assert one("angry").volume > neutral.volume
    half = one("happy", 0.5)
    assert neutral.pitch < half.pitch < one("happy").pitch


def test_alpha_track_smoothstep_transition():
    a1, a2 = np.zeros(7, np.float32), np.zeros(7, np.float32)
    a1[0], a2[1] = 0.8, 0.5
    tr = C.alpha_track(300, [a1, a2], [1.0], [0.4])
    assert tr.shape == (300, 7)
    np.testing.assert_allclose(tr[:100], np.tile(a1, (100, 1)))
    np.testing.assert_allclose(tr[140:], np.tile(a2, (160, 1)), atol=1e-6)
    assert np.all(np.diff(tr[95:145, 0]) <= 1e-7) and np.all(np.diff(tr[95:145, 1]) >= -1e-7)
    assert tr[120, 0] == pytest.approx(0.4, abs=0.02)   # midpoint of the smoothstep


# --- corpus --------------------------------------------------------------------------------

HOURS = 14.0 / 3600.0   # about four clips


def _load_all(path):
    arrays = {}
    for f in sorted(os.listdir(path)):
        if f.endswith(".npz"):
            with np.load(os.path.join(path, f)) as z:
                arrays[f] = {k: z[k] for k in z.files}
    return arrays


@pytest.fixture(scope="module")
def corpora(tmp_path_factory):
    root = tmp_path_factory.mktemp("synth")
    kw = {"hours": HOURS, "seed": 7, "progress": False, "clips_per_shard": 2,
          "save_audio": True, "world_fraction": 0.5}
    m1 = C.build_corpus(str(root / "w1"), workers=1, **kw)
    m2 = C.build_corpus(str(root / "w2"), workers=2, **kw)
    return root, m1, m2


def test_corpus_deterministic_across_workers(corpora):
    root, m1, m2 = corpora
    a, b = _load_all(root / "w1"), _load_all(root / "w2")
    assert sorted(a) == sorted(b) and len(a) >= 2
    for f in a:
        assert sorted(a[f]) == sorted(b[f])
        for k in a[f]:
            np.testing.assert_array_equal(a[f][k], b[f][k], err_msg=f"{f}:{k}")
    assert m1["clips"] == m2["clips"] and m1["hours"] == m2["hours"]


def _clip_meta_in_fresh_process(seed, index):
    # espeak-ng's output depends on what the process synthesised before (its pitch flutter
    # runs on across utterances), so build_corpus makes every shard in a fresh process, and
    # a clip is a function of (seed, index) only there
    code = ("import json, sys; from emotalk_ros.training.synth import corpus as C; "
            f"print(json.dumps(C.make_clip({seed}, {index}, augment=False).meta))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       timeout=300, check=True)
    return json.loads(r.stdout.strip().splitlines()[-1])


def test_clip_seed_changes_data():
    a = _clip_meta_in_fresh_process(7, 0)
    assert a == _clip_meta_in_fresh_process(7, 0)
    assert a["text"] != C.make_clip(8, 0, augment=False).meta["text"]
    assert a["text"] != C.make_clip(7, 1, augment=False).meta["text"]


def test_corpus_stops_at_requested_hours(corpora):
    root, m1, _ = corpora
    durs = [json.loads(s)["duration_s"] for z in _load_all(root / "w1").values()
            for s in z["clip_meta"]]
    assert sum(durs) >= HOURS * 3600 - 1e-3
    assert sum(durs[:-1]) < HOURS * 3600
    assert m1["hours"] == pytest.approx(sum(durs) / 3600, rel=1e-4)
    assert m1["clips"] == len(durs)


def test_corpus_shard_format_and_reader_round_trip(corpora):
    root, m1, _ = corpora
    corpus = C.Corpus(str(root / "w1"))
    assert len(corpus) == m1["clips"]
    z = _load_all(root / "w1")["shard_00000.npz"]
    assert z["mel"].dtype == np.float16 and z["mel"].shape[1] == 40
    assert z["alpha"].dtype == np.float16 and z["alpha"].shape == (z["mel"].shape[0], 7)
    assert z["phone_id"].dtype == np.int16 and z["speaker"].dtype == np.int32
    assert z["audio"].dtype == np.int16 and z["mel_offsets"].dtype == np.int64
    for i in range(len(corpus)):
        clip = corpus.clip(i)
        n = clip.audio.size
        assert clip.mel.shape == (n // 160, 40) and clip.alpha.shape == (n // 160, 7)
        assert clip.mel.dtype == np.float32
        # features are the log-mel of the stored audio (up to int16/float16 rounding)
        np.testing.assert_allclose(clip.mel, log_mel(clip.audio), atol=0.05)
        # phones tile the clip
        assert clip.phone_start[0] == 0
        np.testing.assert_array_equal(clip.phone_start[1:], clip.phone_end[:-1])
        assert clip.phone_end[-1] == pytest.approx(n / 16000, abs=1e-4)
        assert set(clip.phone_id.tolist()) <= set(range(len(PHONES)))
        assert clip.meta["index"] == i and corpus.meta["speakers"][clip.speaker].endswith(
            clip.meta["voice"])
        # a fresh generation of the same clip has the same labels (espeak's history may
        # move the audio by a few ms, see espeak.py)
        ref = C.make_clip(7, i, augment=True, world_fraction=0.5)
        np.testing.assert_array_equal(clip.phone_id, ref.phone_id)
        m = min(len(clip.alpha), len(ref.alpha))
        assert abs(len(clip.alpha) - len(ref.alpha)) <= 5
        np.testing.assert_allclose(clip.alpha[:m], ref.alpha[:m], atol=0.1)
        ref_meta = json.loads(json.dumps(ref.meta, sort_keys=True))
        for key in ("text", "voice", "engine", "segments", "augmentations", "change"):
            assert clip.meta[key] == ref_meta[key], key
    bulk = corpus.load_arrays(("mel", "alpha", "phone_id", "speaker"))
    assert bulk["mel"].shape[0] == bulk["mel_offsets"][-1] == bulk["alpha"].shape[0]
    last = corpus.clip(len(corpus) - 1)
    np.testing.assert_array_equal(
        bulk["mel"][bulk["mel_offsets"][-2] :].astype(np.float32), last.mel
    )
    np.testing.assert_array_equal(bulk["phone_id"][bulk["phone_offsets"][-2]:], last.phone_id)
    assert bulk["speaker"][-1] == last.speaker
    with pytest.raises(EmotalkError):
        corpus.clip(len(corpus))


def test_emotion_change_clip_has_transition():
    for i in range(200):
        clip = C.make_clip(3, i, augment=False)
        if clip.meta["change"]:
            break
    else:
        pytest.fail("no emotion-change clip in 200")
    a = clip.alpha.astype(np.float64)
    t_switch, dur = clip.meta["switch_s"][0], clip.meta["transition_s"]
    assert 0.2 <= dur <= 0.5
    j0, j1 = int(t_switch * 100), int(np.ceil((t_switch + dur) * 100)) + 1
    assert np.abs(a[0] - a[j0 - 1]).max() < 1e-6          # constant before
    assert np.abs(a[j1] - a[-1]).max() < 1e-6             # constant after
    assert np.abs(a[0] - a[-1]).max() > 0.09              # and different
    assert np.abs(np.diff(a, axis=0)).max() < 0.1        # smooth


def test_cli_synth_runs_and_reports(tmp_path, capsys):
    from emotalk_ros.cli.main import main

    rc = main(["synth", "--out", str(tmp_path / "c"), "--hours", "0.001", "--seed", "1",
               "--workers", "1", "--no-augment", "--no-progress"])
    assert rc == 0
    out = capsys.readouterr().out
    assert "clips" in out and "real-time factor" in out
    meta = json.loads((tmp_path / "c" / "meta.json").read_text())
    assert meta["clips"] >= 1 and meta["counts"]["augmentations"] == {}
    assert main(["synth", "--out", str(tmp_path / "d"), "--hours", "0.001",
                 "--engines", "nope", "--no-progress"]) == 1
