"""CallbackGuard, the outermost boundary of every node callback: nothing escapes, bad input is
a throttled short warning, an unexpected error is logged with its traceback once and counted."""

import pytest

rclpy_logging = pytest.importorskip("rclpy.logging")

from emotalk_ros.errors import EmotalkError  # noqa: E402
from emotalk_ros.ros.guard import INPUT_BURST, CallbackGuard  # noqa: E402


class Logger:
    def __init__(self):
        self.lines = []

    def __getattr__(self, level):
        return lambda text, **kw: self.lines.append((level, text))


class FakeNode:
    def __init__(self, logger):
        self.logger = logger

    def get_logger(self):
        return self.logger


def test_bad_input_is_counted_and_warned_with_a_throttle():
    log = Logger()
    g = CallbackGuard(FakeNode(log), input_throttle_s=60.0)

    def cb(text):
        raise EmotalkError(f"bad command {text[:10]!r}")
    wrapped = g.wrap(cb, "emotion_target")
    for _ in range(100):
        assert wrapped("x" * (1 << 20)) is None
    assert g.bad_input == 100 and g.errors == 0
    assert len(log.lines) == INPUT_BURST                 # a burst, then one per interval
    assert all(level == "warning" and len(text) < 200 for level, text in log.lines)


def test_unexpected_errors_are_logged_with_a_traceback_once_and_counted():
    log = Logger()
    g = CallbackGuard(FakeNode(log), error_throttle_s=60.0)

    def tick():
        raise ZeroDivisionError("boom")
    wrapped = g.wrap(tick)
    for _ in range(50):
        wrapped()
    assert g.errors == 50 and "ZeroDivisionError: boom" in g.last_error
    tracebacks = [t for _, t in log.lines if "Traceback" in t]
    assert len(tracebacks) == 1 and "tick" in tracebacks[0]
    assert len(log.lines) <= 3                          # the rest throttled


def test_interrupts_are_not_swallowed():
    g = CallbackGuard(FakeNode(Logger()))

    def cb():
        raise KeyboardInterrupt
    with pytest.raises(KeyboardInterrupt):
        g.wrap(cb)()


def test_parameter_callbacks_refuse_instead_of_raising():
    g = CallbackGuard(FakeNode(Logger()))

    def bad_params(params):
        raise RuntimeError("oops")

    def refused(params):
        raise EmotalkError("out of range")
    r = g.wrap_parameters(bad_params)([])
    assert not r.successful and "oops" in r.reason and g.errors == 1
    r = g.wrap_parameters(refused)([])
    assert not r.successful and r.reason == "out of range"


def test_every_level_works_with_the_real_rclpy_logger():
    # rclpy refuses a call site whose severity changes between calls: one site per level
    g = CallbackGuard(FakeNode(rclpy_logging.get_logger("guard_test")))
    for level in ("info", "warn", "error", "info", "fatal", "warn"):
        g.log(level, f"a {level} line")
