"""The live animator: the runtime (audio queue, worker, clock alignment), emotion keyframe
tracks, the voice/command emotion mix, idle motion, per-robot style, offline animation."""
