"""The generator: streaming exactness, torch/ONNX agreement, metadata checks, emotion-space
algebra.

These tests build small random-weight checkpoints in a temp dir (no shipped weights needed),
plus checks of the shipped default model when it exists.
"""

import json
import os

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from emotalk_ros.core.audio import FeatureConfig
from emotalk_ros.core.blendshapes import INDEX, NAMES
from emotalk_ros.core.emotions import EXPRESSIVE
from emotalk_ros.core.phones import PHONE_INDEX, PHONES
from emotalk_ros.emotion.space import EmotionSpace, fit_emotion_space
from emotalk_ros.errors import EmotalkError, ModelMismatchError
from emotalk_ros.generator import checkpoint
from emotalk_ros.generator.model import (
    Generator,
    GeneratorConfig,
    MappingConfig,
    StreamingGenerator,
)


def random_space(dim=16, seed=0):
    rng = np.random.default_rng(seed)
    n = rng.normal(size=(7, dim)).astype(np.float32)
    n /= np.linalg.norm(n, axis=1, keepdims=True)
    return EmotionSpace(
        rng.normal(size=dim).astype(np.float32), n, rng.uniform(1, 3, 7).astype(np.float32)
    )


def make_ckpt(lookahead=4, seed=0, phone_after=-1):
    torch.manual_seed(seed)
    cfg = GeneratorConfig(channels=32, dilations=(1, 2, 4), lookahead_frames=lookahead,
                          phone_after=phone_after)
    g = Generator(cfg)
    with torch.no_grad():                       # give FiLM non-zero weights so emotion matters
        g.film.weight.normal_(0, 0.3)
        if phone_after >= 0:                    # and the phone bottleneck a say
            g.phone_in.weight.normal_(0, 1.0)
    return ckpt_of(cfg, g, random_space())


def ckpt_of(cfg, gen, space):
    """A checkpoint dict of a generator config, its weights and an emotion space (no mapping
    network, no training record)."""
    return {
        "format": checkpoint.FORMAT, "format_version": checkpoint.FORMAT_VERSION,
        "model_version": "test", "generator_config": cfg.to_dict(),
        "mapping_config": MappingConfig().to_dict(),
        "feature_config": checkpoint.feature_config_to_dict(FeatureConfig()),
        "blendshapes": list(NAMES), "emotions": list(EXPRESSIVE),
        "emotion_space": space.to_dict(),
        "generator": gen.state_dict(), "mapping": {}, "train": {},
    }


def speech(seconds=2.0, seed=1):
    rng = np.random.default_rng(seed)
    n = int(seconds * 16000)
    t = np.arange(n) / 16000
    return (0.3 * np.sin(2 * np.pi * 150 * t) * (np.sin(2 * np.pi * 2 * t) > 0)
            + 0.01 * rng.standard_normal(n)).astype(np.float32)


def _stream_in_chunks(gen, x, z, sizes):
    """Run ``gen``'s per-frame form over x (1, T, F), z (1, T, D) in chunks of ``sizes``
    -> (blendshapes (sum(sizes), 52), final state tuple)."""
    sg = StreamingGenerator(gen).eval()
    s, parts, i = sg.initial_state(), [], 0
    for n in sizes:
        y, s = sg(x[0, i:i + n], z[0, i:i + n], s)
        parts.append(y)
        i += n
    return torch.cat(parts), s


def test_generator_streaming_state_is_exact():
    torch.manual_seed(0)
    g = Generator(GeneratorConfig(channels=32, dilations=(1, 2, 4, 8))).eval()
    x, z = torch.randn(1, 120, 40), torch.randn(1, 120, 16)
    with torch.no_grad():
        ref, _ = g(x, z, g.initial_state())
        s, parts = g.initial_state(), []
        for i in range(0, 120, 7):
            y, s = g(x[:, i:i + 7], z[:, i:i + 7], s)
            parts.append(y)
    assert torch.allclose(torch.cat(parts, 1), ref, atol=1e-5)


