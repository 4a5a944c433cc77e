"""How evenly a control loop ticks: the worst interval between ticks, in total and recently.

A retargeting loop that is starved (a busy CPU, a callback that ran long) holds the motors
at their last command until the next tick; the robot's head then moves in a jerk. The
``retarget`` node feeds every tick's time to a :class:`TickGaps` and puts the figures on
``/diagnostics`` (``tick_gap_ms``, ``tick_gap_max_ms``, ``late_ticks``), so a user sees a
starved loop there instead of on the robot. Pure Python: no ROS, no numpy.
"""

from __future__ import annotations

from typing import Optional


class TickGaps:
    """Intervals between the ticks of a loop meant to run every ``period_s``.

    ``tick(now)`` records a tick (monotonic seconds). ``worst_s`` is the longest interval
    since the first tick, ``recent_s`` the longest since the last :meth:`take_recent`
    (which returns it and starts a new window), and ``late`` counts the intervals longer
    than ``late_factor`` periods. A clock that steps back counts as an interval of 0.
    """

    def __init__(self, period_s: float, late_factor: float = 3.0):
        if not period_s > 0:
            raise ValueError(f"period_s must be > 0, got {period_s!r}")
        self.period_s = float(period_s)
        self.late_s = float(late_factor) * self.period_s
        self._last: Optional[float] = None
        self.ticks = 0
        self.late = 0
        self.worst_s = 0.0
        self.recent_s = 0.0

    def tick(self, now: float) -> float:
        """Record a tick at ``now``; returns the interval since the previous one (0 at first)."""
        gap = 0.0 if self._last is None else max(0.0, now - self._last)
        self._last = now
        self.ticks += 1
        if gap > self.late_s:
            self.late += 1
        self.worst_s = max(self.worst_s, gap)
        self.recent_s = max(self.recent_s, gap)
        return gap

    def take_recent(self) -> float:
        """The longest interval since the previous call (or the start); starts a new window."""
        recent, self.recent_s = self.recent_s, 0.0
        return recent
