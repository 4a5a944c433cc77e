"""The quality gate on every shipped generator model, through both backends (test/model_gate.py).

Every ``models/*.onnx`` with a ``.pt`` of the same stem is a shipped generator (the default
and any option added later). Each must pass the gate's lip-sync and emotion targets on
espeak-ng, Flite and Festival speech with known phone timings, with torch and onnxruntime
agreeing within 1e-4; a random-weight model and a mouth-always-open model must fail the
same gate, which proves the gate can fail.
"""

import os

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("onnxruntime")

import model_gate as gate  # noqa: E402
from conftest import ROOT  # noqa: E402

from emotalk_ros.core.blendshapes import INDEX  # noqa: E402
from emotalk_ros.generator.predictor import AmplitudeJawBaseline  # noqa: E402

MODELS = gate.shipped_generators(os.path.join(ROOT, "models"))
IDS = [m[0] for m in MODELS]


@pytest.fixture(scope="module")
def corpus():
    missing = gate.missing_engines()
    assert not missing, (f"the gate needs {', '.join(missing)} (installed by tools/install.sh: "
                         f"apt install flite festival festvox-kallpc16k festvox-us-slt-hts)")
    return gate.build_corpus()


@pytest.fixture(scope="module")
def baseline_correlation(corpus):
    return gate.lip_scores(AmplitudeJawBaseline(fps=gate.FPS), corpus)["all"][
        "aperture_correlation"]


def test_the_default_model_is_among_the_shipped_generators():
    from emotalk_ros.generator.loading import default_model_path

    assert MODELS, "no shipped generator (models/*.onnx with a .pt) found"
    assert os.path.splitext(os.path.basename(default_model_path()))[0] in IDS


def test_the_corpus_covers_every_engine_with_bilabials_vowels_and_pauses(corpus):
    assert {c.engine for c in corpus} == set(gate.ENGINES)
    for c in corpus:
        names = [p for _, _, p in c.phones]
        assert {"p", "b", "m"} & set(names), c.text
        assert c.phones[-1][2] == "sil" and c.phones[-1][1] - c.phones[-1][0] >= gate.PAUSE_S
        assert abs(c.phones[-1][1] - c.audio.size / 16000) < 1e-3       # phones tile the clip
    # enough scored events that one miss moves a rate by little
    base = gate.lip_scores(AmplitudeJawBaseline(fps=gate.FPS), corpus)
    assert base["all"]["n_bilabial"] >= 60 and base["all"]["n_open_vowel"] >= 30
    assert base["all"]["n_pauses"] >= len(corpus)
    for e in gate.ENGINES:
        assert base[e]["n_bilabial"] >= 15, e


@pytest.mark.parametrize("backend", ["torch", "onnxruntime"])
@pytest.mark.parametrize("model", MODELS, ids=IDS)
def test_shipped_model_passes_the_gate(model, backend, corpus, baseline_correlation):
    _, onnx, pt = model
    pred = gate.load(pt if backend == "torch" else onnx, backend)
    res = gate.run_gate(pred, corpus, baseline_correlation)
    assert not res.failures, res.summary()


@pytest.mark.parametrize("model", MODELS, ids=IDS)
def test_torch_and_onnx_agree_within_tolerance(model, corpus):
    _, onnx, pt = model
    a, b = gate.load(pt, "torch"), gate.load(onnx, "onnxruntime")
    mix = np.zeros(7, np.float32)
    mix[0], mix[4] = 0.7, 0.4                                       # happy + fearful
    worst = 0.0
    for i, c in enumerate(corpus):
        alpha = None if i % 2 else mix
        fa = gate.frames(a, c, alpha, chunk=320)                     # live-sized chunks
        fb = gate.frames(b, c, alpha, chunk=333)
        assert fa.shape == fb.shape
        worst = max(worst, float(np.abs(fa - fb).max()))
    assert worst <= gate.BACKEND_TOLERANCE, worst


def test_a_random_weight_model_fails_the_gate(corpus, baseline_correlation):
    from emotalk_ros.generator import checkpoint
    from emotalk_ros.generator.backends import TorchPredictor

    _, _, pt = MODELS[0]
    pred = TorchPredictor(gate.random_weights(checkpoint.load(pt)), fps=gate.FPS, device="cpu")
    res = gate.run_gate(pred, corpus, baseline_correlation)
    text = "\n".join(res.failures)
    assert "bilabial closure" in text, res.summary()
    assert "aperture correlation" in text, res.summary()
    assert "does not rise" in text, res.summary()                 # no emotion control either


def test_a_mouth_always_open_model_fails_the_gate(corpus, baseline_correlation):
    _, onnx, _ = MODELS[0]
    pred = gate.force_mouth_open(gate.load(onnx, "onnxruntime"))
    out = gate.frames(pred, corpus[0])
    assert out[:, INDEX["jawOpen"]].min() >= 0.59 and out[:, INDEX["mouthClose"]].max() == 0.0
    res = gate.run_gate(pred, corpus, baseline_correlation)
    text = "\n".join(res.failures)
    assert "bilabial closure" in text and "not at rest in pauses" in text, res.summary()
    assert "full intensity" in text, res.summary()


def test_the_amplitude_baseline_fails_the_gate(corpus, baseline_correlation):
    """Loudness alone opens the jaw but never closes /b m/ and carries no emotion."""
    res = gate.run_gate(AmplitudeJawBaseline(fps=gate.FPS), corpus, baseline_correlation)
    text = "\n".join(res.failures)
    assert "bilabial closure" in text and "aperture correlation" in text, res.summary()