def test_streaming_generator_equals_the_trained_generator():
    """The per-frame inference form (folded normalisation, flattened taps, one z matmul)
    computes the same function as Generator.forward, chunk by chunk, state carried."""
    torch.manual_seed(0)
    cfg = GeneratorConfig(channels=32, kernel=3, dilations=(1, 2, 4, 1), head_hidden=24)
    g = Generator(cfg).eval()
    with torch.no_grad():                     # non-trivial FiLM, normalisation and LayerNorm
        g.film.weight.normal_(0, 0.3)
        g.film.bias.normal_(0, 0.2)
        g.feat_mean.normal_(-3.0, 1.0)
        g.feat_std.uniform_(0.5, 2.0)
        for blk in g.blocks:
            blk.norm.weight.uniform_(0.5, 1.5)
            blk.norm.bias.normal_(0, 0.1)
    sg = StreamingGenerator(g).eval()
    x, z = torch.randn(150, 40) - 3.0, torch.randn(150, 16)
    with torch.no_grad():
        ref, ref_state = g(x[None], z[None], g.initial_state())
        s, parts, i = sg.initial_state(), [], 0
        for n in (1, 2, 1, 1, 7, 0, 2, 70, 66):
            y, s = sg(x[i:i + n], z[i:i + n], s)
            assert y.shape == (n, 52)
            parts.append(y)
            i += n
    assert i == 150
    got = torch.cat(parts)
    assert torch.allclose(got, ref[0], atol=1e-5), (got - ref[0]).abs().max()
    # the carried state is the same context the training-form state holds
    assert torch.allclose(torch.cat([t.t() for t in s], 1), ref_state[0], atol=1e-5)
    # and the emotion channel matters in both (the comparison above can fail)
    with torch.no_grad():
        other, _ = sg(x, z + 1.0, sg.initial_state())
    assert (other - ref[0]).abs().max() > 1e-3


@pytest.mark.parametrize("phone_after", [0, 2, 4])
def test_the_phone_bottleneck_streams_exactly_and_starts_as_the_network_without_it(phone_after):
    """A bottleneck anywhere (before the first block, between blocks, after the last) is
    computed the same by the per-frame form; with its projection back still zero (as a
    fine-tune adds it) the network is the one without it; once trained it matters."""
    torch.manual_seed(0)
    cfg = GeneratorConfig(channels=32, dilations=(1, 2, 4, 1), head_hidden=24)
    plain = Generator(cfg).eval()
    with torch.no_grad():
        plain.film.weight.normal_(0, 0.3)
        plain.feat_mean.normal_(-3.0, 1.0)
    g = Generator(GeneratorConfig.from_dict({**cfg.to_dict(), "phone_after": phone_after}))
    missing, unexpected = g.load_state_dict(plain.state_dict(), strict=False)
    assert sorted(missing) == ["phone_in.weight", "phone_out.bias", "phone_out.weight"]
    assert not unexpected
    g.eval()
    x, z = torch.randn(1, 90, 40) - 3.0, torch.randn(1, 90, 16)
    with torch.no_grad():
        a, _ = plain(x, z, plain.initial_state())
        b, _, logits = g.forward_with_phones(x, z, g.initial_state())
        assert logits.shape == (1, 90, len(PHONES))
        assert torch.allclose(a, b, atol=1e-6)
        g.phone_in.weight.normal_(0, 1.0)
        ref, ref_state = g(x, z, g.initial_state())
        assert (ref - a).abs().max() > 1e-3
        y, s = _stream_in_chunks(g, x, z, (1, 2, 7, 0, 40, 40))
    assert torch.allclose(y, ref[0], atol=1e-5)
    assert torch.allclose(torch.cat([t.t() for t in s], 1), ref_state[0], atol=1e-5)
    # still causal
    x2 = x.clone()
    x2[:, 50:] += 5.0
    with torch.no_grad():
        c, _ = g(x2, z, g.initial_state())
    assert torch.allclose(c[:, :50], ref[:, :50]) and not torch.allclose(c[:, 50:], ref[:, 50:])


