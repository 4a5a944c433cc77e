"""Offline work, never imported by the live path: data synthesis, the procedural teacher,
training, calibration, export, metrics, evaluation, style fitting, the voice detector's
training."""
