"""Peak RSS and time of `emotalk animate` for long inputs (docs/BENCHMARKS.md).

    .venv/bin/python tools/animate_memory.py [--minutes 1 10 30] [--old PATH] [--out DIR]

Builds an espeak-ng speech wav (22.05 kHz mono, as espeak writes it) of each length by
repeating a few sentences, runs `emotalk animate IN.wav --no-idle -o OUT.csv` in a fresh
process per length, and reports the process's own VmHWM (peak RSS, read from
/proc/self/status just before it exits) and wall time. ``--old PATH`` also runs a checkout of
another version (e.g. `git archive <commit> | tar -x -C PATH`) on the same files, for a
baseline measured in the same run.
"""

import argparse
import json
import os
import subprocess
import sys
import time
import wave

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SENTENCES = ("The quick brown fox jumps over the lazy dog. Papa made a banana pie. "
             "How much wood would a woodchuck chuck? Robots can smile while they speak, "
             "and their faces follow every word.")

RUNNER = (
    "import sys\n"
    "from emotalk_ros.cli.main import main\n"
    "rc = main(sys.argv[1:])\n"
    "hwm = [ln for ln in open('/proc/self/status') if ln.startswith('VmHWM')][0]\n"
    "sys.stderr.write('PEAK ' + hwm.split()[1] + '\\n')\n"
    "sys.exit(rc)\n"
)


def speech_wav(path, minutes):
    """espeak-ng sentences repeated to ``minutes`` of 22.05 kHz mono int16."""
    if os.path.exists(path):
        return path
    one = path + ".one.wav"
    subprocess.run(["espeak-ng", "-v", "en-us", "-s", "160", "-w", one, SENTENCES], check=True)
    with wave.open(one) as w:
        sr, pcm = w.getframerate(), np.frombuffer(w.readframes(w.getnframes()), "<i2")
    gap = np.zeros(int(0.4 * sr), "<i2")
    unit = np.concatenate([pcm, gap])
    n = int(minutes * 60 * sr)
    with wave.open(path, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(sr)
        written = 0
        while written < n:
            part = unit[: n - written]
            w.writeframes(part.tobytes())
            written += part.size
    os.remove(one)
    return path


def run(root, wav, out):
    env = dict(os.environ, PYTHONPATH=root, OMP_NUM_THREADS="1")
    t0 = time.monotonic()
    r = subprocess.run([sys.executable, "-c", RUNNER, "animate", wav, "--no-idle", "-o", out],
                       cwd=root, env=env, capture_output=True, text=True)
    wall = time.monotonic() - t0
    peak = [ln for ln in r.stderr.splitlines() if ln.startswith("PEAK ")]
    if r.returncode != 0 or not peak:
        raise SystemExit(f"animate failed ({r.returncode}): {r.stderr[-2000:]}")
    return int(peak[0].split()[1]) / 1024.0, wall


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, nargs="+", default=[1, 10, 30])
    ap.add_argument("--old", default="", help="checkout of a version to compare with")
    ap.add_argument("--old-max-minutes", type=float, default=10.0,
                    help="longest input given to --old (it holds the whole file in memory)")
    ap.add_argument("--out", default=os.path.join(ROOT, "runs", "animate_memory"))
    a = ap.parse_args()
    a.out = os.path.abspath(a.out)
    os.makedirs(a.out, exist_ok=True)
    rows = []
    for m in a.minutes:
        wav = speech_wav(os.path.join(a.out, f"speech_{m:g}min.wav"), m)
        new_csv = os.path.join(a.out, f"new_{m:g}.csv")
        peak, wall = run(ROOT, wav, new_csv)
        row = {"minutes": m, "peak_rss_mb": round(peak, 1), "wall_s": round(wall, 1)}
        if a.old and m <= a.old_max_minutes:
            old_csv = os.path.join(a.out, f"old_{m:g}.csv")
            opeak, owall = run(a.old, wav, old_csv)
            row.update(old_peak_rss_mb=round(opeak, 1), old_wall_s=round(owall, 1))
            from emotalk_ros.core.blendshapes import read_live_link_csv
            _, fa = read_live_link_csv(new_csv, fps=60)
            _, fb = read_live_link_csv(old_csv, fps=60)
            row["max_abs_diff_vs_old"] = float(np.abs(fa - fb).max()) if fa.shape == fb.shape \
                else f"shapes {fa.shape} vs {fb.shape}"
            os.remove(old_csv)
        os.remove(new_csv)
        print(json.dumps(row), flush=True)
        rows.append(row)
    with open(os.path.join(a.out, "results.json"), "w") as f:
        json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
