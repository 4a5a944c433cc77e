"""Hostile text payloads, shared by the parser, CLI and DDS tests.

Each one once killed, froze or flooded something (or is the same kind of attack): numbers
too big for a float, huge digit strings, deep nesting, megabyte strings, thousands of keys,
huge track times. Every parser must answer each with EmotalkError (or a valid result) and a
short message; every node must stay alive, keep its rate and publish valid frames.
"""

import json

HUGE_DIGITS = "9" * 5000


def big_track(n_keys):
    """A valid-looking emotion track with ``n_keys`` keys (about 28 bytes per key)."""
    return json.dumps([{"t": round(0.01 * i, 3), "happy": (i % 10) / 10}
                       for i in range(n_keys)], separators=(",", ":"))


# (name, text) -- names show up in test ids
COMMAND_PAYLOADS = [
    ("int_with_400_zeros", '{"happy": 1' + "0" * 400 + "}"),
    ("5000_digit_number", HUGE_DIGITS),
    ("5000_digit_json_value", '{"happy": ' + HUGE_DIGITS + "}"),
    ("5000_digit_text_value", "happy:" + HUGE_DIGITS),
    ("huge_exponent_text", "happy:1e999 transition=1e999"),
    ("huge_exponent_json", '{"happy": 1e400}'),
    ("nan_json", '{"happy": NaN}'),
    ("infinity_json", '{"happy": Infinity, "transition_s": -Infinity}'),
    ("va_huge", '{"va": [1e308, -1e308]}'),
    ("va_huge_int", "va:" + HUGE_DIGITS + ",1"),
    ("open_brackets_100k", "[" * 100000),
    ("open_braces_100k", "{" * 100000),
    ("nested_objects_5k", '{"a":' * 5000 + "1" + "}" * 5000),
    ("one_mb_string", "x" * (1 << 20)),
    ("one_mb_token_json", '{"' + "h" * (1 << 20) + '": 1}'),
    ("many_keys", "{" + ",".join(f'"k{i}": 1' for i in range(100000)) + "}"),
    ("many_tokens", "happy:0.1 " * 50000),
    ("quotes", '"' * 10000),
    ("control_chars", "\x00\x01\x02\x7f" * 1000),
    ("unicode_noise", "😀ångry\u202e\ufeff" * 2000),
    ("duplicate_keys", '{"happy": 0.5, "happy": 0.6}'),
    ("json_list", "[1, 2, 3]"),
    ("bool_intensity", '{"happy": true}'),
]

TRACK_PAYLOADS = [
    ("key_time_int_400_zeros", '[{"t": 1' + "0" * 400 + ', "happy": 0.5}]'),
    ("key_time_1e400", '[{"t": 1e400, "happy": 0.5}]'),
    ("key_time_huge_int", '[{"t": ' + "1" * 300 + ', "happy": 0.5}]'),
    ("key_time_beyond_a_day", '[{"t": 1e300, "happy": 0.5}]'),
    ("key_time_negative", '[{"t": -1, "happy": 0.5}]'),
    ("key_intensity_huge", '[{"t": 0, "happy": ' + HUGE_DIGITS + "}]"),
    ("tracks_50000_keys", big_track(50000)),
    ("tracks_10001_keys", big_track(10001)),
    ("open_brackets_100k", "[" * 100000),
    ("nested_lists", "[" * 5000 + "]" * 5000),
    ("one_mb_string", "x" * (1 << 20)),
    ("not_a_list", '{"happy": 0.5}'),
    ("list_of_numbers", "[1, 2, 3]"),
    ("empty", "[]"),
]

MAX_VALID_TRACK_KEYS = 10000        # a track file
LIVE_MAX_TRACK_KEYS = 2000          # a track message on emotion_track
