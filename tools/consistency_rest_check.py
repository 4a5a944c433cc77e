#!/usr/bin/env python3
"""How the mapping network reads a face at rest: the emotional-consistency loss's view of
silence (docs/EVALUATION.md, "Fine-tunes tried").

    .venv/bin/python tools/consistency_rest_check.py runs/emotalk_default_ft.pt

For neutral and each emotion held at 1 it compares, in the emotion space, the commanded
code z with what the checkpoint's mapping network reads (a) from the teacher's clean rest
face for that emotion, held still for one mapping window, and (b) from the generator's own
face in 3 s of digital silence. When (b) is closer to z than (a), the consistency loss
rewards the generator for moving away from the clean rest face in silence.
"""

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))


def main(argv=None) -> int:
    import torch

    from emotalk_ros.core.audio import FeatureConfig, log_mel
    from emotalk_ros.core.emotions import EXPRESSIVE, EXPRESSIVE_INDEX, NUM_EXPRESSIVE
    from emotalk_ros.emotion.space import EmotionSpace
    from emotalk_ros.generator import checkpoint
    from emotalk_ros.generator.model import (
        Generator,
        GeneratorConfig,
        MappingConfig,
        MappingNetwork,
    )
    from emotalk_ros.training.train import rest_target

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("checkpoint", help="a training checkpoint (.pt with its mapping network)")
    a = p.parse_args(argv)
    ck = checkpoint.load(a.checkpoint)
    mcfg = MappingConfig.from_dict(ck["mapping_config"])
    mapper = MappingNetwork(mcfg)
    mapper.load_state_dict(ck["mapping"])
    mapper.eval()
    gen = Generator(GeneratorConfig.from_dict(ck["generator_config"]))
    gen.load_state_dict(ck["generator"])
    gen.eval()
    space = EmotionSpace.from_dict(ck["emotion_space"])
    dirs = space.scales[:, None] * space.normals                                # (7, D)
    mel = torch.from_numpy(log_mel(np.zeros(48000, np.float32), FeatureConfig()))[None]
    print("| emotion | \\|read(clean rest) - z\\| | \\|read(model in silence) - z\\| |")
    print("|---|---|---|")
    for emo in (None,) + tuple(EXPRESSIVE):
        alpha = np.zeros(NUM_EXPRESSIVE, np.float32)
        if emo is not None:
            alpha[EXPRESSIVE_INDEX[emo]] = 1.0
        z = (space.z_neutral + alpha @ dirs).astype(np.float32)                  # (D,)
        rest = np.repeat(rest_target(alpha)[None], mcfg.window, 0)[None].astype(np.float32)
        with torch.no_grad():
            zz = torch.from_numpy(z)[None, None].expand(1, mel.shape[1], -1)
            y, _ = gen(mel, zz, gen.initial_state(1))                            # (1, T, 52)
            still = mapper(torch.from_numpy(rest))[0].numpy()
            model = mapper(y[:, 150:150 + mcfg.window])[0].numpy()
        print(f"| {emo or 'neutral'} | {np.linalg.norm(still - z):.3f} | "
              f"{np.linalg.norm(model - z):.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
