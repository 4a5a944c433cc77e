"""The outermost boundary of every node callback: nothing escapes, everything is counted.

:class:`CallbackGuard` wraps a node's subscription, timer, guard-condition and parameter
callbacks. Inside a wrapped callback:

* :class:`~emotalk_ros.errors.EmotalkError` (bad input) is counted in ``bad_input`` and
  answered with a throttled warning (up to ``INPUT_BURST`` lines at once per kind, then one
  per ``input_throttle_s``, with the number of lines held back);
* any other exception is counted in ``errors``; its traceback is logged once per callback,
  later ones as one throttled line each; ``last_error`` keeps a short description for
  ``/diagnostics``; the node keeps running.

Messages quote at most about 80 characters of any input
(:func:`emotalk_ros.core.limits.quote`), so one hostile message cannot write a huge line to
the log or ``/rosout``.
"""

from __future__ import annotations

import functools
import traceback
from typing import Any, Callable, Set

from emotalk_ros.core.limits import LogThrottle, quote
from emotalk_ros.errors import EmotalkError

MAX_LINE_CHARS = 1000
"""Longest warning a guard writes (error texts list the valid names, so they are not tiny)."""
INPUT_BURST = 20
"""Bad-input warnings written at once before the throttle's interval applies."""


class CallbackGuard:
    """Counts and logs what escapes a node's callbacks; see the module docstring.

    ``node``: the rclpy node (its logger is used). ``input_throttle_s``: seconds between two
    warnings of one kind about bad input; ``error_throttle_s``: the same for unexpected
    errors after the first traceback.
    """

    def __init__(self, node, input_throttle_s: float = 1.0, error_throttle_s: float = 5.0):
        self._logger = node.get_logger()
        self._input = LogThrottle(input_throttle_s, burst=INPUT_BURST)
        self._errors = LogThrottle(error_throttle_s)
        self._traced: Set[str] = set()
        self.bad_input = 0
        self.errors = 0
        self.last_error = ""

    def warn(self, key: str, text: str) -> bool:
        """A throttled warning for ``key`` (one per interval, counting the rest); the text is
        cut to :data:`MAX_LINE_CHARS`. Returns True when it was written."""
        ok, held = self._input.allow(key)
        if ok:
            if len(text) > MAX_LINE_CHARS:
                text = text[:MAX_LINE_CHARS] + "..."
            if held:
                text += f" ({held} similar warning(s) suppressed)"
            self._logger.warning(text)
        return ok

    def log(self, level: str, text: str) -> None:
        """Write a line at ``level`` ('info', 'warn', 'error', 'fatal'), cut as in :meth:`warn`
        (tracebacks, which start with a newline-separated report, are kept whole)."""
        if "Traceback" not in text and len(text) > MAX_LINE_CHARS:
            text = text[:MAX_LINE_CHARS] + "..."
        # one call site per severity: rclpy refuses a call site that changes its severity
        if level == "info":
            self._logger.info(text)
        elif level == "error":
            self._logger.error(text)
        elif level == "fatal":
            self._logger.fatal(text)
        else:
            self._logger.warning(text)

    def unexpected(self, name: str, exc: BaseException) -> None:
        """Count and log an unexpected exception of callback ``name``: the first with its
        traceback, then throttled one-liners."""
        self.errors += 1
        self.last_error = quote(f"{name}: {type(exc).__name__}: {exc}", 160)
        if name not in self._traced and len(self._traced) < 64:
            self._traced.add(name)
            self._logger.error(f"{name} raised (the node keeps running; later errors are "
                               "throttled):\n" + "".join(traceback.format_exception(exc)))
            return
        ok, held = self._errors.allow(name)
        if ok:
            self._logger.error(f"{self.last_error} ({self.errors} unexpected error(s) so far"
                               + (f", {held} not logged)" if held else ")"))

    def wrap(self, fn: Callable[..., Any], name: str = "") -> Callable[..., Any]:
        """``fn`` with this guard around it (returns None when it raised)."""
        key = name or getattr(fn, "__name__", "callback")

        @functools.wraps(fn)
        def guarded(*args: Any) -> Any:
            try:
                return fn(*args)
            except EmotalkError as exc:
                self.bad_input += 1
                self.warn(key, f"{key}: {exc}")
            except Exception as exc:  # the callback's outermost boundary
                self.unexpected(key, exc)
            return None

        return guarded

    def wrap_parameters(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        """A parameter callback with this guard: an exception becomes a refused change
        (``SetParametersResult(successful=False)``) instead of an error in rclpy."""
        from rcl_interfaces.msg import SetParametersResult

        key = getattr(fn, "__name__", "parameters")

        @functools.wraps(fn)
        def guarded(params: Any) -> Any:
            try:
                return fn(params)
            except EmotalkError as exc:
                return SetParametersResult(successful=False, reason=str(exc)[:MAX_LINE_CHARS])
            except Exception as exc:  # the callback's outermost boundary
                self.unexpected(key, exc)
                return SetParametersResult(successful=False,
                                           reason=f"internal error: {self.last_error}")

        return guarded
