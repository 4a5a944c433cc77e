"""Text-to-speech engines with phone timings (espeak-ng in-process, Flite, Festival), used by
training-data synthesis and by the robot's own speech."""
