"""Offline work, never imported by the live path: data synthesis, training, calibration,
export, metrics, evaluation, style fitting, the voice detector's training. (The procedural
teacher the generator learns from is in :mod:`emotalk_ros.animation.teacher`, since the
robot's own speech can be articulated by it live.)"""
