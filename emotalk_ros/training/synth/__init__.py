"""Training-data synthesis: speech audio paired with exact phone timings and emotion labels.

- :mod:`.text`    -- the deterministic sentence generator.
- :mod:`.augment` -- length-preserving audio augmentations (pyworld speaker warp, noise,
reverb...).
- :mod:`.corpus`  -- ``build_corpus`` (parallel, deterministic shards), ``build_real_corpus``
  (aligned real recordings in the same format) and the ``Corpus`` reader.

The engines themselves live in :mod:`emotalk_ros.speech`; ``emotalk synth`` in
:mod:`emotalk_ros.cli.synth`.
"""
