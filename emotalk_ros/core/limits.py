"""Bounds on untrusted input: short quotes, bounded JSON, rate limits, throttled logs.

Everything that reads text or messages from outside (a topic, the command line, a file)
goes through these helpers, so no input can make a parser raise anything but
:class:`~emotalk_ros.errors.EmotalkError`, run for long, allocate without bound, or put more
than :data:`QUOTE_CHARS` characters of itself into a log line:

* :func:`quote`: a value as a short repr, cut to about 80 characters with its full length.
* :func:`loads_json`: ``json.loads`` with a length limit, a nesting-depth limit, a limit on
  the digits of any number, a limit on the keys of any object and on the items of any
  array; duplicated keys are refused.
* :func:`finite_number`: a finite float from an int/float of any size (huge ints included).
* :class:`TokenBucket`: a rate limit (tokens per second with a burst), for the audio input
  budget and the output frame rate.
* :class:`LogThrottle`: a burst of lines per key, then at most one per interval, counting
  the lines it held back.
* :class:`BoundedNames`: remembers the first few distinct names and only counts the rest.
"""

from __future__ import annotations

import json
import math
import reprlib
import threading
from typing import Any, Callable, Dict, List, Optional, Tuple

from emotalk_ros.errors import EmotalkError

QUOTE_CHARS = 80
"""Most characters of an input that any message (error, log line) quotes."""
MAX_NUMBER_CHARS = 40
"""Longest JSON number token (digits, sign, point, exponent) accepted."""
MAX_JSON_DEPTH = 8
"""Deepest nesting of JSON arrays/objects accepted (a track is 2 levels deep, a command 2)."""

_REPR = reprlib.Repr()
_REPR.maxstring = QUOTE_CHARS
_REPR.maxother = QUOTE_CHARS
_REPR.maxlong = 40
_REPR.maxlist = _REPR.maxtuple = _REPR.maxdict = _REPR.maxset = 6
_REPR.maxlevel = 3


def quote(value: Any, limit: int = QUOTE_CHARS) -> str:
    """A short repr of ``value`` for messages: at most about ``limit`` characters.

    Strings longer than ``limit`` are cut and their length given (``'aaaa...' (1048576
    chars)``); other values go through :mod:`reprlib` (bounded for huge containers).
    """
    if isinstance(value, str):
        if len(value) <= limit:
            return repr(value)
        return f"{value[:limit]!r}... ({len(value)} chars)"
    try:
        s = _REPR.repr(value)
    except (ValueError, RecursionError, TypeError):      # e.g. an int too long to print
        s = f"<{type(value).__name__}>"
    return s if len(s) <= limit + 3 else s[:limit] + "..."


