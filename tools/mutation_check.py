#!/usr/bin/env python3
"""Mutation check: plant known bugs in a temporary copy of the repository and see whether the
tests catch them.

Each mutation is one bug the suite must catch (a broken shipped model, a loosened or dead
evaluation check, a calibration that stores nothing, a training loop that never steps). The
copy holds the files git tracks plus untracked, not ignored ones; every mutation is planted
in it, the relevant tests run there, and the files are restored before the next one. First
the same tests run on the unmutated copy: they must pass, or the check says nothing. A
mutation is *caught* when a test fails; the failing tests are reported. The bugs planted
together in one row (loosened targets, two checks that always pass) are also planted one
at a time, so each is shown to be caught on its own.

    .venv/bin/python tools/mutation_check.py                    # all, markdown table on stdout
    .venv/bin/python tools/mutation_check.py --only evaluate    # names containing 'evaluate'
    .venv/bin/python tools/mutation_check.py --update-doc docs/TESTING.md

``--update-doc`` replaces the text between the ``mutation-report`` markers of that file with
the table. Exit status: 0 when every mutation is caught, 1 otherwise (or when the baseline
fails). About 10 minutes on a 2-core machine.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from typing import Callable, List, Optional, Tuple

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

GATE = "test/generator/test_shipped_model_quality.py"
FACE_ROS = "test/ros/test_face_with_shipped_model.py"
EVALUATE = ["test/training/test_evaluate_verdicts.py", "test/training/test_evaluate.py"]
CALIBRATE = ["test/training/test_calibrate.py",
             "test/generator/test_generator.py::test_calibration_linearises_group_response"]
LEARN = ["test/training/test_training_learns.py"]

# (file, text as it is, text with the bug): each text must occur exactly once
Edit = Tuple[str, str, str]


@dataclass
class Mutation:
    """One planted bug: text edits and/or a function run in the copy, and the tests to run."""

    name: str
    bug: str
    tests: List[str]
    edits: List[Edit] = field(default_factory=list)
    action: Optional[Callable[[str], List[str]]] = None    # copy root -> files it changed


RANDOM_MODEL = r"""
import sys, torch
from emotalk_ros.generator import checkpoint
from emotalk_ros.generator.model import Generator, GeneratorConfig
from emotalk_ros.training.export import export_onnx
pt, onnx = sys.argv[1], sys.argv[2]
ck = checkpoint.load(pt)
torch.manual_seed(0)
sd = Generator(GeneratorConfig.from_dict(ck["generator_config"])).state_dict()
for k in ("feat_mean", "feat_std"):          # same input normalisation, nothing learned
    sd[k] = ck["generator"][k].clone()