@pytest.mark.parametrize("phone_after", [2, 4])
def test_a_strict_phone_bottleneck_lets_only_the_posteriors_through(phone_after):
    """With ``phone_replace`` what follows the bottleneck sees the phone posteriors only: when
    they are blind to the audio (zero phone head), so is the face; the per-frame form agrees."""
    torch.manual_seed(0)
    cfg = GeneratorConfig(channels=32, dilations=(1, 2, 4, 1), head_hidden=24,
                          phone_after=phone_after, phone_replace=True)
    g = Generator(cfg).eval()
    with torch.no_grad():
        g.phone_in.weight.normal_(0, 1.0)
    x, z = torch.randn(1, 60, 40) - 3.0, torch.randn(1, 60, 16)
    with torch.no_grad():
        ref, _ = g(x, z, g.initial_state())
        sg = StreamingGenerator(g).eval()
        s, parts = sg.initial_state(), []
        for i in range(0, 60, 5):
            y, s = sg(x[0, i:i + 5], z[0, i:i + 5], s)
            parts.append(y)
        assert torch.allclose(torch.cat(parts), ref[0], atol=1e-5)
        assert (g(x + 2.0, z, g.initial_state())[0] - ref).abs().max() > 1e-3
        g.phone_out.weight.zero_()
        a, _ = g(x, z, g.initial_state())
        b, _ = g(x + 2.0, z, g.initial_state())
        assert torch.allclose(a, b, atol=1e-6)
        # the same blind head in the additive form leaves the audio its say
        g2 = Generator(GeneratorConfig.from_dict({**cfg.to_dict(), "phone_replace": False}))
        g2.load_state_dict(g.state_dict())
        g2.eval()
        assert (g2(x, z, g2.initial_state())[0] - g2(x + 2.0, z, g2.initial_state())[0]
                ).abs().max() > 1e-3


def _mixture_pair():
    """A random strict generator with the bottleneck after its last block, as a phone mixture
    and as the plain head (the same weights)."""
    torch.manual_seed(0)
    cfg = GeneratorConfig(channels=32, dilations=(1, 2, 4, 1), head_hidden=24, phone_after=4,
                          phone_replace=True, phone_mixture=True)
    mix = Generator(cfg).eval()
    with torch.no_grad():
        mix.phone_in.weight.normal_(0, 1.0)
        mix.film.weight.normal_(0, 0.3)
    plain = Generator(GeneratorConfig.from_dict({**cfg.to_dict(), "phone_mixture": False}))
    plain.load_state_dict(mix.state_dict())
    return mix, plain.eval()


def test_a_phone_mixture_is_the_head_where_the_phone_is_sure_and_linear_between():
    """The mixture face equals the plain head at one-hot posteriors, is the posterior-weighted
    mean of those faces elsewhere (the plain head is not), and streams like the trained form."""
    mix, plain = _mixture_pair()
    P = len(PHONES)
    x, z = torch.randn(1, 80, 40) - 3.0, torch.randn(1, 80, 16)
    with torch.no_grad():
        faces = mix.phone_faces(z)                                        # (1, 80, P, 52)
        assert faces.shape == (1, 80, P, 52)
        for k in (0, 7, 16, 26):                                          # sil, eh, b, m
            hot = mix.phone_in.weight[:, k].expand(1, 80, -1)
            ref = torch.sigmoid(plain.head(torch.cat([hot, z], dim=2)))
            assert torch.allclose(faces[:, :, k], ref, atol=1e-6)
        # a network whose posteriors are sure of one phone shows that phone's face either way
        for m in (mix, plain):
            m.phone_out.weight.zero_()
            m.phone_out.bias.fill_(-30.0)
            m.phone_out.bias[16] = 30.0
        assert torch.allclose(mix(x, z, mix.initial_state())[0],
                              plain(x, z, plain.initial_state())[0], atol=1e-6)
        # between two phones: the mixture is linear in the posteriors, the plain head is not
        p1 = torch.softmax(torch.randn(1, 80, P) * 3, dim=-1)
        p2 = torch.softmax(torch.randn(1, 80, P) * 3, dim=-1)
        mid = 0.3 * p1 + 0.7 * p2
        lin = 0.3 * mix.phone_mixture_face(p1, z) + 0.7 * mix.phone_mixture_face(p2, z)
        assert torch.allclose(mix.phone_mixture_face(mid, z), lin, atol=1e-6)

        def head(p):
            return torch.sigmoid(plain.head(torch.cat([plain.phone_in(p), z], dim=2)))
        assert (head(mid) - (0.3 * head(p1) + 0.7 * head(p2))).abs().max() > 1e-3
    # the per-frame form, chunk by chunk, equals the trained form
    mix, _ = _mixture_pair()
    with torch.no_grad():
        ref, ref_state = mix(x, z, mix.initial_state())
        y, s = _stream_in_chunks(mix, x, z, (1, 2, 7, 0, 30, 40))
    assert torch.allclose(y, ref[0], atol=1e-5)
    assert torch.allclose(torch.cat([t.t() for t in s], 1), ref_state[0], atol=1e-5)
    assert ((ref >= 0) & (ref <= 1)).all()