def finite_number(value: Any, what: str) -> float:
    """A finite float from an int or float of any size; raises :class:`EmotalkError`
    (booleans, strings, huge ints beyond float range, NaN and Inf are refused)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise EmotalkError(f"{what} must be a number, got {quote(value)}")
    try:
        x = float(value)
    except OverflowError:
        raise EmotalkError(f"{what} is out of range, got {quote(value)}") from None
    if not math.isfinite(x):
        raise EmotalkError(f"{what} must be finite, got {quote(value)}")
    return x


def _number_hook(cast: Callable[[str], Any], what: str) -> Callable[[str], Any]:
    def parse(token: str) -> Any:
        if len(token) > MAX_NUMBER_CHARS:
            raise EmotalkError(f"{what}: number {quote(token, 40)} has more than "
                               f"{MAX_NUMBER_CHARS} characters")
        return cast(token)
    return parse


def _depth_and_size(obj: Any, max_depth: int, max_items: int, what: str) -> None:
    """Walk a parsed JSON value iteratively; raise when it is deeper or larger than allowed."""
    stack: List[Tuple[Any, int]] = [(obj, 1)]
    while stack:
        o, d = stack.pop()
        if isinstance(o, dict):
            children = list(o.values())
        elif isinstance(o, list):
            children = o
        else:
            continue
        if d > max_depth:
            raise EmotalkError(f"{what}: nested more than {max_depth} levels deep")
        if len(children) > max_items:
            raise EmotalkError(f"{what}: a JSON {'object' if isinstance(o, dict) else 'array'} "
                               f"with {len(children)} entries (at most {max_items})")
        stack.extend((c, d + 1) for c in children if isinstance(c, (dict, list)))


def loads_json(text: str, what: str, max_chars: int, max_items: int = 64,
               max_depth: int = MAX_JSON_DEPTH) -> Any:
    """Parse JSON text from outside, within bounds; raises :class:`EmotalkError` only.

    ``max_chars``: longest text; ``max_items``: most keys of an object and items of an
    array; ``max_depth``: deepest nesting; numbers have at most :data:`MAX_NUMBER_CHARS`
    characters (so no huge int can overflow later); ``NaN``/``Infinity`` literals parse as
    floats (callers refuse non-finite values with their own message); duplicated keys are
    refused. ``what`` names the input in messages (e.g. ``emotion command``).
    """
    if not isinstance(text, str):
        raise EmotalkError(f"{what}: expected text, got {type(text).__name__}")
    if len(text) > max_chars:
        raise EmotalkError(f"{what}: {len(text)} characters is too long (at most {max_chars})")

    def pairs(items: List[Tuple[str, Any]]) -> Dict[str, Any]:
        if len(items) > max_items:
            raise EmotalkError(f"{what}: a JSON object with {len(items)} keys "
                               f"(at most {max_items})")
        out: Dict[str, Any] = {}
        for k, v in items:
            if k in out:
                raise EmotalkError(f"{what}: JSON key {quote(k)} is given twice")
            out[k] = v
        return out

    try:
        obj = json.loads(text, object_pairs_hook=pairs, parse_constant=float,
                         parse_int=_number_hook(int, what), parse_float=_number_hook(float, what))
    except json.JSONDecodeError as exc:
        raise EmotalkError(f"{what}: invalid JSON ({exc.msg} at position {exc.pos})") from None
    except RecursionError:
        raise EmotalkError(f"{what}: nested more than {max_depth} levels deep") from None
    _depth_and_size(obj, max_depth, max_items, what)
    return obj


class TokenBucket:
    """A rate limit: ``rate`` tokens per second, at most ``burst`` saved up.

    ``take(n, now)`` grants up to ``n`` tokens (returns how many; the caller drops or delays
    the rest); ``take_all(n, now)`` takes all ``n`` or none. Starts full. ``now`` is any
    monotonic clock in seconds. Not thread-safe (use
    under the caller's lock).
    """

    def __init__(self, rate: float, burst: float, now: float):
        if not (rate > 0 and burst > 0):
            raise EmotalkError(f"rate and burst must be > 0, got {rate}, {burst}")
        self.rate, self.burst = float(rate), float(burst)
        self._tokens = self.burst
        self._t = float(now)

    def _refill(self, now: float) -> None:
        dt = float(now) - self._t
        if dt > 0:
            self._tokens = min(self.burst, self._tokens + dt * self.rate)
            self._t = float(now)

    def available(self, now: float) -> float:
        """Tokens that could be taken at ``now``."""
        self._refill(now)
        return self._tokens

    def take(self, n: float, now: float) -> float:
        """Take up to ``n`` tokens at ``now`` (a part when fewer are saved up); returns the
        amount granted."""
        self._refill(now)
        got = min(float(n), max(0.0, self._tokens))
        self._tokens -= got
        return got

    def take_all(self, n: float, now: float) -> bool:
        """Take ``n`` tokens at ``now`` only if all of them are available; True if taken."""
        self._refill(now)
        if self._tokens < float(n):
            return False
        self._tokens -= float(n)
        return True


class LogThrottle:
    """At most ``burst`` log lines per ``key`` at once, then one per ``interval_s``; counts the
    lines it held back.

    ``allow(key, now) -> (True, held)`` when a line may be written (``held``: lines held back
    for that key since the last one written), else ``(False, 0)``. A person's occasional
    mistakes are each answered; a flood is cut to one line per interval. Thread-safe. At
    most ``max_keys`` keys are tracked (further keys share one slot), so hostile input
    cannot grow this table.
    """

    def __init__(self, interval_s: float = 5.0, clock: Optional[Callable[[], float]] = None,
                 max_keys: int = 64, burst: int = 1):
        import time

        self.interval_s = float(interval_s)
        self.burst = max(1, int(burst))
        self.clock = clock or time.monotonic
        self.max_keys = int(max_keys)
        self._state: Dict[str, Tuple[float, float]] = {}      # key -> (tokens, time)
        self._held: Dict[str, int] = {}
        self._lock = threading.Lock()

    def allow(self, key: str, now: Optional[float] = None) -> Tuple[bool, int]:
        """Whether a line for ``key`` may be written now, and how many were held back."""
        now = self.clock() if now is None else float(now)
        with self._lock:
            if key not in self._state and len(self._state) >= self.max_keys:
                key = "<other>"
            tokens, t = self._state.get(key, (float(self.burst), now))
            if self.interval_s > 0:
                tokens = min(float(self.burst), tokens + max(0.0, now - t) / self.interval_s)
            else:
                tokens = float(self.burst)
            if tokens < 1.0:
                self._state[key] = (tokens, now)
                self._held[key] = self._held.get(key, 0) + 1
                return False, 0
            self._state[key] = (tokens - 1.0, now)
            return True, self._held.pop(key, 0)


class BoundedNames:
    """The first ``capacity`` distinct names seen, plus counts of everything.

    ``add(names)`` records names (each cut to :data:`QUOTE_CHARS` characters); ``names`` is
    the kept sample (sorted), ``total`` how many were added and ``dropped`` how many of
    those were not kept because the sample was full. Memory is bounded whatever comes in.
    """

    def __init__(self, capacity: int = 16):
        self.capacity = int(capacity)
        self._kept: set = set()
        self.total = 0
        self.dropped = 0

    def add(self, names) -> None:
        """Record an iterable of names (any objects; stored as cut strings)."""
        for n in names:
            self.total += 1
            s = str(n)[:QUOTE_CHARS]
            if s in self._kept:
                continue
            if len(self._kept) < self.capacity:
                self._kept.add(s)
            else:
                self.dropped += 1

    @property
    def names(self) -> List[str]:
        """The kept names, sorted."""
        return sorted(self._kept)
