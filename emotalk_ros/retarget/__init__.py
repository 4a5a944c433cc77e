"""Blendshapes to motors: the rig file format (:mod:`.rig`), the safety stage
(:mod:`.safety`) and fitting a rig from samples (:mod:`.fit`)."""
