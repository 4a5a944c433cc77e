"""The live animator: the runtime (audio queue, worker, clock alignment), emotion keyframe
tracks, the voice/command emotion mix, idle motion, per-robot style, offline animation, the
procedural articulation teacher (also the default articulation of the robot's own speech) and
the speech performance placed on the loudspeaker's clock."""
