"""The aperture readout (``GeneratorConfig.aperture_readout``, ``emotalk calibrate
--aperture-readout``): the jaw follows the expected phone openness under the posteriors.

Small random-weight phone-mixture generators; no shipped weights needed.
"""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from test_generator import ckpt_of, random_space  # noqa: E402

from emotalk_ros.core.blendshapes import INDEX, aperture  # noqa: E402
from emotalk_ros.core.phones import PHONE_INDEX, PHONES, openness  # noqa: E402
from emotalk_ros.emotion.space import EmotionSpace  # noqa: E402
from emotalk_ros.errors import EmotalkError  # noqa: E402
from emotalk_ros.generator import checkpoint  # noqa: E402
from emotalk_ros.generator.model import (  # noqa: E402
    Generator,
    GeneratorConfig,
    StreamingGenerator,
    readout_openness_of,
)
from emotalk_ros.training.calibrate import (  # noqa: E402
    READOUT_KEYS,
    add_aperture_readout,
    without_readout,
)

P = len(PHONES)
J = INDEX["jawOpen"]


def _mixture_ckpt(dominance=True, seed=0):
    """A random strict phone-mixture generator (optionally with dominance) as a checkpoint."""
    torch.manual_seed(seed)
    cfg = GeneratorConfig(channels=32, dilations=(1, 2, 4, 1), head_hidden=24, phone_after=4,
                          phone_replace=True, phone_mixture=True, phone_dominance=dominance,
                          lookahead_frames=3)
    g = Generator(cfg)
    with torch.no_grad():
        g.phone_in.weight.normal_(0, 1.0)
        g.film.weight.normal_(0, 0.3)
        g.phone_out.weight.normal_(0, 0.5)
        g.head[2].bias[INDEX["mouthClose"]] = -3.0      # lips apart, as in a trained face
        if dominance:
            g.phone_dom.normal_(0, 1.0)
    return ckpt_of(cfg, g, random_space(seed=seed))


def _gen(ck):
    g = Generator(GeneratorConfig.from_dict(ck["generator_config"]))
    g.load_state_dict(ck["generator"], strict=True)
    return g.eval()


def _zn(ck):
    return torch.as_tensor(EmotionSpace.from_dict(ck["emotion_space"]).z_neutral)


def test_the_readout_is_the_expected_openness_with_dominant_bilabials():
    """R is sum_k q_k d_k o_k / sum_k q_k d_k: a sure phone reads its own openness; /m/ at a
    fifth of the mass with dominance 16 pulls an open vowel's 1.0 down to 0.2 (0.8 without
    dominance); a temperature under 1 sharpens toward the likelier phone."""
    open_ = torch.tensor([openness(p) for p in PHONES])
    ones = torch.ones(P)
    aa, m, ih = PHONE_INDEX["aa"], PHONE_INDEX["m"], PHONE_INDEX["ih"]
    for k in (aa, m, ih, PHONE_INDEX["s"], PHONE_INDEX["sil"]):
        hot = torch.full((P,), -40.0)
        hot[k] = 40.0
        assert float(readout_openness_of(hot, open_, ones, 1.0)) == pytest.approx(
            openness(PHONES[k]), abs=1e-6)
    logits = torch.full((P,), -40.0)
    logits[aa], logits[m] = np.log(0.8), np.log(0.2)
    dom = torch.where(torch.tensor([p in ("p", "b", "m") for p in PHONES]), 16.0, 1.0)
    assert float(readout_openness_of(logits, open_, ones, 1.0)) == pytest.approx(0.8, abs=1e-5)
    assert float(readout_openness_of(logits, open_, dom, 1.0)) == pytest.approx(0.2, abs=1e-5)
    # temperature 0.5 squares the posteriors: 0.64 / (0.64 + 0.04)
    assert float(readout_openness_of(logits, open_, ones, 0.5)) == pytest.approx(
        0.64 / 0.68, abs=1e-5)


@pytest.mark.parametrize("dominance", [True, False])
def test_the_neutral_face_opens_as_the_readout_says_and_an_emotion_keeps_its_offset(dominance):
    """At the neutral embedding the output's lip aperture is ``scale * R`` wherever the jaw is
    not clamped; every shape but the jaw is the mixture's; under an emotion the output
    differs from the neutral output exactly as the mixture's faces do (the emotion's own jaw
    is kept at the same posteriors)."""
    ck = add_aperture_readout(_mixture_ckpt(dominance), bilabial=8.0, temperature=0.8)
    g = _gen(ck)
    plain = _gen(without_readout(ck))
    cfg = g.cfg
    x = torch.randn(1, 120, 40) * 2 - 3.0
    zn = _zn(ck).expand(1, 120, -1)
    with torch.no_grad():
        y, _, logits = g.forward_with_phones(x, zn, g.initial_state())
        y0 = plain(x, zn, plain.initial_state())[0]
        r = readout_openness_of(logits, g.readout_open, g.readout_dom, cfg.readout_temperature)
        # an emotion at the same posteriors (FiLM also moves the posteriors in a full pass)
        post = torch.softmax(logits, dim=-1)
        z = zn + torch.randn(1, 1, 16) * 0.8
        fe, fn = g.phone_mixture_face(post, z), g.phone_mixture_face(post, zn)
        ye, yn = g.aperture_readout(logits, post, fe), g.aperture_readout(logits, post, fn)
    y, y0, r, ye, yn, fe, fn = (t[0].numpy().astype(np.float64)
                                for t in (y, y0, r, ye, yn, fe, fn))
    others = [k for k in range(52) if k != J]
    assert np.array_equal(y[:, others], y0[:, others])
    assert np.abs(y[:, J] - y0[:, J]).max() > 0.05              # the readout moved the jaw
    free = (y[:, J] > 1e-4) & (y[:, J] < 1 - 1e-4) & (y[:, J] >= y[:, INDEX["mouthClose"]])
    free &= y0[:, J] >= y0[:, INDEX["mouthClose"]]
    assert free.sum() > 30
    assert np.allclose(aperture(y)[free], cfg.readout_scale * r[free], atol=1e-5)
    assert np.allclose(yn, y, atol=1e-6)
    both = free & (ye[:, J] > 1e-4) & (ye[:, J] < 1 - 1e-4)
    assert both.sum() > 10
    assert np.allclose((ye - yn)[both], (fe - fn)[both], atol=1e-5)
    assert np.abs(fe - fn)[:, J].max() > 0.01                   # the emotion moves the jaw


