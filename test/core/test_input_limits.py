"""Bounds on untrusted input: short quotes, bounded JSON, token buckets, log throttles, bounded
name records."""

import json

import pytest
from hostile_payloads import COMMAND_PAYLOADS

from emotalk_ros.core.limits import (
    QUOTE_CHARS,
    BoundedNames,
    LogThrottle,
    TokenBucket,
    finite_number,
    loads_json,
    quote,
)
from emotalk_ros.errors import EmotalkError


def test_quote_cuts_long_inputs_and_says_how_long():
    assert quote("abc") == "'abc'"
    q = quote("x" * (1 << 20))
    assert len(q) < QUOTE_CHARS + 30 and "1048576 chars" in q
    assert len(quote(list(range(100000)))) <= QUOTE_CHARS + 3
    assert len(quote({str(i): i for i in range(10000)})) <= QUOTE_CHARS + 3
    assert len(quote(10 ** 4000)) <= QUOTE_CHARS + 3        # an int too long to print whole
    deep = []
    for _ in range(10000):
        deep = [deep]
    assert len(quote(deep)) <= QUOTE_CHARS + 3


def test_finite_number_refuses_what_overflows_a_float():
    assert finite_number(3, "x") == 3.0 and finite_number(-0.5, "x") == -0.5
    for bad in (10 ** 400, float("nan"), float("inf"), True, "1", None, [1]):
        with pytest.raises(EmotalkError):
            finite_number(bad, "x")


@pytest.mark.parametrize("name,text", COMMAND_PAYLOADS, ids=[n for n, _ in COMMAND_PAYLOADS])
def test_bounded_json_answers_every_payload_with_emotalk_error_or_a_value(name, text):
    try:
        loads_json(text, "payload", max_chars=4096, max_items=64)
    except EmotalkError as exc:
        assert len(str(exc)) < 300, str(exc)[:400]


def test_bounded_json_limits():
    assert loads_json('{"a": [1, 2.5, "x"]}', "j", max_chars=100) == {"a": [1, 2.5, "x"]}
    with pytest.raises(EmotalkError, match="too long"):
        loads_json("[" + "1," * 100 + "1]", "j", max_chars=100)
    with pytest.raises(EmotalkError, match="nested more than"):
        loads_json("[[[[[[[[[1]]]]]]]]]", "j", max_chars=100)
    with pytest.raises(EmotalkError, match="nested more than"):
        loads_json("[" * 50000 + "]" * 50000, "j", max_chars=200000)
    with pytest.raises(EmotalkError, match="40 characters"):
        loads_json("1" + "0" * 400, "j", max_chars=1000)
    with pytest.raises(EmotalkError, match="keys"):
        loads_json(json.dumps({f"k{i}": i for i in range(65)}), "j", max_chars=10000)
    with pytest.raises(EmotalkError, match="entries"):
        loads_json(json.dumps(list(range(65))), "j", max_chars=10000)
    with pytest.raises(EmotalkError, match="given twice"):
        loads_json('{"a": 1, "a": 2}', "j", max_chars=100)
    with pytest.raises(EmotalkError, match="invalid JSON"):
        loads_json('{"a": ', "j", max_chars=100)
    assert loads_json("NaN", "j", max_chars=10) != loads_json("NaN", "j", max_chars=10)


def test_token_bucket_rate_and_burst():
    b = TokenBucket(rate=10.0, burst=5.0, now=0.0)
    assert b.take(8, 0.0) == 5.0                        # starts full: the burst
    assert b.take(1, 0.0) == 0.0
    assert b.take(10, 0.5) == pytest.approx(5.0)        # refilled at 10/s, capped at 5
    assert not b.take_all(1.0, 0.55) and b.take_all(1.0, 0.61)
    assert b.available(100.0) == 5.0


def test_log_throttle_allows_a_burst_then_one_line_per_interval_and_counts_the_rest():
    t = [0.0]
    th = LogThrottle(interval_s=1.0, clock=lambda: t[0], burst=3)
    assert [th.allow("k")[0] for _ in range(5)] == [True, True, True, False, False]
    t[0] = 0.5
    assert th.allow("k") == (False, 0)
    t[0] = 1.6
    assert th.allow("k") == (True, 3)                   # three lines were held back
    assert th.allow("other")[0]                          # keys are independent
    many = LogThrottle(1.0, clock=lambda: 0.0, max_keys=4)
    for i in range(1000):                                # hostile keys share one slot
        many.allow(f"key{i}")
    assert len(many._state) <= 5


def test_bounded_names_keeps_a_sample_and_counts_everything():
    names = BoundedNames(capacity=4)
    names.add(f"name{i}" for i in range(100000))
    names.add(["x" * 100000])
    assert len(names.names) == 4 and names.total == 100001 and names.dropped == 100001 - 4
    assert all(len(n) <= QUOTE_CHARS for n in names.names)
