"""Memory of the animator runtime over a long accelerated run, in one process (no DDS).

    .venv/bin/python tools/runtime_memory.py [--minutes 30]

Feeds the shipped model's AnimatorRuntime (emotion state, idle layer, output rate limit)
with a speech-like signal in 20 ms chunks on a fake clock, as fast as it runs, with an
emotion command every 4 s and a keyframe track every 20 s of audio, draining every frame.
After each minute of audio it prints the Python heap (tracemalloc) and the process RSS, so
growth in the runtime itself (as opposed to DDS or allocator high-water marks in a node)
shows up at once.
"""

import argparse
import gc
import json
import os
import sys
import tracemalloc

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from emotalk_ros.animation.idle import IdleAnimator, IdleConfig  # noqa: E402
from emotalk_ros.animation.runtime import AnimatorRuntime  # noqa: E402
from emotalk_ros.core.signals import speech_like_signal  # noqa: E402
from emotalk_ros.emotion.command import parse_emotion_command  # noqa: E402
from emotalk_ros.emotion.state import EmotionState  # noqa: E402
from emotalk_ros.generator.loading import load_predictor  # noqa: E402


class Clock:
    t = 100.0

    def __call__(self):
        return self.t


def rss_mb():
    return [int(ln.split()[1]) / 1024 for ln in open("/proc/self/status")
            if ln.startswith("VmRSS")][0]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=int, default=30)
    a = ap.parse_args()
    clock = Clock()
    rt = AnimatorRuntime(load_predictor(""), EmotionState(), IdleAnimator(IdleConfig()),
                         clock=clock, max_output_rate_hz=60.0, max_backlog_s=0.25)
    x = speech_like_signal(60.0)
    tracemalloc.start()
    rows = []
    for minute in range(1, a.minutes + 1):
        for i in range(0, x.size, 320):
            clock.t += 0.02
            rt.submit(x[i:i + 320])
            rt.step()
            while rt.take_frame() is not None:
                pass
            if i % 64000 == 0:
                rt.command(parse_emotion_command("happy:0.5 transition=0.3" if i % 128000
                                                 else "sad"))
                rt.emotion_json()
                rt.take_reports()
            if i % 320000 == 0:
                rt.play_track('[{"t": 0, "happy": 0.3}, {"t": 1, "sad": 0.5}]')
        gc.collect()
        row = {"minute": minute, "heap_mb": round(tracemalloc.get_traced_memory()[0] / 1e6, 3),
               "rss_mb": round(rss_mb(), 1)}
        rows.append(row)
        print(json.dumps(row), flush=True)
    first = rows[min(2, len(rows) - 1)]
    print(json.dumps({"heap_growth_mb_per_h": round((rows[-1]["heap_mb"] - first["heap_mb"])
                                                   / max(1, rows[-1]["minute"] - first["minute"])
                                                   * 60, 3),
                      "rss_growth_mb": round(rows[-1]["rss_mb"] - first["rss_mb"], 1)}))


if __name__ == "__main__":
    main()