def test_a_phone_mixture_s_parts_make_its_face_and_a_loss_can_reach_the_posteriors_alone():
    """``mixture_parts`` gives posteriors and per-phone faces whose product is the face (a
    plain generator refuses); ``mixture_face(hold_faces=True)`` passes a loss's gradient to
    the posteriors (the phone classifier) and none to the faces (the head)."""
    from emotalk_ros.training.train import mixture_face

    mix, plain = _mixture_pair()
    x, z = torch.randn(2, 40, 40) - 3.0, torch.randn(2, 40, 16)
    state = mix.initial_state().expand(2, -1, -1).contiguous()
    post, faces, new_state, logits = mix.mixture_parts(x, z, state)
    y, ref_state, ref_logits = mix.forward_with_phones(x, z, state)
    assert torch.allclose(mixture_face(post, faces), y, atol=1e-6)
    assert torch.allclose(new_state, ref_state) and torch.allclose(logits, ref_logits)
    assert torch.allclose(post.sum(-1), torch.ones(2, 40), atol=1e-5)
    with pytest.raises(ValueError, match="needs phone_mixture"):
        plain.mixture_parts(x, z, state)
    for hold in (False, True):
        mix.zero_grad()
        post, faces, _, _ = mix.mixture_parts(x, z, state)
        mixture_face(post, faces, hold_faces=hold)[..., :10].sum().backward()
        head = sum(0.0 if p.grad is None else float(p.grad.abs().sum())
                   for p in mix.head.parameters())
        classifier = float(mix.phone_out.weight.grad.abs().sum())
        assert classifier > 0.0
        assert (head == 0.0) == hold, (hold, head)


def test_phone_dominance_starts_as_the_mixture_keeps_sure_phones_and_lets_one_dominate():
    """With dominance the face is still a mean of the per-phone faces: at zero log-dominance
    it is the plain mixture, at a one-hot phone the head's face; a phone given a high
    dominance on one blendshape takes that shape over at a posterior well under one half,
    and the other shapes stay the plain mixture's. The per-frame form equals the trained
    form chunk by chunk."""
    mix, _ = _mixture_pair()
    dom = Generator(GeneratorConfig.from_dict({**mix.cfg.to_dict(), "phone_dominance": True}))
    missing, unexpected = dom.load_state_dict(mix.state_dict(), strict=False)
    assert missing == ["phone_dom"] and unexpected == []
    dom.eval()
    P = len(PHONES)
    x, z = torch.randn(1, 80, 40) - 3.0, torch.randn(1, 80, 16)
    post = torch.softmax(torch.randn(1, 80, P) * 3, dim=-1)
    with torch.no_grad():
        s0 = mix.initial_state()
        assert torch.allclose(dom(x, z, s0)[0], mix(x, z, s0)[0], atol=1e-6)
        dom.phone_dom.normal_(0, 2.0)
        hot = torch.zeros(1, 80, P)
        j, b = INDEX["jawOpen"], PHONE_INDEX["b"]
        hot[..., b] = 1.0
        assert torch.allclose(dom.phone_mixture_face(hot, z), mix.phone_faces(z)[:, :, b],
                              atol=1e-6)
        dom.phone_dom.zero_()
        dom.phone_dom[b, j] = 8.0
        low = 0.05 + 0.25 * torch.rand(1, 80)          # /b/ at 0.05-0.3 of the mass
        p = post * (1 - low)[..., None]
        p[..., b] += low
        faces = mix.phone_faces(z)
        y = dom.phone_mixture_face(p, z)
        assert (y[..., j] - faces[..., b, j]).abs().max() < 0.05
        assert (mix.phone_mixture_face(p, z)[..., j] - faces[..., b, j]).abs().max() > 0.05
        others = [k for k in range(52) if k != j]
        assert torch.allclose(y[..., others], mix.phone_mixture_face(p, z)[..., others],
                              atol=1e-6)
        dom.phone_dom.normal_(0, 2.0)
        ref, ref_state = dom(x, z, s0)
        yy, st = _stream_in_chunks(dom, x, z, (1, 2, 7, 0, 30, 40))
    assert torch.allclose(yy, ref[0], atol=1e-5)
    assert torch.allclose(torch.cat([t.t() for t in st], 1), ref_state[0], atol=1e-5)
    with pytest.raises(ValueError, match="phone_dominance needs phone_mixture"):
        GeneratorConfig.from_dict({**mix.cfg.to_dict(), "phone_mixture": False,
                                   "phone_dominance": True})


