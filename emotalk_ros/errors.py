"""The one domain exception type of emotalk_ros.

Core modules raise :class:`EmotalkError` (or a subclass) for bad input; nodes and
the CLI catch it once at their boundary and turn it into a warning or a clear
non-zero exit. Nothing else in the core should be caught broadly.
"""


class EmotalkError(ValueError):
    """Bad input or configuration: the message says what was wrong and how to fix it."""


class ModelMismatchError(EmotalkError):
    """A model file whose metadata does not match this code (names, fps, version...)."""
