"""`emotalk train-phones` (emotalk_ros.training.phone_path): the phone path of a phone-mixture
generator retrained on labelled speech, everything else frozen."""

import os
import sys
from types import SimpleNamespace

import numpy as np
import pytest

torch = pytest.importorskip("torch")

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "generator"))
sys.path.insert(0, os.path.dirname(__file__))

from test_generator import ckpt_of, random_space  # noqa: E402
from test_train import emotalk, fake_shard  # noqa: E402

from emotalk_ros.core.phones import PHONES  # noqa: E402
from emotalk_ros.errors import EmotalkError  # noqa: E402
from emotalk_ros.generator import checkpoint  # noqa: E402
from emotalk_ros.generator.model import Generator, GeneratorConfig  # noqa: E402
from emotalk_ros.training.phone_path import (  # noqa: E402
    PhonePathConfig,
    aperture_parts,
    face_aperture,
    frames_ce,
    prefix,
    rest_logits,
    retrain_phone_path,
    trained_keys,
)

NB = 3


def mixture_ckpt(seed=0):
    torch.manual_seed(seed)
    cfg = GeneratorConfig(channels=32, dilations=(1, 2, 4), lookahead_frames=4, phone_after=NB,
                          phone_replace=True, phone_mixture=True, phone_dominance=True)
    g = Generator(cfg)
    with torch.no_grad():
        g.film.weight.normal_(0, 0.3)
    return ckpt_of(cfg, g, random_space())


def diverse_faces(ck, seed=0):
    """``ck`` with per-phone faces that differ (a fresh mixture checkpoint's phone inputs are
    zero, so every phone shows the same face and no posterior can move the mouth)."""
    g = torch.Generator().manual_seed(seed)
    gen = dict(ck["generator"])
    gen["phone_in.weight"] = torch.randn(gen["phone_in.weight"].shape, generator=g)
    gen["head.2.weight"] = 4.0 * gen["head.2.weight"]
    return {**ck, "generator": gen}


def with_targets(data):
    """``data`` plus teacher faces whose jaw opens with each frame's phone openness (the
    right answer for the face), everything else at rest."""
    from emotalk_ros.core.blendshapes import INDEX, NUM_BLENDSHAPES
    from emotalk_ros.core.phones import openness

    tgt = np.zeros((data.phone.shape[0], NUM_BLENDSHAPES), np.float32)
    tgt[:, INDEX["jawOpen"]] = [openness(PHONES[int(p)]) for p in data.phone]
    data.target = tgt
    return data


def faces_of(ck, data, clips):
    """The generator's own neutral face on each of ``clips``: (frames L.. (T - L, 52), s0, s1,
    L) per clip, frames aligned as in training."""
    cfg = GeneratorConfig.from_dict(ck["generator_config"])
    net = Generator(cfg)
    net.load_state_dict(ck["generator"])
    net.eval()
    L = cfg.lookahead_frames
    with torch.no_grad():
        for c in clips:
            s0, s1 = int(data.offsets[c]), int(data.offsets[c + 1])
            y, _ = net(torch.from_numpy(data.mel[s0:s1])[None],
                       torch.zeros(1, s1 - s0, cfg.emotion_dim), net.initial_state(1))
            yield y[0, L:].numpy(), s0, s1, L


def face_corr(ck, data, clips):
    """Mean over ``clips`` of the correlation of the generator's own face aperture with the
    target's (frames aligned as in training)."""
    from emotalk_ros.core.blendshapes import aperture

    return float(np.mean([np.corrcoef(aperture(y), aperture(data.target[s0:s1 - L]))[0, 1]
                          for y, s0, s1, L in faces_of(ck, data, clips)]))