@pytest.mark.parametrize("change", [{"phone_replace": False}, {"phone_after": 3}])
def test_a_phone_mixture_without_a_strict_bottleneck_at_the_end_is_refused(change):
    d = {**_mixture_pair()[0].cfg.to_dict(), **change}
    with pytest.raises(ValueError, match="phone_mixture needs a strict phone bottleneck"):
        GeneratorConfig.from_dict(d)
    with pytest.raises(ValueError, match="phone_mixture needs a strict phone bottleneck"):
        Generator(GeneratorConfig(**{**d, "dilations": tuple(d["dilations"])}))


def test_a_config_without_a_bottleneck_reads_as_none_and_a_bad_one_is_refused():
    d = GeneratorConfig(dilations=(1, 2)).to_dict()
    del d["phone_after"]                          # a checkpoint from before the bottleneck
    assert GeneratorConfig.from_dict(d).phone_after == -1
    for bad in (3, -2):
        with pytest.raises(ValueError, match="phone_after"):
            GeneratorConfig.from_dict({**d, "phone_after": bad})


def test_generator_is_causal():
    torch.manual_seed(0)
    g = Generator(GeneratorConfig(channels=32, dilations=(1, 2))).eval()
    x, z = torch.randn(1, 50, 40), torch.zeros(1, 50, 16)
    x2 = x.clone()
    x2[:, 30:] += 5.0
    with torch.no_grad():
        a, _ = g(x, z, g.initial_state())
        b, _ = g(x2, z, g.initial_state())
    assert torch.allclose(a[:, :30], b[:, :30])
    assert not torch.allclose(a[:, 30:], b[:, 30:])


@pytest.mark.parametrize("chunk", [160, 512, 1600, 16000])
def test_torch_predictor_chunk_invariance(chunk):
    from emotalk_ros.generator.backends import TorchPredictor

    p = TorchPredictor(make_ckpt(), device="cpu")
    x = speech()
    alpha = np.eye(7, dtype=np.float32)[0] * 0.8
    ref = p.animate(x, alpha)
    got = p.animate(x, alpha, chunk=chunk)
    assert len(ref) == 120
    np.testing.assert_allclose(got.values, ref.values, atol=1e-5)
    assert np.isfinite(ref.values).all() and ref.values.min() >= 0 and ref.values.max() <= 1


@pytest.mark.parametrize("phone_after", [-1, 2])
def test_export_round_trip_and_metadata(tmp_path, phone_after):
    import onnx

    from emotalk_ros.generator.backends import OnnxPredictor, TorchPredictor
    from emotalk_ros.training.export import export_onnx

    pt = str(tmp_path / "m.pt")
    checkpoint.save(pt, make_ckpt(phone_after=phone_after))
    res = export_onnx(pt, str(tmp_path / "m.onnx"))
    assert res["max_abs_diff"] < 1e-4
    meta = {p.key: p.value for p in onnx.load(str(tmp_path / "m.onnx")).metadata_props}
    em = json.loads(meta["emotalk"])
    assert meta["blendshape_names"].split(",") == list(NAMES)
    assert em["emotions"] == list(EXPRESSIVE) and em["sample_rate"] == 16000
    assert em["lookahead_ms"] == pytest.approx(40.0)
    assert len(em["emotion_space"]["normals"]) == 7
    # streaming ONNX == streaming torch with mixed emotions and odd chunks
    x = speech(1.5, seed=3)
    alpha = np.zeros(7, np.float32)
    alpha[1], alpha[4] = 0.6, 0.3
    a = TorchPredictor(checkpoint.load(pt), device="cpu").animate(x, alpha, chunk=333)
    b = OnnxPredictor(str(tmp_path / "m.onnx")).animate(x, alpha, chunk=1000)
    assert np.abs(a.values - b.values).max() < 1e-4