@pytest.mark.parametrize("dominance", [True, False])
def test_the_readout_streams_exactly_and_exports_to_onnx(tmp_path, dominance):
    """The per-frame form equals the trained form chunk by chunk, and the ONNX export equals
    the torch predictor."""
    from emotalk_ros.generator.backends import OnnxPredictor, TorchPredictor
    from emotalk_ros.training.export import export_onnx

    ck = add_aperture_readout(_mixture_ckpt(dominance, seed=2), bilabial=16.0)
    g = _gen(ck)
    x, z = torch.randn(1, 80, 40) * 2 - 3.0, torch.randn(1, 80, 16)
    with torch.no_grad():
        ref, _ = g(x, z, g.initial_state())
        sg = StreamingGenerator(g).eval()
        s, parts, i = sg.initial_state(), [], 0
        for n in (1, 2, 7, 0, 30, 40):
            yy, s = sg(x[0, i:i + n], z[0, i:i + n], s)
            parts.append(yy)
            i += n
    assert torch.allclose(torch.cat(parts), ref[0], atol=1e-5)
    assert ((ref >= 0) & (ref <= 1)).all()
    pt = str(tmp_path / "m.pt")
    checkpoint.save(pt, ck)
    assert export_onnx(pt, str(tmp_path / "m.onnx"))["max_abs_diff"] < 1e-4
    rng = np.random.default_rng(4)
    t = np.arange(24000) / 16000
    audio = (0.3 * np.sin(2 * np.pi * 140 * t) * (np.sin(2 * np.pi * 3 * t) > 0)
             + 0.01 * rng.standard_normal(t.size)).astype(np.float32)
    alpha = np.zeros(7, np.float32)
    alpha[0] = 0.7
    a = TorchPredictor(checkpoint.load(pt), device="cpu").animate(audio, alpha, chunk=333)
    b = OnnxPredictor(str(tmp_path / "m.onnx")).animate(audio, alpha, chunk=1000)
    assert np.abs(a.values - b.values).max() < 1e-4
    # and it is not the network without the readout
    c = TorchPredictor(without_readout(checkpoint.load(pt)), device="cpu").animate(audio, alpha)
    assert np.abs(a.values[:, J] - c.values[:, J]).max() > 0.02


def test_adding_the_readout_measures_its_scale_and_is_undone_exactly():
    """The scale is the mean aperture of the neutral faces of the open vowels; the weights
    are the network's plus the readout's two buffers; removing it gives the network back
    bit for bit; adding it again replaces it."""
    base = _mixture_ckpt()
    ck = add_aperture_readout(base, bilabial=12.0, temperature=0.7)
    cfg = GeneratorConfig.from_dict(ck["generator_config"])
    assert (cfg.aperture_readout, cfg.readout_bilabial, cfg.readout_temperature) == \
        (True, 12.0, 0.7)
    with torch.no_grad():
        faces = _gen(base).phone_faces(_zn(base)).numpy()
    rows = [k for k, p in enumerate(PHONES) if openness(p) >= 1.0]
    assert len(rows) == 6
    assert cfg.readout_scale == pytest.approx(float(aperture(faces[rows]).mean()), rel=1e-6)
    assert set(ck["generator"]) - set(base["generator"]) == set(READOUT_KEYS)
    assert torch.equal(ck["generator"]["readout_z"], _zn(base))
    back = without_readout(ck)
    assert back["generator_config"] == base["generator_config"]
    assert set(back["generator"]) == set(base["generator"])
    assert all(torch.equal(back["generator"][k], v) for k, v in base["generator"].items())
    again = add_aperture_readout(ck, bilabial=4.0)
    assert GeneratorConfig.from_dict(again["generator_config"]).readout_bilabial == 4.0
    assert without_readout(base) is base


def test_the_readout_is_refused_without_a_mixture_or_with_bad_parameters():
    """One EmotalkError line for a generator without the phone mixture or a dominance under
    1 or a temperature <= 0; a config that asks for it without the mixture is refused."""
    ck = _mixture_ckpt()
    d = dict(ck["generator_config"], phone_mixture=False, phone_dominance=False)
    plain = dict(ck, generator_config=d)
    with pytest.raises(EmotalkError, match="needs a phone-mixture generator"):
        add_aperture_readout(plain, 16.0)
    for bad in ((0.5, 1.0), (16.0, 0.0), (16.0, -1.0)):
        with pytest.raises(EmotalkError, match="readout_bilabial must be >= 1"):
            add_aperture_readout(ck, *bad)
    with pytest.raises(ValueError, match="aperture_readout needs phone_mixture"):
        GeneratorConfig.from_dict({**d, "aperture_readout": True})
