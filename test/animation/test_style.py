"""Per-person style: fitting moves statistics toward the capture, lip closure stays intact,
example styles load, refusal messages, YAML round trip and the fit-style command line."""

import os

import numpy as np
import pytest
from conftest import ROOT

from emotalk_ros.animation import teacher
from emotalk_ros.animation.style import Style
from emotalk_ros.cli.main import main as cli_main
from emotalk_ros.core.blendshapes import INDEX, NUM_BLENDSHAPES, aperture, write_live_link_csv
from emotalk_ros.core.phones import PHONES
from emotalk_ros.errors import EmotalkError
from emotalk_ros.training.fit_style import fit_style, style_distance
from emotalk_ros.training.metrics import lip_sync_metrics

FPS = 60.0
SPEECH = [p for p in PHONES if p != "sil"]
LIPS = [
    "jawOpen",
    "mouthLowerDownLeft",
    "mouthLowerDownRight",
    "mouthUpperUpLeft",
    "mouthUpperUpRight",
]


def speech(seed: int, n_phones: int = 160, happy: float = 0.0):
    """Teacher frames (T, 52) at 60 fps for a random phone sequence with pauses, and its phones."""
    rng = np.random.default_rng(seed)
    phones, t = [], 0.0
    for k in range(n_phones):
        ph = "sil" if k % 12 == 0 else str(rng.choice(SPEECH))
        dur = float(rng.uniform(0.2, 0.4) if ph == "sil" else rng.uniform(0.05, 0.14))
        phones.append((t, t + dur, ph))
        t += dur
    n = int(t * FPS)
    s, e, pid = teacher.phones_from_names(phones)
    alpha = np.zeros((n, 7), np.float32)
    alpha[:, 0] = happy
    return teacher.render(s, e, pid, alpha, rate=FPS).astype(np.float64), phones


def person(frames, seed=0):
    """A 'person' with a wider jaw, bigger lip moves, a resting smile and calmer brows."""
    rng = np.random.default_rng(seed)
    y = frames.copy()
    for n in ("jawOpen", "mouthClose"):
        y[:, INDEX[n]] *= 1.5
    for n in LIPS[1:]:
        y[:, INDEX[n]] *= 1.4
    for n in ("mouthSmileLeft", "mouthSmileRight"):
        y[:, INDEX[n]] = 0.6 * y[:, INDEX[n]] + 0.2
    for n in ("browInnerUp", "browOuterUpLeft", "browOuterUpRight"):
        y[:, INDEX[n]] = 0.4 * y[:, INDEX[n]] + 0.05 + 0.02 * rng.random(len(y))
    y[:, INDEX["cheekSquintLeft"]] += 0.1 + 0.05 * rng.random(len(y))
    return np.clip(y, 0, 1)


@pytest.fixture(scope="module")
def data():
    ref, ref_ph = speech(1, happy=0.3)
    cap = person(speech(2, happy=0.3)[0])
    other, other_ph = speech(3, happy=0.3)
    return ref, ref_ph, cap, other, other_ph