def test_emotion_changes_output_and_zero_is_neutral():
    from emotalk_ros.generator.backends import TorchPredictor

    p = TorchPredictor(make_ckpt(), device="cpu")
    x = speech(1.0)
    neutral = p.animate(x, None).values
    zero = p.animate(x, np.zeros(7, np.float32)).values
    happy = p.animate(x, np.eye(7, dtype=np.float32)[0]).values
    np.testing.assert_allclose(zero, neutral, atol=1e-6)
    assert np.abs(happy - neutral).max() > 1e-3


def test_mismatched_metadata_is_refused(tmp_path):
    ck = make_ckpt()
    bad = dict(ck, blendshapes=list(reversed(NAMES)))
    with pytest.raises(ModelMismatchError, match="blendshape"):
        checkpoint.check_metadata(bad, "x")
    bad = dict(ck, emotions=["happy"])
    with pytest.raises(ModelMismatchError, match="emotion"):
        checkpoint.check_metadata(bad, "x")
    bad = dict(ck, format_version=99)
    with pytest.raises(ModelMismatchError, match="version"):
        checkpoint.check_metadata(bad, "x")
    # weights that do not fit the stored config fail strict loading with a clear error
    from emotalk_ros.generator.backends import TorchPredictor

    bad = dict(ck, generator_config=dict(ck["generator_config"], channels=48))
    with pytest.raises(ModelMismatchError, match="do not match"):
        TorchPredictor(bad, device="cpu")
    p = tmp_path / "junk.onnx"
    p.write_bytes(b"not a model")
    from emotalk_ros.generator.loading import load_predictor

    with pytest.raises(EmotalkError):
        load_predictor(str(p))
    with pytest.raises(EmotalkError, match="not found"):
        load_predictor(str(tmp_path / "missing.onnx"))


def test_emotion_space_algebra():
    s = random_space()
    a = np.zeros(7, np.float32)
    np.testing.assert_allclose(s.embed(a), s.z_neutral, atol=1e-6)       # intensity 0 == neutral
    h, su = np.eye(7, dtype=np.float32)[0], np.eye(7, dtype=np.float32)[3]
    mix = s.embed(0.6 * h + 0.3 * su)
    np.testing.assert_allclose(
        mix - s.z_neutral,
        0.6 * (s.embed(h) - s.z_neutral) + 0.3 * (s.embed(su) - s.z_neutral),
        atol=1e-5,
    )  # mixtures are linear
    steps = np.stack([s.embed(k * h) for k in np.linspace(0, 1, 11)])
    d = np.linalg.norm(np.diff(steps, axis=0), axis=1)
    assert np.allclose(d, d[0], rtol=1e-4)  # continuous, uniform steps
    np.testing.assert_allclose(s.project(mix), 0.6 * h + 0.3 * su, atol=1e-4)
    back = EmotionSpace.from_dict(json.loads(s.to_json()))
    np.testing.assert_allclose(back.embed(h), s.embed(h), atol=1e-6)


def test_fit_emotion_space_recovers_directions():
    rng = np.random.default_rng(0)
    true = np.linalg.qr(rng.normal(size=(16, 7)))[0].T * 2.0  # orthogonal directions (7, 16)
    alpha = np.zeros((1400, 7))
    alpha[200:] = 0.0
    for k in range(7):
        alpha[200 + 170 * k: 200 + 170 * (k + 1), k] = rng.uniform(0.3, 1.0, 170)
    z = 1.0 + alpha @ true + 0.05 * rng.normal(size=(1400, 16))
    space = fit_emotion_space(z, alpha)
    for k in range(7):
        cos = float(space.normals[k] @ true[k] / np.linalg.norm(true[k]))
        assert cos > 0.95
        reach = space.embed(np.eye(7)[k]) - space.z_neutral
        assert np.linalg.norm(reach) == pytest.approx(2.0, rel=0.15)
    assert space.pair_normals.shape == (7, 7, 16)


def test_shipped_model_loads_strictly_if_present():
    from emotalk_ros.generator.loading import default_model_path, load_predictor

    path = default_model_path()
    if path is None:
        pytest.skip("no shipped model in models/")
    p = load_predictor(None, fps=60)
    out = p.animate(speech(1.0))
    assert out.values.shape == (60, 52)
    assert os.path.getsize(path) < 20 * 1024 * 1024