ck["generator"] = sd
checkpoint.save(pt, ck)
export_onnx(pt, onnx)
"""


def random_weight_model(copy: str) -> List[str]:
    """Replace the shipped default model (.pt and .onnx) with random generator weights."""
    pt = os.path.join(copy, "models", "emotalk_default.pt")
    onnx = os.path.join(copy, "models", "emotalk_default.onnx")
    subprocess.run([sys.executable, "-c", RANDOM_MODEL, pt, onnx], cwd=copy, check=True,
                   capture_output=True, timeout=600, env=_env(copy))
    return ["models/emotalk_default.pt", "models/emotalk_default.onnx"]


FORCE_OPEN = ("        from emotalk_ros.core.blendshapes import INDEX as _I\n"
              "        {var}[:, _I['jawOpen']] = np.maximum({var}[:, _I['jawOpen']], 0.6)\n"
              "        {var}[:, _I['mouthClose']] = 0.0\n")

MUTATIONS: List[Mutation] = [
    Mutation("shipped-model-random-weights",
             "shipped model replaced by random weights (bilabial closure 0.0)",
             [GATE, FACE_ROS], action=random_weight_model),
    Mutation("backends-mouth-forced-open",
             "mouth forced open and `mouthClose` = 0 in both backends",
             [GATE, FACE_ROS],
             edits=[("emotalk_ros/generator/backends.py",
                     "        return y.float().cpu().numpy()\n",
                     "        y = y.float().cpu().numpy()\n" + FORCE_OPEN.format(var="y")
                     + "        return y\n"),
                    ("emotalk_ros/generator/backends.py",
                     "        return y[0]                                                       "
                     "       # (N, 52)\n",
                     "        y = y[0]\n" + FORCE_OPEN.format(var="y") + "        return y\n")]),
    Mutation("evaluate-targets-loosened",
             "`evaluate` targets loosened (closure 0.5, correlation 0.3, silence 0.5)",
             EVALUATE,
             edits=[("emotalk_ros/training/evaluate.py", "TARGET_BILABIAL = 0.90\n",
                     "TARGET_BILABIAL = 0.5\n"),
                    ("emotalk_ros/training/evaluate.py", "TARGET_SILENCE = 0.10\n",
                     "TARGET_SILENCE = 0.5\n"),
                    ("emotalk_ros/training/evaluate.py", "TARGET_CORRELATION = 0.6\n",
                     "TARGET_CORRELATION = 0.3\n")]),
    Mutation("evaluate-target-closure-0.5", "... the closure target alone at 0.5", EVALUATE,
             edits=[("emotalk_ros/training/evaluate.py", "TARGET_BILABIAL = 0.90\n",
                     "TARGET_BILABIAL = 0.5\n")]),
    Mutation("evaluate-target-silence-0.5", "... the silence target alone at 0.5", EVALUATE,
             edits=[("emotalk_ros/training/evaluate.py", "TARGET_SILENCE = 0.10\n",
                     "TARGET_SILENCE = 0.5\n")]),
    Mutation("evaluate-target-correlation-0.3", "... the correlation target alone at 0.3",
             EVALUATE,
             edits=[("emotalk_ros/training/evaluate.py", "TARGET_CORRELATION = 0.6\n",
                     "TARGET_CORRELATION = 0.3\n")]),
    Mutation("evaluate-jitter-and-full-intensity-always-pass",
             "`evaluate` jitter check and full-intensity closure check always pass",
             EVALUATE,
             edits=[("emotalk_ros/training/evaluate.py",
                     "        n_hold == len(EXPRESSIVE),\n", "        True,\n"),
                    ("emotalk_ros/training/evaluate.py",
                     "        jt <= TARGET_JITTER_FACTOR * jref + 1e-12,", "        True,")]),
    Mutation("evaluate-jitter-always-passes", "... the jitter check alone always passes",
             EVALUATE,
             edits=[("emotalk_ros/training/evaluate.py",
                     "        jt <= TARGET_JITTER_FACTOR * jref + 1e-12,", "        True,")]),
    Mutation("evaluate-full-intensity-always-passes",
             "... the full-intensity closure check alone always passes", EVALUATE,
             edits=[("emotalk_ros/training/evaluate.py",
                     "        n_hold == len(EXPRESSIVE),\n", "        True,\n")]),
    Mutation("evaluate-closure-fed-open-vowel-rate",
             "`evaluate` closure check fed the open-vowel rate",
             EVALUATE,
             edits=[("emotalk_ros/training/evaluate.py",
                     "        pooled[\"bilabial_closure\"],\n        pooled[\"silence_closure\"],",
                     "        pooled[\"open_vowel_opening\"],\n"
                     "        pooled[\"silence_closure\"],")]),
    Mutation("calibrate-stores-identity-warp",
             "`calibrate` stores an identity warp",
             CALIBRATE,
             edits=[("emotalk_ros/training/calibrate.py",
                     "    cal = intensity_calibration(ckpt)\n",
                     "    cal = np.tile(np.linspace(0.0, 1.0, GRID, dtype=np.float32), "
                     "(NUM_EXPRESSIVE, 1))\n")]),
    Mutation("calibrate-measures-identity-warp",
             "`calibrate`'s measurement returns the identity warp for every emotion",
             CALIBRATE,
             edits=[("emotalk_ros/training/calibrate.py",
                     "        cal[k] = warp_from_response(g)\n",
                     "        cal[k] = levels.astype(np.float32)\n")]),
    Mutation("train-optimizer-never-steps",
             "`train` optimizer never steps",
             LEARN,
             edits=[("emotalk_ros/training/train.py",
                     "        torch.nn.utils.clip_grad_norm_(gen.parameters(), 1.0)\n"
                     "        opt.step()\n",
                     "        torch.nn.utils.clip_grad_norm_(gen.parameters(), 1.0)\n")]),
]


def _env(copy: str) -> dict:
    env = dict(os.environ)
    env.update(OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1", MPLBACKEND="Agg",
               ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST", ROS_LOCALHOST_ONLY="1",
               PYTHONPATH=copy + os.pathsep + env.get("PYTHONPATH", ""))
    env.pop("ROS_DOMAIN_ID", None)              # the copy's conftest locks one of its own
    return env


def make_copy(dest: str) -> None:
    """Copy the files git tracks plus untracked, not ignored ones (the working tree as is)."""
    out = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT,
                         check=True, capture_output=True).stdout.decode()
    for rel in filter(None, out.split("\0")):
        src = os.path.join(ROOT, rel)
        if not os.path.isfile(src) or os.path.islink(src):
            continue
        dst = os.path.join(dest, rel)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        shutil.copy2(src, dst)


def run_tests(copy: str, tests: List[str]) -> Tuple[int, str, float]:
    """pytest on ``tests`` in the copy -> (exit code, 'k of n failed: names' or '', seconds)."""
    t0 = time.monotonic()
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                        "--timeout=900", "-rf", *tests], cwd=copy, env=_env(copy),
                       capture_output=True, text=True, timeout=3600)
    failed = re.findall(r"^FAILED (\S+)", r.stdout, re.M)
    passed = re.search(r"(\d+) passed", r.stdout)
    total = len(failed) + (int(passed.group(1)) if passed else 0)
    names = sorted({f.split("::")[-1] for f in failed})
    tail = f"{len(failed)} of {total} failed: " + ", ".join(names) if failed else ""
    if r.returncode not in (0, 1):
        tail = (r.stdout + r.stderr).strip().splitlines()[-1:] or [""]
        tail = f"pytest exit {r.returncode}: {tail[0][:120]}"
    return r.returncode, tail, time.monotonic() - t0


def plant(copy: str, m: Mutation) -> dict:
    """Apply ``m`` in the copy -> {relative path: original bytes} to restore it."""
    saved = {}
    for rel, old, new in m.edits:
        path = os.path.join(copy, rel)
        if rel not in saved:
            with open(path, "rb") as f:
                saved[rel] = f.read()
        with open(path, encoding="utf-8") as f:
            text = f.read()
        n = text.count(old)
        if n != 1:
            raise RuntimeError(f"{m.name}: expected the text once in {rel}, found {n} times "
                               f"(the code changed: update the mutation): {old.strip()[:80]!r}")
        with open(path, "w", encoding="utf-8") as f:
            f.write(text.replace(old, new))
    if m.action is not None:
        backup = {}
        for rel in ("models/emotalk_default.pt", "models/emotalk_default.onnx"):
            with open(os.path.join(copy, rel), "rb") as f:
                backup[rel] = f.read()
        changed = m.action(copy)
        saved.update({rel: backup[rel] for rel in changed if rel in backup})
    return saved


def restore(copy: str, saved: dict) -> None:
    for rel, data in saved.items():
        with open(os.path.join(copy, rel), "wb") as f:
            f.write(data)


def table(rows: List[dict], baseline: Tuple[int, str, float]) -> str:
    lines = ["| planted bug | tests run | result | failing tests | time |",
             "|---|---|---|---|---|"]
    for r in rows:
        tests = ", ".join(f"`{t.split('/')[-1]}`" for t in r["tests"])
        lines.append(f"| {r['bug']} | {tests} | **{r['result']}** | "
                     f"{r['first'] or '-'} | {r['seconds']:.0f} s |")
    caught = sum(r["result"] == "caught" for r in rows)
    lines += ["", f"{caught} of {len(rows)} planted bugs caught. Baseline (no bug planted, the "
              f"same tests): {'pass' if baseline[0] == 0 else 'FAIL ' + baseline[1]} "
              f"({baseline[2]:.0f} s). Run {time.strftime('%Y-%m-%d %H:%M')}, "
              f"`.venv/bin/python tools/mutation_check.py`."]
    return "\n".join(lines) + "\n"


def update_doc(path: str, text: str) -> None:
    start, end = "<!-- mutation-report:start -->", "<!-- mutation-report:end -->"
    with open(path, encoding="utf-8") as f:
        doc = f.read()
    if start not in doc or end not in doc:
        raise SystemExit(f"{path}: no {start} ... {end} markers")
    head, rest = doc.split(start, 1)
    _, tail = rest.split(end, 1)
    with open(path, "w", encoding="utf-8") as f:
        f.write(head + start + "\n" + text + end + tail)


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default="", help="run the mutations whose name contains this")
    ap.add_argument("--update-doc", default="", help="write the table into this markdown file")
    ap.add_argument("--keep", action="store_true", help="keep the temporary copy")
    args = ap.parse_args(argv)
    chosen = [m for m in MUTATIONS if args.only in m.name]
    if not chosen:
        raise SystemExit(f"no mutation matches {args.only!r}: "
                         + ", ".join(m.name for m in MUTATIONS))
    tmp = tempfile.mkdtemp(prefix="emotalk_mutation_")
    copy = os.path.join(tmp, "repo")
    try:
        make_copy(copy)
        tests = sorted({t for m in chosen for t in m.tests})
        sys.stderr.write(f"[mutation] copy in {copy}; baseline: {len(tests)} test targets\n")
        baseline = run_tests(copy, tests)
        sys.stderr.write(f"[mutation] baseline exit {baseline[0]} in {baseline[2]:.0f} s "
                         f"{baseline[1]}\n")
        rows = []
        for m in chosen:
            saved = plant(copy, m)
            try:
                rc, first, secs = run_tests(copy, m.tests)
            finally:
                restore(copy, saved)
            result = {0: "MISSED", 1: "caught"}.get(rc, "error")
            rows.append({"name": m.name, "bug": m.bug, "tests": m.tests, "result": result,
                         "first": first, "seconds": secs})
            sys.stderr.write(f"[mutation] {m.name}: {result} ({secs:.0f} s) {first}\n")
        text = table(rows, baseline)
        sys.stdout.write(text)
        if args.update_doc:
            update_doc(args.update_doc, text)
        ok = baseline[0] == 0 and all(r["result"] == "caught" for r in rows)
        return 0 if ok else 1
    finally:
        if args.keep:
            sys.stderr.write(f"[mutation] kept {copy}\n")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