def test_fitted_style_moves_statistics_toward_the_capture(data):
    ref, _, cap, other, _ = data
    style = fit_style([cap[: len(cap) // 2], cap[len(cap) // 2:]], ref, fps=FPS)
    before = style_distance(ref, cap)
    assert style_distance(style.apply(ref), cap) < 0.5 * before
    # on speech the style has not seen (the same generator, other phones) as well
    assert style_distance(style.apply(other), cap) < 0.5 * style_distance(other, cap)
    # the fitted gains point the right way
    assert style.gain[INDEX["jawOpen"]] > 1.2 and style.offset[INDEX["mouthSmileLeft"]] > 0.1
    m_brow = style.apply(ref)[:, INDEX["browInnerUp"]].mean()
    assert abs(m_brow - cap[:, INDEX["browInnerUp"]].mean()) < 0.01
    # and mean jaw opening moves most of the way
    m_ref, m_cap = ref[:, INDEX["jawOpen"]].mean(), cap[:, INDEX["jawOpen"]].mean()
    m_sty = style.apply(ref)[:, INDEX["jawOpen"]].mean()
    assert abs(m_sty - m_cap) < 0.3 * abs(m_ref - m_cap)


@pytest.mark.parametrize("which", ["fitted", "subtle", "expressive"])
def test_lip_closure_stays_intact(data, which):
    ref, ref_ph, cap, other, other_ph = data
    if which == "fitted":
        style = fit_style([cap], ref, fps=FPS)
    else:
        style = Style.load(os.path.join(ROOT, "config", "styles", which + ".yaml"))
    out = style.apply(other)
    assert out.shape == other.shape and out.dtype == np.float32
    before = lip_sync_metrics(other, FPS, other_ph)
    after = lip_sync_metrics(out, FPS, other_ph)
    assert before["bilabial_closure"] > 0.9
    assert after["bilabial_closure"] >= before["bilabial_closure"] - 1e-9
    for p in "bm":
        assert after[f"bilabial_closure_{p}"] >= before[f"bilabial_closure_{p}"] - 1e-9
    assert after["open_vowel_opening"] > 0.8                     # still opens for vowels
    # bilabial-like closed frames stay closed, and mouthClose never exceeds jawOpen
    ap0, ap1 = aperture(other), aperture(out)
    closed = ap0 < 1e-3
    assert closed.sum() > 50
    assert np.all(ap1[closed] <= ap0[closed] * 1.01 + 1e-9)       # never parted further
    assert np.all(out[:, INDEX["mouthClose"]] <= out[:, INDEX["jawOpen"]] + 1e-6)


def test_closed_lips_against_an_open_jaw_stay_closed():
    x = np.zeros((4, NUM_BLENDSHAPES))
    x[:, INDEX["jawOpen"]] = [0.0, 0.2, 0.5, 0.9]
    x[:, INDEX["mouthClose"]] = x[:, INDEX["jawOpen"]]                 # sealed lips
    x[:, INDEX["mouthSmileLeft"]] = 0.3
    strong = Style(
        np.full(NUM_BLENDSHAPES, 3.0),
        np.where(np.arange(NUM_BLENDSHAPES) == INDEX["browInnerUp"], 0.5, 0.0),
        np.array([0.0, 0.1]),
        np.array([2.0, 3.0]),
    )
    y = strong.apply(x)
    assert np.all(aperture(y) == 0.0)  # exactly closed stays closed
    assert np.all(y[:, INDEX["mouthClose"]] == y[:, INDEX["jawOpen"]])
    assert y[0, INDEX["browInnerUp"]] == pytest.approx(0.5)            # offsets do apply elsewhere
    # an open mouth is opened further; a tiny gap is not amplified by the profile
    x2 = np.zeros((2, NUM_BLENDSHAPES))
    x2[:, INDEX["jawOpen"]] = [0.3, 0.005]
    y2 = Style(np.ones(NUM_BLENDSHAPES), np.zeros(NUM_BLENDSHAPES), np.array([0.0]),
               np.array([2.0])).apply(x2)
    assert y2[0, INDEX["jawOpen"]] == pytest.approx(0.6)
    assert y2[1, INDEX["jawOpen"]] < 0.005 * 1.1


def test_identity_and_single_frame():
    x = np.random.default_rng(0).random((5, NUM_BLENDSHAPES)) * 0.5
    x[:, INDEX["mouthClose"]] = np.minimum(x[:, INDEX["mouthClose"]], x[:, INDEX["jawOpen"]])
    ident = Style.identity()
    np.testing.assert_allclose(ident.apply(x), x, atol=1e-6)
    np.testing.assert_allclose(ident.apply(x[2]), x[2], atol=1e-6)
    with pytest.raises(EmotalkError, match="52"):
        ident.apply(np.zeros((3, 50)))


def test_example_styles_contrast(data):
    ref = data[0]
    sub = Style.load(os.path.join(ROOT, "config", "styles", "subtle.yaml")).apply(ref)
    exp = Style.load(os.path.join(ROOT, "config", "styles", "expressive.yaml")).apply(ref)
    for n in ("jawOpen", "mouthSmileLeft", "cheekSquintLeft"):
        i = INDEX[n]
        assert sub[:, i].mean() < ref[:, i].mean() < exp[:, i].mean(), n


def test_refusals():
    cap, _ = speech(5)
    with pytest.raises(EmotalkError, match="too short: 4.0 s"):
        fit_style([cap[: int(4 * FPS)]], cap, fps=FPS)
    flat = np.full((600, NUM_BLENDSHAPES), 0.1)
    with pytest.raises(EmotalkError, match="flat: jawOpen std 0.0000"):
        fit_style([flat], cap, fps=FPS)
    nan = cap.copy()
    nan[3, 4] = np.nan
    with pytest.raises(EmotalkError, match="NaN"):
        fit_style([nan], cap, fps=FPS)
    with pytest.raises(EmotalkError, match="at least one"):
        fit_style([], cap)


@pytest.mark.parametrize("text,match", [
    ("offset: {jawOpen: 0.1}", "offset of jawOpen must be 0"),
    ("gain: {JawOpen: 7}", "gain of jawOpen is 7"),
    ("gain: {noSuchShape: 1.0}", "unknown blendshape name"),
    ("colour: red", "unknown keys"),
    ("amplitude_profile: {aperture: [0.2, 0.1], gain: [1, 1]}", "strictly increasing"),
    ("format: other", "not an emotalk_style"),
])
def test_bad_style_files(tmp_path, text, match):
    p = tmp_path / "s.yaml"
    p.write_text(text + "\n")
    with pytest.raises(EmotalkError, match=match):
        Style.load(str(p))


def test_yaml_round_trip(tmp_path, data):
    ref, _, cap, _, _ = data
    style = fit_style([cap], ref, fps=FPS, name="me")
    path = str(tmp_path / "me.yaml")
    style.save(path)
    back = Style.load(path)
    assert back.name == "me"
    np.testing.assert_allclose(back.apply(ref), style.apply(ref), atol=2e-3)


def test_fit_style_cli(tmp_path, data, capsys):
    ref, _, cap, _, _ = data
    write_live_link_csv(str(tmp_path / "cap.csv"), cap, FPS)
    write_live_link_csv(str(tmp_path / "ref.csv"), ref, FPS)
    out = str(tmp_path / "person.yaml")
    rc = cli_main(["fit-style", str(tmp_path / "cap.csv"), "-o", out, "--reference",
                   str(tmp_path / "ref.csv")])
    assert rc == 0
    style = Style.load(out)
    assert style.name == "person"
    msg = capsys.readouterr().out
    assert "person.yaml" in msg and "->" in msg
    assert style_distance(style.apply(ref), cap) < 0.5 * style_distance(ref, cap)
    write_live_link_csv(str(tmp_path / "short.csv"), cap[:120], FPS)
    rc = cli_main(["fit-style", str(tmp_path / "short.csv"), "-o", str(tmp_path / "x.yaml"),
                   "--reference", str(tmp_path / "ref.csv")])
    assert rc == 1
    assert "too short" in capsys.readouterr().err
    assert not os.path.exists(tmp_path / "x.yaml")
