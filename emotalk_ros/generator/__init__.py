"""The speech-to-blendshape generator: the torch model, the streaming predictor interface,
its torch and onnxruntime backends, checkpoints and model loading."""
