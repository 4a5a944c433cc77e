"""Stub predictors shared by tests: they make the emotion plumbing visible in the output."""

import numpy as np

from emotalk_ros.core.blendshapes import INDEX, NUM_BLENDSHAPES
from emotalk_ros.generator.predictor import PredictorInfo, StreamingPredictor

# one blendshape per expressive emotion, to carry alpha through the test predictor
ALPHA_SLOTS = ("mouthSmileLeft", "browInnerUp", "browDownLeft", "eyeWideLeft",
               "mouthStretchLeft", "noseSneerLeft", "mouthDimpleRight")


class AlphaEcho(StreamingPredictor):
    """Test predictor: writes the emotion alpha it receives into blendshapes; records its input."""

    def __init__(self, fps=60.0, wild=False):
        self.seen = []
        self.wild = wild
        super().__init__(fps=fps)

    @property
    def info(self):
        return PredictorInfo("test-echo", "test", 0.0)

    def _reset_network(self):
        pass

    def push(self, samples, emotion=None):
        self.seen.append(np.array(samples, np.float32))
        return super().push(samples, emotion)

    def _network(self, feats, alpha):
        out = np.zeros((feats.shape[0], NUM_BLENDSHAPES), np.float32)   # (N, 52)
        for k, name in enumerate(ALPHA_SLOTS):
            out[:, INDEX[name]] = alpha[:, k]
        if self.wild:                                   # garbage a broken model might emit
            out[:, INDEX["jawOpen"]] = np.nan
            out[:, INDEX["tongueOut"]] = 7.0
            out[:, INDEX["cheekPuff"]] = -3.0
            out[:, INDEX["mouthClose"]] = np.inf
        return out
