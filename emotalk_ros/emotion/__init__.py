"""The emotion channel's inputs: the command grammar, the eased emotion state and keyframe
tracks, the boundary-aware emotion space, and the voice emotion detector."""