def test_output_smoothing_is_causal_chunk_invariant_and_reduces_jitter():
    from emotalk_ros.generator.backends import TorchPredictor
    from emotalk_ros.training.metrics import jitter

    ck = make_ckpt()
    raw = TorchPredictor(ck, device="cpu")
    sm = TorchPredictor(dict(ck, output_smoothing=0.5), device="cpu")
    x = speech(2.0)
    r, s = raw.animate(x).values, sm.animate(x).values
    assert jitter(s, 60) < 0.8 * jitter(r, 60)
    np.testing.assert_allclose(sm.animate(x, chunk=333).values, s, atol=1e-5)   # chunk invariant
    x2 = x.copy()
    x2[16000:] = 0.5 * np.sign(np.sin(np.arange(16000) * 0.3))                  # change the future
    s2 = sm.animate(x2).values
    # frames depicting t < 1 s minus the look-ahead (and one hop) cannot see the change
    cut = int((1.0 - 0.04 - 0.02) * 60)
    np.testing.assert_allclose(s2[:cut], s[:cut], atol=1e-6)
    assert np.abs(s2[cut + 10:] - s[cut + 10:]).max() > 1e-3


def test_intensity_calibration_warp():
    s = random_space()
    grid = np.linspace(0, 1, 11)
    cal = np.stack([grid ** 0.5] * 7).astype(np.float32)           # a concave warp
    sc = EmotionSpace(s.z_neutral, s.normals, s.scales, None, cal)
    h = np.eye(7, dtype=np.float32)[0]
    np.testing.assert_allclose(sc.embed(0 * h), s.z_neutral, atol=1e-6)          # 0 stays neutral
    np.testing.assert_allclose(sc.embed(h), s.embed(h), atol=1e-5)  # 1 stays full
    np.testing.assert_allclose(
        sc.embed(0.2 * h), s.embed(np.sqrt(0.2) * h), atol=1e-5
    )  # warped on the grid
    steps = [np.linalg.norm(sc.embed(a * h) - s.z_neutral) for a in np.linspace(0, 1.2, 13)]
    assert np.all(np.diff(steps) > 0)  # monotone, extrapolates
    back = EmotionSpace.from_dict(json.loads(sc.to_json()))
    np.testing.assert_allclose(back.embed(0.3 * h), sc.embed(0.3 * h), atol=1e-6)
    np.testing.assert_allclose(sc.project(sc.embed(0.3 * h)), 0.3 * h, atol=1e-3)


def test_warp_from_response_linearises_and_falls_back():
    from emotalk_ros.training.calibrate import warp_from_response

    levels = np.linspace(0, 1, 11)
    g = 0.1 + 0.5 * levels ** 3                                        # convex response
    w = warp_from_response(g)
    assert w[0] == 0 and w[-1] == 1 and np.all(np.diff(w) > 0)
    np.testing.assert_allclose(0.1 + 0.5 * w ** 3, 0.1 + 0.5 * levels, atol=0.02)  # now linear
    np.testing.assert_array_equal(
        warp_from_response(0.5 - 0.01 * levels), levels.astype(np.float32)
    )
    np.testing.assert_array_equal(warp_from_response(np.full(11, 0.3)), levels.astype(np.float32))


def test_calibration_linearises_group_response():
    from emotalk_ros.core.emotions import group_index
    from emotalk_ros.generator.backends import TorchPredictor
    from emotalk_ros.training.calibrate import calibrate

    ck = make_ckpt()
    assert calibrate(ck, smoothing=0.3)["output_smoothing"] == 0.3
    cal = calibrate(ck, smoothing=0.0)  # isolate the intensity warp
    x = speech(1.5)

    def curve(c, k=6):
        p = TorchPredictor(c, device="cpu")
        idx = group_index("contempt")
        return np.array([p.animate(x, np.eye(7, dtype=np.float32)[k] * a).values[:, idx].mean()
                         for a in np.linspace(0, 1, 6)])

    def nonlinearity(g):
        lin = g[0] + np.linspace(0, 1, len(g)) * (g[-1] - g[0])
        return np.abs(g - lin).max() / max(abs(g[-1] - g[0]), 1e-9)

    before, after = curve(ck), curve(cal)
    assert after[-1] == pytest.approx(before[-1], abs=1e-5)            # full intensity unchanged
    assert nonlinearity(after) <= nonlinearity(before) + 1e-6
