"""``emotalk calibrate``: per-emotion intensity calibration and the run-time output smoothing,
and (``--aperture-readout``) the jaw read from the phone posteriors.

EditEmoTalk calibrates each edit direction so that alpha = 1 reaches the emotion's full
expression (``s_k``). This extends it to the whole range: for each emotion we sweep the
commanded intensity over a grid on a fixed *calibration* signal (a deterministic
speech-like test signal, never evaluation data), measure the mean of the emotion's FACS
blendshape group, make it monotone, and store the intensity warp that makes that mean
rise linearly with the command. Mixtures warp each component independently; the space
stays linear in the warped intensities, and 0 stays exactly neutral.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Dict, Optional, Tuple

import numpy as np

from emotalk_ros.core.emotions import EXPRESSIVE, NUM_EXPRESSIVE, group_index
from emotalk_ros.emotion.space import EmotionSpace
from emotalk_ros.errors import EmotalkError

READOUT_KEYS = ("readout_z", "readout_open")     # the readout's entries in the state dict
READOUT_BILABIAL = 24.0        # the readout's defaults: /p b m/ dominance and posterior
READOUT_TEMPERATURE = 0.7      # temperature (docs/EVALUATION.md, "The aperture readout")

GRID = 11


def warp_from_response(g: np.ndarray, min_rise: float = 1e-3) -> np.ndarray:
    """Response g (G,) measured at linspace(0, 1, G) -> warp (G,) with g(warp) rising linearly.

    g is made monotone first; a response that does not rise by ``min_rise`` gets the
    identity warp (a calibration must never make the control worse).
    """
    g = np.asarray(g, np.float64)
    return refine_warp(np.linspace(0.0, 1.0, g.shape[0]), g, g.shape[0], min_rise)


def refine_warp(intensity: np.ndarray, response: np.ndarray, grid: int,
                min_rise: float = 1e-3) -> np.ndarray:
    """Warp (grid,) from every (intensity, response) pair measured so far: the response made
    monotone in intensity and inverted at the linear targets. Pairs measured at the warp's
    own points put samples where the response bends, so a steep onset inside the first grid
    cell is no longer read as a straight line."""
    order = np.argsort(intensity, kind="stable")
    x = np.asarray(intensity, np.float64)[order]
    g = np.asarray(response, np.float64)[order]
    keep = np.concatenate([[True], np.diff(x) > 1e-6])
    x, g = x[keep], g[keep]
    levels = np.linspace(0.0, 1.0, grid)
    if g[-1] - g[0] < min_rise:
        return levels.astype(np.float32)
    gm = np.maximum.accumulate(g) + 1e-9 * np.arange(g.shape[0])           # monotone, strictly
    w = np.interp(gm[0] + levels * (gm[-1] - gm[0]), gm, x)
    w[0], w[-1] = 0.0, 1.0
    return w.astype(np.float32)


def intensity_calibration(ckpt: Dict, seconds: float = 4.0, grid: int = GRID,
                          passes: int = 3) -> np.ndarray:
    """(7, grid) calibrated intensities for the uniform grid linspace(0, 1, grid).

    The response is measured on the grid, inverted (:func:`warp_from_response`), then
    measured again at the warped intensities ``passes`` times (:func:`refine_warp`)."""
    from emotalk_ros.core.signals import speech_like_signal as test_signal
    from emotalk_ros.generator.backends import TorchPredictor

    ck = dict(ckpt)
    space = dict(ck["emotion_space"])
    space.pop("calibration", None)                      # measure without any warp
    ck["emotion_space"] = space
    pred = TorchPredictor(ck, device="cpu")
    x = test_signal(seconds, seed=11)
    levels = np.linspace(0.0, 1.0, grid)
    cal = np.zeros((NUM_EXPRESSIVE, grid), np.float32)
    for k, name in enumerate(EXPRESSIVE):
        idx = group_index(name)

        def response(a: float) -> float:
            alpha = np.zeros(NUM_EXPRESSIVE, np.float32)
            alpha[k] = a
            return float(pred.animate(x, alpha).values[:, idx].mean())

        xs = list(levels)
        gs = [response(a) for a in levels]
        w = warp_from_response(np.asarray(gs))
        for _ in range(passes):
            if np.allclose(w, levels, atol=1e-6):
                break                                   # identity: nothing to refine
            new = [float(a) for a in w[1:-1] if np.abs(np.asarray(xs) - a).min() > 1e-4]
            xs += new
            gs += [response(a) for a in new]
            w = refine_warp(np.asarray(xs), np.asarray(gs), grid)
        cal[k] = w
    return cal


def without_readout(ckpt: Dict) -> Dict:
    """A checkpoint as it was before :func:`add_aperture_readout` (the generator's config
    and weights; the rest shared)."""
    from emotalk_ros.generator.model import GeneratorConfig

    cfg = GeneratorConfig.from_dict(ckpt["generator_config"])
    if not cfg.aperture_readout:
        return ckpt
    out = dict(ckpt)
    default = GeneratorConfig()
    out["generator_config"] = replace(
        cfg, aperture_readout=False, readout_bilabial=default.readout_bilabial,
        readout_temperature=default.readout_temperature,
        readout_scale=default.readout_scale).to_dict()
    out["generator"] = {k: v for k, v in ckpt["generator"].items() if k not in READOUT_KEYS}
    return out


def add_aperture_readout(ckpt: Dict, bilabial: float, temperature: float = 1.0) -> Dict:
    """Checkpoint of a phone-mixture generator -> a copy whose jaw follows the expected phone
    openness under its posteriors (``GeneratorConfig.aperture_readout``), /p b m/ weighted
    by ``bilabial`` and the posteriors taken at ``temperature``. The scale is measured, not
    chosen: the mean aperture of the neutral face of the open vowels (openness 1), so the
    readout opens an open vowel as wide as the mixture's face for it does. Replaces any
    readout the checkpoint had. Raises :class:`EmotalkError` for a generator without the
    phone mixture or bad parameters."""
    import torch

    from emotalk_ros.core.blendshapes import aperture
    from emotalk_ros.core.phones import PHONES, openness
    from emotalk_ros.generator.model import Generator, GeneratorConfig

    base = without_readout(ckpt)
    cfg = GeneratorConfig.from_dict(base["generator_config"])
    if not cfg.phone_mixture:
        raise EmotalkError("--aperture-readout needs a phone-mixture generator "
                           "(`emotalk train --phone-mixture`); this checkpoint has none")
    gen = Generator(cfg)
    gen.load_state_dict(base["generator"], strict=True)
    z = torch.as_tensor(np.asarray(EmotionSpace.from_dict(ckpt["emotion_space"]).z_neutral,
                                   np.float32))
    with torch.no_grad():
        faces = gen.phone_faces(z).numpy()                                        # (P, 52)
    open_rows = [k for k, p in enumerate(PHONES) if openness(p) >= 1.0]
    scale = float(aperture(faces[open_rows]).mean())
    try:
        new_cfg = replace(cfg, aperture_readout=True, readout_bilabial=float(bilabial),
                          readout_temperature=float(temperature), readout_scale=scale)
        new_cfg.check()
    except ValueError as exc:
        raise EmotalkError(f"--aperture-readout: {exc}") from None
    gen2 = Generator(new_cfg)
    missing, unexpected = gen2.load_state_dict(base["generator"], strict=False)
    if unexpected or sorted(missing) != sorted(READOUT_KEYS):
        raise EmotalkError(f"--aperture-readout: weights do not match the generator "
                           f"(missing {missing}, unexpected {unexpected})")
    gen2.readout_z.copy_(z)
    out = dict(ckpt)
    out["generator_config"] = new_cfg.to_dict()
    out["generator"] = {k: v.detach().clone() for k, v in gen2.state_dict().items()}
    return out


def calibrate(ckpt: Dict, smoothing: float,
              readout: Optional[Tuple[float, float]] = None) -> Dict:
    """Checkpoint -> a copy with the intensity calibration (7, GRID) measured and
    ``output_smoothing`` set (one-pole coefficient in [0, 1)). ``readout`` (bilabial
    dominance, temperature) first adds the aperture readout (:func:`add_aperture_readout`),
    so that the calibration measures the face that ships."""
    if readout is not None:
        ckpt = add_aperture_readout(ckpt, *readout)
    out = dict(ckpt)
    space = EmotionSpace.from_dict(ckpt["emotion_space"])
    cal = intensity_calibration(ckpt)
    out["emotion_space"] = EmotionSpace(
        space.z_neutral, space.normals, space.scales, space.pair_normals, cal
    ).to_dict()
    out["output_smoothing"] = float(smoothing)
    return out