def labelled_data(n_clips=12, seed=3):
    """Clips whose log-mel carries the phone (a per-phone spectral pattern plus noise), so a
    phone path can learn it; phone labels at every 10 ms frame."""
    rng = np.random.default_rng(seed)
    pattern = rng.normal(0, 1.5, (len(PHONES), 40))
    mel, alpha, phone, off = [], [], [], [0]
    for c in range(n_clips):
        n = int(rng.integers(120, 200))
        ph = np.repeat(rng.integers(0, len(PHONES), n // 8 + 1), 8)[:n]
        mel.append((-3 + pattern[ph] + rng.normal(0, 0.5, (n, 40))).astype(np.float32))
        a = np.zeros((n, 7), np.float32)
        a[:, c % 7] = 0.0 if c % 3 == 0 else 0.7
        alpha.append(a)
        phone.append(ph)
        off.append(off[-1] + n)
    return SimpleNamespace(mel=np.concatenate(mel), alpha=np.concatenate(alpha),
                           phone=np.concatenate(phone), offsets=np.array(off))


def test_the_frozen_prefix_and_the_trained_rest_are_the_generators_own_phone_logits():
    ck = mixture_ckpt()
    net = Generator(GeneratorConfig.from_dict(ck["generator_config"]))
    net.load_state_dict(ck["generator"])
    net.eval()
    rng = np.random.default_rng(0)
    feats = torch.from_numpy(rng.normal(-3, 1, (1, 90, 40)).astype(np.float32))
    z = torch.from_numpy(rng.normal(0, 1, (1, 90, 16)).astype(np.float32))
    with torch.no_grad():
        _, _, want = net.forward_with_phones(feats, z, net.initial_state(1))
        for first in range(NB):
            x, film = prefix(net, feats, z, first)
            got = rest_logits(net.blocks[first:], net.phone_out, x, film)
            assert torch.allclose(got, want[0], atol=1e-5), first


def test_it_learns_the_phones_and_changes_nothing_but_the_phone_path():
    ck, data = mixture_ckpt(), labelled_data()
    before = frames_ce(ck, data, range(12))
    out, rec = retrain_phone_path(ck, data, PhonePathConfig(steps=60, lr=3e-3, clips_per_step=4),
                                  data_name="toy", progress=False)
    after = frames_ce(out, data, range(12))
    assert after < 0.8 * before, (before, after)
    assert rec["history"][-1]["ce"] < rec["history"][0]["ce"]
    keys = set(trained_keys(ck["generator"], NB, 1))
    assert keys and all(k.startswith(("blocks.2.", "phone_out.")) for k in keys)
    changed = {k for k, v in ck["generator"].items() if not torch.equal(v, out["generator"][k])}
    assert changed and changed <= keys
    for k in ("generator_config", "emotion_space", "mapping"):
        assert out[k] == ck[k] if k != "mapping" else out[k] is ck[k]
    assert out["train"]["phone_path"]["config"]["steps"] == 60 and rec["data"] == "toy"
    assert ck["train"] == {}                                    # the input is not modified


@pytest.mark.parametrize("same_emotion", [True, False])
def test_the_face_aperture_mirrors_the_generators_face(same_emotion):
    from emotalk_ros.generator.model import APERTURE_INDEX, aperture6

    ck = diverse_faces(mixture_ckpt())
    net = Generator(GeneratorConfig.from_dict(ck["generator_config"]))
    net.load_state_dict(ck["generator"])
    with torch.no_grad():
        net.phone_dom.normal_(0, 1.0)                   # a dominance that matters
    net.eval()
    rng = np.random.default_rng(1)
    feats = torch.from_numpy(rng.normal(-3, 1, (1, 80, 40)).astype(np.float32))
    z = rng.normal(0, 1, (1, 80, 16)).astype(np.float32)
    if same_emotion:
        z[:] = z[:, :1]
    z = torch.from_numpy(z)
    with torch.no_grad():
        y, _, logits = net.forward_with_phones(feats, z, net.initial_state(1))
        faces, dom = aperture_parts(net, z[0])
        got = face_aperture(torch.log_softmax(logits[0], -1), faces, dom)
    assert faces.dim() == (2 if same_emotion else 3)
    want = aperture6(y[0][:, list(APERTURE_INDEX)])
    assert torch.allclose(got, want, atol=1e-5)


def test_the_correlation_term_makes_the_face_follow_the_teacher():
    ck, data = diverse_faces(mixture_ckpt()), with_targets(labelled_data())

    def trained(w):
        out, rec = retrain_phone_path(ck, data, PhonePathConfig(
            steps=40, lr=3e-3, clips_per_step=4, w_corr=w), progress=False)
        return out, rec

    plain, rec0 = trained(0.0)
    corr, rec1 = trained(5.0)
    assert "1-corr" not in rec0["history"][0] and "1-corr" in rec1["history"][0]
    assert rec1["history"][-1]["1-corr"] < rec1["history"][0]["1-corr"]
    assert face_corr(corr, data, range(12)) > face_corr(plain, data, range(12)) + 0.02


def bilabial_aperture(ck, data, clips):
    """The generator's mean face aperture on the frames labelled /p b m/."""
    from emotalk_ros.core.blendshapes import aperture
    from emotalk_ros.core.phones import BILABIALS

    vals = []
    for y, s0, s1, L in faces_of(ck, data, clips):
        is_bil = np.array([PHONES[int(p)] in BILABIALS for p in data.phone[s0:s1 - L]])
        vals.extend(aperture(y)[is_bil])
    return float(np.mean(vals))


def test_the_bilabial_term_shuts_the_face_on_p_b_m():
    ck, data = diverse_faces(mixture_ckpt()), with_targets(labelled_data())

    def trained(w):
        out, rec = retrain_phone_path(ck, data, PhonePathConfig(
            steps=40, lr=3e-3, clips_per_step=4, w_corr=1.0, w_bilabial=w), progress=False)
        return out, rec

    plain, _ = trained(0.0)
    shut, rec = trained(20.0)
    assert rec["history"][-1]["bilabial"] < rec["history"][0]["bilabial"]
    before, after = (bilabial_aperture(m, data, range(12)) for m in (plain, shut))
    assert after < before - 0.02, (before, after)


@pytest.mark.parametrize("cfg", [PhonePathConfig(w_corr=1.0), PhonePathConfig(w_bilabial=1.0)])
def test_the_face_terms_need_teacher_faces(cfg):
    with pytest.raises(EmotalkError, match="teacher's faces"):
        retrain_phone_path(mixture_ckpt(), labelled_data(n_clips=2), cfg, progress=False)


def test_more_blocks_train_more_weights():
    ck, data = mixture_ckpt(), labelled_data(n_clips=4)
    out, _ = retrain_phone_path(ck, data, PhonePathConfig(steps=3, blocks=2, clips_per_step=2),
                                progress=False)
    changed = {k.split(".")[1] for k, v in ck["generator"].items()
               if k.startswith("blocks.") and not torch.equal(v, out["generator"][k])}
    assert changed == {"1", "2"}


def test_the_kl_term_holds_the_posteriors_near_the_inits():
    ck, data = mixture_ckpt(), labelled_data()

    def drift(kl):
        out, _ = retrain_phone_path(ck, data, PhonePathConfig(steps=40, lr=3e-3, kl=kl,
                                                              clips_per_step=4), progress=False)
        return frames_ce(ck, data, range(12)) - frames_ce(out, data, range(12))

    assert drift(50.0) < 0.5 * drift(0.0)


def test_the_lead_teaches_the_phone_that_many_frames_later():
    ck, data = mixture_ckpt(), labelled_data()
    lead = ck["generator_config"]["lookahead_frames"]               # the whole look-ahead
    on_time, _ = retrain_phone_path(ck, data, PhonePathConfig(steps=60, lr=3e-3,
                                                              clips_per_step=4), progress=False)
    early, rec = retrain_phone_path(ck, data, PhonePathConfig(steps=60, lr=3e-3,
                                                              clips_per_step=4, lead=lead),
                                    progress=False)
    assert rec["config"]["lead"] == lead
    clips = range(12)
    assert frames_ce(early, data, clips, lead=lead) < frames_ce(on_time, data, clips, lead=lead)
    assert frames_ce(on_time, data, clips) < frames_ce(early, data, clips)


def test_neutral_clips_are_heard_under_random_emotions_when_asked():
    from emotalk_ros.training.phone_path import EMOTION_STRENGTH, emotion_of

    data = labelled_data()                  # clips 0, 3, 6, 9 neutral, the others emotional
    neutral = [c for c in range(12) if not data.alpha[data.offsets[c]:data.offsets[c + 1]].any()]
    assert neutral == [0, 3, 6, 9]

    def draws(frac, seed=0):
        rng = np.random.default_rng(seed)
        return [emotion_of(data, c, PhonePathConfig(emotions=frac), rng) for c in range(12)]

    assert all(e is None for e in draws(0.0))
    every = draws(1.0)
    assert all(every[c] is None for c in range(12) if c not in neutral)   # theirs is kept
    for c in neutral:
        e = every[c]
        assert e.shape == (7,) and (e > 0).sum() == 1
        assert EMOTION_STRENGTH[0] <= e.max() <= EMOTION_STRENGTH[1]
    half = draws(0.5)                        # the same draws: a clip's emotion is its own
    assert all(h is None or np.array_equal(h, e) for h, e in zip(half, every))
    assert len({int(np.argmax(every[c])) for c in neutral}) > 1
    ck = mixture_ckpt()
    cfg = dict(steps=3, clips_per_step=2)
    plain, _ = retrain_phone_path(ck, data, PhonePathConfig(**cfg), progress=False)
    heard, rec = retrain_phone_path(ck, data, PhonePathConfig(emotions=1.0, **cfg),
                                    progress=False)
    assert rec["config"]["emotions"] == 1.0
    w = "phone_out.weight"
    assert not torch.equal(plain["generator"][w], heard["generator"][w])


def test_the_seed_decides_the_result():
    ck, data = mixture_ckpt(), labelled_data(n_clips=6)
    cfg = PhonePathConfig(steps=4, clips_per_step=2)
    a, _ = retrain_phone_path(ck, data, cfg, progress=False)
    b, _ = retrain_phone_path(ck, data, cfg, progress=False)
    c, _ = retrain_phone_path(ck, data, PhonePathConfig(steps=4, clips_per_step=2, seed=5),
                              progress=False)
    w = "phone_out.weight"
    assert torch.equal(a["generator"][w], b["generator"][w])
    assert not torch.equal(a["generator"][w], c["generator"][w])


@pytest.mark.parametrize("cfg, msg", [
    (PhonePathConfig(blocks=0), "--blocks"), (PhonePathConfig(blocks=4), "--blocks"),
    (PhonePathConfig(steps=0), "--steps"), (PhonePathConfig(kl=-1.0), "--kl"),
    (PhonePathConfig(kl=float("nan")), "--kl"), (PhonePathConfig(lr=0.0), "--lr"),
    (PhonePathConfig(w_corr=-1.0), "--w-corr"), (PhonePathConfig(w_corr=float("inf")), "--w-corr"),
    (PhonePathConfig(w_bilabial=-1.0), "--w-bilabial"),
    (PhonePathConfig(w_bilabial=float("nan")), "--w-bilabial"),
    (PhonePathConfig(lead=-1), "--lead"), (PhonePathConfig(lead=5), "--lead"),
    (PhonePathConfig(emotions=-0.1), "--emotions"), (PhonePathConfig(emotions=1.5), "--emotions"),
    (PhonePathConfig(emotions=float("nan")), "--emotions"),
])
def test_settings_that_cannot_run_are_refused(cfg, msg):
    with pytest.raises(EmotalkError, match=msg):
        retrain_phone_path(mixture_ckpt(), labelled_data(n_clips=2), cfg, progress=False)


def test_a_checkpoint_without_the_phone_mixture_is_refused():
    from test_generator import make_ckpt
    with pytest.raises(EmotalkError, match="phone-mixture"):
        retrain_phone_path(make_ckpt(), labelled_data(n_clips=2), PhonePathConfig(),
                           progress=False)


def test_the_command_writes_a_checkpoint_that_loads_and_exports(tmp_path):
    init = tmp_path / "init.pt"
    checkpoint.save(str(init), mixture_ckpt())
    fake_shard(str(tmp_path / "d"), 5, seed=4)
    out = tmp_path / "a" / "out.pt"
    emotalk("train-phones", "--data", str(tmp_path / "d"), "--init", str(init), "-o", str(out),
            "--steps", "3", "--clips-per-step", "2", "--no-progress",
            "--model-version", "emotalk-test-phones")
    again = tmp_path / "b" / "out.pt"                      # torch.save names entries by file
    emotalk("train-phones", "--data", str(tmp_path / "d"), "--init", str(init), "-o", str(again),
            "--steps", "3", "--clips-per-step", "2", "--no-progress",
            "--model-version", "emotalk-test-phones")
    assert out.read_bytes() == again.read_bytes()          # no time in the file: same bytes
    ck = checkpoint.load(str(out))
    assert ck["model_version"] == "emotalk-test-phones"
    assert ck["train"]["phone_path"]["init"] == str(init)
    emotalk("export", str(out), "-o", str(tmp_path / "out.onnx"))
    assert (tmp_path / "out.onnx").stat().st_size > 0
    corr = tmp_path / "c" / "out.pt"                       # the correlation term, from the CLI
    emotalk("train-phones", "--data", str(tmp_path / "d"), "--init", str(init), "-o", str(corr),
            "--steps", "3", "--clips-per-step", "2", "--no-progress", "--w-corr", "0.5",
            "--w-bilabial", "2", "--lead", "1", "--emotions", "0.5")
    rec = checkpoint.load(str(corr))["train"]["phone_path"]
    assert rec["config"]["w_corr"] == 0.5 and rec["config"]["w_bilabial"] == 2.0
    assert rec["config"]["lead"] == 1 and rec["config"]["emotions"] == 0.5
    assert "1-corr" in rec["history"][-1] and "bilabial" in rec["history"][-1]
